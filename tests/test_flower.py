"""The Flower adapter (fedlib.flower): the book's parties and strategies on Flower.

The simulation tests need the optional extra (``pip install -e '.[flower]'``) and skip
without it; the others check the adapter's own pieces with the project's packages alone.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import numpy as np
import pytest
from flower_parties import dp_banks

from fedlib.fl.federation import Federation
from fedlib.fl.loop import LocalTransport, RoundLoop, run_rounds
from fedlib.fl.models import LogisticRegression, get_flat_params
from fedlib.fl.party import LogisticSGDTrainer, Party, PartyClient
from fedlib.fl.strategies import FedAvg, FitResult
from fedlib.flower.client import party_of
from fedlib.flower.env import OFFLINE
from fedlib.flower.ledgers import accountant_from_report
from fedlib.flower.records import plain_config
from fedlib.flower.server import plaintext_uploads
from fedlib.flower.state import restore_node_state, save_node_state
from fedlib.privacy.accountants import PartyAccountant


def _parties(seed: int = 0, n: int = 60, d: int = 4) -> list[Party]:
    """Chapter 2 in miniature: three banks, a logistic regression, mini-batch SGD."""
    rng = np.random.default_rng(seed)
    parties = []
    for k in range(3):
        X = rng.normal(size=(n + 20 * k, d)).astype(np.float32)
        y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(0, 0.5, len(X)) > 0).astype(np.float32)
        parties.append(Party(f"bank-{k + 1}", X, y,
                             LogisticSGDTrainer(epochs=3, lr=0.5, batch_size=16)))
    return parties


class Reporting(PartyClient):
    """A party that also reports where it trained: its process and whether Flower's and Ray's
    phone-home switches are off there."""

    def fit(self, parameters, config):
        result = super().fit(parameters, config)
        offline = all(os.environ.get(k) == v for k, v in OFFLINE.items())
        return FitResult(result.parameters, result.num_examples,
                         {**result.metrics, "pid": os.getpid(), "offline": int(offline)})


class Fixed:
    private = False

    def __init__(self, name, n, vector):
        self.name, self.num_examples, self.vector = name, n, np.asarray(vector, dtype=float)

    def fit(self, parameters, config):
        return FitResult(self.vector.copy(), self.num_examples, {})

    def evaluate(self, parameters, config):
        return None


@pytest.mark.parametrize("in_band", [False, True])
def test_plaintext_uploads_give_the_local_loops_model(in_band):
    rng = np.random.default_rng(3)
    parties = [Fixed(n, int(rng.integers(5, 50)), rng.normal(size=5)) for n in "abcd"]
    local = run_rounds(FedAvg(np.zeros(5), weight_in_upload=in_band), parties, rounds=1, seed=0)
    strategy = FedAvg(np.zeros(5), weight_in_upload=in_band)
    instructions = strategy.configure_fit(1, np.zeros(5), parties, rng=np.random.default_rng(0))
    results = {p.name: p.fit(None, {}) for p in parties}
    uploads = plaintext_uploads(results, {i.party: i.config["weight"] for i in instructions},
                                weight_in_upload=in_band)
    np.testing.assert_array_equal(strategy.aggregate_fit(1, uploads, failures=[]),
                                  local.parameters)
    assert list(uploads.readable) == list("abcd")


class Silent:
    """A transport for which the parties in ``gone`` never answer (a failed node)."""

    def __init__(self, parties, gone):
        self.local, self.gone = LocalTransport({p.name: p for p in parties}), set(gone)

    def fit(self, round, instructions):
        return self.local.fit(round, [i for i in instructions if i.party not in self.gone])

    def uploaded(self, round, party):
        return None


@pytest.mark.parametrize("in_band", [False, True])
def test_a_party_that_never_answers_is_a_failure_and_the_rest_is_averaged(in_band):
    """The transport is the only thing a distributed engine replaces: a node that does not
    answer leaves the round loop's sampling, weights and sum as they were for the others."""
    rng = np.random.default_rng(3)
    parties = [Fixed(n, int(rng.integers(5, 50)), rng.normal(size=5)) for n in "abcd"]
    loop = RoundLoop(FedAvg(np.zeros(5), weight_in_upload=in_band), parties, seed=0)
    loop.transport = Silent(parties, {"b"})
    outcome = loop.run_round()
    assert outcome.uploaded == ["a", "c", "d"] and outcome.dropped == ["b"]
    assert set(outcome.fit_metrics) == {"a", "c", "d"}
    kept = [p for p in parties if p.name != "b"]
    want = sum(p.num_examples * p.vector for p in kept) / sum(p.num_examples for p in kept)
    np.testing.assert_allclose(loop.parameters, want, rtol=1e-12)


def test_a_node_runs_exactly_the_party_its_partition_names():
    parties = _parties()
    assert party_of(parties, {"partition-id": 2}) == (2, parties[2])
    with pytest.raises(ValueError, match="names no party"):
        party_of(parties, {"partition-id": 3})


def test_configs_hold_only_what_a_flower_record_holds():
    assert plain_config({"seed": np.int64(5)}) == {"seed": 5}
    with pytest.raises(TypeError, match="config\\['v'\\]"):
        plain_config({"v": np.zeros(2)})


def test_flower_is_kept_off_the_network(flwr):
    assert {k: os.environ[k] for k in OFFLINE} == OFFLINE
    from flwr.supercore import telemetry

    assert telemetry.FLWR_TELEMETRY_ENABLED == "0"


