"""Group-fairness metrics for a binary protected attribute: EOD, DIR, SPD.

With a favourable outcome ``f`` (the decision the applicant wants) and the groups
``priv`` (``protected == privileged``) and ``unpriv`` (every other value):

* Equal opportunity difference (paper 000 eq. 3):
  EOD = |P(Ŷ=f | Y=f, A=unpriv) − P(Ŷ=f | Y=f, A=priv)|, the gap in true-positive rates of the
  favourable outcome, i.e. whether qualified applicants get the favourable decision equally
  often in both groups.
* Statistical parity difference: SPD = P(Ŷ=f | A=unpriv) − P(Ŷ=f | A=priv); the paper calls it
  "the absolute difference in positive classification rates", so the default is its absolute
  value.
* Disparate impact ratio: DIR = P(Ŷ=f | A=unpriv) / P(Ŷ=f | A=priv); 1 is parity, the US
  "four-fifths rule" flags DIR < 0.8.

``signed=True`` returns unprivileged − privileged for EOD and SPD (the AIF360 convention), which
shows *who* is disadvantaged. For a model that predicts **default** (1 = bad), the favourable
outcome is 0: pass ``favorable=0``.

Written here rather than taken from Fairlearn or AIF360 because neither is a dependency of the
book and each metric is a ratio of two counts; the doctests and tests check hand-computed cases.

References: paper 000 §6.2 "Fairness and Disparity Indices", eq. 3 (EOD), DIR and SPD.
Introduced in chapter 1 (``chapters/01_fmtl_dp_secagg.py``).

Examples
--------
>>> y_true = [1, 1, 0, 1, 1, 0]
>>> y_pred = [1, 0, 0, 1, 1, 1]
>>> group  = ["m", "m", "m", "f", "f", "f"]
>>> equal_opportunity_difference(y_true, y_pred, group, privileged="m")
0.5
>>> disparate_impact_ratio(y_pred, group, privileged="m")
3.0
"""

from __future__ import annotations

import warnings

import numpy as np

from .metrics import DegenerateMetricWarning

__all__ = [
    "disparate_impact_ratio",
    "equal_opportunity_difference",
    "fairness_report",
    "statistical_parity_difference",
]


def _split(y_true, y_pred, protected, privileged, favorable):
    y_pred = np.asarray(y_pred)
    a = np.asarray(protected)
    if y_pred.ndim != 1 or a.ndim != 1:
        raise ValueError(f"y_pred and protected must be 1-D, got shapes {y_pred.shape}, {a.shape}")
    if len(y_pred) != len(a):
        raise ValueError(f"y_pred has {len(y_pred)} rows but protected has {len(a)}; they must match")
    if y_true is not None:
        y_true = np.asarray(y_true)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"y_true has {len(y_true)} rows but y_pred has {len(y_pred)}; "
                             "they must match")
        if not set(np.unique(y_true).tolist()) <= {0, 1}:
            raise ValueError("y_true must contain only 0 and 1")
    if not set(np.unique(y_pred).tolist()) <= {0, 1}:
        raise ValueError("y_pred must be hard 0/1 decisions; threshold probabilities first, "
                         "e.g. (y_prob >= 0.5).astype(int)")
    if favorable not in (0, 1):
        raise ValueError(f"favorable must be 0 or 1, got {favorable!r}")
    priv = a == privileged
    if not priv.any():
        raise ValueError(f"privileged={privileged!r} does not occur in protected "
                         f"(values: {sorted(map(str, np.unique(a)))[:10]})")
    if priv.all():
        raise ValueError(f"every row has protected == {privileged!r}; need an unprivileged group")
    return y_true, y_pred == favorable, priv


def _rate(mask_hit: np.ndarray, mask_in: np.ndarray, what: str) -> float:
    n = int(mask_in.sum())
    if n == 0:
        warnings.warn(f"{what} is undefined (empty group); reporting NaN",
                      DegenerateMetricWarning, stacklevel=3)
        return float("nan")
    return float(mask_hit[mask_in].mean())


def equal_opportunity_difference(y_true, y_pred, protected, *, privileged, favorable: int = 1,
                                 signed: bool = False) -> float:
    """Gap in true-positive rates of the favourable outcome between the groups (eq. 3).

    Parameters
    ----------
    y_true, y_pred
        Binary outcomes and hard 0/1 decisions.
    protected
        The protected attribute per row; rows equal to ``privileged`` form the privileged
        group, all other rows the unprivileged group.
    privileged
        Value of ``protected`` that marks the privileged group.
    favorable
        The outcome the applicant wants (1 if the model predicts approval/repayment, 0 if it
        predicts default).
    signed
        Return TPR(unpriv) − TPR(priv) instead of its absolute value.

    References: paper 000 eq. 3. Introduced in chapter 1.

    >>> equal_opportunity_difference([1, 1, 1, 1], [1, 1, 1, 0], [0, 0, 1, 1], privileged=0,
    ...                              signed=True)
    -0.5
    """
    y, fav_hat, priv = _split(y_true, y_pred, protected, privileged, favorable)
    qualified = y == favorable
    tpr_u = _rate(fav_hat, qualified & ~priv, "TPR of the unprivileged group")
    tpr_p = _rate(fav_hat, qualified & priv, "TPR of the privileged group")
    diff = tpr_u - tpr_p
    return float(diff if signed else abs(diff))


