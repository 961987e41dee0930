"""Discrete-time survival labels: the interval grid and the ``s_surv`` / ``s_fail`` vectors.

FSL-BDP models time in ``T`` ordered intervals ``0 = tau_0 < tau_1 < ... < tau_T`` (monthly,
up to the observation window) and encodes each borrower by two binary vectors of length ``T``
that turn the likelihood into the sum of eq. 1:

* event in interval ``l`` (``tau_{l-1} <= t < tau_l``): ``s_surv_j = 1`` for ``tau_j <= t``
  (every interval before ``l``) and ``s_fail_l = 1``;
* censored at ``t``: ``s_surv_l = 1`` where ``t >= (tau_{l-1} + tau_l) / 2`` (the *midpoint
  convention*: a borrower censored in the second half of an interval is credited with
  surviving it) and ``s_fail = 0``.

Where the paper is inconsistent we follow the label definitions literally and say so:

* the hazard is defined on ``(tau_{l-1}, tau_l]`` but the intervals are called
  left-closed/right-open and ``s_fail`` uses ``tau_{l-1} <= t < tau_l``; we use the
  left-closed intervals of the label definitions, so an event at exactly ``tau_l`` falls in
  interval ``l + 1``;
* the censored likelihood is written ``prod_{l <= j}(1 - h_l)`` (survived the whole interval
  of censoring) while the midpoint convention credits that interval only past its midpoint;
  ``censored="midpoint"`` (default, the labels of the paper) and ``censored="interval"`` (the
  written likelihood) give both;
* the midpoint formula prints ``tau_{i-1}, tau_i``; the index is ``l``.

Times at or beyond ``tau_T`` (after the observation window) are administratively censored:
the borrower survived all ``T`` intervals and an event there is not counted.

References: Amed, Sen & Banerjee (2026), FSL-BDP, sec. 3.2 (intervals, ``s_surv``/``s_fail``,
eq. 1); Gensheimer & Narasimhan (2019) for the midpoint convention. Introduced in chapter 3
(``chapters/03_fsl_bdp_survival.py``).

Examples
--------
>>> grid = interval_grid(horizon=4, n_intervals=4)
>>> s_surv, s_fail = survival_targets([2.5, 2.4, 2.6], [1, 0, 0], grid)
>>> s_surv.astype(int).tolist()
[[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]]
>>> s_fail.astype(int).tolist()
[[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "SurvivalInputError",
    "check_grid",
    "check_survival_data",
    "discretize",
    "interval_grid",
    "survival_targets",
]


class SurvivalInputError(ValueError):
    """Survival inputs (durations, events, grid, predictions) are malformed."""


def interval_grid(*, horizon: float, n_intervals: int | None = None,
                  width: float | None = None) -> np.ndarray:
    """Cut points ``[tau_0 = 0, tau_1, ..., tau_T = horizon]`` of ``T`` equal intervals.

    Give either ``n_intervals`` (``T``) or the interval ``width`` (``horizon`` must then be a
    whole number of widths). For a 24-month window with monthly intervals:
    ``interval_grid(horizon=24, n_intervals=24)``.

    Parameters
    ----------
    horizon : float
        End of the observation window ``tau_T`` (> 0), in the unit of the durations.
    n_intervals : int, optional
        Number of intervals ``T`` (>= 1).
    width : float, optional
        Interval width (> 0), alternative to ``n_intervals``.

    Returns
    -------
    numpy.ndarray
        ``T + 1`` increasing cut points starting at 0.

    Examples
    --------
    >>> interval_grid(horizon=12, width=3).tolist()
    [0.0, 3.0, 6.0, 9.0, 12.0]
    """
    if not np.isfinite(horizon) or horizon <= 0:
        raise SurvivalInputError(f"horizon={horizon!r}: must be a finite number > 0")
    if (n_intervals is None) == (width is None):
        raise SurvivalInputError(
            f"n_intervals={n_intervals!r}, width={width!r}: give exactly one of them")
    if width is not None:
        if width <= 0:
            raise SurvivalInputError(f"width={width!r}: must be > 0")
        t = horizon / width
        if abs(t - round(t)) > 1e-9:
            raise SurvivalInputError(
                f"width={width!r}: horizon={horizon!r} is not a whole number of widths")
        n_intervals = int(round(t))
    if int(n_intervals) != n_intervals or n_intervals < 1:
        raise SurvivalInputError(f"n_intervals={n_intervals!r}: must be an integer >= 1")
    return np.linspace(0.0, float(horizon), int(n_intervals) + 1)


def check_grid(grid) -> np.ndarray:
    """The interval grid as a float array: 1-D, at least two cut points, from 0, increasing.

    >>> check_grid([0, 12, 24]).tolist()
    [0.0, 12.0, 24.0]
    """
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or grid.size < 2:
        raise SurvivalInputError(f"grid has shape {grid.shape}: need a 1-D array of >= 2 cut points")
    if grid[0] != 0 or np.any(np.diff(grid) <= 0) or not np.all(np.isfinite(grid)):
        raise SurvivalInputError(
            f"grid={grid.tolist()[:6]}...: must start at 0 and increase strictly")
    return grid


def check_survival_data(durations, events, *, name: str = "durations"
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert ``(durations, events)`` to float and bool arrays.

    Durations must be finite and ``>= 0``; events must be 0/1 (or bool); lengths must match.

    Examples
    --------
    >>> check_survival_data([1.0, 2.0], [1, 0])[1].tolist()
    [True, False]
    """
    t = np.asarray(durations, dtype=float)
    e = np.asarray(events)
    if t.ndim != 1 or e.ndim != 1 or t.shape != e.shape:
        raise SurvivalInputError(
            f"{name} has shape {t.shape} and events {e.shape}: need two 1-D arrays of equal length")
    if t.size == 0:
        raise SurvivalInputError(f"{name} is empty")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise SurvivalInputError(f"{name}: every duration must be finite and >= 0")
    if not np.all((e == 0) | (e == 1)):
        raise SurvivalInputError(f"events: values {np.unique(e)[:5].tolist()} are not all 0/1")
    return t, e.astype(bool)


