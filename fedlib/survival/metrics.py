"""Survival metrics of FSL-BDP: Kaplan-Meier, time-dependent C-index, IPCW Brier score and IBS.

All functions take plain numpy arrays. Predicted survival curves come from the discrete-time
model as ``surv [n, T]`` on the cut points ``grid = [0, tau_1, ..., tau_T]``; :func:`survival_at`
turns them into a right-continuous step function ``S(t) = S_l`` for ``tau_l <= t < tau_{l+1}``
(``S(t) = 1`` before ``tau_1``), the convention of pycox's ``EvalSurv``.

Why hand-written rather than scikit-survival: eq. 10 (Antolini's time-dependent concordance,
averaged over evaluation times by eq. 11) is not in scikit-survival, and the Brier score has to
be computed for thousands of clients and rounds from one censoring fit. Every function is
cross-checked against scikit-survival in ``tests/test_survival_metrics.py`` where the two
compute the same quantity:

* :func:`kaplan_meier` = ``sksurv.nonparametric.kaplan_meier_estimator(conf_type="log-log")``
  (Greenwood variance, log(-log) interval);
* :func:`brier_score` = ``sksurv.metrics.brier_score`` and :func:`integrated_brier_score` =
  ``sksurv.metrics.integrated_brier_score``: eq. 12 is Graf et al.'s IPCW Brier score with
  ``G`` fitted on the training data, evaluated at ``T_i`` (not ``T_i-``) exactly as
  scikit-survival does; eq. 14 is the trapezoid rule divided by ``t_m - t_1``, also as there;
* :func:`concordance_td` at horizon ``t*`` equals Harrell's C
  (``sksurv.metrics.concordance_index_censored``) on events truncated at ``t*`` *when the
  predicted curves do not cross* (then ranking by ``S(T_i | x)`` is ranking by one risk
  score). With crossing curves Antolini's C evaluates each pair at the earlier time ``T_i``
  and differs from Harrell's. It is *not* Uno's C (``concordance_index_ipcw``), which weights
  pairs by ``1 / G(T_i)^2``; eq. 10 is unweighted.

Differences from the paper's text, stated where they matter: pairs with tied predictions
count 0 in eq. 10 (strict ``<``); ``tied_score=0.5`` gives the common half-credit. For
discrete-time models every prediction before ``tau_1`` is tied at 1, so events in the first
interval never count as concordant under eq. 10 as printed.

References: Amed, Sen & Banerjee (2026), FSL-BDP, sec. 4.2, eqs. 10-14; Antolini, Boracchi &
Biganzoli (2005); Graf et al. (1999); Kaplan & Meier (1958); Borgan & Liestol (1990) for the
log(-log) interval. Introduced in chapter 3 (``chapters/03_fsl_bdp_survival.py``).

Examples
--------
>>> import numpy as np
>>> grid = np.array([0.0, 1.0, 2.0, 3.0])
>>> surv = np.array([[0.9, 0.5, 0.2], [0.95, 0.9, 0.8], [0.99, 0.97, 0.95]])
>>> durations, events = np.array([1.5, 2.5, 3.0]), np.array([1, 1, 0])
>>> float(concordance_td(durations, events, surv, grid, times=[2.9]))
1.0
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from fedlib.survival.labels import SurvivalInputError, check_grid, check_survival_data

__all__ = [
    "CensoringKM",
    "brier_score",
    "concordance_td",
    "concordance_td_curve",
    "integrated_brier_score",
    "kaplan_meier",
    "survival_at",
]


def survival_at(surv, grid, times) -> np.ndarray:
    """Evaluate discrete-time survival curves at arbitrary times (right-continuous steps).

    Parameters
    ----------
    surv : array_like, shape (n, T)
        ``S_l(x)`` at the cut points ``tau_1..tau_T``.
    grid : array_like, shape (T + 1,)
        Cut points ``[0, tau_1, ..., tau_T]``.
    times : array_like, shape (m,)
        Times ``>= 0``.

    Returns
    -------
    numpy.ndarray, shape (n, m)

    Examples
    --------
    >>> survival_at([[0.9, 0.5]], [0, 1, 2], [0.5, 1.0, 1.9, 7.0]).tolist()
    [[1.0, 0.9, 0.9, 0.5]]
    """
    surv = np.asarray(surv, dtype=float)
    grid = check_grid(grid)
    if surv.ndim != 2 or surv.shape[1] != grid.size - 1:
        raise SurvivalInputError(
            f"surv has shape {surv.shape}: need [n, T] with T = len(grid) - 1 = {grid.size - 1}")
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if np.any(times < 0) or not np.all(np.isfinite(times)):
        raise SurvivalInputError("times: must be finite and >= 0")
    k = np.searchsorted(grid[1:], times, side="right")
    ext = np.concatenate([np.ones((surv.shape[0], 1)), surv], axis=1)
    return ext[:, k]


def _counts(t: np.ndarray, e: np.ndarray):
    uniq, inv = np.unique(t, return_inverse=True)
    total = np.bincount(inv, minlength=uniq.size)
    d = np.bincount(inv, weights=e.astype(float), minlength=uniq.size)
    at_risk = t.size - np.concatenate([[0], np.cumsum(total)[:-1]])
    return uniq, d, total - d, at_risk.astype(float)


def kaplan_meier(durations, events, *, conf_level: float = 0.95
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kaplan-Meier survival with a Greenwood / log(-log) pointwise confidence interval.

    ``S(t) = prod_{t_k <= t} (1 - d_k / n_k)``; ``Var[log S] = sum d_k / (n_k (n_k - d_k))``
    (Greenwood); interval ``S ** exp(+-z * sd / log S)`` with ``z`` the two-sided normal
    quantile. Evaluated at every unique observed time (events and censorings), as
    scikit-survival does.

    Returns
    -------
    times, survival, lower, upper : numpy.ndarray, shape (k,)

    Examples
    --------
    >>> t, s, lo, hi = kaplan_meier([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    >>> t.tolist(), np.round(s, 4).tolist()
    ([1.0, 2.0, 3.0, 4.0], [0.8, 0.6, 0.3, 0.3])
    >>> bool(np.all(lo <= s) and np.all(s <= hi))
    True
    """
    if not 0 < conf_level < 1:
        raise SurvivalInputError(f"conf_level={conf_level!r}: must be in (0, 1)")
    t, e = check_survival_data(durations, events)
    uniq, d, _, n = _counts(t, e)
    surv = np.cumprod(1.0 - d / n)
    denom = n * (n - d)
    ratio_var = np.divide(d, denom, out=np.zeros_like(d), where=(d > 0) & (denom > 0))
    sd = np.sqrt(np.cumsum(ratio_var))
    eps = np.finfo(float).eps
    positive = surv > eps
    log_s = np.zeros_like(surv)
    np.log(surv, where=positive, out=log_s)
    theta = np.divide(sd, log_s, out=np.zeros_like(sd), where=log_s < -eps)
    z = stats.norm.isf((1.0 - conf_level) / 2.0)
    lower = np.exp(np.exp(-z * theta) * log_s)
    upper = np.exp(np.exp(z * theta) * log_s)
    lower[~positive] = 0.0
    upper[~positive] = 0.0
    return uniq, surv, lower, upper


