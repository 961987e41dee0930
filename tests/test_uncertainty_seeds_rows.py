"""The two-stage bootstrap over seeds and test rows (Estimate.seeds_and_rows) and its row stage.

Synthetic settings where the answer is known: a seeded "model" whose scores on one fixed test
set are the row's signal plus a seed effect, so that the seeds-only interval, the rows-only
bootstrap and the combined interval can be compared, and a coverage check against a closed-form
truth.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from fedlib.evaluate.scorecard import verdict
from fedlib.evaluate.uncertainty import Estimate, RowResamples, weighted_auc


def _width(est: Estimate) -> float:
    lo, hi = est.interval
    return hi - lo


def _binormal(n: int, *, shift: float, seed_shifts, rng, prevalence: float = 0.3):
    """Labels and, per seed, scores z + (shift + seed shift)·y on the same rows."""
    y = (rng.random(n) < prevalence).astype(int)
    z = rng.normal(size=n)
    return y, np.stack([z + (shift + u) * y for u in seed_shifts])


def _per_seed_auc(y, scores, rows: RowResamples) -> np.ndarray:
    return np.stack([weighted_auc(y, s, rows.weights) for s in scores], axis=1)


def _rows_only(per_seed: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the seed mean over row resamples only (seeds held fixed)."""
    lo, hi = np.quantile(per_seed[1:].mean(axis=1), [0.5 - level / 2, 0.5 + level / 2])
    return float(lo), float(hi)


def test_weighted_auc_is_the_auc_of_the_resampled_rows_with_ties():
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.2).astype(int)
    s = np.round(rng.normal(size=300) + y, 1)          # many ties
    rows = RowResamples.draw(300, n_boot=100, strata=y, seed=4)
    auc = weighted_auc(y, s, rows.weights)
    assert auc[0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    for b in (1, 17, 100):
        idx = np.repeat(np.arange(300), rows.weights[b].astype(int))
        assert auc[b] == pytest.approx(roc_auc_score(y[idx], s[idx]), abs=1e-12)


def test_weighted_auc_without_a_class_is_nan():
    assert np.isnan(weighted_auc([1, 1, 1], [0.1, 0.5, 0.9], np.ones(3))).all()


def test_row_resamples_keep_strata_and_are_deterministic():
    strata = np.r_[np.zeros(50, int), np.ones(10, int)]
    a = RowResamples.draw(60, n_boot=200, strata=strata, seed=7)
    b = RowResamples.draw(60, n_boot=200, strata=strata, seed=7)
    c = RowResamples.draw(60, n_boot=200, strata=strata, seed=8)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.weights, c.weights)
    np.testing.assert_array_equal(a.weights[:, :50].sum(axis=1), 50)
    np.testing.assert_array_equal(a.weights[:, 50:].sum(axis=1), 10)
    assert (a.weights[1:] != 1).any()                  # the resamples do resample
    with pytest.raises(ValueError, match="n_boot"):
        RowResamples.draw(60, n_boot=10)


def test_combined_interval_is_centred_like_seeds_and_wider_than_either_stage():
    # Seed effects and a small test set both matter here: the combined interval must contain
    # the seeds-only centre and be at least as wide as each one-stage interval.
    rng = np.random.default_rng(0)
    y, scores = _binormal(600, shift=1.0, seed_shifts=[-0.15, 0.0, 0.2], rng=rng)
    rows = RowResamples.draw(600, n_boot=1000, strata=y, seed=1)
    per_seed = _per_seed_auc(y, scores, rows)
    both = Estimate.seeds_and_rows(per_seed)
    seeds_only = Estimate.seeds(per_seed[0])
    rows_lo, rows_hi = _rows_only(per_seed)
    assert both.basis == "seeds+bootstrap" and both.n_runs == 3 and both.measured
    assert both.value == pytest.approx(seeds_only.value)
    assert both.interval[0] <= seeds_only.value <= both.interval[1]
    assert _width(both) >= _width(seeds_only)
    assert _width(both) >= rows_hi - rows_lo


def test_seed_stage_alone_is_the_t_interval_and_row_stage_alone_the_bootstrap():
    # No row noise (the statistic ignores the rows): the t interval of Estimate.seeds.
    rows = RowResamples.draw(200, n_boot=1000, seed=2)
    flat = np.tile([0.70, 0.72, 0.71], (rows.n_boot + 1, 1))
    both, seeds_only = Estimate.seeds_and_rows(flat), Estimate.seeds(flat[0])
    assert both.interval == pytest.approx(seeds_only.interval, abs=2e-3)
    # Seeds that agree: the rows-only bootstrap interval.
    x = np.random.default_rng(5).normal(size=200)
    same = np.tile((rows.weights @ x / 200)[:, None], (1, 3))
    assert Estimate.seeds_and_rows(same).interval == pytest.approx(_rows_only(same), abs=1e-9)


