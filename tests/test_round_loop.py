"""The one round loop (fedlib.fl.loop) and its strategies (fedlib.fl.strategies)."""

from __future__ import annotations

import numpy as np
import pytest

from fedlib.crypto.secagg import SecureAggregation
from fedlib.fl.fmtl import FMTLClient, FMTLParty
from fedlib.fl.loop import RoundLoop, run_rounds
from fedlib.fl.models import LogisticRegression, get_flat_params
from fedlib.fl.party import Party, PartyClient, StandardTrainer
from fedlib.fl.protection import PlaintextProtection
from fedlib.fl.reputation import ReputationParams
from fedlib.fl.screening import BankClient
from fedlib.fl.strategies import (
    FedAvg,
    FederatedParty,
    FitResult,
    FMTLStrategy,
    ReputationScreen,
    Strategy,
    Uploads,
)


class Fixed:
    """A party whose local training always returns the same vector (so sums are exact)."""

    private = False

    def __init__(self, name: str, n: int, vector) -> None:
        self.name, self.num_examples, self.vector = name, n, np.asarray(vector, dtype=float)
        self.configs: list[dict] = []

    def fit(self, parameters, config):
        self.configs.append(dict(config))
        return FitResult(self.vector.copy(), self.num_examples, {"loss": 0.0, "seconds": 0.0})

    def evaluate(self, parameters, config):
        return None


def _fixed():
    return [Fixed("a", 30, [1.0, 0.0]), Fixed("b", 10, [0.0, 1.0]), Fixed("c", 60, [2.0, 2.0])]


def test_parties_and_strategies_satisfy_the_protocols():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 2)).astype(np.float32), (rng.random(20) > 0.5).astype(np.float32)
    model = LogisticRegression(2, seed=0)
    parties = [PartyClient(Party("p", X, y, StandardTrainer(1, 0.1, None)), model),
               FMTLParty(FMTLClient("f", X, y), model, epochs=1, lr=0.1, batch_size=None),
               BankClient("b", X, y, model=model, behaviour="honest", epochs=1, lr=0.1,
                          batch_size=None, boost=3.0, rng=rng)]
    assert all(isinstance(p, FederatedParty) for p in parties)
    w = get_flat_params(model)
    assert isinstance(FedAvg(w), Strategy) and isinstance(FMTLStrategy(w, lam=0.1), Strategy)


@pytest.mark.parametrize("in_band", [False, True])
def test_fedavg_is_the_size_weighted_mean_whichever_way_the_weight_travels(in_band):
    loop = run_rounds(FedAvg(np.zeros(2), weight_in_upload=in_band), _fixed(), rounds=1, seed=0)
    want = (30 * np.array([1.0, 0]) + 10 * np.array([0, 1.0]) + 60 * np.array([2.0, 2])) / 100
    np.testing.assert_allclose(loop.parameters, want, rtol=1e-12)
    sizes = {m.nbytes for m in loop.transcript if m.label == "model_update"}
    assert sizes == {8 * (2 + in_band)}            # the weight rides along only in band


def test_fmtl_strategy_sends_lambda_and_averages_plainly():
    parties = _fixed()
    loop = run_rounds(FMTLStrategy(np.zeros(2), lam=0.3), parties, rounds=2, seed=0)
    np.testing.assert_allclose(loop.parameters, [1.0, 1.0])
    assert [c["lam"] for c in parties[0].configs] == [0.3, 0.3]
    assert [c["round"] for c in parties[0].configs] == [1, 2]
    with pytest.raises(ValueError, match="lam"):
        FMTLStrategy(np.zeros(2), lam=-1.0)


def test_loop_calls_the_strategy_hooks_in_order_with_failures():
    calls = []

    class Recording(FedAvg):
        def configure_fit(self, round, parameters, parties, *, rng):
            calls.append(("configure_fit", round))
            return super().configure_fit(round, parameters, parties, rng=rng)

        def aggregate_fit(self, round, uploads, failures):
            calls.append(("aggregate_fit", round, sorted(uploads.weights), list(failures)))
            return super().aggregate_fit(round, uploads, failures)

        def evaluate(self, round, parameters):
            calls.append(("evaluate", round))
            return {"norm": float(np.linalg.norm(parameters))}

    loop = RoundLoop(Recording(np.zeros(2)), _fixed(), seed=4, dropout_rate=0.5)
    loop.run(3)
    assert calls[0] == ("evaluate", 0) and loop.initial_metrics == {"norm": 0.0}
    for outcome in loop.history:
        fit = [c for c in calls if c[0] == "aggregate_fit" and c[1] == outcome.round]
        if outcome.aborted:
            assert not fit and outcome.uploaded == []
        else:
            assert fit == [("aggregate_fit", outcome.round, sorted(outcome.uploaded),
                            outcome.dropped)]
        assert set(outcome.uploaded) | set(outcome.dropped) == {"a", "b", "c"}
    assert any(o.dropped for o in loop.history)         # the seed makes some party drop