class CensoringKM:
    """Kaplan-Meier estimate ``G(t) = P(C > t)`` of the censoring distribution.

    Fitted on the *training* data with the event indicator reversed (eq. 12). At a time with
    both defaults and censorings the defaults are removed from the risk set first (the usual
    convention, also scikit-survival's ``reverse=True``). ``G`` is right-continuous and is
    held at its last value after the last training time.

    Examples
    --------
    >>> G = CensoringKM([1, 2, 3, 4], [1, 0, 1, 0])
    >>> G([0.5, 2.0, 3.5, 9.0]).tolist()
    [1.0, 0.6666666666666667, 0.6666666666666667, 0.0]
    """

    def __init__(self, durations, events) -> None:
        t, e = check_survival_data(durations, events, name="train durations")
        uniq, d, c, n = _counts(t, e)
        n_cens_risk = n - d
        ratio = np.divide(c, n_cens_risk, out=np.zeros_like(c), where=c > 0)
        self.times = uniq
        self.prob = np.cumprod(1.0 - ratio)

    def __call__(self, times) -> np.ndarray:
        """``G(t)`` at each of ``times`` (1 before the first training time)."""
        times = np.atleast_1d(np.asarray(times, dtype=float))
        k = np.searchsorted(self.times, times, side="right")
        return np.concatenate([[1.0], self.prob])[k]


