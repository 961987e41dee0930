"""Federated survival training of chapter 3: per-example gradients, DP/BDP steps, accountants,
the federation round, calibration at the same epsilon, and the chapter's claims."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from fedlib.papers.p03_fsl_bdp.claims import SCENARIOS, chapter03_claims, paper_table3_frame
from fedlib.privacy.accountants import epsilon_for
from fedlib.privacy.bdp import BayesianAccountant
from fedlib.survival.data import prepare_survival, synthetic_survival
from fedlib.survival.experiment import (
    TrainingConfig,
    bdp_noise_multiplier,
    calibrate_clients,
    cost_rule_table,
    dp_noise_multipliers,
    expected_default_month,
    survival_membership_inference,
    survival_scores,
)
from fedlib.survival.federated import (
    SurvivalTrainer,
    make_model,
    per_example_gradients,
    train_centralized,
    train_federated,
)
from fedlib.survival.labels import interval_grid, survival_targets
from fedlib.survival.likelihood import discrete_time_nll
from fedlib.survival.model import HazardNet


def _toy(n=48, d=4, T=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    t, e = rng.uniform(0, T, n), rng.integers(0, 2, n)
    ss, sf = survival_targets(t, e, interval_grid(horizon=T, n_intervals=T))
    return X, ss, sf


def test_per_example_gradients_match_autograd_and_opacus():
    from opacus import GradSampleModule

    X, ss, sf = _toy(n=5)
    net = HazardNet(4, 6, hidden=(8, 8), seed=0)
    g = per_example_gradients(net, torch.tensor(X), torch.tensor(ss), torch.tensor(sf))
    # One example at a time with autograd.
    for i in range(5):
        net.zero_grad()
        discrete_time_nll(net(torch.tensor(X[i:i + 1])), torch.tensor(ss[i:i + 1]),
                          torch.tensor(sf[i:i + 1]), reduction="sum").backward()
        ref = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
        assert torch.allclose(g[i], ref, atol=1e-5)
    # Opacus' per-sample gradients (the library DP-SGD uses) agree too.
    gsm = GradSampleModule(HazardNet(4, 6, hidden=(8, 8), seed=0), loss_reduction="sum")
    discrete_time_nll(gsm(torch.tensor(X)), torch.tensor(ss), torch.tensor(sf),
                      reduction="sum").backward()
    op = torch.cat([p.grad_sample.reshape(5, -1) for p in gsm.parameters()], 1)
    assert torch.allclose(g, op, atol=1e-5)


def _loop_gradients(net, X, ss, sf):
    """Per-example gradients by a loop of single-example autograd (the reference)."""
    out = []
    for i in range(len(X)):
        net.zero_grad()
        discrete_time_nll(net(X[i:i + 1]), ss[i:i + 1], sf[i:i + 1], reduction="sum").backward()
        out.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]))
    net.zero_grad()
    return torch.stack(out)


def _paper_net(d=7, T=6, seed=0):
    """The paper's widths (128-64-64-32-32) with a published-rate output bias, as chapter 3."""
    return make_model(d, T, seed=seed, init_hazard=0.05)


