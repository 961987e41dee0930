"""Tests of the Bayesian DP accountant (FSL-BDP Algorithm 2, Triastcyn & Faltings 2020)."""

from __future__ import annotations

import dp_accounting
import numpy as np
import pytest
from scipy.special import logsumexp

from fedlib.privacy.bdp import (
    BayesianAccountant,
    BayesianDPError,
    analytical_step_cost,
    bdp_cost_terms,
    calibrate_bdp_noise,
    neighbour_distances_from_per_example,
)

ORDERS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]


def make(**kw):
    args = dict(sample_rate=0.02, noise_multiplier=1.0, clip_norm=1.0, beta=1e-5,
                gamma=1e-6, n_rows=5000, orders=ORDERS)
    args.update(kw)
    return BayesianAccountant(**args)


def run(acc, distances, steps):
    for _ in range(steps):
        acc.step(distances)
    return acc.epsilon()[0]


def test_zero_distance_costs_nothing_and_eps_is_minus_log_beta_over_max_order():
    acc = make()
    cost = acc.step(np.zeros(10))
    assert np.all(cost == 0.0)
    eps, delta = acc.epsilon()
    assert eps == pytest.approx(-np.log(1e-5) / max(ORDERS))
    assert acc.best_order() == max(ORDERS)
    assert delta == pytest.approx(1e-5 + 1e-6)          # one step: the paper's beta + gamma


def test_eps_monotone_in_sigma_steps_and_distance():
    d = np.full(10, 0.5)
    eps_sigma = [run(make(noise_multiplier=s), d, 50) for s in (0.8, 1.0, 1.5, 3.0)]
    assert np.all(np.diff(eps_sigma) < 0)
    eps_steps = [run(make(), d, n) for n in (10, 50, 200)]
    assert np.all(np.diff(eps_steps) > 0)
    eps_dist = [run(make(), np.full(10, x), 50) for x in (0.1, 0.5, 1.0, 4.0)]
    assert np.all(np.diff(eps_dist) > 0)


@pytest.mark.parametrize("delta_sq", [0.3, 1.0, 4.0])
def test_full_batch_reduces_to_gaussian_rdp(delta_sq):
    """q = 1: K is deterministic, c_L = c_R = lambda (lambda + 1) Delta / (2 sigma^2 C^2)."""
    sigma, C, steps = 1.7, 0.5, 7
    for cost in ("paper", "left"):
        acc = make(sample_rate=1.0, noise_multiplier=sigma, clip_norm=C, cost=cost)
        run(acc, np.full(5, delta_sq), steps)
        lam = np.asarray(ORDERS, dtype=float)
        expected = steps * lam * (lam + 1) * delta_sq / (2 * sigma**2 * C**2)
        np.testing.assert_allclose(acc.total_cost, expected, rtol=1e-12)
    # With Delta = C^2 this is exactly the classical Gaussian RDP (sensitivity C) from
    # dp-accounting, converted with the classical eps = RDP + log(1/delta)/(alpha - 1).
    acc = make(sample_rate=1.0, noise_multiplier=sigma, clip_norm=C)
    run(acc, np.full(5, C**2), steps)
    rdp = dp_accounting.rdp.RdpAccountant(orders=[o + 1.0 for o in ORDERS])
    rdp.compose(dp_accounting.GaussianDpEvent(sigma), steps)
    classical = np.min(np.asarray(rdp.rdp) + np.log(1 / 1e-5) / np.asarray(ORDERS))
    assert acc.epsilon()[0] == pytest.approx(classical, rel=1e-12)


@pytest.mark.parametrize("q,sigma", [(0.01, 0.8), (0.05, 1.2), (0.3, 2.0)])
def test_left_cost_is_sampled_gaussian_rdp_and_paper_rule_is_never_smaller(q, sigma):
    """c_L with Delta = C^2 is Mironov et al.'s integer-order RDP of the sampled Gaussian."""
    for lam in ORDERS:
        cl, cr = bdp_cost_terms([1.0], order=lam, sample_rate=q, noise_multiplier=sigma,
                                clip_norm=1.0)
        acc = dp_accounting.rdp.RdpAccountant(orders=[lam + 1.0])
        acc.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)))
        assert cl[0] == pytest.approx(lam * acc.rdp[0], rel=1e-9)
        assert cr[0] >= cl[0]
    paper = run(make(sample_rate=q, noise_multiplier=sigma), np.full(4, 1.0), 20)
    left = run(make(sample_rate=q, noise_multiplier=sigma, cost="left"), np.full(4, 1.0), 20)
    assert paper >= left


def test_paper_right_cost_is_first_order_in_q():
    """The printed c_R loses subsampling amplification: c_R ~ q (e^{Delta/sigma^2} - 1)."""
    for q in (1e-3, 1e-4):
        cl, cr = bdp_cost_terms([1.0], order=1, sample_rate=q, noise_multiplier=1.0, clip_norm=1.0)
        assert cr[0] == pytest.approx(q * (np.e - 1), rel=1e-2)
        assert cl[0] < 10 * q**2


def test_worst_case_distance_bounds_every_realised_distance():
    rng = np.random.default_rng(1)
    d = neighbour_distances_from_per_example(rng.normal(size=(32, 50)) * 3,
                                             rng.normal(size=(10, 50)) * 3,
                                             clip_norm=1.0, rng=rng)
    assert np.all(d <= 4.0 + 1e-12)
    eps_real = run(make(), d, 30)
    eps_worst = run(make(), np.full(10, 4.0), 30)
    assert eps_real < eps_worst