def test_parameters_travel_as_flower_records_bit_for_bit(flwr):
    from fedlib.flower.records import pack, unpack_metrics, unpack_vector

    vector = np.random.default_rng(0).normal(size=7)
    content = pack(vector=vector, config={"round": 2, "weight": 1 / 3},
                   metrics={"loss": 0.1})
    assert unpack_vector(content).dtype == np.float64
    np.testing.assert_array_equal(unpack_vector(content), vector)
    assert unpack_metrics(content, "config") == {"round": 2, "weight": 1 / 3}


def test_fedavg_on_flower_simulation_equals_the_local_engine(flwr):
    """Same seed, same result (issue 11): bit-for-bit, every round.

    Exact equality is expected, not a tolerance: the vector travels as ``np.save`` bytes,
    every party trains with the same seed in float64 NumPy (the closed-form trainer), and the
    server sums the same contributions in the same order with the same code.
    """
    from fedlib.flower.simulation import simulate

    rounds, seed = 3, 11
    parties = _parties()
    start = time.perf_counter()
    local = Federation(parties, model_fn=lambda: LogisticRegression(4, seed=0), seed=seed)
    local.fit(rounds)
    local_seconds = time.perf_counter() - start

    model = LogisticRegression(4, seed=0)
    initial = get_flat_params(model)
    start = time.perf_counter()
    run = simulate(FedAvg(initial, sample_fraction=1.0),
                   [Reporting(p, model) for p in parties], rounds=rounds, seed=seed)
    flower_seconds = time.perf_counter() - start

    assert [(p.name, p.num_examples) for p in run.roster] == [
        (p.name, p.n_rows) for p in parties]
    np.testing.assert_array_equal(run.parameters, local.global_params)
    for ours, theirs in zip(run.history, local.history, strict=True):
        np.testing.assert_array_equal(ours.parameters, theirs.global_params)
        assert ours.uploaded == theirs.uploaded and ours.failures == []
        assert {n: m["loss"] for n, m in ours.fit_metrics.items()} == theirs.client_loss
    assert not np.allclose(run.parameters, initial)      # the parties did train
    reports = [m for r in run.history for m in r.fit_metrics.values()]
    assert all(m["offline"] == 1 for m in reports)       # Ray's workers inherit the switches
    assert os.getpid() not in {m["pid"] for m in reports}  # parties train outside the server
    per_round = [r.seconds for r in run.history]
    print(f"\nlocal engine {local_seconds / rounds:.4f} s/round; Flower simulation "
          f"{np.mean(per_round):.4f} s/round ({flower_seconds:.1f} s with Ray start-up)")


def test_a_party_ledger_is_replayed_from_its_node_state_every_message():
    """Without Flower: the accountant a party trains with is rebuilt from the node's state,
    never taken from the party object, and saved back after training."""
    party = dp_banks()[0]
    state = SimpleNamespace(config_records={}, array_records={})
    party.party.trainer.accountant.record(noise_multiplier=9.0, sample_rate=1.0, steps=99)
    restore_node_state(party, state)
    assert party.party.trainer.accountant.steps == 0       # the object's ledger is ignored
    party.fit(get_flat_params(party.model), {"round": 1, "seed": 0})
    first = save_node_state(party, state, (dict, dict))
    party.party.trainer.accountant = PartyAccountant()      # a new process: nothing kept
    restore_node_state(party, state)
    assert party.party.trainer.accountant.segments == accountant_from_report(first).segments
    party.fit(get_flat_params(party.model), {"round": 2, "seed": 1})
    second = accountant_from_report(save_node_state(party, state, (dict, dict)))
    assert second.steps > accountant_from_report(first).steps > 0
    assert save_node_state(_parties()[0], state, (dict, dict)) == {}   # no DP, no ledger


def test_dp_accountants_on_flower_compose_every_round_as_the_local_engine(flwr):
    """ε after R rounds on Flower equals the local engine's, party by party (issue 11).

    Each node's ledger lives in its ``Context.state``; the ``ClientApp`` replays it into the
    party before every ``train`` and never trusts the party object, whose copies sit in two
    Ray actors that share the nodes' messages. So the totals can only match if Flower
    carried the state from round to round.
    """
    from fedlib.flower.simulation import backend_config, simulate

    rounds, seed, delta = 3, 4, 1e-5
    local_parties = dp_banks()
    initial = get_flat_params(local_parties[0].model)
    local = run_rounds(FedAvg(initial, sample_fraction=1.0), local_parties, rounds=rounds,
                       seed=seed)
    run = simulate(FedAvg(initial, sample_fraction=1.0), dp_banks(), rounds=rounds,
                   seed=seed, backend=backend_config(cpus=2, cpus_per_party=1.0))

    np.testing.assert_array_equal(run.parameters, local.parameters)
    for party in local_parties:
        ledgers = [accountant_from_report(r.fit_metrics[party.name]) for r in run.history]
        assert [a.steps for a in ledgers] == sorted({a.steps for a in ledgers})  # growing
        ours, theirs = ledgers[-1], party.party.trainer.accountant
        assert ours.segments == theirs.segments
        assert ours.epsilon(delta=delta) == theirs.epsilon(delta=delta)
        assert ours.epsilon(delta=delta) > ledgers[0].epsilon(delta=delta)