def test_fast_per_example_gradients_equal_a_per_row_autograd_loop():
    from fedlib.privacy.bdp import neighbour_distances
    from fedlib.privacy.per_example import linear_stack
    from fedlib.survival.federated import linear_backprops

    X, ss, sf = (torch.tensor(a) for a in _toy(n=40, d=7, T=6, seed=3))
    net = _paper_net()
    ref = _loop_gradients(net, X, ss, sf)
    for method in ("auto", "outer", "vmap"):
        g = per_example_gradients(net, X, ss, sf, method=method)
        assert g.shape == ref.shape
        torch.testing.assert_close(g, ref, atol=1e-6, rtol=1e-5)
    trace = linear_backprops(linear_stack(net), X, ss, sf)
    rows = torch.tensor([3, 0, 39, 3])
    torch.testing.assert_close(trace.materialize(rows), ref[rows], atol=1e-6, rtol=1e-5)

    def flat(parts):
        return torch.cat([p.reshape(-1) for p in parts])

    # The ghost norms and the clipped (weighted) sum, without the [n, P] matrix.
    torch.testing.assert_close(trace.norms(), ref.norm(dim=1), atol=1e-6, rtol=1e-5)
    w = torch.clamp(0.3 / ref.norm(dim=1), max=1.0)
    torch.testing.assert_close(flat(trace.weighted_sum(w)), (ref * w[:, None]).sum(0),
                               atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(flat(trace.subset(slice(0, 5)).weighted_sum(w[:5])),
                               (ref[:5] * w[:5, None]).sum(0), atol=1e-6, rtol=1e-5)
    # The BDP distances from the factors' Gram matrices equal those of the gradients.
    left, right = torch.tensor([0, 5, 7, 7]), torch.tensor([30, 31, 7, 2])
    for C in (0.05, 1.0, 1e3):                     # all clipped, mixed, none clipped
        got = trace.pair_sq_distances(left, right, clip_norm=C)
        want = neighbour_distances(ref[left].double(), ref[right].double(), clip_norm=C)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9 * C**2)
        assert got[2] == 0.0                       # identical rows: exactly no distance
    # Models that are not a Linear / element-wise stack fall back to vmap ("auto").
    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = _paper_net()

        def forward(self, x):
            return self.inner(x)

    wrapped = Wrapped()
    assert linear_stack(wrapped) is None and linear_stack(net) is not None
    torch.testing.assert_close(per_example_gradients(wrapped, X, ss, sf), ref, atol=1e-6,
                               rtol=1e-5)
    with pytest.raises(ValueError, match="outer"):
        per_example_gradients(wrapped, X, ss, sf, method="outer")
    torch.manual_seed(0)                           # test-local: the Sequential's weights
    seq = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 6))
    torch.testing.assert_close(per_example_gradients(seq, X, ss, sf, method="outer"),
                               _loop_gradients(seq, X, ss, sf), atol=1e-6, rtol=1e-5)
    assert linear_stack(torch.nn.Sequential(torch.nn.Linear(7, 5),
                                            torch.nn.ReLU(inplace=True))) is None
    with pytest.raises(ValueError, match="method"):
        per_example_gradients(net, X, ss, sf, method="opacus")


