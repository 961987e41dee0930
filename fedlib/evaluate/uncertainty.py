"""A measured number with its uncertainty: the ``ours`` side of every paper-vs-ours claim.

A verdict is only as good as the evidence behind it, so a claim never takes a bare float: it
takes an :class:`Estimate`, which says how the number was obtained (``basis``) and, for
measured numbers, how much it would move on another run (``interval``):

``seeds``
    the mean over independent runs (seeds); the interval is the two-sided Student-t
    confidence interval of that mean. One run gives no interval, and a claim on it is
    ``inconclusive``.
``bootstrap``
    one fit, evaluated on the test rows; the interval is the percentile bootstrap over those
    rows (optionally stratified, e.g. by label, so that every resample has both classes).
``exact``
    a deterministic quantity with no sampling noise: an accountant's ε on stated settings, a
    feature count, a protocol's exact sum.
``input``
    a number we *set* from the paper (a generator target, a threshold tuned to hit the paper's
    count). It can only ever be "by construction", never evidence.

References: Efron & Tibshirani (1993), *An Introduction to the Bootstrap*, ch. 13 (percentile
interval). Introduced in chapter 1 (``chapters/01_fmtl_dp_secagg.py``); used by every chapter's
claims.

Examples
--------
>>> e = Estimate.seeds([0.70, 0.72, 0.71])
>>> round(e.value, 3), e.n_runs, e.basis
(0.71, 3, 'seeds')
>>> [round(b, 3) for b in e.interval]
[0.685, 0.735]
>>> Estimate.exact(14.13).bounds()
(14.13, 14.13)
>>> Estimate.seeds([0.7]).interval is None
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

__all__ = ["BASES", "Estimate"]

BASES: tuple[str, ...] = ("seeds", "bootstrap", "exact", "input")
Basis = Literal["seeds", "bootstrap", "exact", "input"]


@dataclass(frozen=True)
class Estimate:
    """A number, how it was obtained, and (for measured numbers) its confidence interval.

    Build it with :meth:`seeds`, :meth:`bootstrap`, :meth:`exact` or :meth:`input` rather than
    directly, so that the interval always matches the basis.

    Attributes
    ----------
    value : float
        The point estimate (mean over seeds, full-sample statistic, or the exact value).
    interval : (float, float) or None
        Two-sided confidence interval at ``level``; ``None`` for exact or input values and for
        a single seed.
    n_runs : int
        Seeds behind a ``seeds`` estimate, bootstrap resamples behind a ``bootstrap`` one, 1
        otherwise.
    basis : str
        One of :data:`BASES`.
    level : float
        Confidence level of ``interval``.
    """

    value: float
    interval: tuple[float, float] | None = None
    n_runs: int = 1
    basis: Basis = "seeds"
    level: float = 0.95

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, got {self.basis!r}")
        if self.interval is not None:
            lo, hi = self.interval
            if not lo <= hi:
                raise ValueError(f"interval must have low <= high, got {self.interval!r}")
            if self.basis in ("exact", "input"):
                raise ValueError(f"an {self.basis!r} value has no interval")

    @property
    def measured(self) -> bool:
        """True for seeds and bootstrap estimates, whose verdicts need an interval."""
        return self.basis in ("seeds", "bootstrap")

    def bounds(self) -> tuple[float, float] | None:
        """The interval, ``(value, value)`` for exact and input values, ``None`` if unknown."""
        if self.interval is not None:
            return self.interval
        return None if self.measured else (self.value, self.value)

    def __sub__(self, other: Estimate) -> Estimate:
        """Difference of two *exact* values (measured differences need the paired data)."""
        if self.measured or other.measured:
            raise TypeError("the interval of a difference of measured estimates needs the "
                            "paired runs: use Estimate.seeds(a - b) or a bootstrap of a - b")
        basis = "input" if "input" in (self.basis, other.basis) else "exact"
        return Estimate(self.value - other.value, basis=basis)

    @classmethod
    def seeds(cls, values: Sequence[float] | np.ndarray, *, level: float = 0.95) -> Estimate:
        """Mean over independent runs with its Student-t confidence interval.

        For a difference between two methods run on the same seeds pass the per-seed
        differences (``a - b``), which removes the variation the seed shares.

        >>> Estimate.seeds([1.0, 1.0, 1.0]).interval
        (1.0, 1.0)
        """
        v = np.asarray(values, dtype=float).ravel()
        if v.size == 0 or not np.all(np.isfinite(v)):
            raise ValueError(f"seeds needs at least one finite value per run, got {v.tolist()}")
        mean = float(v.mean())
        if v.size < 2:
            return cls(mean, None, 1, "seeds", level)
        half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
        return cls(mean, (mean - half, mean + half), int(v.size), "seeds", level)

    @classmethod
    def bootstrap(cls, statistic: Callable[..., float], *arrays: Sequence | np.ndarray,
                  n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                  strata: Sequence | np.ndarray | None = None) -> Estimate:
        """A statistic of test rows with its percentile bootstrap interval.

        ``statistic(*arrays)`` is evaluated on the full rows for the value and on ``n_boot``
        resamples (rows drawn with replacement, jointly across ``arrays``; within each
        stratum if ``strata`` is given) for the interval.

        >>> y = np.array([0, 1] * 50)
        >>> e = Estimate.bootstrap(lambda a: a.mean(), y, n_boot=200, strata=y)
        >>> e.value, e.interval
        (0.5, (0.5, 0.5))
        """
        cols = [np.asarray(a) for a in arrays]
        n = len(cols[0])
        if n == 0 or any(len(c) != n for c in cols):
            raise ValueError(f"bootstrap needs non-empty arrays of one length, got "
                             f"{[len(c) for c in cols]}")
        if n_boot < 100:
            raise ValueError(f"n_boot must be >= 100 for a 95 % interval, got {n_boot}")
        rng = np.random.default_rng(seed)
        groups = ([np.arange(n)] if strata is None else
                  [np.flatnonzero(np.asarray(strata) == s) for s in np.unique(strata)])
        draws = np.empty(n_boot)
        for b in range(n_boot):
            idx = np.concatenate([rng.choice(g, size=g.size) for g in groups])
            draws[b] = statistic(*(c[idx] for c in cols))
        lo, hi = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2])
        return cls(float(statistic(*cols)), (float(lo), float(hi)), n_boot, "bootstrap", level)

    @classmethod
    def exact(cls, value: float) -> Estimate:
        """A deterministic quantity (an accountant's ε, a count)."""
        return cls(float(value), None, 1, "exact")

    @classmethod
    def input(cls, value: float) -> Estimate:
        """A number we set from the paper: reported as "by construction", never scored."""
        return cls(float(value), None, 1, "input")
