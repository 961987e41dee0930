"""Chapter 2's step functions (fedlib.papers.p02_dp_vs_ckks) on small hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fedlib.papers.p02_dp_vs_ckks.experiment import (
    constant_classifier_text,
    mixed_assignment,
    model_list,
)
from fedlib.papers.p02_dp_vs_ckks.training import mean_ci, privacy_modes


def test_privacy_modes_and_mixed_assignment_follow_the_paper():
    modes = privacy_modes([1.2, 1.6, 2.0])
    assert list(modes) == ["standard", "dp sigma=1.2", "dp sigma=1.6", "dp sigma=2", "he (ckks)"]
    assert modes["dp sigma=1.6"].noise_multiplier == 1.6
    mixed = mixed_assignment(5, [1.2, 1.6, 2.0])
    assert [m.label for m in mixed] == ["standard", "dp sigma=1.2", "dp sigma=1.6",
                                        "dp sigma=2", "he (ckks)"]


def test_mean_ci_and_model_list():
    assert mean_ci([0.5]) == "0.500"
    assert mean_ci([0.4, 0.6]).startswith("0.500 ± ")
    frame = pd.DataFrame({"setting": ["paper", "paper", "tuned"],
                          "mode": ["standard", "standard", "he (ckks)"]})
    assert model_list(frame) == "standard (paper), he (ckks) (tuned)"
    assert model_list(frame.iloc[:0]) == "none"


def test_constant_classifier_text_names_the_constant_models():
    per_seed = pd.DataFrame({"setting": ["paper", "paper"], "mode": ["standard", "dp sigma=2"],
                             "selection_rate": [0.999, 0.7], "constant": [True, False]})
    text = constant_classifier_text(per_seed, np.array([1, 1, 1, 0]), constant_share=0.01,
                                    majority=0.75)
    assert "standard (paper)" in text and "70.0%" in text and "75.0%" in text
    assert "approve everyone" not in text
