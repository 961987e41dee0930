"""The DP mechanism as the accountant assumes it, in every DP trainer (issue 9, items 2, 3, 6).

* Poisson sampling: the batch sizes each DP trainer draws vary binomially (mean ≈ qn,
  variance ≈ nq(1 − q)), empty batches still take an accounted step; non-private training
  keeps fixed-size shuffled batches.
* Noise nobody can regenerate: by default two identical calls give different noise; an
  explicit ``noise_seed`` gives identical runs.
* δ < 1/n for every party, checked before training (also on a user-supplied file).

The trainers: ``train_local_dp`` (tested in ``test_dpsgd.py``), ``run_federated`` (FMTL,
chapter 1), ``Federation`` with ``DPSGDTrainer`` / ``build_parties`` (chapter 2), and
``SurvivalTrainer`` in modes ``dp`` and ``bdp`` (chapter 3).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fedlib.core.party import PartyRows
from fedlib.fl.experiment import ClientMode, build_parties, run_federation
from fedlib.fl.fmtl import FMTLClient, make_clients, run_federated
from fedlib.fl.models import get_flat_params
from fedlib.privacy.accountants import PartyAccountant, PrivacyArgumentError
from fedlib.privacy.delta import check_delta
from fedlib.privacy.randomness import SEEDED_NOISE_NOTE, mechanism_generator
from fedlib.survival.experiment import TrainingConfig
from fedlib.survival.federated import SurvivalTrainer
from fedlib.survival.labels import interval_grid, survival_targets
from fedlib.survival.model import HazardNet

# n = 300 rows at B = 20 (q = 1/15): 15 steps per epoch, 10 epochs = 150 batches.
N, B, EPOCHS = 300, 20, 10
STEPS = EPOCHS * math.ceil(N / B)


def binomial_ok(sizes, *, n: int, q: float) -> None:
    """Sizes look Binomial(n, q): the mean within 5 standard errors of nq and the sample
    variance within [0.6, 1.5]·nq(1 − q) (over >= 150 batches its sampling sd is about 12 %
    of nq(1 − q), so the band is > 3 sd wide each side). Fixed-size batches (variance 0) fail."""
    sizes = np.asarray(sizes, dtype=float)
    assert len(sizes) >= 150
    var = n * q * (1 - q)
    assert abs(sizes.mean() - n * q) < 5 * math.sqrt(var / len(sizes)), sizes.mean()
    assert 0.6 * var < sizes.var(ddof=1) < 1.5 * var, (sizes.var(ddof=1), var)


class Spy(nn.Module):
    """Logistic regression that records the batch size of every training forward pass."""

    def __init__(self, d: int = 3):
        super().__init__()
        torch.manual_seed(0)                  # test-local: the initial weights only
        self.lin = nn.Linear(d, 1)
        self.sizes: list[int] = []

    def forward(self, x):
        if torch.is_grad_enabled():           # training steps, not the final loss
            self.sizes.append(len(x))
        return self.lin(x)


def _xy(n=N, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.float32)


# -- FMTL / run_federated (chapter 1) ------------------------------------------------------

def _fmtl(*, private: bool, noise_seed=None, n=N, batch_size=B, epochs=EPOCHS, rounds=1):
    X, y = _xy(n)
    kw = {"noise_multiplier": 1.0, "clip_norm": 1.0,
          "accountant": PartyAccountant("bank")} if private else {}
    client = FMTLClient("bank", X, y, **kw)
    spies = []

    def model_fn():
        spies.append(Spy())
        return spies[-1]

    run = run_federated([client], model_fn=model_fn, mode="fedavg", rounds=rounds, lam=0.0,
                        epochs=epochs, lr=0.1, batch_size=batch_size, seed=0,
                        noise_seed=noise_seed)
    return run, client, spies[0].sizes


def test_run_federated_dp_batches_are_binomial_and_plain_batches_fixed():
    _, client, sizes = _fmtl(private=True, noise_seed=1)
    assert client.accountant.steps == STEPS and len(sizes) == STEPS
    binomial_ok(sizes, n=N, q=B / N)
    _, _, plain = _fmtl(private=False)
    assert plain == [B] * STEPS                 # non-private training still shuffles


def test_run_federated_empty_batches_are_noisy_accounted_steps():
    # n = 50, B = 1: q = 0.02, P(empty batch) = 0.98^50 ≈ 0.36.
    run, client, sizes = _fmtl(private=True, noise_seed=2, n=50, batch_size=1, epochs=2)
    assert client.accountant.steps == 100
    assert 15 < 100 - len(sizes) < 60
    assert np.isfinite(run.global_params).all()


def test_run_federated_noise_default_differs_seeded_repeats():
    a, b = (_fmtl(private=True, epochs=1)[0].global_params for _ in range(2))
    assert not np.allclose(a, b)
    c, d = (_fmtl(private=True, epochs=1, noise_seed=5)[0].global_params for _ in range(2))
    np.testing.assert_array_equal(c, d)


# -- Federation + DPSGDTrainer (chapter 2) --------------------------------------------------

def _federation(*, noise_seed=None, epochs=EPOCHS, modes=None):
    X, y = _xy()
    modes = modes or [ClientMode("dp", training="dp", noise_multiplier=1.0)]
    parties = build_parties([PartyRows("bank", X, y)], modes, epochs=epochs, lr=0.1,
                            batch_size=B, delta=1e-5, noise_seed=noise_seed)
    spies = []

    def model_fn():
        spies.append(Spy())
        return spies[-1]

    run = run_federation(parties, model_fn=model_fn, rounds=1, seed=0,
                         evaluate=lambda m: {})
    return run, spies[0].sizes


def test_federation_dp_batches_are_binomial_and_plain_batches_fixed():
    run, sizes = _federation(noise_seed=3)
    assert run.parties[0].trainer.accountant.steps == STEPS
    binomial_ok(sizes, n=N, q=B / N)
    _, plain = _federation(modes=[ClientMode("standard")])
    assert plain == [B] * STEPS


def test_federation_noise_default_differs_seeded_repeats():
    a, b = (_federation(epochs=1)[0].federation.global_params for _ in range(2))
    assert not np.allclose(a, b)
    c, d = (_federation(epochs=1, noise_seed=4)[0].federation.global_params for _ in range(2))
    np.testing.assert_array_equal(c, d)


# -- SurvivalTrainer, DP and BDP (chapter 3) ------------------------------------------------

def _surv(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    t, e = rng.uniform(0, 4, n), rng.integers(0, 2, n)
    return X, np.hstack(survival_targets(t, e, interval_grid(horizon=4, n_intervals=4)))


def _train_surv(mode, *, n=N, batch_size=B, epochs=EPOCHS, noise_seed=None, monkeypatch=None):
    X, y = _surv(n)
    tr = SurvivalTrainer(epochs=epochs, lr=1e-3, batch_size=batch_size, mode=mode,
                         noise_multiplier=1.0, clip_norm=1.0, n_neighbours=3, beta=1e-5,
                         gamma=1e-8, n_rows=n, noise_seed=noise_seed)
    sizes = []
    if monkeypatch is not None:
        original = SurvivalTrainer._private_grad

        def spy(self, model, params, Xt, ss, sf, idx, gen, rng):
            sizes.append(idx.numel())
            return original(self, model, params, Xt, ss, sf, idx, gen, rng)

        monkeypatch.setattr(SurvivalTrainer, "_private_grad", spy)
    net = HazardNet(3, 4, hidden=(4,), seed=0)
    stats = tr.train(net, X, y, seed=0)
    return tr, stats, sizes, get_flat_params(net)


@pytest.mark.parametrize("mode", ["dp", "bdp"])
def test_survival_private_batches_are_binomial(mode, monkeypatch):
    tr, stats, sizes, _ = _train_surv(mode, noise_seed=6, monkeypatch=monkeypatch)
    assert stats.steps == len(sizes) == STEPS
    binomial_ok(sizes, n=N, q=B / N)
    acc = tr.dp_accountant if mode == "dp" else tr.bdp_accountant
    assert acc.steps == STEPS
    if mode == "bdp":
        assert not acc.uses_fallback and len(tr.distances) == STEPS


@pytest.mark.parametrize("mode", ["dp", "bdp"])
def test_survival_empty_batches_are_noisy_accounted_steps(mode, monkeypatch):
    # n = 150 (>= MIN_ROWS_BAYESIAN), B = 1: P(empty) = (1 − 1/150)^150 ≈ 0.37.
    tr, stats, sizes, params = _train_surv(mode, n=150, batch_size=1, epochs=1, noise_seed=7,
                                           monkeypatch=monkeypatch)
    assert stats.steps == 150 and 25 < sizes.count(0) < 85
    acc = tr.dp_accountant if mode == "dp" else tr.bdp_accountant
    assert acc.steps == 150 and np.isfinite(params).all()
    if mode == "bdp":                         # every step, empty or not, has its distances
        assert len(tr.distances) == 150 and all(0 <= d <= 4.0 for d in tr.distances)


@pytest.mark.parametrize("mode", ["dp", "bdp"])
def test_survival_noise_default_differs_seeded_repeats(mode):
    a, b = (_train_surv(mode, epochs=1)[3] for _ in range(2))
    assert not np.allclose(a, b)
    c, d = (_train_surv(mode, epochs=1, noise_seed=8)[3] for _ in range(2))
    np.testing.assert_array_equal(c, d)


def test_survival_plain_training_still_shuffles_fixed_batches():
    X, y = _surv(100)
    tr = SurvivalTrainer(epochs=2, lr=1e-3, batch_size=20, mode="none", noise_multiplier=None,
                         clip_norm=None)
    net, sizes = HazardNet(3, 4, hidden=(4,), seed=0), []
    net.register_forward_pre_hook(
        lambda m, args: sizes.append(len(args[0])) if torch.is_grad_enabled() else None)
    assert tr.train(net, X, y, seed=0).steps == 10 and sizes == [20] * 10


# -- the generator ------------------------------------------------------------------------------

def test_mechanism_generator_rejects_bad_seeds_and_note_says_it_voids_the_guarantee():
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="noise_seed"):
            mechanism_generator(bad, seed=0)
    with pytest.raises(ValueError, match="seed"):
        mechanism_generator(None, seed=-3)
    assert "voids the guarantee" in SEEDED_NOISE_NOTE


# -- δ < 1/n ------------------------------------------------------------------------------------

def test_check_delta_names_the_party_its_n_and_delta():
    assert check_delta(1e-3, rows={"a": 999, "b": 10}) == 1e-3
    with pytest.raises(PrivacyArgumentError) as err:
        check_delta(1e-3, rows={"a": 999, "b": 1000, "c": 5000})
    msg = str(err.value)
    assert "'b'" in msg and "n=1000" in msg and "delta=0.001" in msg
    for bad_delta in (0.0, 1.0, -1e-5, float("nan")):
        with pytest.raises(PrivacyArgumentError, match="delta"):
            check_delta(bad_delta, rows={"a": 10})
    with pytest.raises(PrivacyArgumentError, match="rows"):
        check_delta(1e-5, rows={})


def test_make_clients_and_build_parties_check_delta_before_training():
    # δ = 0.005 is fine for 50 rows (0.25 < 1) but not for 500 (2.5): the largest party binds.
    insts = data = [PartyRows("Inst-A", *_xy(50)), PartyRows("Inst-B", *_xy(500))]
    with pytest.raises(PrivacyArgumentError, match=r"'Inst-B' with n=500"):
        make_clients(insts, epsilon=1.0, delta=0.005, clip_norm=1.0, rounds=1, epochs=1,
                     batch_size=10)
    assert len(make_clients(insts, epsilon=None, delta=0.005, clip_norm=None, rounds=1,
                            epochs=1, batch_size=10)) == 2        # non-private: no δ
    dp = ClientMode("dp", training="dp", noise_multiplier=1.0)
    with pytest.raises(PrivacyArgumentError, match=r"'Inst-B' with n=500"):
        build_parties(data, [dp, dp], epochs=1, lr=0.1, batch_size=10, delta=0.005)
    with pytest.raises(ValueError, match="delta is None"):
        build_parties(data, [dp, ClientMode("standard")], epochs=1, lr=0.1, batch_size=10,
                      delta=None)
    # Only DP clients are bound by it: a large non-private client does not trip the check.
    assert len(build_parties(data, [dp, ClientMode("standard")], epochs=1, lr=0.1,
                             batch_size=10, delta=0.005)) == 2


def test_delta_is_checked_on_a_user_supplied_file():
    # Chapter 1 with the reader's own HELOC file: the institutions built from it are checked.
    from fedlib.data.institutions import load_institutions, prepare_institutions

    path = Path(__file__).parents[1] / "data/fixtures/heloc_sample.csv"
    data = load_institutions(seed=0, source="heloc", path=path, synthetic_sizes=[200, 300])
    parts = prepare_institutions(data, test_fraction=0.2, iqr_k=None, seed=0)
    largest = max(parts, key=lambda p: len(p.y_train))
    n = len(largest.y_train)
    with pytest.raises(PrivacyArgumentError, match=rf"'{largest.name}' with n={n}"):
        make_clients(parts, epsilon=1.0, delta=1.0 / n, clip_norm=1.0, rounds=1, epochs=1,
                     batch_size=None)


_CFG = TrainingConfig(lr=1e-3, batch_size=32, local_epochs=1)
_SETTINGS = {"none": _CFG, "dp": _CFG, "bdp": _CFG}


def test_survival_entry_points_check_delta_before_training():
    from fedlib.survival.data import prepare_survival, synthetic_survival
    from fedlib.survival.experiment import calibrate_clients, run_scenarios

    data = prepare_survival(synthetic_survival("bondora", scale=0.004, seed=0, n_features=6),
                            seed=0)
    big = max(data.clients, key=lambda c: c.n_train)
    delta = 1.0 / big.n_train
    with pytest.raises(PrivacyArgumentError, match=rf"'{big.name}' with n={big.n_train}"):
        calibrate_clients(data, target_epsilon=1.0, delta=delta, settings=_SETTINGS, rounds=1,
                          clip_norm=1.0, n_neighbours=3, pilot_steps=1,
                          init_model=HazardNet(6, 4, seed=0), seed=0, include_central=False)
    with pytest.raises(PrivacyArgumentError, match=rf"'{big.name}' with n={big.n_train}"):
        run_scenarios(data, sigmas=None, seeds=[0], rounds=1, settings=_SETTINGS,
                      clip_norm=1.0, delta=delta, n_neighbours=3,
                      init_hazard=None, scenarios=("Federated (Classical DP)",))
    # The centralised baseline's guarantee is over the pooled rows: a δ every client meets
    # (below 1/n of the largest) is still checked against the pooled n.
    pooled = len(data.pooled("train")[1])
    ok = 0.99 / big.n_train
    assert ok * pooled >= 1
    with pytest.raises(PrivacyArgumentError, match=rf"'central' with n={pooled}"):
        calibrate_clients(data, target_epsilon=1.0, delta=ok, settings=_SETTINGS, rounds=1,
                          clip_norm=1.0, n_neighbours=3, pilot_steps=1,
                          init_model=HazardNet(6, 4, seed=0), seed=0)
    with pytest.raises(PrivacyArgumentError, match=rf"'central' with n={pooled}"):
        run_scenarios(data, sigmas=None, seeds=[0], rounds=1, settings=_SETTINGS,
                      clip_norm=1.0, delta=ok, n_neighbours=3,
                      init_hazard=None, scenarios=("Centralized (BDP)",))