@pytest.mark.parametrize("mode", ["dp", "bdp"])
@pytest.mark.parametrize("empty", [False, True])
def test_private_step_equals_reference_path_for_the_same_draws(mode, empty):
    """One noisy step: the ghost path's gradient equals the vmap reference's (same generator,
    same numpy rng), and BDP feeds the accountant the same distances."""
    X, ss, sf = (torch.tensor(a) for a in _toy(n=150, d=7, T=6, seed=4))
    grads, dists, after = {}, {}, {}
    for path in ("ghost", "vmap"):
        net = _paper_net()
        tr = SurvivalTrainer(epochs=1, lr=1e-3, batch_size=40, mode=mode, noise_multiplier=0.7,
                             clip_norm=0.5, n_neighbours=6, beta=1e-5, gamma=1e-8, n_rows=150,
                             grad_path=path)
        seen = dists[path] = []
        if mode == "bdp":
            step = tr.bdp_accountant.step
            tr.bdp_accountant.step = lambda d, step=step, seen=seen: (seen.append(d), step(d))[1]
        idx = torch.arange(0) if empty else torch.arange(3, 150, 4)
        gen, rng = torch.Generator().manual_seed(11), np.random.default_rng(12)
        tr._private_grad(net, list(net.parameters()), X, ss, sf, idx, gen, rng)
        grads[path] = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
        # Both paths consume the two generators identically.
        after[path] = (torch.rand(1, generator=gen).item(), rng.random())
    torch.testing.assert_close(grads["ghost"], grads["vmap"], atol=1e-6, rtol=1e-5)
    assert after["ghost"] == after["vmap"]
    if mode == "bdp":
        assert len(dists["ghost"]) == len(dists["vmap"]) == 1
        np.testing.assert_allclose(dists["ghost"][0], dists["vmap"][0], rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("mode", ["dp", "bdp"])
def test_seeded_training_run_equals_reference_path(mode):
    """A seeded run (Poisson batches, noise, BDP neighbours) gives the same model, distances
    and epsilon on the fast path as on the torch.func reference path."""
    X, ss, sf = _toy(n=600, d=7, T=6, seed=5)
    y = np.hstack([ss, sf])
    out = {}
    for path in ("ghost", "vmap"):
        tr = SurvivalTrainer(epochs=3, lr=3e-3, batch_size=64, mode=mode, noise_multiplier=0.8,
                             clip_norm=0.5, n_neighbours=10, beta=1e-5, gamma=1e-8, n_rows=600,
                             noise_seed=3, grad_path=path)
        net = _paper_net()
        stats = tr.train(net, X, y, seed=11)
        out[path] = (torch.cat([p.detach().reshape(-1) for p in net.parameters()]), stats,
                     np.array(tr.distances), tr.epsilon(delta=1e-5)[0])
    (pg, sg, dg, eg), (pv, sv, dv, ev) = out["ghost"], out["vmap"]
    assert sg.steps == sv.steps == 30
    torch.testing.assert_close(pg, pv, atol=1e-5, rtol=0)
    if mode == "bdp":
        assert len(dg) == len(dv) == 30
        np.testing.assert_allclose(dg, dv, rtol=1e-5)
        assert eg == pytest.approx(ev, rel=1e-6)


def test_private_gradient_is_clipped_mean_plus_noise():
    X, ss, sf = _toy(n=32)
    net = HazardNet(4, 6, hidden=(8,), seed=0)
    tr = SurvivalTrainer(epochs=1, lr=1e-3, batch_size=32, mode="dp", noise_multiplier=1e-9,
                         clip_norm=0.1, n_rows=32)
    Xt, sst, sft = torch.tensor(X), torch.tensor(ss), torch.tensor(sf)
    idx = torch.arange(32)
    gen = torch.Generator().manual_seed(0)
    tr._private_grad(net, list(net.parameters()), Xt, sst, sft, idx, gen,
                     np.random.default_rng(0))
    got = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
    g = per_example_gradients(net, Xt, sst, sft)
    clipped = g * torch.clamp(0.1 / g.norm(dim=1), max=1.0)[:, None]
    assert torch.allclose(got, clipped.mean(0), atol=1e-6)
    assert got.norm() <= 0.1 + 1e-6
    # With real noise the update's spread per coordinate is sigma * C / B.
    tr.noise_multiplier = 4.0
    tr._private_grad(net, list(net.parameters()), Xt, sst, sft, idx, gen,
                     np.random.default_rng(0))
    noisy = torch.cat([p.grad.reshape(-1) for p in net.parameters()]) - clipped.mean(0)
    assert abs(float(noisy.std()) - 4.0 * 0.1 / 32) < 0.002


def test_trainer_modes_and_accountants():
    X, ss, sf = _toy(n=160)
    y = np.hstack([ss, sf])
    none = SurvivalTrainer(epochs=2, lr=1e-2, batch_size=32, mode="none", noise_multiplier=None,
                           clip_norm=None)
    net = HazardNet(4, 6, hidden=(8,), seed=0)
    before = none.train(HazardNet(4, 6, hidden=(8,), seed=0), X, y, seed=0).loss
    assert none.train(net, X, y, seed=0).loss <= before + 1e-9
    assert not none.private and none.epsilon(delta=1e-5)[0] == math.inf

    dp = SurvivalTrainer(epochs=2, lr=1e-3, batch_size=32, mode="dp", noise_multiplier=1.0,
                         clip_norm=1.0)
    s = dp.train(HazardNet(4, 6, hidden=(8,), seed=0), X, y, seed=0)
    assert s.steps == 10 and dp.dp_accountant.steps == 10
    eps, _ = dp.epsilon(delta=1e-5)
    assert eps == pytest.approx(epsilon_for(noise_multiplier=1.0, sample_rate=0.2, steps=10,
                                            delta=1e-5))
    bdp = SurvivalTrainer(epochs=2, lr=1e-3, batch_size=32, mode="bdp", noise_multiplier=1.0,
                          clip_norm=1.0, n_neighbours=5, beta=1e-5, gamma=1e-7, n_rows=160)
    bdp.train(HazardNet(4, 6, hidden=(8,), seed=0), X, y, seed=0)
    acc = bdp.bdp_accountant
    assert acc.steps == acc.estimated_steps == 10 and len(bdp.distances) == 10
    assert all(0 <= d <= 4.0 for d in bdp.distances)      # Delta <= (2C)^2
    # Small clients fall back to analytical DP: no Monte-Carlo distances are computed.
    small = SurvivalTrainer(epochs=1, lr=1e-3, batch_size=32, mode="bdp", noise_multiplier=1.0,
                            clip_norm=1.0, beta=1e-5, gamma=1e-7, n_rows=64)
    small.train(HazardNet(4, 6, hidden=(8,), seed=0), X[:64], y[:64], seed=0)
    assert small.bdp_accountant.uses_fallback and small.distances == []
    assert small.bdp_accountant.steps == 2 and small.bdp_accountant.estimated_steps == 0


def test_trainer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        SurvivalTrainer(epochs=1, lr=1e-3, batch_size=32, mode="ldp", noise_multiplier=1.0,
                        clip_norm=1.0)
    with pytest.raises(ValueError, match="noise_multiplier"):
        SurvivalTrainer(epochs=1, lr=1e-3, batch_size=32, mode="dp", noise_multiplier=None,
                        clip_norm=1.0)
    with pytest.raises(ValueError, match="beta"):
        SurvivalTrainer(epochs=1, lr=1e-3, batch_size=32, mode="bdp", noise_multiplier=1.0,
                        clip_norm=1.0)
    with pytest.raises(ValueError, match="grad_path"):
        SurvivalTrainer(epochs=1, lr=1e-3, batch_size=32, mode="dp", noise_multiplier=1.0,
                        clip_norm=1.0, grad_path="opacus")


@pytest.fixture(scope="module")
def small_data():
    ds = synthetic_survival("bondora", scale=0.004, seed=0, n_features=6)
    return prepare_survival(ds, seed=0)


def test_federation_round_transcript_and_epsilons(small_data):
    sig = {c.name: 1.5 for c in small_data.clients}
    run = train_federated(small_data, mode="dp", rounds=2, local_epochs=1, lr=1e-3,
                          batch_size=32, noise_multipliers=sig, clip_norm=1.0, seed=0,
                          init_hazard=0.02, hidden=(8,))
    kinds = {m.kind for m in run.federation.transcript if m.label == "model_update"}
    assert kinds == {"noisy"}                       # DP updates never travel as plaintext
    eps = run.epsilons(delta=1e-5)
    assert len(eps) == len(small_data.clients) and (eps.epsilon > 0).all()
    # The accountant composes both rounds: epsilon after 2 rounds > after 1 round's steps.
    c = small_data.clients[0]
    steps = 2 * math.ceil(c.n_train / 32)
    assert eps.set_index("client").loc[c.name, "epsilon"] == pytest.approx(
        epsilon_for(noise_multiplier=1.5, sample_rate=32 / c.n_train, steps=steps, delta=1e-5))
    plain = train_federated(small_data, mode="none", rounds=1, local_epochs=1, lr=1e-3,
                            batch_size=32, noise_multipliers=None, clip_norm=None, seed=0,
                            sample_fraction=0.5, hidden=(8,))
    assert len(plain.federation.history[0].sampled) == 2        # round(0.5 * 3)
    assert {m.kind for m in plain.federation.transcript if m.label == "model_update"} == {"plaintext"}


def test_centralized_bdp_and_scores(small_data):
    _, trt, tre, _ = small_data.pooled("train")
    X, t, e, _ = small_data.pooled("test")
    from fedlib.survival.model import predict_survival

    def ev(m):
        return survival_scores(predict_survival(m, X), t, e, grid=small_data.grid,
                               train_t=trt, train_e=tre)

    run = train_centralized(small_data, mode="bdp", epochs=2, lr=1e-3, batch_size=32,
                            noise_multiplier=2.0, clip_norm=1.0, seed=0, beta=5e-6,
                            gamma=1e-8, init_hazard=0.02, evaluate=ev, hidden=(8,))
    assert list(run.history.epoch) == [1, 2]
    assert {"c_index", "ibs"} <= set(run.history.columns)
    eps, delta = run.trainers["central"].epsilon(delta=1e-5)
    assert 0 < eps < math.inf and delta <= 1e-5
    row = run.epsilons(delta=1e-5).iloc[0]          # the default is a bound; the estimate below
    assert row.is_bound and row.epsilon == eps and 0 < row.epsilon_estimate < eps
    est = train_centralized(small_data, mode="bdp", epochs=1, lr=1e-3, batch_size=32,
                            noise_multiplier=2.0, clip_norm=1.0, seed=0, beta=5e-6,
                            gamma=1e-8, init_hazard=0.02, hidden=(8,), bdp_bound="mean")
    assert not est.epsilons(delta=1e-5).iloc[0].is_bound


def test_make_model_starts_at_published_hazard():
    net = make_model(3, 5, seed=0, init_hazard=0.006, hidden=(4,))
    h = net.hazards(torch.zeros(2, 3))
    assert torch.allclose(h, torch.full_like(h, 0.006), atol=1e-6)
    with pytest.raises(ValueError, match="init_hazard"):
        make_model(3, 5, seed=0, init_hazard=1.5)


def test_calibration_reaches_same_target(small_data):
    init = make_model(small_data.n_features, 24, seed=0, init_hazard=0.02, hidden=(8,))
    cfg = TrainingConfig(lr=1e-3, batch_size=32, local_epochs=2)
    sg = calibrate_clients(small_data, target_epsilon=2.0, delta=1e-5,
                           settings={"dp": cfg, "bdp": cfg}, rounds=1, clip_norm=1.0,
                           n_neighbours=5, pilot_steps=2, init_model=init, seed=0)
    for _name, r in sg.iterrows():
        eps = epsilon_for(noise_multiplier=r.sigma_dp, sample_rate=r.sample_rate_dp,
                          steps=int(r.steps_dp), delta=1e-5)
        assert 1.95 <= eps <= 2.0
    assert (sg.gamma * 2 <= 1e-5 + 1e-15).all()     # delta_mu = beta + gamma <= delta
    # BDP sigma calibrated to the valid bound: its planned bound is on target, the estimate
    # far below it, and the same noise gives a smaller classical epsilon.
    bayes = sg[~sg.analytical_fallback]
    assert (bayes.bdp_bound == "hoeffding").all()
    assert np.allclose(bayes.eps_bdp_bound, 2.0, atol=1e-4) and (bayes.eps_bdp_bound <= 2.0).all()
    assert (bayes.eps_bdp_estimate < bayes.eps_bdp_bound).all()
    # BDP sigma from a pilot: the accountant charged with the pilot reaches the target.
    pilot = np.array([[0.3, 0.5, 0.4, 0.2], [0.6, 0.1, 0.3, 0.5]])
    kw = dict(target_epsilon=1.0, sample_rate=0.05, steps=200, clip_norm=1.0, beta=5e-6,
              gamma=5e-6, n_rows=1000)
    for bound in ("hoeffding", "mean"):
        s = bdp_noise_multiplier(pilot, bound=bound, **kw)
        acc = BayesianAccountant(sample_rate=0.05, noise_multiplier=s, clip_norm=1.0, beta=5e-6,
                                 gamma=5e-6, n_rows=1000, cost="left")
        for _ in range(100):
            for row in pilot:
                acc.step(row)
        res = acc.epsilon(bound=bound)
        assert res.epsilon == pytest.approx(1.0, abs=1e-4)
        assert res.is_bound == (bound == "hoeffding")
    # Identical neighbours cost nothing, so smaller Delta needs less noise for the estimate;
    # the valid bound must allow for unseen records at (2C)^2 and barely moves.
    s_est = bdp_noise_multiplier(pilot, bound="mean", **kw)
    assert bdp_noise_multiplier(pilot / 10, bound="mean", **kw) < s_est
    assert bdp_noise_multiplier(pilot, **kw) > s_est
    assert dp_noise_multipliers({"a": 1000}, target_epsilon=1.0, delta=1e-5, batch_size=32,
                                epochs=1)["a"] > 0


def test_cost_rule_and_helpers():
    tab = cost_rule_table(sq_distance=1.0, noise_multiplier=1.0, order=8)
    assert tab["c_right / c_left"].iloc[0] == pytest.approx(1.0)   # q = 1: same cost
    assert tab["c_right / c_left"].is_monotonic_increasing          # worse as q shrinks
    S = np.array([[0.9, 0.9, 0.9], [1.0, 1.0, 0.0]])
    assert expected_default_month(S).tolist() == [1.0, 3.0]
    X, ss, sf = _toy(n=40)
    rng = np.random.default_rng(0)
    t, e = rng.uniform(0, 6, 40), rng.integers(0, 2, 40)
    out = survival_membership_inference(HazardNet(4, 6, hidden=(4,), seed=0), (X[:20], t[:20], e[:20]),
                                        (X[20:], t[20:], e[20:]), grid=np.arange(7.0), n=20,
                                        seed=0)
    assert 0 <= out.auc <= 1 and out.n_per_side == 20


def _evidence(*, same_data, bdp_fed=0.60, seeds=(1, 2, 3), clients=6):
    from fedlib.papers.p03_fsl_bdp.claims import DatasetEvidence

    rng = np.random.default_rng(0)
    paper = paper_table3_frame("LendingClub")
    rows, pc = [], []
    for s in seeds:
        for sc in SCENARIOS:
            r = {m: float(paper.loc[sc, m]) + rng.normal(0, 0.002) for m in paper.columns}
            if sc == "Federated (BDP)":
                r["test_ci"] = bdp_fed + rng.normal(0, 0.002)
            rows.append({"seed": s, "scenario": sc, **r})
            for k in range(clients):
                ci = r["test_ci"] + 0.01 * k
                pc.append({"seed": s, "scenario": sc, "client": f"c{k}", "c_index": ci,
                           "n_train": 100 + 50 * k, "fallback": False})
    return DatasetEvidence(pd.DataFrame(rows), pd.DataFrame(pc), same_data=same_data,
                           note="test", table2={"default_rate": 0.128, "clients": 27,
                                                "features": 59, "window": 24},
                           table2_input=("default_rate", "window"),
                           timing=pd.DataFrame({"seed": seeds, "early": [5.0, 5.5, 5.2],
                                                "late": [20.0, 20.5, 20.1]}))


def test_claims_rule_per_seed_paired_and_inputs():
    ev = _evidence(same_data=True)
    claims = chapter03_claims({"LendingClub": ev})
    by_id = {c.id: c for c in claims}
    assert len(by_id) == len(claims)                                  # unique ids
    assert by_id["lendingclub_test_ci_cent_nodp"].verdict == "reproduced"
    assert by_id["lendingclub_reversal_federated"].verdict == "contradicted"   # BDP 0.60 < DP
    assert by_id["lendingclub_reversal_central"].verdict == "reproduced"
    assert by_id["lendingclub_table2_default_rate"].verdict == "by construction"
    assert by_id["lendingclub_table2_clients"].verdict == "reproduced"          # exact 27
    assert by_id["sba_test_ibs_fede_bdp"].verdict == "not checkable"           # SBA not run
    assert by_id["late_after_early"].verdict == "reproduced"
    assert by_id["fig8_dp_unstable"].verdict == "not checkable"                # no sweep
    assert sum(c.id.split("_")[1] in ("test", "oot") and c.id.split("_")[2] in ("ci", "ibs")
               and c.id.startswith("lendingclub_") for c in claims) == 4 * len(SCENARIOS)
    assert not any(c.scored and c.ours is not None and c.ours.basis == "input" for c in claims)
    # other data: levels are shown, not scored; directions still are
    other = {c.id: c for c in chapter03_claims({"LendingClub": _evidence(same_data=False)})}
    assert other["lendingclub_test_ci_cent_nodp"].verdict == "different data"
    assert other["lendingclub_reversal_federated"].verdict == "contradicted"
    # a model at chance: the claims that rest on it are not scored
    chance = {c.id: c for c in chapter03_claims(
        {"LendingClub": _evidence(same_data=False)},
        at_chance={"LendingClub": ["Federated (BDP)"]})}
    assert chance["lendingclub_reversal_federated"].verdict == "not checkable"
    assert "at chance" in chance["lendingclub_reversal_federated"].note
    # too few clients for a win rate
    few = {c.id: c for c in chapter03_claims({"LendingClub": _evidence(same_data=False,
                                                                       clients=3)})}
    assert few["win_rate_lendingclub"].verdict == "not checkable"


def test_run_scenarios_dp_ends_at_bdp_epsilon(small_data):
    from fedlib.survival.experiment import run_scenarios

    init = make_model(small_data.n_features, 24, seed=0, init_hazard=0.02, hidden=(8,))
    # DP and BDP on different schedules: DP is matched to BDP's ε on its own schedule.
    settings = {"dp": TrainingConfig(lr=1e-3, batch_size=32, local_epochs=2),
                "bdp": TrainingConfig(lr=1e-3, batch_size=64, local_epochs=1)}
    sg = calibrate_clients(small_data, target_epsilon=4.0, delta=1e-5, settings=settings,
                           rounds=1, clip_norm=1.0, n_neighbours=5, pilot_steps=2,
                           init_model=init, seed=0)
    # DP's sigma on BDP's schedule, the one to set beside sigma_bdp
    same = dp_noise_multipliers({c.name: c.n_train for c in small_data.clients},
                                target_epsilon=4.0, delta=1e-5, batch_size=64, epochs=1)
    for name, v in same.items():
        assert sg.loc[name, "sigma_dp_same_schedule"] == pytest.approx(v)
        assert sg.loc[name, "steps_dp"] != sg.loc[name, "steps"]
    out = run_scenarios(small_data, sigmas=sg, seeds=[0, 1], rounds=1, settings=settings,
                        clip_norm=1.0, delta=1e-5, n_neighbours=5, init_hazard=0.02,
                        noise_seed=0, scenarios=["Centralized (Classical DP)", "Centralized (BDP)"],
                        match_dp_to_bdp=True)
    eps = out.epsilons.groupby("scenario").epsilon.mean()
    assert abs(eps["Centralized (Classical DP)"] - eps["Centralized (BDP)"]) <= 0.02
    assert set(out.per_client.scenario) == {"Centralized (Classical DP)", "Centralized (BDP)"}
    assert {"n_train", "fallback"} <= set(out.per_client.columns)