def _brier_terms(test_t, test_e, est, times, G: CensoringKM) -> np.ndarray:
    g_t = G(test_t)
    g_tau = G(times)
    with np.errstate(divide="ignore"):
        # Zero censoring survival makes the weight undefined; such terms are dropped (weight
        # 0), as scikit-survival does.
        w_case = np.where(g_t > 0, 1.0 / np.where(g_t > 0, g_t, 1.0), 0.0)
        w_ctrl = np.where(g_tau > 0, 1.0 / np.where(g_tau > 0, g_tau, 1.0), 0.0)
    case = (test_t[:, None] <= times[None, :]) & test_e[:, None]
    ctrl = test_t[:, None] > times[None, :]
    return (case * est**2 * w_case[:, None] + ctrl * (1.0 - est) ** 2 * w_ctrl[None, :]).mean(0)


def _check_est(est, n, times):
    est = np.asarray(est, dtype=float)
    if est.ndim == 1 and times.size == 1:
        est = est[:, None]
    if est.shape != (n, times.size):
        raise SurvivalInputError(
            f"survival_at_times has shape {est.shape}: need [n_test, n_times] = {(n, times.size)}")
    return est


def brier_score(train_durations, train_events, test_durations, test_events,
                survival_at_times, times) -> np.ndarray:
    """IPCW Brier score ``BS(t*)`` of eq. 12 at each evaluation time.

    ``BS(t) = 1/n sum_i [ 1(T_i <= t, d_i = 1) S(t|x_i)^2 / G(T_i)
    + 1(T_i > t) (1 - S(t|x_i))^2 / G(t) ]`` with ``G`` the censoring Kaplan-Meier fitted on
    the training data.

    Parameters
    ----------
    train_durations, train_events : array_like
        Training data (for ``G`` only).
    test_durations, test_events : array_like, shape (n,)
        Evaluation data.
    survival_at_times : array_like, shape (n, m)
        Predicted ``S(t_k | x_i)``, e.g. ``survival_at(surv, grid, times)``.
    times : array_like, shape (m,)
        Evaluation times.

    Examples
    --------
    >>> bs = brier_score([1, 2, 3, 4], [1, 0, 1, 0], [1, 3], [1, 0],
    ...                  [[0.0], [1.0]], [2.0])
    >>> bs.tolist()
    [0.0]
    """
    G = CensoringKM(train_durations, train_events)
    t, e = check_survival_data(test_durations, test_events, name="test durations")
    times = np.atleast_1d(np.asarray(times, dtype=float))
    est = _check_est(survival_at_times, t.size, times)
    return _brier_terms(t, e, est, times, G)


