"""The global train / validation / test split, done once before data is dealt to parties.

Paper 001 splits the whole dataset 70 / 15 / 15 at the global level, deals only the training
part to the five clients and evaluates on the test part alone. The split is stratified on the
outcome so the three parts share the label rate.

References: paper 001, section "Dataset and experimental setup". Introduced in chapter 2
(``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import pandas as pd
>>> f = pd.DataFrame({"y": [0, 1] * 50, "x": range(100)})
>>> tr, va, te = train_val_test_split(f, stratify="y", seed=0)
>>> len(tr), len(va), len(te), round(float(te["y"].mean()), 2)
(70, 15, 15, 0.53)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["train_val_test_split"]


def train_val_test_split(
    frame: pd.DataFrame,
    *,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    stratify: str | None,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into train, validation and test frames.

    Parameters
    ----------
    frame : pandas.DataFrame
    fractions : tuple of three floats
        Train, validation, test shares; positive and summing to 1. The validation share may
        be 0 (then the validation frame is empty).
    stratify : str or None
        Column to stratify on (usually the target); ``None`` for a plain random split.
    seed : int

    Returns
    -------
    train, val, test : pandas.DataFrame
        Rows keep their original index labels, so any row can be traced back.
    """
    if len(fractions) != 3 or any(not math.isfinite(f) or f < 0 for f in fractions):
        raise ValueError(f"fractions must be three non-negative numbers, got {fractions!r}")
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-9):
        raise ValueError(f"fractions must sum to 1, got {fractions!r} (sum {sum(fractions)})")
    if fractions[0] == 0 or fractions[2] == 0:
        raise ValueError(f"train and test fractions must be positive, got {fractions!r}")
    if stratify is not None and stratify not in frame.columns:
        raise ValueError(f"stratify column {stratify!r} not in frame columns {list(frame.columns)}")
    if stratify is not None and frame[stratify].isna().any():
        raise ValueError(f"stratify column {stratify!r} has missing values")
    n = len(frame)
    n_test = round(n * fractions[2])
    n_val = round(n * fractions[1])
    if n_test < 1 or n - n_test - n_val < 1:
        raise ValueError(f"frame of {n} rows is too small for fractions {fractions!r}")
    from sklearn.model_selection import train_test_split  # deferred: heavy import

    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31 - 1, size=2)

    def strat(f: pd.DataFrame):
        return f[stratify] if stratify is not None else None

    rest, test = train_test_split(
        frame, test_size=n_test, stratify=strat(frame), random_state=int(seeds[0])
    )
    if n_val == 0:
        return rest, rest.iloc[:0], test
    train, val = train_test_split(
        rest, test_size=n_val, stratify=strat(rest), random_state=int(seeds[1])
    )
    return train, val, test