def test_ucb_exceeds_mean_and_grows_with_confidence():
    d = np.random.default_rng(2).uniform(0.0, 1.0, size=10)
    base = make(orders=[4])
    cl, cr = bdp_cost_terms(d, order=4, sample_rate=0.02, noise_multiplier=1.0, clip_norm=1.0)
    c = np.maximum(cl, cr)
    lme = np.log(np.mean(np.exp(c)))
    assert base.step_cost(d)[0] > lme >= np.mean(c)
    assert make(orders=[4], gamma=1e-12).step_cost(d)[0] > base.step_cost(d)[0]


def test_gamma_accumulates_over_estimated_steps():
    acc = make(gamma=1e-4)
    run(acc, np.full(3, 0.5), 100)
    assert acc.epsilon()[1] == pytest.approx(1e-5 + 1 - (1 - 1e-4) ** 100)


def test_holder_correction_is_identity_for_one_step_and_tends_to_the_max():
    d = np.random.default_rng(3).uniform(0.0, 2.0, size=10)
    plain = make().step_cost(d)
    np.testing.assert_allclose(make(holder_steps=1).step_cost(d), plain)
    c = np.array([np.maximum(*bdp_cost_terms(d, order=o, sample_rate=0.02,
                                             noise_multiplier=1.0, clip_norm=1.0))
                  for o in ORDERS])                                   # [orders, M]
    held = make(holder_steps=100).step_cost(d)
    # Power-mean inequality: (1/H) log mean e^{Hc} >= log mean e^c, and -> max c as H grows.
    assert np.all(held >= logsumexp(c, axis=1) - np.log(d.size) - 1e-12)
    assert np.all(held >= c.max(axis=1) - np.log(d.size) / 100 - 1e-12)
    acc = make(holder_steps=2)
    acc.step(d)
    acc.step(d)
    with pytest.raises(BayesianDPError, match="holder_steps"):
        acc.step(d)


def test_fallback_below_100_rows_uses_analytical_cost():
    acc = make(n_rows=99, sample_rate=0.3)
    assert acc.uses_fallback
    c1 = acc.step(None)
    c2 = acc.step(np.full(10, 4.0))
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_allclose(
        c1, analytical_step_cost(orders=ORDERS, sample_rate=0.3, noise_multiplier=1.0))
    assert acc.epsilon()[1] == 1e-5                    # no Monte-Carlo failure probability
    assert not make(n_rows=100).uses_fallback


def test_neighbour_distances_are_deterministic_and_correct():
    rng = np.random.default_rng(0)
    g, r = rng.normal(size=(8, 5)), rng.normal(size=(6, 5))
    d1 = neighbour_distances_from_per_example(g, r, clip_norm=0.7, rng=np.random.default_rng(5))
    d2 = neighbour_distances_from_per_example(g, r, clip_norm=0.7, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(d1, d2)
    idx = np.random.default_rng(5).integers(0, 8, size=6)

    def clip(v):
        return v / max(1.0, np.linalg.norm(v) / 0.7)

    # Brute force: the clipped batch sums of the two neighbouring batches.
    for m, i in enumerate(idx):
        batch = np.array([clip(v) for v in g])
        neigh = batch.copy()
        neigh[i] = clip(r[m])
        assert d1[m] == pytest.approx(np.sum((batch.sum(0) - neigh.sum(0)) ** 2))


def test_neighbour_distances_accept_torch():
    torch = pytest.importorskip("torch")
    g = torch.ones(4, 3, requires_grad=True) * 1.0
    d = neighbour_distances_from_per_example(g, torch.zeros(2, 3), clip_norm=10.0,
                                             rng=np.random.default_rng(0))
    np.testing.assert_allclose(d, [3.0, 3.0])


def test_calibration_hits_target_and_is_monotone():
    kw = dict(sample_rate=0.01, steps=500, clip_norm=1.0, beta=1e-5, orders=ORDERS)
    s1 = calibrate_bdp_noise(target_epsilon=1.0, sq_distance=0.5, **kw)
    s2 = calibrate_bdp_noise(target_epsilon=2.0, sq_distance=0.5, **kw)
    s3 = calibrate_bdp_noise(target_epsilon=1.0, sq_distance=1.0, **kw)
    assert s2 < s1 < s3
    acc = make(sample_rate=0.01, noise_multiplier=s1)
    acc.total_cost += 500 * acc.step_cost(np.full(4, 0.5))
    assert acc.epsilon()[0] <= 1.0
    assert acc.epsilon()[0] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(BayesianDPError, match="unreachable"):
        calibrate_bdp_noise(target_epsilon=0.1, sq_distance=0.5, **kw)


@pytest.mark.parametrize("bad", [
    dict(sample_rate=0.0), dict(sample_rate=1.5), dict(noise_multiplier=0.0),
    dict(clip_norm=-1.0), dict(beta=1.0), dict(gamma=0.0), dict(n_rows=0),
    dict(orders=[0, 2]), dict(orders=[1.5]), dict(cost="right"),
])
def test_bad_arguments_raise_naming_the_argument(bad):
    with pytest.raises(BayesianDPError, match=next(iter(bad))):
        make(**bad)


def test_bad_distances_raise():
    with pytest.raises(BayesianDPError, match="M >= 2"):
        make().step([0.1])
    with pytest.raises(BayesianDPError, match="sq_distances"):
        make().step([0.1, -1.0])


def test_budget_arguments_are_keyword_only_without_defaults():
    with pytest.raises(TypeError):
        BayesianAccountant(0.1, 1.0, 1.0, 1e-5, 1e-6, 1000)  # type: ignore[misc]
    with pytest.raises(TypeError):
        BayesianAccountant(sample_rate=0.1, clip_norm=1.0, beta=1e-5, gamma=1e-6,
                           n_rows=1000)  # type: ignore[call-arg]
