"""Labels, likelihood (eq. 1) and hazard network of FSL-BDP (sec. 3.2, 4.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fedlib.survival.labels import SurvivalInputError, discretize, interval_grid, survival_targets
from fedlib.survival.likelihood import (
    discrete_time_nll,
    log_survival_from_logits,
    survival_from_logits,
)
from fedlib.survival.model import HazardNet, predict_hazards, predict_survival

GRID = interval_grid(horizon=6, n_intervals=6)          # [0, 1, ..., 6]


def test_grid():
    np.testing.assert_array_equal(interval_grid(horizon=24, n_intervals=24), np.arange(25.0))
    np.testing.assert_array_equal(interval_grid(horizon=48, width=3)[:3], [0.0, 3.0, 6.0])
    with pytest.raises(SurvivalInputError, match="width"):
        interval_grid(horizon=10, width=3)
    with pytest.raises(SurvivalInputError, match="exactly one"):
        interval_grid(horizon=10)


def test_event_targets_follow_left_closed_intervals():
    # Event at t = 2.3 lies in [tau_2, tau_3) = interval 3: survived 1-2, failed in 3.
    s, f = survival_targets([2.3], [1], GRID)
    assert s[0].tolist() == [1, 1, 0, 0, 0, 0]
    assert f[0].tolist() == [0, 0, 1, 0, 0, 0]
    # Exactly on a cut point: t = 2 is in [2, 3) too (tau_{l-1} <= t < tau_l).
    s, f = survival_targets([2.0], [1], GRID)
    assert s[0].tolist() == [1, 1, 0, 0, 0, 0] and f[0].argmax() == 2
    # Event at 0 fails in the first interval and survived none.
    s, f = survival_targets([0.0], [1], GRID)
    assert s.sum() == 0 and f[0, 0] == 1


@pytest.mark.parametrize("t,expected", [
    (2.49, [1, 1, 0, 0, 0, 0]),     # before the midpoint 2.5 of interval 3
    (2.5, [1, 1, 1, 0, 0, 0]),      # at the midpoint: t >= (tau_2 + tau_3) / 2
    (0.2, [0, 0, 0, 0, 0, 0]),
    (5.9, [1, 1, 1, 1, 1, 1]),
])
def test_censored_targets_use_the_midpoint_convention(t, expected):
    s, f = survival_targets([t], [0], GRID)
    assert s[0].tolist() == expected
    assert f.sum() == 0


def test_interval_convention_and_administrative_censoring():
    s, _ = survival_targets([2.1], [0], GRID, censored="interval")
    assert s[0].tolist() == [1, 1, 1, 0, 0, 0]
    idx, ev = discretize([6.0, 7.5, 5.99], [1, 1, 1], GRID)
    assert idx.tolist() == [6, 6, 5] and ev.tolist() == [False, False, True]
    s, f = survival_targets([7.5], [1], GRID)        # default after the window is not counted
    assert s.sum() == 6 and f.sum() == 0


def test_targets_vectorised_match_rowwise():
    rng = np.random.default_rng(0)
    t, e = rng.uniform(0, 8, 200), rng.integers(0, 2, 200)
    s, f = survival_targets(t, e, GRID)
    for i in range(200):
        si, fi = survival_targets(t[i:i + 1], e[i:i + 1], GRID)
        assert (s[i] == si[0]).all() and (f[i] == fi[0]).all()
    assert (f.sum(1) <= 1).all() and not (s * f).any()


def test_bad_label_inputs():
    with pytest.raises(SurvivalInputError, match="durations"):
        survival_targets([-1.0], [1], GRID)
    with pytest.raises(SurvivalInputError, match="events"):
        survival_targets([1.0], [2], GRID)
    with pytest.raises(SurvivalInputError, match="censored"):
        survival_targets([1.0], [0], GRID, censored="half")


def test_nll_matches_hand_computation():
    h = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], dtype=torch.float64)
    logits = torch.logit(h)
    # Row 0: event in interval 3 -> h3 (1-h1)(1-h2). Row 1: censored, survived 1-2.
    s_surv = torch.tensor([[1.0, 1, 0], [1, 1, 0]], dtype=torch.float64)
    s_fail = torch.tensor([[0.0, 0, 1], [0, 0, 0]], dtype=torch.float64)
    ll0 = math.log(0.3 * 0.9 * 0.8)
    ll1 = math.log(0.6 * 0.5)
    per_row = discrete_time_nll(logits, s_surv, s_fail, reduction="none")
    np.testing.assert_allclose(per_row.numpy(), [-ll0, -ll1], rtol=1e-12)
    assert float(discrete_time_nll(logits, s_surv, s_fail, reduction="sum")) == pytest.approx(-ll0 - ll1)
    assert float(discrete_time_nll(logits, s_surv, s_fail)) == pytest.approx((-ll0 - ll1) / 2)


def test_nll_is_finite_with_extreme_logits():
    logits = torch.tensor([[80.0, -80.0]], requires_grad=True)
    loss = discrete_time_nll(logits, torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
    loss.backward()
    assert torch.isfinite(loss) and loss.item() == pytest.approx(160.0)
    assert torch.isfinite(logits.grad).all()


def test_survival_is_cumulative_product_and_non_increasing():
    logits = torch.randn(50, 12, generator=torch.Generator().manual_seed(0),
                         dtype=torch.float64) * 3
    S = survival_from_logits(logits)
    np.testing.assert_allclose(S.numpy(), torch.cumprod(1 - torch.sigmoid(logits), 1).numpy(),
                               rtol=1e-10)
    assert (S[:, 1:] <= S[:, :-1]).all() and ((S > 0) & (S <= 1)).all()
    assert torch.isfinite(log_survival_from_logits(torch.full((1, 3), 1e4))).all()


def test_hazard_net_shape_range_init_and_determinism():
    net = HazardNet(n_features=7, n_intervals=24, seed=3)
    widths = [m.out_features for m in net.net if isinstance(m, torch.nn.Linear)]
    assert widths == [128, 64, 64, 32, 32, 24]
    assert sum(isinstance(m, torch.nn.SELU) for m in net.net) == 5
    X = np.random.default_rng(0).normal(size=(300, 7)).astype(np.float32)
    H = predict_hazards(net, X)
    S = predict_survival(net, X)
    assert H.shape == S.shape == (300, 24)
    assert ((H > 0) & (H < 1)).all() and (np.diff(S, axis=1) <= 0).all()
    np.testing.assert_allclose(S, np.cumprod(1 - H, axis=1), rtol=1e-5)
    # LeCun normal: weight variance ~ 1 / fan_in; biases zero.
    w = net.net[0].weight.detach().numpy()
    assert w.var() * 7 == pytest.approx(1.0, rel=0.15) and not net.net[0].bias.any()
    same = HazardNet(n_features=7, n_intervals=24, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), same.parameters(), strict=True))
    assert net.training                                   # predict restores the mode


def test_hazard_net_learns_a_hazard():
    """Minimising eq. 1 with no covariates gives the life-table hazard d_l / n_l (its MLE)."""
    rng = np.random.default_rng(0)
    n, T = 400, 6
    t = rng.geometric(0.1, size=n) - 1 + rng.uniform(0, 1, n)     # event in interval k w.p. h(1-h)^k
    s, f = survival_targets(t, np.ones(n), interval_grid(horizon=T, n_intervals=T))
    X = torch.zeros(n, 1)
    net = HazardNet(n_features=1, n_intervals=T, hidden=(8,), seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        discrete_time_nll(net(X), torch.from_numpy(s), torch.from_numpy(f)).backward()
        opt.step()
    life_table = f.sum(0) / (s + f).sum(0)
    np.testing.assert_allclose(predict_hazards(net, X[:1].numpy())[0], life_table, atol=0.01)
    np.testing.assert_allclose(life_table, 0.1, atol=0.06)