def integrated_brier_score(train_durations, train_events, test_durations, test_events,
                           survival_at_times, times) -> float:
    """Integrated Brier score (eqs. 13-14).

    The trapezoid rule over ``times``, divided by ``t_m - t_1``.

    Examples
    --------
    >>> ibs = integrated_brier_score([1, 2, 3, 4], [1, 0, 1, 0], [1, 3], [1, 0],
    ...                              [[0.0, 0.0], [1.0, 1.0]], [1.5, 2.5])
    >>> float(ibs)
    0.0
    """
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if times.size < 2 or np.any(np.diff(times) <= 0):
        raise SurvivalInputError(
            f"times={times.tolist()[:6]}: need >= 2 strictly increasing evaluation times")
    bs = brier_score(train_durations, train_events, test_durations, test_events,
                     survival_at_times, times)
    return float(np.trapezoid(bs, times) / (times[-1] - times[0]))


def concordance_td_curve(durations, events, surv, grid, times, *,
                         tied_score: float = 0.0) -> np.ndarray:
    """Antolini's time-dependent concordance ``C(t*)`` (eq. 10) at each ``t*`` in ``times``.

    Admissible pairs ``(i, j)``: ``T_i <= t*``, ``d_i = 1``, ``T_j > T_i``; concordant if
    ``S(T_i | x_i) < S(T_i | x_j)``; tied predictions score ``tied_score`` (0 in eq. 10).
    ``nan`` where no pair is admissible.

    Cost: one sort of the comparators per distinct event time, ``O(U n log n)``; with
    durations in whole months ``U`` is at most the window length.

    Examples
    --------
    >>> grid = np.array([0.0, 1.0, 2.0])
    >>> surv = np.array([[0.5, 0.1], [0.9, 0.8], [0.6, 0.5]])
    >>> concordance_td_curve([1.0, 1.5, 2.0], [1, 1, 0], surv, grid, [1.2, 2.0]).tolist()
    [1.0, 0.6666666666666666]
    """
    if not 0.0 <= tied_score <= 1.0:
        raise SurvivalInputError(f"tied_score={tied_score!r}: must be in [0, 1]")
    t, e = check_survival_data(durations, events)
    grid = check_grid(grid)
    surv = np.asarray(surv, dtype=float)
    if surv.shape != (t.size, grid.size - 1):
        raise SurvivalInputError(
            f"surv has shape {surv.shape}: need [n, T] = {(t.size, grid.size - 1)}")
    times = np.atleast_1d(np.asarray(times, dtype=float))
    ext = np.concatenate([np.ones((t.size, 1)), surv], axis=1)
    event_times = np.unique(t[e])
    num = np.zeros(event_times.size)
    den = np.zeros(event_times.size)
    for k, u in enumerate(event_times):
        col = ext[:, np.searchsorted(grid[1:], u, side="right")]
        comp = np.sort(col[t > u])
        s_i = col[e & (t == u)]
        greater = comp.size - np.searchsorted(comp, s_i, side="right")
        ties = np.searchsorted(comp, s_i, side="right") - np.searchsorted(comp, s_i, side="left")
        num[k] = greater.sum() + tied_score * ties.sum()
        den[k] = s_i.size * comp.size
    cum_num = np.concatenate([[0.0], np.cumsum(num)])
    cum_den = np.concatenate([[0.0], np.cumsum(den)])
    upto = np.searchsorted(event_times, times, side="right")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cum_den[upto] > 0, cum_num[upto] / np.maximum(cum_den[upto], 1), np.nan)


def concordance_td(durations, events, surv, grid, times, *, tied_score: float = 0.0) -> float:
    """Mean time-dependent C-index over the evaluation times (eq. 11).

    Times without an admissible pair are skipped (``nan`` if there is none at all).

    >>> grid = np.array([0.0, 1.0, 2.0])
    >>> surv = np.array([[0.5, 0.1], [0.9, 0.8], [0.6, 0.5]])
    >>> round(concordance_td([1.0, 1.5, 2.0], [1, 1, 0], surv, grid, [1.2, 2.0]), 4)
    0.8333
    """
    c = concordance_td_curve(durations, events, surv, grid, times, tied_score=tied_score)
    return float(np.nanmean(c)) if np.any(np.isfinite(c)) else float("nan")
