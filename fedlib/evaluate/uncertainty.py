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
``seeds+bootstrap``
    a statistic of the *same* test rows computed by several seeded runs (e.g. each seed's test
    AUC): the mean over seeds, with an interval from a two-stage bootstrap that carries both
    the training randomness (seeds) and the noise of the finite test set (rows). See
    :meth:`Estimate.seeds_and_rows`; the row stage is :class:`RowResamples` and
    :func:`weighted_auc`.
``exact``
    a deterministic quantity with no sampling noise: an accountant's ε on stated settings, a
    feature count, a protocol's exact sum.
``input``
    a number we *set* from the paper (a generator target, a threshold tuned to hit the paper's
    count). It can only ever be "by construction", never evidence.

References: Efron & Tibshirani (1993), *An Introduction to the Bootstrap*, ch. 13 (percentile
interval); Davison & Hinkley (1997), *Bootstrap Methods and their Application*, §3.8
(two-stage bootstrap of hierarchical data); Owen (2007), "The pigeonhole bootstrap", *Ann.
Appl. Stat.* 1(2) (crossed factors resampled independently); Bouthillier et al. (2021),
"Accounting for variance in machine learning benchmarks", *MLSys* (seeds and test-set
sampling as the two sources of a benchmark's variance). Introduced in chapter 1 (``chapters/01_fmtl_dp_secagg.py``); used by every chapter's
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

__all__ = ["BASES", "MEASURED", "Estimate", "RowResamples", "weighted_auc"]

BASES: tuple[str, ...] = ("seeds", "bootstrap", "seeds+bootstrap", "exact", "input")
#: The bases of measured numbers: a verdict on them needs their interval.
MEASURED: tuple[str, ...] = ("seeds", "bootstrap", "seeds+bootstrap")
Basis = Literal["seeds", "bootstrap", "seeds+bootstrap", "exact", "input"]


@dataclass(frozen=True)
class Estimate:
    """A number, how it was obtained, and (for measured numbers) its confidence interval.

    Build it with :meth:`seeds`, :meth:`bootstrap`, :meth:`seeds_and_rows`, :meth:`exact` or
    :meth:`input` rather than directly, so that the interval always matches the basis.

    Attributes
    ----------
    value : float
        The point estimate (mean over seeds, full-sample statistic, or the exact value).
    interval : (float, float) or None
        Two-sided confidence interval at ``level``; ``None`` for exact or input values and for
        a single seed.
    n_runs : int
        Seeds behind a ``seeds`` or ``seeds+bootstrap`` estimate, bootstrap resamples behind a
        ``bootstrap`` one, 1 otherwise.
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
        return self.basis in MEASURED

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
    def seeds_and_rows(cls, per_seed: np.ndarray, minus: np.ndarray | None = None, *,
                       level: float = 0.95, seed: int = 0,
                       seed_stage: Literal["student", "resample"] = "student") -> Estimate:
        """Mean over seeded runs of a test-row statistic, with a two-stage bootstrap interval.

        Each of ``S`` seeded runs (model initialisation, batch order, DP noise) is scored on
        the *same* test rows, so a number like "FMTL's mean test AUC" has two sources of noise:
        another seed would train another model (the seeds stage), and another test set of the
        same size would score it differently (the rows stage). :meth:`seeds` alone sees only
        the first: on one fixed test set, three seeds can agree to the third decimal while the
        test set itself could move the AUC by ±0.01. Here every bootstrap replicate draws both:

        1. *rows*: the test rows are resampled with replacement (within strata, e.g. label
           and institution) by one :class:`RowResamples` draw, the **same** draw for every
           seed and every method compared, because seeds and rows are crossed factors (every
           seed is scored on every test row), not nested ones (Owen 2007); and
        2. *seeds*: given that row draw, the mean over seeds is perturbed by its own sampling
           error, ``t · sd / √S`` with ``sd`` the spread of the ``S`` per-seed statistics on
           the resampled rows and ``t`` a Student-t draw with ``S − 1`` degrees of freedom
           (``seed_stage="student"``, the default), or the seeds are resampled with
           replacement (``seed_stage="resample"``).

        The interval is the percentile interval of the replicates (Efron & Tibshirani 1993,
        ch. 13); the value is the mean over seeds on the full test rows.

        Why a Student-t seed stage by default: with 3-5 seeds, resampling the seeds is crude.
        Three seeds have only 10 distinct resamples, their bootstrap variance is biased low by
        ``(S − 1)/S`` and its percentiles behave like normal quantiles, while the mean of three
        values needs the t quantile with 2 degrees of freedom (4.30, not 1.96): a percentile
        interval over resampled seeds is about 2.5 times too narrow at ``S = 3``. The
        Student-t stage reduces exactly to :meth:`seeds`' interval when the test rows carry
        no noise, and to the rows-only bootstrap when the seeds agree; the t draws are
        stratified (one per quantile ``(i + ½)/B``, randomly paired with the row draws) so
        that their tails are not left to chance.

        What the interval covers: the mean over the training randomness of the statistic on
        a *new* test set of the same size and strata from the same population, with the data
        split, the training rows and the hyper-parameters held fixed (they were chosen once).
        Known limits: the variance of the seed-by-row interaction is counted in both stages,
        so the interval is mildly conservative (Owen 2007); with 2 seeds the t quantile (12.7)
        makes it very wide, and with 1 seed there is no interval (like :meth:`seeds`); a
        replicate in which the statistic is undefined (NaN, e.g. a fairness group drawn
        empty) is dropped, so the interval is conditional on the statistic being defined, and
        none is given when fewer than 100 replicates remain.

        Parameters
        ----------
        per_seed
            Array of shape ``(1 + B, S)``: row 0 is each seed's statistic on the full test
            rows, rows ``1..B`` on the ``B`` row resamples of one :class:`RowResamples`
            (``RowResamples.weights`` row for row). A 1-D array is one draw (the full rows)
            and gives :meth:`seeds`' interval with this basis.
        minus
            For a difference A − B, the same array of method B, computed with the same seeds
            and the same row resamples, so that the difference is paired by seed and by row.
        level
            Confidence level.
        seed
            Seed of the seed stage (t draws and their pairing, or the seed resamples).
        seed_stage
            ``"student"`` (default) or ``"resample"`` (for many seeds, e.g. 20 or more).

        Returns
        -------
        Estimate
            Basis ``"seeds+bootstrap"``, ``n_runs`` = ``S``.

        Examples
        --------
        >>> rows = RowResamples.draw(400, n_boot=200, seed=1)
        >>> x = np.random.default_rng(0).normal(size=400)
        >>> per_seed = np.stack([rows.weights @ (x + s) / 400 for s in (0.0, 0.1, 0.2)], axis=1)
        >>> e = Estimate.seeds_and_rows(per_seed)
        >>> e.basis, e.n_runs, e.interval[0] < e.value < e.interval[1]
        ('seeds+bootstrap', 3, True)
        >>> Estimate.seeds_and_rows(per_seed, minus=per_seed).interval
        (0.0, 0.0)
        """
        v = np.asarray(per_seed, dtype=float)
        if minus is not None:
            m = np.asarray(minus, dtype=float)
            if m.shape != v.shape:
                raise ValueError(f"a paired difference needs arrays of one shape (same seeds, "
                                 f"same row resamples), got {v.shape} and {m.shape}")
            v = v - m
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] == 0 or not np.all(np.isfinite(v[0])):
            raise ValueError(f"seeds_and_rows needs a (1 + n_boot, n_seeds) array with a "
                             f"finite full-row value per seed, got shape {v.shape}")
        if seed_stage not in ("student", "resample"):
            raise ValueError(f"seed_stage must be 'student' or 'resample', got {seed_stage!r}")
        n_seeds = v.shape[1]
        value = float(v[0].mean())
        draws = v[1:][np.all(np.isfinite(v[1:]), axis=1)]
        if n_seeds < 2 or (len(v) > 1 and len(draws) < 100):
            return cls(value, None, n_seeds, "seeds+bootstrap", level)
        if len(v) == 1:   # no row resamples: the seeds-only interval, stated as such
            est = cls.seeds(v[0], level=level)
            return cls(value, est.interval, n_seeds, "seeds+bootstrap", level)
        rng = np.random.default_rng(seed)
        if seed_stage == "student":
            quantiles = (rng.permutation(len(draws)) + 0.5) / len(draws)
            t_draws = stats.t.ppf(quantiles, n_seeds - 1)
            replicates = (draws.mean(axis=1)
                          + t_draws * draws.std(axis=1, ddof=1) / math.sqrt(n_seeds))
        else:
            picks = rng.integers(0, n_seeds, size=draws.shape)
            replicates = np.take_along_axis(draws, picks, axis=1).mean(axis=1)
        lo, hi = np.quantile(replicates, [0.5 - level / 2, 0.5 + level / 2])
        # The interval always holds the point estimate: float rounding at an exact tie, and
        # the replicates of a min or max over institutions can sit beside its full-row value.
        lo, hi = min(float(lo), value), max(float(hi), value)
        return cls(value, (lo, hi), n_seeds, "seeds+bootstrap", level)

    @classmethod
    def exact(cls, value: float) -> Estimate:
        """A deterministic quantity (an accountant's ε, a count)."""
        return cls(float(value), None, 1, "exact")

    @classmethod
    def input(cls, value: float) -> Estimate:
        """A number we set from the paper: reported as "by construction", never scored."""
        return cls(float(value), None, 1, "input")


@dataclass(frozen=True)
class RowResamples:
    """Bootstrap resamples of a fixed set of test rows, as count weights shared by every method.

    ``weights[0]`` is all ones (the full test rows); ``weights[b]`` for ``b = 1..n_boot`` holds
    how often each row occurs in resample ``b`` (each stratum's rows drawn with replacement, as
    many as the stratum has). A statistic written as a
    function of row weights (a weighted mean, :func:`weighted_auc`) is then evaluated for every
    resample at once by one matrix operation, and every method and seed scored with the same
    object is paired by row.

    Attributes
    ----------
    weights : numpy.ndarray
        Shape ``(1 + n_boot, n_rows)``, float64 counts.
    strata : numpy.ndarray or None
        The stratum of each row (resampling keeps each stratum's size).

    Examples
    --------
    >>> r = RowResamples.draw(6, n_boot=100, strata=[0, 0, 0, 1, 1, 1], seed=0)
    >>> r.weights.shape, r.n_boot, r.weights[0].tolist()
    ((101, 6), 100, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    >>> bool(np.all(r.weights[:, :3].sum(axis=1) == 3))
    True
    """

    weights: np.ndarray
    strata: np.ndarray | None = None

    @property
    def n_boot(self) -> int:
        """Number of resamples (rows 1.. of ``weights``)."""
        return len(self.weights) - 1

    @property
    def n_rows(self) -> int:
        """Number of test rows."""
        return self.weights.shape[1]

    @classmethod
    def draw(cls, n_rows: int, *, n_boot: int = 1000, strata: Sequence | np.ndarray | None = None,
             seed: int = 0) -> RowResamples:
        """Draw ``n_boot`` resamples of ``n_rows`` rows, within ``strata`` if given.

        Deterministic given ``seed``. Stratify on the label (and on the institution when rows
        of several institutions are concatenated) so that every resample has both classes in
        every institution and the AUC is defined.
        """
        if n_rows < 1:
            raise ValueError(f"n_rows must be >= 1, got {n_rows}")
        if n_boot < 100:
            raise ValueError(f"n_boot must be >= 100 for a 95 % interval, got {n_boot}")
        labels = np.zeros(n_rows, dtype=int) if strata is None else np.asarray(strata)
        if len(labels) != n_rows:
            raise ValueError(f"strata has {len(labels)} entries for {n_rows} rows")
        rng = np.random.default_rng(seed)
        weights = np.ones((1 + n_boot, n_rows))
        for stratum in np.unique(labels):
            rows = np.flatnonzero(labels == stratum)
            # rows drawn with replacement, counted per resample by one bincount (a
            # multinomial over thousands of categories is ten times slower)
            picks = rng.integers(0, rows.size, size=(n_boot, rows.size))
            picks += np.arange(n_boot)[:, None] * rows.size
            weights[1:, rows] = np.bincount(picks.ravel(), minlength=n_boot * rows.size
                                            ).reshape(n_boot, rows.size)
        return cls(weights, None if strata is None else labels)

    def restrict(self, rows: slice | np.ndarray) -> np.ndarray:
        """The weights of a subset of the rows (e.g. one institution's), all resamples."""
        return self.weights[:, rows]


def weighted_auc(y: Sequence | np.ndarray, scores: Sequence | np.ndarray,
                 weights: np.ndarray) -> np.ndarray:
    """ROC-AUC of ``scores`` against ``y`` under each row of ``weights``, in one pass.

    The Mann-Whitney form, AUC = P(score of a positive > score of a negative) + ½ P(tie), with
    every row counted ``weights[b, i]`` times. The negatives are sorted once; the weighted
    count of negatives below (and tied with) each positive is then a cumulative sum read at
    two ``searchsorted`` positions, so no resample is re-sorted: ``O(B·n)`` after one
    ``O(n log n)`` sort, which is what makes a thousand resamples of thousands of rows take
    milliseconds.

    Parameters
    ----------
    y
        Binary labels, shape ``(n,)``.
    scores
        Scores, shape ``(n,)``.
    weights
        Row weights, shape ``(K, n)`` (e.g. :attr:`RowResamples.weights`) or ``(n,)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(K,)`` (a float for 1-D weights is returned as shape ``(1,)``); NaN where a
        weight row has no positive or no negative.

    Examples
    --------
    >>> weighted_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], np.ones(4)).tolist()
    [0.75]
    >>> weighted_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], np.array([[1, 0, 1, 1.0]])).tolist()
    [1.0]
    """
    y = np.asarray(y)
    s = np.asarray(scores, dtype=float)
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    if y.shape != s.shape or w.shape[1] != s.size:
        raise ValueError(f"y {y.shape}, scores {s.shape} and weights {w.shape} do not match")
    positive = y == 1
    neg_order = np.argsort(s[~positive], kind="stable")
    neg_scores = s[~positive][neg_order]
    pos_scores = s[positive]
    # cum[:, k]: weighted negatives among the k lowest-scoring negatives (cum[:, 0] = 0)
    cum = np.zeros((len(w), neg_scores.size + 1))
    np.cumsum(w[:, ~positive][:, neg_order], axis=1, out=cum[:, 1:])
    below = cum[:, np.searchsorted(neg_scores, pos_scores, side="left")]
    up_to = cum[:, np.searchsorted(neg_scores, pos_scores, side="right")]
    w_pos = w[:, positive]
    u = (w_pos * (below + up_to)).sum(axis=1) / 2      # ties count one half
    n_pos, n_neg = w_pos.sum(axis=1), cum[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)
