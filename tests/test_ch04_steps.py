"""Chapter 4's moved steps: the small pure helpers behave as the chapter's inline code did."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fedlib.book import ch04_steps as steps
from fedlib.evaluate.uncertainty import Estimate
from fedlib.vertical.baselines import credit_metrics


def test_at_threshold_matches_credit_metrics():
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.3).astype(int)
    p = np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)
    full = credit_metrics(y, p, threshold=0.5)
    for m in ("accuracy", "precision", "recall", "f1", "error_rate"):
        assert np.isclose(steps.at_threshold(m, y, p, 0.5), full[m])


def test_sample_rows_all_or_sorted_subset():
    assert np.array_equal(steps.sample_rows(5, None, seed=0), np.arange(5))
    rows = steps.sample_rows(100, 10, seed=1)
    assert len(rows) == 10 and np.all(np.diff(rows) > 0)


def test_says_and_ci_text():
    up = Estimate(value=2.0, interval=(0.5, 3.5))
    flat = Estimate(value=0.1, interval=(-1.0, 1.2))
    assert steps.says(up).startswith("raised recall by 2.0")
    assert "no detectable effect" in steps.says(flat)
    assert steps.ci_text(up) == "+2.0 [+0.5, +3.5]"


def test_impute_uses_fit_rows_median():
    f = pd.DataFrame({"a": [1.0, 3.0, np.nan, 100.0], "b": [np.nan] * 4})
    out = steps.impute(f, [0, 1, 2])
    assert out.loc[2, "a"] == 2.0 and (out.b == 0.0).all()