def discretize(durations, events, grid) -> tuple[np.ndarray, np.ndarray]:
    """Interval index of each row and the event indicator after administrative censoring.

    Row ``i`` with ``tau_{l-1} <= t_i < tau_l`` gets index ``l - 1`` (0-based). Rows with
    ``t_i >= tau_T`` get index ``T`` (past the grid) and ``event = False``.

    Parameters
    ----------
    durations, events : array_like, shape (n,)
        Observed time to default or censoring, and the default indicator.
    grid : array_like, shape (T + 1,)
        Cut points from :func:`interval_grid`.

    Returns
    -------
    idx : numpy.ndarray of int, shape (n,)
    events : numpy.ndarray of bool, shape (n,)

    Examples
    --------
    >>> idx, ev = discretize([0.0, 1.0, 3.9, 4.0], [1, 1, 0, 1], [0, 1, 2, 3, 4])
    >>> idx.tolist(), ev.tolist()
    ([0, 1, 3, 4], [True, True, False, False])
    """
    t, e = check_survival_data(durations, events)
    grid = check_grid(grid)
    idx = np.searchsorted(grid, t, side="right") - 1
    past = t >= grid[-1]
    idx[past] = grid.size - 1
    return idx.astype(np.int64), e & ~past


def survival_targets(durations, events, grid, *,
                     censored: Literal["midpoint", "interval"] = "midpoint"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The ``s_surv`` and ``s_fail`` label vectors of FSL-BDP eq. 1.

    Parameters
    ----------
    durations, events : array_like, shape (n,)
        Observed time and default indicator (1 = default, 0 = right-censored).
    grid : array_like, shape (T + 1,)
        Cut points from :func:`interval_grid`.
    censored : {"midpoint", "interval"}
        ``"midpoint"`` (the paper's labels): a censored row survives interval ``l`` iff
        ``t >= (tau_{l-1} + tau_l) / 2``. ``"interval"`` (the paper's written censored
        likelihood): it survives every interval up to and including the one it is
        censored in.

    Returns
    -------
    s_surv, s_fail : numpy.ndarray of float32, shape (n, T)

    Examples
    --------
    >>> s, f = survival_targets([1.2], [0], [0, 1, 2, 3], censored="interval")
    >>> s.tolist(), f.tolist()
    ([[1.0, 1.0, 0.0]], [[0.0, 0.0, 0.0]])
    """
    if censored not in ("midpoint", "interval"):
        raise SurvivalInputError(
            f"censored={censored!r}: allowed values are 'midpoint' and 'interval'")
    t, _ = check_survival_data(durations, events)
    grid = check_grid(grid)
    idx, ev = discretize(t, events, grid)
    T = grid.size - 1
    lower, upper = grid[:-1], grid[1:]
    # Events: survived every interval whose end is <= t, failed in interval idx.
    surv_event = t[:, None] >= upper[None, :]
    if censored == "midpoint":
        surv_cens = t[:, None] >= (0.5 * (lower + upper))[None, :]
    else:
        surv_cens = t[:, None] >= lower[None, :]
    s_surv = np.where(ev[:, None], surv_event, surv_cens)
    s_fail = ev[:, None] & (np.arange(T)[None, :] == idx[:, None])
    return s_surv.astype(np.float32), s_fail.astype(np.float32)
