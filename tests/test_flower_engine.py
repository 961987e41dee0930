"""One round loop, two engines (issue 11): chapters 2 and 3's federations on Flower.

The same :class:`~fedlib.fl.loop.RoundLoop` runs locally and inside a Flower ``ServerApp``
(:class:`~fedlib.flower.engine.FlowerEngine`); only the transport differs. So the same seed must
give the same numbers: bit for bit for plaintext and seeded DP-SGD, within CKKS's stated
error bound for encrypted uploads. The simulation tests need Flower (``make flower-test``) and
skip without it; the validation tests run anywhere.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from fedlib.core.party import PartyRows
from fedlib.crypto.ckks import CKKSKeyHolder, CKKSParams, CKKSProtection
from fedlib.crypto.secagg import SecureAggregation
from fedlib.fl.experiment import STANDARD, ClientMode, build_parties, run_federation
from fedlib.fl.federation import Federation
from fedlib.fl.loop import LocalEngine, RoundLoop
from fedlib.fl.models import LogisticRegression
from fedlib.fl.strategies import FedAvg
from fedlib.flower import installed
from fedlib.flower.installed import FLOWER_MISSING, check_fl_engine
from fedlib.papers.p02_dp_vs_ckks.params import Chapter02Params
from fedlib.papers.p03_fsl_bdp.params import Chapter03Params

D, ROUNDS, SEED = 4, 2, 7



def _banks(seed: int = 0) -> list[PartyRows]:
    """Chapter 2 in miniature: three banks of different sizes."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(3):
        X = rng.normal(size=(40 + 15 * k, D)).astype(np.float32)
        y = (X[:, 0] - 0.5 * X[:, 2] + rng.normal(0, 0.5, len(X)) > 0).astype(np.float32)
        out.append(PartyRows(f"bank-{k + 1}", X, y))
    return out


def _evaluate(model) -> dict[str, float]:
    w = next(model.parameters()).detach().numpy()
    return {"weight_norm": float(np.linalg.norm(w))}


def _federation(mode: ClientMode, engine, *, ckks=None, seed: int = SEED):
    parties = build_parties(_banks(), [mode] * 3, epochs=3, lr=0.5, batch_size=16,
                            delta=1e-3, noise_seed=seed, ckks=ckks, dp_backend="closed_form")
    run = run_federation(parties, model_fn=lambda: LogisticRegression(D, seed=0), rounds=ROUNDS,
                         seed=seed, evaluate=_evaluate, engine=engine)
    return run


def _rows(history: pd.DataFrame) -> pd.DataFrame:
    """History rows apart from timings (wall clock differs between any two runs)."""
    return history[~history.metric.str.endswith("_seconds")].reset_index(drop=True)


def _flower():
    from fedlib.flower.engine import FlowerEngine

    return FlowerEngine()


def test_standard_fedavg_is_the_same_on_both_engines(flwr):
    """Chapter 2's standard mode: identical global parameters every round, identical rows."""
    local = _federation(STANDARD, None)
    flower = _federation(STANDARD, _flower())
    for ours, theirs in zip(flower.federation.history, local.federation.history, strict=True):
        np.testing.assert_array_equal(ours.global_params, theirs.global_params)
        assert ours.uploaded == theirs.uploaded and ours.client_loss == theirs.client_loss
    pd.testing.assert_frame_equal(_rows(flower.history), _rows(local.history))
    assert not np.allclose(flower.federation.global_params,
                           local.federation.history[0].global_params)   # it did train on


def test_dp_sgd_gives_the_same_epsilon_and_model_on_both_engines(flwr):
    """DP mode: every party's accountant (read where the chapter reads it) holds the same
    ledger on both engines, and since the noise is drawn from each party's seeded generator
    (``noise_seed`` and the round's seed) the models are identical too."""
    dp = ClientMode("dp", training="dp", noise_multiplier=1.1)
    local = _federation(dp, None)
    flower = _federation(dp, _flower())
    for ours, theirs in zip(flower.parties, local.parties, strict=True):
        assert ours.trainer.accountant.steps > 0
        assert ours.trainer.accountant.segments == theirs.trainer.accountant.segments
        assert ours.trainer.accountant.epsilon(delta=1e-3) == \
            theirs.trainer.accountant.epsilon(delta=1e-3)
    for ours, theirs in zip(flower.federation.history, local.federation.history, strict=True):
        np.testing.assert_array_equal(ours.global_params, theirs.global_params)
    kinds = {m.kind for m in flower.federation.transcript if m.label == "model_update"}
    assert kinds == {"noisy"}


def test_ckks_uploads_are_encrypted_on_the_node_and_sum_within_the_bound(flwr):
    """CKKS mode: each node encrypts its own weighted update (only a ciphertext crosses
    Flower), the server adds ciphertexts and the key holder decrypts; the model equals the
    local engine's within the stated CKKS bound (plus the release grid each side rounds to)."""
    from fedlib.flower.engine import FlowerEngine

    he = ClientMode("he", protection="ckks")
    holder = CKKSKeyHolder(CKKSParams())
    local = _federation(he, None, ckks=CKKSProtection(holder))
    engine = FlowerEngine()
    protection = CKKSProtection(holder)
    flower = _federation(he, engine, ckks=protection)
    first_local = local.federation.history[0].global_params
    first_flower = flower.federation.history[0].global_params
    bound = 2 * protection.params.error_bound(3, float(np.abs(first_local).max()) + 1.0) \
        + 2.0 ** -protection.release_grid_bits
    assert np.max(np.abs(first_flower - first_local)) <= bound
    assert not np.allclose(first_flower, np.zeros_like(first_flower))
    uploads = [m for m in flower.federation.transcript if m.label == "model_update"]
    assert {m.kind for m in uploads} == {"ciphertext"}
    assert all(isinstance(m.payload, bytes) for m in uploads)
    # What each node sent the server over Flower is the ciphertext, not a 5-float vector.
    smallest = min(len(m.payload) for m in uploads)
    first = engine.flower_run.history[0]
    assert min(first.bytes_to_server.values()) >= smallest > 100 * (D + 1) * 8
    holder_msgs = [m for m in flower.federation.transcript if m.label == "decrypted_aggregate"]
    assert len(holder_msgs) == ROUNDS                # the key holder decrypted once a round