def test_interval_shrinks_as_the_test_set_grows():
    widths = []
    for n in (400, 4000):
        rng = np.random.default_rng(11)
        y, scores = _binormal(n, shift=1.0, seed_shifts=[-0.01, 0.0, 0.01], rng=rng)
        rows = RowResamples.draw(n, n_boot=500, strata=y, seed=0)
        widths.append(_width(Estimate.seeds_and_rows(_per_seed_auc(y, scores, rows))))
    assert widths[1] < 0.6 * widths[0]                 # ~1/sqrt(10) of the row noise


def test_paired_difference_of_identical_methods_is_exactly_zero():
    rng = np.random.default_rng(2)
    y, scores = _binormal(500, shift=0.8, seed_shifts=[0.0, 0.1, 0.3], rng=rng)
    rows = RowResamples.draw(500, n_boot=300, strata=y, seed=0)
    a = _per_seed_auc(y, scores, rows)
    diff = Estimate.seeds_and_rows(a, minus=a.copy())
    assert (diff.value, diff.interval) == (0.0, (0.0, 0.0))
    assert verdict(">", diff, kind="direction") == "inconclusive"


def test_paired_difference_detects_a_small_gap_that_unpaired_rows_would_hide():
    # B is A with slightly worse scores on the same rows: the per-row pairing cancels the
    # test-set noise both share, so a gap far below each AUC's own interval is resolved.
    rng = np.random.default_rng(8)
    y, a_scores = _binormal(800, shift=1.0, seed_shifts=[-0.05, 0.0, 0.05], rng=rng)
    b_scores = a_scores - 0.08 * y
    rows = RowResamples.draw(800, n_boot=1000, strata=y, seed=3)
    a, b = _per_seed_auc(y, a_scores, rows), _per_seed_auc(y, b_scores, rows)
    diff = Estimate.seeds_and_rows(a, minus=b)
    assert 0 < diff.interval[0] and diff.value < _width(Estimate.seeds_and_rows(a))
    assert verdict(">", diff, kind="direction") == "reproduced"
    with pytest.raises(ValueError, match="same seeds"):
        Estimate.seeds_and_rows(a, minus=b[:, :2])


def test_one_seed_has_no_interval_and_nan_draws_are_dropped():
    rows = RowResamples.draw(100, n_boot=200, seed=0)
    one = Estimate.seeds_and_rows(rows.weights[:, :1] / 10)
    assert one.interval is None and verdict(">", one, kind="direction") == "inconclusive"
    v = np.random.default_rng(0).normal(size=(201, 3))
    v[5:60, 1] = np.nan                                 # undefined in 55 resamples
    assert Estimate.seeds_and_rows(v).interval is not None
    v[5:150, 1] = np.nan                                # fewer than 100 defined resamples left
    assert Estimate.seeds_and_rows(v).interval is None


def test_resampled_seed_stage_runs_and_is_narrower_than_student_with_three_seeds():
    rng = np.random.default_rng(4)
    y, scores = _binormal(400, shift=1.0, seed_shifts=[-0.3, 0.0, 0.3], rng=rng)
    rows = RowResamples.draw(400, n_boot=500, strata=y, seed=0)
    per_seed = _per_seed_auc(y, scores, rows)
    resampled = Estimate.seeds_and_rows(per_seed, seed_stage="resample")
    # the reason the Student-t stage is the default: resampling 3 seeds is too narrow
    assert _width(resampled) < _width(Estimate.seeds_and_rows(per_seed))
    with pytest.raises(ValueError, match="seed_stage"):
        Estimate.seeds_and_rows(per_seed, seed_stage="jackknife")


def test_coverage_of_the_mean_auc_over_seeds_and_test_sets():
    # Truth: scores z + (d + u)·y with z ~ N(0, 1) per row and u ~ N(0, tau^2) per seed, so
    # the AUC of one seed is Phi((d + u)/sqrt(2)) and its mean over seeds
    # E_u Phi((d + u)/sqrt(2)) = Phi(d / sqrt(2 + tau^2)). Each repetition draws a new test set
    # and new seeds; the nominal-95 % interval must cover the truth in >= 90 % of them.
    d, tau, n_seeds, reps = 1.0, 0.15, 3, 120
    truth = stats.norm.cdf(d / np.sqrt(2 + tau ** 2))
    rng = np.random.default_rng(2024)
    covered, covered_by_seeds = 0, 0
    for r in range(reps):
        y, scores = _binormal(300, shift=d, seed_shifts=rng.normal(0, tau, n_seeds), rng=rng)
        rows = RowResamples.draw(300, n_boot=200, strata=y, seed=r)
        per_seed = _per_seed_auc(y, scores, rows)
        lo, hi = Estimate.seeds_and_rows(per_seed, seed=r).interval
        covered += lo <= truth <= hi
        lo, hi = Estimate.seeds(per_seed[0]).interval
        covered_by_seeds += lo <= truth <= hi
    assert covered / reps >= 0.9
    # the reason for the row stage: over seeds alone the same setting is covered less often
    assert covered_by_seeds < covered
