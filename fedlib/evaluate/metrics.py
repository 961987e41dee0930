"""Classification and calibration metrics for binary credit-risk models.

Discrimination (accuracy, ROC-AUC, PR-AUC) and proper scores (Brier, log loss) come from
scikit-learn. Expected calibration error and the reliability table are computed here because
scikit-learn has no ECE, and :func:`sklearn.calibration.calibration_curve` drops empty bins
and returns no bin counts, which both ECE and a reliability plot need. The binning rule is
exactly scikit-learn's (``np.searchsorted`` on the inner edges), so the non-empty rows of
:func:`reliability_curve` equal ``calibration_curve`` output (a test checks this).

Degenerate input (a single class in ``y``) makes ROC-AUC undefined: the metric is NaN and a
:class:`DegenerateMetricWarning` says why, instead of an exception in the middle of a chapter.

References: paper 001 §5 "Evaluation metrics" (accuracy, ROC-AUC, PR-AUC, Brier score,
reliability curves); Guo et al. 2017 (ECE). Introduced in chapter 2
(``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> y = np.array([0, 0, 1, 1])
>>> p = np.array([0.1, 0.4, 0.35, 0.8])
>>> m = classification_metrics(y, p)
>>> round(m["accuracy"], 2), round(m["roc_auc"], 2), round(m["brier"], 4)
(0.75, 0.75, 0.1581)
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm

__all__ = [
    "DegenerateMetricWarning",
    "check_binary_inputs",
    "classification_metrics",
    "expected_calibration_error",
    "reliability_curve",
]


class DegenerateMetricWarning(UserWarning):
    """A metric is undefined for this input (for example AUC with one class) and is NaN."""


def check_binary_inputs(y_true, y_prob, *, name_y: str = "y_true",
                        name_p: str = "y_prob") -> tuple[np.ndarray, np.ndarray]:
    """Validate binary labels and probabilities; return them as 1-D arrays.

    Raises ``ValueError`` naming the argument when lengths differ, the input is empty or not
    1-D, labels are not in {0, 1}, or probabilities are NaN or outside [0, 1].

    >>> check_binary_inputs([0, 1], [0.2, 0.9])[0]
    array([0, 1])
    """
    y = np.asarray(y_true)
    p = np.asarray(y_prob, dtype=np.float64)
    if y.ndim != 1 or p.ndim != 1:
        raise ValueError(f"{name_y} and {name_p} must be 1-D, got shapes {y.shape} and {p.shape}")
    if len(y) != len(p):
        raise ValueError(f"{name_y} has {len(y)} rows but {name_p} has {len(p)}; they must match")
    if len(y) == 0:
        raise ValueError(f"{name_y} is empty; metrics need at least one row")
    labels = set(np.unique(y).tolist())
    if not labels <= {0, 1}:
        raise ValueError(f"{name_y} must contain only 0 and 1, got values {sorted(labels)[:5]}")
    if np.isnan(p).any():
        raise ValueError(f"{name_p} contains NaN")
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(f"{name_p} must lie in [0, 1], got range [{p.min():g}, {p.max():g}]")
    return y.astype(np.int64), p


def _bin_ids(p: np.ndarray, n_bins: int, strategy: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(p, np.linspace(0.0, 100.0, n_bins + 1))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    # scikit-learn's rule (calibration_curve): inner edges only, left-closed bins.
    return np.searchsorted(edges[1:-1], p), edges


def reliability_curve(y_true, y_prob, *, n_bins: int = 10,
                      strategy: Literal["uniform", "quantile"] = "uniform") -> pd.DataFrame:
    """Reliability table: per probability bin, mean prediction, observed rate and count.

    Parameters
    ----------
    y_true, y_prob
        Binary labels and predicted probabilities of the positive class.
    n_bins
        Number of bins.
    strategy
        ``"uniform"`` (equal-width bins on [0, 1]) or ``"quantile"`` (equal-count bins).

    Returns
    -------
    pandas.DataFrame
        Columns ``bin, lower, upper, mean_predicted, observed_rate, count``; empty bins are
        dropped, so the rows match :func:`sklearn.calibration.calibration_curve`.

    References: paper 001 §5 (reliability curves). Introduced in chapter 2.

    >>> reliability_curve([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)[["bin", "count"]]
       bin  count
    0    0      2
    1    1      2
    """
    y, p = check_binary_inputs(y_true, y_prob)
    ids, edges = _bin_ids(p, n_bins, strategy)
    total = np.bincount(ids, minlength=n_bins)
    sum_p = np.bincount(ids, weights=p, minlength=n_bins)
    sum_y = np.bincount(ids, weights=y, minlength=n_bins)
    keep = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = pd.DataFrame({
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "mean_predicted": sum_p / total,
            "observed_rate": sum_y / total,
            "count": total,
        })
    return frame[keep].reset_index(drop=True)


def expected_calibration_error(y_true, y_prob, *, n_bins: int = 10,
                               strategy: Literal["uniform", "quantile"] = "uniform") -> float:
    """Expected calibration error: count-weighted mean |observed rate − mean prediction|.

    ECE = Σ_b (n_b / n) · |ȳ_b − p̄_b| over the bins of :func:`reliability_curve`.

    References: Guo et al. 2017, eq. 3; paper 001 §5 ("calibration error"). Introduced in
    chapter 2.

    >>> expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    0.0
    """
    table = reliability_curve(y_true, y_prob, n_bins=n_bins, strategy=strategy)
    gap = np.abs(table["observed_rate"] - table["mean_predicted"]).to_numpy()
    weights = table["count"].to_numpy() / table["count"].sum()
    return float(np.sum(weights * gap))


def classification_metrics(y_true, y_prob, *, threshold: float = 0.5,
                           n_bins: int = 10) -> dict[str, float]:
    """All the headline metrics of a binary classifier, as one flat dict.

    Parameters
    ----------
    y_true, y_prob
        Binary labels and predicted probabilities of the positive class.
    threshold
        Predicted label is ``y_prob >= threshold`` (for accuracy and selection rate).
    n_bins
        Uniform bins for the ECE.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``roc_auc``, ``pr_auc`` (average precision), ``brier``,
        ``log_loss``, ``ece``, ``positive_rate`` (share of ``y_true == 1``) and
        ``selection_rate`` (share predicted positive). ``roc_auc`` is NaN when ``y_true``
        holds one class, ``pr_auc`` is NaN when it has no positives; both with a
        :class:`DegenerateMetricWarning`.

    References: paper 001 §5 "Evaluation metrics"; paper 000 §6.1 (AUC, accuracy).
    Introduced in chapter 2.

    >>> classification_metrics([1, 0], [0.9, 0.2])["roc_auc"]
    1.0
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    y, p = check_binary_inputs(y_true, y_prob)
    y_hat = (p >= threshold).astype(np.int64)
    n_pos = int(y.sum())
    if 0 < n_pos < len(y):
        roc_auc = float(skm.roc_auc_score(y, p))
    else:
        warnings.warn(
            f"ROC-AUC is undefined when y_true holds one class only ({n_pos} positives of "
            f"{len(y)}); reporting NaN", DegenerateMetricWarning, stacklevel=2)
        roc_auc = float("nan")
    if n_pos > 0:
        pr_auc = float(skm.average_precision_score(y, p))
    else:
        warnings.warn("PR-AUC (average precision) is undefined with no positives; reporting NaN",
                      DegenerateMetricWarning, stacklevel=2)
        pr_auc = float("nan")
    return {
        "n": int(len(y)),
        "accuracy": float(skm.accuracy_score(y, y_hat)),
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "brier": float(skm.brier_score_loss(y, p, pos_label=1)),
        "log_loss": float(skm.log_loss(y, p, labels=[0, 1])),
        "ece": expected_calibration_error(y, p, n_bins=n_bins),
        "positive_rate": float(y.mean()),
        "selection_rate": float(y_hat.mean()),
    }