def test_survival_federation_is_the_same_on_both_engines(flwr):
    """Chapter 3's federation (no DP) on both engines: identical models and history; with
    BDP the clients' accountants come back from their nodes to the trainers the chapter
    reads, with the same ε."""
    from fedlib.survival.data import prepare_survival, synthetic_survival
    from fedlib.survival.federated import train_federated

    data = prepare_survival(synthetic_survival("bondora", scale=0.004, seed=0, n_features=6),
                            seed=0)
    kw = dict(rounds=2, local_epochs=1, lr=1e-3, batch_size=32, seed=0, hidden=(8,),
              init_hazard=0.02)
    local = train_federated(data, mode="none", noise_multipliers=None, clip_norm=None, **kw)
    flower = train_federated(data, mode="none", noise_multipliers=None, clip_norm=None,
                             engine=_flower(), **kw)
    for ours, theirs in zip(flower.federation.history, local.federation.history, strict=True):
        np.testing.assert_array_equal(ours.global_params, theirs.global_params)
    pd.testing.assert_frame_equal(flower.history, local.history)

    sig = {c.name: 1.5 for c in data.clients}
    bdp = dict(mode="bdp", noise_multipliers=sig, clip_norm=1.0, beta=5e-6, gamma=5e-6,
               noise_seed=3, n_neighbours=4, **kw)
    local = train_federated(data, **bdp)
    flower = train_federated(data, engine=_flower(), **bdp)
    pd.testing.assert_frame_equal(flower.epsilons(delta=1e-5), local.epsilons(delta=1e-5))
    assert all(t.bdp_accountant.steps > 0 for t in flower.trainers.values())
    np.testing.assert_array_equal(flower.federation.global_params, local.federation.global_params)


# -- validation, no Flower needed ------------------------------------------------------------

def test_fl_engine_is_validated_before_any_computation(monkeypatch):
    assert Chapter02Params().fl_engine == Chapter03Params().fl_engine == "local"
    with pytest.raises(ValidationError, match="fl_engine"):
        Chapter02Params(fl_engine="ray")
    with pytest.raises(ValueError, match="allowed values are \\('local', 'flower'\\)"):
        check_fl_engine("ray")
    monkeypatch.setattr(installed.importlib.util, "find_spec", lambda name: None)
    for schema in (Chapter02Params, Chapter03Params):
        with pytest.raises(ValidationError, match="make flower-test") as err:
            schema(fl_engine="flower")
        assert "pip install -e '.[flower]'" in str(err.value)
    assert "make flower-test" in FLOWER_MISSING


def test_flower_engine_without_flower_names_how_to_install_it(monkeypatch):
    from fedlib.flower import engine

    monkeypatch.setattr(engine, "flower_available", lambda: False)
    with pytest.raises(ModuleNotFoundError, match="make flower-test"):
        engine.engine_for("flower")
    assert isinstance(engine.engine_for("local"), LocalEngine)


def test_secure_aggregation_on_the_flower_engine_is_refused_naming_secaggplus(monkeypatch):
    """The book's masking protocol is multi-phase; on Flower it is SecAgg+. The refusal comes
    when the federation is built, before any party trains."""
    from fedlib.flower import engine

    monkeypatch.setattr(engine, "flower_available", lambda: True)
    banks = build_parties(_banks(), [STANDARD] * 3, epochs=1, lr=0.5, batch_size=None,
                          delta=None, dp_backend="closed_form")
    for bank in banks:
        bank.protection = SecureAggregation(threshold=2)
    with pytest.raises(ValueError, match="SecAgg\\+.*fedlib.flower.secagg"):
        Federation(banks, model_fn=lambda: LogisticRegression(D, seed=0), seed=0,
                   engine=engine.FlowerEngine())
    strategy = FedAvg(np.zeros(D + 1))

    class Odd:
        kind = "masked"

        def protect(self, party, vector):
            return vector

        def aggregate(self, payloads):
            return sum(payloads)

        def recover(self, aggregate):
            return aggregate

    loop = RoundLoop(strategy, banks, seed=0, protection=Odd())
    with pytest.raises(ValueError, match="allowed there: plaintext .* and CKKS"):
        engine.FlowerEngine().check(loop)


def test_a_distributed_engine_runs_whole_fits_only(monkeypatch):
    from fedlib.flower import engine

    monkeypatch.setattr(engine, "flower_available", lambda: True)
    banks = build_parties(_banks(), [STANDARD] * 3, epochs=1, lr=0.5, batch_size=None,
                          delta=None, dp_backend="closed_form")
    fed = Federation(banks, model_fn=lambda: LogisticRegression(D, seed=0), seed=0,
                     engine=engine.FlowerEngine())
    with pytest.raises(ValueError, match="use fit\\(rounds\\)"):
        fed.run_round()


def test_the_local_engine_is_the_loop_itself():
    """``engine=None`` and ``LocalEngine()`` are one code path: the same rounds, bit for bit."""
    a = _federation(STANDARD, None)
    b = _federation(STANDARD, LocalEngine())
    np.testing.assert_array_equal(a.federation.global_params, b.federation.global_params)
    pd.testing.assert_frame_equal(_rows(a.history), _rows(b.history))
    assert math.isfinite(float(a.history.value.sum()))
