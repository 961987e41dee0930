"""Performance per subgroup (gender, property area, institution, ...), one row per group.

Paper 001 reports performance "across Gender: Male vs Female, Property Location: Urban vs
Semi-Urban vs Rural" to find subgroup-level degradation under DP and HE; chapter 1 uses the
same table per institution before computing EOD/DIR/SPD (:mod:`fedlib.evaluate.fairness`).

References: paper 001 §5 "Fairness and disparate impact"; paper 000 §6.2. Introduced in
chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import pandas as pd
>>> y = [1, 0, 1, 0, 1, 0]
>>> p = [0.9, 0.2, 0.3, 0.6, 0.8, 0.1]
>>> g = pd.Series(["F", "F", "M", "M", "M", "M"], name="gender")
>>> subgroup_metrics(y, p, g)[["gender", "n", "accuracy", "tpr", "fpr"]]
  gender  n  accuracy  tpr  fpr
0      F  2       1.0  1.0  0.0
1      M  4       0.5  0.5  0.5
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from .metrics import DegenerateMetricWarning, check_binary_inputs

__all__ = ["SUBGROUP_COLUMNS", "subgroup_metrics"]

#: Columns of :func:`subgroup_metrics` after the group column.
SUBGROUP_COLUMNS: tuple[str, ...] = (
    "n", "share", "positive_rate", "selection_rate", "accuracy", "roc_auc", "tpr", "fpr",
    "brier",
)


def subgroup_metrics(y_true, y_prob, groups, *, threshold: float = 0.5,
                     min_size: int = 1) -> pd.DataFrame:
    """Per-group size, base rate, selection rate, accuracy, ROC-AUC, TPR, FPR and Brier.

    Parameters
    ----------
    y_true, y_prob
        Binary labels and predicted probabilities of class 1.
    groups
        Group of each row (a ``pandas.Series`` names the output column, otherwise it is
        ``"group"``). Missing values form no group and are dropped.
    threshold
        Decision threshold: predicted label is ``y_prob >= threshold``.
    min_size
        Groups with fewer rows are left out (small groups make every rate noise).

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by group, with the group column then
        :data:`SUBGROUP_COLUMNS`. ``positive_rate`` is the share of ``y_true == 1``,
        ``selection_rate`` the share predicted 1, ``tpr``/``fpr`` are NaN when the group has
        no positives/negatives and ``roc_auc`` is NaN when it has one class only; no
        warning per group, because small groups are routinely one-class.

    References: paper 001 §5; paper 000 §6.2. Introduced in chapter 2.
    """
    y, p = check_binary_inputs(y_true, y_prob)
    name = groups.name if isinstance(groups, pd.Series) and groups.name is not None else "group"
    g = pd.Series(np.asarray(groups, dtype=object))
    if len(g) != len(y):
        raise ValueError(f"groups has {len(g)} rows but y_true has {len(y)}; they must match")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    y_hat = (p >= threshold).astype(np.int64)
    rows = []
    for value, idx in g.groupby(g, sort=True, dropna=True).indices.items():
        if len(idx) < min_size:
            continue
        yy, pp, hh = y[idx], p[idx], y_hat[idx]
        pos, neg = yy == 1, yy == 0
        rows.append({
            name: value,
            "n": len(idx),
            "share": len(idx) / len(y),
            "positive_rate": yy.mean(),
            "selection_rate": hh.mean(),
            "accuracy": (hh == yy).mean(),
            "roc_auc": skm.roc_auc_score(yy, pp) if pos.any() and neg.any() else np.nan,
            "tpr": hh[pos].mean() if pos.any() else np.nan,
            "fpr": hh[neg].mean() if neg.any() else np.nan,
            "brier": np.mean((pp - yy) ** 2),
        })
    if not rows:
        warnings.warn(f"no group has at least min_size={min_size} rows", DegenerateMetricWarning,
                      stacklevel=2)
    frame = pd.DataFrame(rows, columns=[name, *SUBGROUP_COLUMNS])
    return frame.astype({c: float for c in SUBGROUP_COLUMNS if c != "n"})
