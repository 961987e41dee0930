"""Chapter 4's parameter sets validate; insecure keys and inconsistent settings are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedlib.book.params import ParameterError, load_yaml, validate_params
from fedlib.papers.p04_secureboost.params import Chapter04Params

PDIR = Path(__file__).resolve().parents[1] / "parameters" / "04_vertical_secureboost_xmp"


@pytest.mark.parametrize("name", ["smoke", "default", "paper"])
def test_parameter_sets_validate(name):
    p = validate_params(Chapter04Params, load_yaml(PDIR / f"{name}.yml"))
    if name != "smoke":     # demonstration keys are for CI only
        assert not p.demo_keys and p.psi_key_bits >= 2048 and p.paillier_key_bits >= 2048
    if name == "paper":
        # The paper's final model (174 trees, depth 9, lr 0.1) is a candidate of the tuning.
        assert p.n_estimators == 174 and 9 in p.tune_max_depths and 0.1 in p.tune_learning_rates
        assert (p.selection_max_depth, p.selection_n_estimators,
                p.selection_learning_rate) == (6, 142, 0.2)


@pytest.mark.parametrize("values, match", [
    ({"paillier_key_bits": 1024}, "below 2048 bits"),
    ({"dataset": "csv"}, "bank_csv and external_csv"),
    ({"n_banks": 3, "bad_banks": ["noisy", "noisy", "free_rider"]}, "honest"),
    ({"bad_banks": ["evil"]}, "bad_banks"),
    ({"decision_threshold": 1.5}, "decision_threshold"),
    ({"decision_threshold": "best"}, "decision_threshold"),
    ({"tune_budget": 5}, "tune_budget=5 needs at least"),
    ({"tune_budget": 3, "tune_C": [1.0, 2.0]}, "tune_C"),
    ({"tune_rf_max_features": [1.5, "sqrt"]}, "tune_rf_max_features"),
    ({"tune_learning_rates": [0.1, 2.0]}, "tune_learning_rates"),
])
def test_bad_values_are_refused(values, match):
    with pytest.raises(ParameterError, match=match):
        validate_params(Chapter04Params, {"seed": 1, **values})
