"""Survival metrics (FSL-BDP eqs. 10-14) cross-checked against scikit-survival, and ECL."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.metrics import brier_score as sk_brier
from sksurv.metrics import concordance_index_censored
from sksurv.metrics import integrated_brier_score as sk_ibs
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import Surv

from fedlib.survival.ecl import discount_factors, lifetime_ecl, marginal_default_probabilities
from fedlib.survival.labels import SurvivalInputError, interval_grid
from fedlib.survival.metrics import (
    CensoringKM,
    brier_score,
    concordance_td,
    concordance_td_curve,
    integrated_brier_score,
    kaplan_meier,
    survival_at,
)

T = 24
GRID = interval_grid(horizon=T, n_intervals=T)


def cohort(n, seed, *, integer_times=False):
    """Proportional-hazards cohort: S_i(t) = S0(t)^exp(eta_i), independent censoring."""
    rng = np.random.default_rng(seed)
    eta = rng.normal(size=n)
    h0 = 0.02 + 0.01 * np.sin(np.arange(T))                # monthly baseline hazard
    surv = np.exp(np.cumsum(np.log1p(-h0))[None, :] * np.exp(eta)[:, None])
    # Draw event month from the model, a uniform position inside it, and censoring.
    u = rng.uniform(size=n)
    month = (surv > u[:, None]).sum(1)                     # first interval where S drops below u
    t_event = month + (0 if integer_times else rng.uniform(0.01, 0.99, n))
    t_cens = rng.uniform(1, 30, n)
    if integer_times:
        t_cens = np.floor(t_cens)
    t = np.minimum(t_event, t_cens)
    e = (t_event <= t_cens) & (t_event < T)
    t = np.minimum(t, T + 0.5)
    return t, e, eta, surv


def test_kaplan_meier_and_ci_match_sksurv():
    t, e, _, _ = cohort(800, 0, integer_times=True)          # many ties
    times, s, lo, hi = kaplan_meier(t, e, conf_level=0.9)
    sk_t, sk_s, sk_ci = kaplan_meier_estimator(e, t, conf_type="log-log", conf_level=0.9)
    np.testing.assert_array_equal(times, sk_t)
    np.testing.assert_allclose(s, sk_s, rtol=1e-12)
    np.testing.assert_allclose(lo, sk_ci[0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(hi, sk_ci[1], rtol=1e-10, atol=1e-14)
    assert (np.diff(s) <= 0).all() and (lo <= s).all() and (s <= hi).all()


def test_censoring_km_matches_sksurv_reverse():
    t, e, _, _ = cohort(500, 1, integer_times=True)
    sk_t, sk_g = kaplan_meier_estimator(e, t, reverse=True)
    G = CensoringKM(t, e)
    np.testing.assert_allclose(G(sk_t), sk_g, rtol=1e-12)
    mid = (sk_t[:-1] + sk_t[1:]) / 2                          # right-continuous steps
    np.testing.assert_allclose(G(mid), sk_g[:-1], rtol=1e-12)


@pytest.mark.parametrize("integer_times", [False, True])
def test_brier_and_ibs_match_sksurv(integer_times):
    t_tr, e_tr, _, _ = cohort(1500, 2, integer_times=integer_times)
    t_te, e_te, _, surv = cohort(600, 3, integer_times=integer_times)
    times = np.arange(1.0, 22.0)
    est = survival_at(surv, GRID, times)
    ours = brier_score(t_tr, e_tr, t_te, e_te, est, times)
    y_tr, y_te = Surv.from_arrays(e_tr, t_tr), Surv.from_arrays(e_te, t_te)
    _, theirs = sk_brier(y_tr, y_te, est, times)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert integrated_brier_score(t_tr, e_tr, t_te, e_te, est, times) == pytest.approx(
        sk_ibs(y_tr, y_te, est, times), rel=1e-12)
    # A useless constant prediction scores worse than the model that generated the data.
    flat = np.full_like(est, 0.5)
    assert integrated_brier_score(t_tr, e_tr, t_te, e_te, flat, times) > \
        integrated_brier_score(t_tr, e_tr, t_te, e_te, est, times)


def test_concordance_equals_harrell_when_curves_do_not_cross():
    t, e, eta, surv = cohort(700, 4)
    e = e & (t >= 1.0)                         # before tau_1 all predictions tie at S = 1
    for t_star in (6.0, 12.0, 23.9):
        ours = concordance_td_curve(t, e, surv, GRID, [t_star])[0]
        harrell = concordance_index_censored(e & (t <= t_star), t, eta)[0]
        assert ours == pytest.approx(harrell, rel=1e-12)
    assert 0.6 < ours < 0.9


def test_concordance_matches_brute_force_with_crossing_curves_and_ties():
    rng = np.random.default_rng(5)
    n = 120
    t = rng.integers(0, 12, n) + rng.choice([0.0, 0.5], n)   # tied times
    e = rng.integers(0, 2, n).astype(bool)
    surv = np.round(np.cumprod(rng.uniform(0.7, 1.0, (n, T)), axis=1), 2)   # tied predictions
    times = [3.0, 8.0, 11.5]
    for tied in (0.0, 0.5):
        got = concordance_td_curve(t, e, surv, GRID, times, tied_score=tied)
        Si = survival_at(surv, GRID, t)            # [n, n]: column k = S(t_k | x_j)
        for c, ts in zip(got, times, strict=True):
            num = den = 0.0
            for i in range(n):
                if not (e[i] and t[i] <= ts):
                    continue
                for j in range(n):
                    if t[j] > t[i]:                # eq. 10: T_j > T_i
                        den += 1
                        num += (Si[i, i] < Si[j, i]) + tied * (Si[i, i] == Si[j, i])
            assert c == pytest.approx(num / den)
    mean = concordance_td(t, e, surv, GRID, times)
    assert mean == pytest.approx(np.mean(concordance_td_curve(t, e, surv, GRID, times)))


def test_concordance_extremes():
    t = np.array([1.5, 2.5, 3.5, 4.5])
    e = np.array([1, 1, 1, 0])
    perfect = np.tile(np.linspace(0.95, 0.5, T), (4, 1)) ** np.array([[4], [3], [2], [1]])
    assert concordance_td(t, e, perfect, GRID, [4.0]) == 1.0
    assert concordance_td(t, e, perfect[::-1], GRID, [4.0]) == 0.0
    assert np.isnan(concordance_td_curve(t, e, perfect, GRID, [1.0])[0])   # no event yet


def test_metric_input_errors():
    with pytest.raises(SurvivalInputError, match="surv"):
        survival_at(np.ones((2, 3)), GRID, [1.0])
    with pytest.raises(SurvivalInputError, match="survival_at_times"):
        brier_score([1, 2], [1, 0], [1, 2], [1, 0], np.ones((3, 1)), [1.0])
    with pytest.raises(SurvivalInputError, match="times"):
        integrated_brier_score([1, 2], [1, 0], [1, 2], [1, 0], np.ones((2, 1)), [1.0])


def test_ecl_marginal_correction_and_discounting():
    h = np.array([[0.05] * 24, [0.2] * 24])
    pd = marginal_default_probabilities(h)
    np.testing.assert_allclose(pd.sum(1), 1 - (1 - h).prod(1))      # lifetime PD = 1 - S_T
    ecl = lifetime_ecl(h, lgd=0.45, ead=np.linspace(1000, 50, 24))
    paper = lifetime_ecl(h, lgd=0.45, ead=np.linspace(1000, 50, 24), marginal=False)
    assert (ecl < paper).all()
    assert paper[1] / ecl[1] > 2                                      # large for high hazards
    df = discount_factors(annual_rate=0.08, n_months=24)
    assert (lifetime_ecl(h, lgd=0.45, ead=1000.0, discount=df) < lifetime_ecl(h, lgd=0.45, ead=1000.0)).all()
    assert lifetime_ecl(h[0], lgd=0.45, ead=1000.0) == pytest.approx(450 * (1 - 0.95**24))
    with pytest.raises(ValueError, match="hazards"):
        lifetime_ecl([1.5], lgd=0.4, ead=1.0)
    with pytest.raises(ValueError, match="lgd"):
        lifetime_ecl([0.1, 0.1], lgd=[0.4, 0.4, 0.4], ead=1.0)