def test_sampling_draws_the_share_and_renormalises_weights():
    parties = [Fixed(f"p{k}", 10 * (k + 1), [float(k), 0.0]) for k in range(6)]
    loop = run_rounds(FedAvg(np.zeros(2), sample_fraction=0.5), parties, rounds=4, seed=1)
    for outcome in loop.history:
        assert len(outcome.sampled) == 3
        n = {p.name: p.num_examples for p in parties if p.name in outcome.sampled}
        want = sum(n[p.name] * p.vector for p in parties if p.name in n) / sum(n.values())
        np.testing.assert_allclose(outcome.parameters, want, rtol=1e-12)
    assert len({tuple(o.sampled) for o in loop.history}) > 1


def test_secure_aggregation_hides_updates_and_an_abort_keeps_the_model():
    sa = SecureAggregation(threshold=2)
    loop = run_rounds(FedAvg(np.zeros(2), weight_in_upload=True), _fixed(), rounds=1, seed=0,
                      protection=sa)
    want = (30 * np.array([1.0, 0]) + 10 * np.array([0, 1.0]) + 60 * np.array([2.0, 2])) / 100
    np.testing.assert_allclose(loop.parameters, want, atol=1e-6)
    ups = [m for m in loop.transcript if m.receiver == "server" and m.sender != "server"]
    assert {m.kind for m in ups} <= {"key", "ciphertext", "masked", "share"}
    assert len(sa.transcript) == 0                       # logged to the run's transcript
    # Everyone drops before sharing keys: every round aborts, nothing moves.
    loop = run_rounds(FedAvg(np.ones(2), weight_in_upload=True), _fixed(), rounds=2, seed=0,
                      protection=SecureAggregation(threshold=2), dropout_rate=0.999,
                      dropout_phases=("share",))
    assert all(o.aborted for o in loop.history)
    np.testing.assert_array_equal(loop.parameters, np.ones(2))


def test_a_protection_per_party_is_allowed_and_checked():
    p1, p2 = _fixed()[:2]
    first, second = PlaintextProtection(), PlaintextProtection()
    loop = run_rounds(FedAvg(np.zeros(2)), [p1, p2], rounds=1, seed=0,
                      protection={"a": first, "b": second})
    np.testing.assert_allclose(loop.parameters, [0.75, 0.25])
    with pytest.raises(ValueError, match="no protection"):
        RoundLoop(FedAvg(np.zeros(2)), [p1, p2], seed=0, protection={"a": first})


def test_reputation_screen_keeps_out_a_bad_update_and_needs_readable_updates():
    good, bad = Fixed("good", 10, [1.0, 1.0]), Fixed("bad", 10, [-5.0, -5.0])

    def accuracy(w):                                   # the aiding node likes positive weights
        return float(np.mean(np.asarray(w) > 0))

    screen = ReputationScreen(ReputationParams(), ["good", "bad"], validation_accuracy=accuracy)
    loop = run_rounds(FedAvg(np.zeros(2), screen=screen), [good, bad], rounds=3, seed=0)
    np.testing.assert_allclose(loop.parameters, [1.0, 1.0])
    decided = {(d["party"], d["aggregated"]) for d in screen.decisions}
    assert ("bad", True) not in decided and ("good", True) in decided
    # Not enforced: every update gets in, but the scores are still kept.
    scoring = ReputationScreen(ReputationParams(), ["good", "bad"], validation_accuracy=accuracy,
                               enforce=False)
    loop = run_rounds(FedAvg(np.zeros(2), screen=scoring), [good, bad], rounds=1, seed=0)
    np.testing.assert_allclose(loop.parameters, [-2.0, -2.0])
    assert len(scoring.decisions) == 2
    # Screening must read every update: a hidden one is refused.
    strategy = FedAvg(np.zeros(2), screen=ReputationScreen(
        ReputationParams(), ["good", "bad"], validation_accuracy=accuracy))
    with pytest.raises(ValueError, match="hides"):
        strategy.aggregate_fit(1, Uploads(sums=(np.zeros(2),), weights={"good": 1.0},
                                          readable={}), failures=[])


def test_party_evaluate_uses_its_own_rows_and_personal_model():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    model = LogisticRegression(2, seed=0)
    w0 = get_flat_params(model)
    client = PartyClient(Party("p", X, y, StandardTrainer(1, 0.1, None)), model,
                         loss_fn=lambda m, X_, y_: float(len(X_)))
    assert client.evaluate(w0, {}) == {"loss": 40.0}
    assert PartyClient(client.party, model).evaluate(w0, {}) is None
    # FMTL: after a joint step the personal model W̄ + V_i fits the party's rows better than W̄.
    party = FMTLParty(FMTLClient("f", X, y), model, epochs=30, lr=0.5, batch_size=None)
    before = party.evaluate(w0, {})
    party.fit(w0, {"round": 1, "seed": 0, "lam": 0.01, "weight": 1.0})
    after = party.evaluate(w0, {})
    assert after["loss"] < before["loss"] and after["accuracy"] > 0.9
    assert np.any(party.personal_parameters(w0) != w0)
