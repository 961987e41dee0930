"""Chapter 4's parameter sets validate; insecure keys and inconsistent settings are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedlib.book.params import ParameterError, load_yaml, validate_params
from fedlib.book.schemas.ch04 import Chapter04Params

PDIR = Path(__file__).resolve().parents[1] / "parameters" / "04_vertical_secureboost_xmp"


@pytest.mark.parametrize("name", ["smoke", "default", "paper"])
def test_parameter_sets_validate(name):
    p = validate_params(Chapter04Params, load_yaml(PDIR / f"{name}.yml"))
    if name != "smoke":     # demonstration keys are for CI only
        assert not p.demo_keys and p.psi_key_bits >= 2048 and p.paillier_key_bits >= 2048
    if name == "paper":
        assert (p.max_depth, p.n_estimators, p.learning_rate) == (9, 174, 0.1)
        assert (p.selection_max_depth, p.selection_n_estimators,
                p.selection_learning_rate) == (6, 142, 0.2)


@pytest.mark.parametrize("values, match", [
    ({"paillier_key_bits": 1024}, "below 2048 bits"),
    ({"dataset": "csv"}, "bank_csv and external_csv"),
    ({"n_banks": 3, "bad_banks": ["noisy", "noisy", "free_rider"]}, "honest"),
    ({"bad_banks": ["evil"]}, "bad_banks"),
    ({"decision_threshold": 1.5}, "decision_threshold"),
    ({"decision_threshold": "best"}, "decision_threshold"),
])
def test_bad_values_are_refused(values, match):
    with pytest.raises(ParameterError, match=match):
        validate_params(Chapter04Params, {"seed": 1, **values})