def statistical_parity_difference(y_pred, protected, *, privileged, favorable: int = 1,
                                  signed: bool = False) -> float:
    """Gap in favourable-decision rates, P(Ŷ=f | unpriv) − P(Ŷ=f | priv) (absolute by default).

    Arguments as in :func:`equal_opportunity_difference`.

    References: paper 000 §6.2 (SPD). Introduced in chapter 1.

    >>> statistical_parity_difference([1, 1, 0, 0], ["a", "a", "b", "b"], privileged="a",
    ...                               signed=True)
    -1.0
    """
    _, fav_hat, priv = _split(None, y_pred, protected, privileged, favorable)
    diff = fav_hat[~priv].mean() - fav_hat[priv].mean()
    return float(diff if signed else abs(diff))


def disparate_impact_ratio(y_pred, protected, *, privileged, favorable: int = 1) -> float:
    """Ratio of favourable-decision rates, P(Ŷ=f | unpriv) / P(Ŷ=f | priv).

    NaN with a :class:`DegenerateMetricWarning` when the privileged group never receives the
    favourable decision.

    Arguments as in :func:`equal_opportunity_difference`.

    References: paper 000 §6.2 (DIR). Introduced in chapter 1.

    >>> disparate_impact_ratio([1, 1, 1, 0], ["a", "a", "b", "b"], privileged="a")
    0.5
    """
    _, fav_hat, priv = _split(None, y_pred, protected, privileged, favorable)
    rate_p = fav_hat[priv].mean()
    if rate_p == 0:
        warnings.warn("DIR is undefined: the privileged group never gets the favourable "
                      "decision; reporting NaN", DegenerateMetricWarning, stacklevel=2)
        return float("nan")
    return float(fav_hat[~priv].mean() / rate_p)


def fairness_report(y_true, y_prob, protected, *, privileged, threshold: float = 0.5,
                    favorable: int = 1, missing_group: str = "raise",
                    with_note: bool = False) -> dict[str, float | str]:
    """EOD, DIR and SPD (absolute EOD and SPD, as in the paper) from probabilities.

    The decision is ``y_prob >= threshold`` (predicted label 1); ``favorable`` says whether
    label 1 or 0 is the outcome the applicant wants.

    ``missing_group="nan"``: when one group does not occur in ``protected`` (every metric
    compares two groups) all three are NaN instead of an error. ``with_note=True`` adds a
    ``note`` entry that says why any metric is NaN (empty string if none is), so that no NaN
    is reported without its reason.

    References: paper 000 §6.2, eq. 3. Introduced in chapter 1.

    >>> fairness_report([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.1], [0, 0, 1, 1], privileged=0)
    {'eod': 1.0, 'dir': 0.0, 'spd': 0.5}
    >>> fairness_report([1, 0], [0.9, 0.2], [1, 1], privileged=0, missing_group="nan",
    ...                 with_note=True)["note"]
    'only one group occurs (protected values: 1): EOD, DIR and SPD need both'
    """
    p = np.asarray(y_prob, dtype=np.float64)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    if missing_group not in ("raise", "nan"):
        raise ValueError(f"missing_group must be 'raise' or 'nan', got {missing_group!r}")
    a = np.asarray(protected)
    priv = a == privileged
    if missing_group == "nan" and len(a) and (priv.all() or not priv.any()):
        values = ", ".join(sorted(map(str, np.unique(a)))[:10])
        out: dict[str, float | str] = {"eod": float("nan"), "dir": float("nan"),
                                       "spd": float("nan")}
        if with_note:
            out["note"] = (f"only one group occurs (protected values: {values}): EOD, DIR "
                           "and SPD need both")
        return out
    y_hat = (p >= threshold).astype(np.int64)
    kw = {"privileged": privileged, "favorable": favorable}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DegenerateMetricWarning)
        out = {
            "eod": equal_opportunity_difference(y_true, y_hat, protected, **kw),
            "dir": disparate_impact_ratio(y_hat, protected, **kw),
            "spd": statistical_parity_difference(y_hat, protected, **kw),
        }
    if with_note:
        out["note"] = "; ".join(dict.fromkeys(str(w.message) for w in caught
                                              if issubclass(w.category, DegenerateMetricWarning)))
    else:
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out
