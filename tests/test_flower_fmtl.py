"""Chapter 1's FMTL on Flower: each institution's personal state kept in its node's state.

An FMTL institution (:class:`~fedlib.fl.fmtl.FMTLParty`) keeps its personal model ``W_i`` and
offset ``V_i`` from round to round; on Flower they live in the node's ``Context.state``
(:mod:`fedlib.flower.state`). The first tests check the protocol and the record
conversion with the project's packages alone; the others need the optional extra
(``pip install -e '.[flower]'``) and skip without it.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
from flower_parties import Institution

from fedlib.fl.fmtl import FMTLClient, fmtl_federation, make_clients, run_federated
from fedlib.fl.models import MLP, LogisticRegression, get_flat_params
from fedlib.fl.party import LogisticSGDTrainer, Party, PartyClient
from fedlib.fl.strategies import FitResult
from fedlib.flower.client import party_of
from fedlib.flower.ledgers import accountant_from_report
from fedlib.flower.state import (
    NODE_ARRAYS,
    NODE_CONFIG,
    join_state,
    restore_node_state,
    save_node_state,
    split_state,
)
from fedlib.privacy.accountants import PartyAccountant

ROUNDS, SEED, LAM = 3, 5, 0.5



def _institutions(seed: int = 0) -> list[Institution]:
    """Chapter 1 in miniature: three institutions of different size and label shift."""
    rng = np.random.default_rng(seed)
    out = []
    for k, n in enumerate((48, 64, 80)):
        X = rng.random((n, 3)).astype(np.float32)
        out.append(Institution(name=f"bank-{k}", X=X,
                               y=(X[:, 0] + 0.15 * k > 0.6).astype(np.float32)))
    return out


def _clients(epsilon: float | None = None) -> list[FMTLClient]:
    """The clients chapter 1's lab makes (a new set per run: accountants compose)."""
    return make_clients(_institutions(), epsilon=epsilon, delta=1e-5,
                        clip_norm=None if epsilon is None else 1.0, rounds=ROUNDS, epochs=1,
                        batch_size=16)


def _settings(**kw) -> dict:
    """One run's settings, as chapter 1 passes them (the ``"joint"`` step, seeded noise)."""
    return dict(model_fn=lambda: MLP(3, (4,), seed=0), mode="fmtl", lam=LAM, epochs=1, lr=0.5,
                batch_size=16, noise_seed=7, algorithm="joint") | kw


def _local(clients: list[FMTLClient], **kw) -> list[dict]:
    """The local engine (``run_federated``): W̄, every W̄ + V_i and every W_i, per round."""
    rounds = []

    def keep(log, run):
        rounds.append({"global": run.global_params.copy(),
                       "models": {n: m.copy() for n, m in run.models.items()},
                       "params": {n: m.copy() for n, m in run.local_params.items()}})

    run_federated(clients, rounds=ROUNDS, seed=SEED, on_round=keep, **_settings(**kw))
    return rounds


class Reporting:
    """An FMTL party that also reports, in its fit metrics, the personal state it holds
    after training, and the process it trained in.

    A test device only: on Flower the personal state never leaves the node otherwise, and
    the test needs to compare it with the local engine's, round by round.
    """

    def __init__(self, party):
        self.inner, self.client = party, party.client
        self.name, self.num_examples, self.private = party.name, party.num_examples, party.private

    def state(self):
        return self.inner.state()

    def load_state(self, state):
        self.inner.load_state(state)

    def fit(self, parameters, config):
        result = self.inner.fit(parameters, config)
        state = self.inner.state()
        shown = {f"{key}_{i}": float(v) for key in ("params", "offset")
                 for i, v in enumerate(state[key])}
        return FitResult(result.parameters, result.num_examples,
                         {**result.metrics, **shown, "pid": os.getpid()})

    def evaluate(self, parameters, config):
        return self.inner.evaluate(parameters, config)


def _reported(metrics: dict, key: str) -> np.ndarray:
    return np.array([metrics[f"{key}_{i}"] for i in range(sum(k.startswith(f"{key}_")
                                                               for k in metrics))])


def _forget(party) -> None:
    """What a new SuperNode process holds of its party: nothing from earlier messages.

    The personal state is wiped and the accountant replaced by a wrong one, so a run can
    only equal the local engine if every message restores both from the node's state.
    """
    inner = party.inner
    inner.params = inner.offset = None
    inner._fmtl = False
    if inner.client.accountant is not None:
        inner.client.accountant = PartyAccountant(inner.name)
        inner.client.accountant.record(noise_multiplier=9.0, sample_rate=1.0, steps=99)


def _forgetting_mod(parties):
    """A Flower client mod that makes the node's party forget before and after each message."""

    def mod(msg, context, call_next):
        _, party = party_of(parties, context.node_config)
        _forget(party)
        reply = call_next(msg, context)
        _forget(party)
        return reply

    return mod


# -- the protocol and the records, without Flower ---------------------------------------------

def test_fmtl_personal_state_survives_the_two_records_bit_for_bit():
    """state() → ArrayRecord + ConfigRecord contents → load_state() into a new party object:
    the same personal model, and the next round trains exactly as if nothing had happened."""
    strategy, (party, *_) = fmtl_federation(_clients(), **_settings())
    w_bar = strategy.initialize_parameters()
    assert party.state() == {"fmtl": False}                  # nothing yet: no arrays
    for rnd in (1, 2):
        party.fit(w_bar + 0.01 * rnd, {"seed": rnd, "lam": LAM})
    arrays, scalars = split_state(party.state())
    assert sorted(arrays) == ["offset", "params"] and scalars == {"fmtl": True}

    _, (fresh, *_) = fmtl_federation(_clients(), **_settings())
    fresh.load_state(join_state(arrays, scalars))
    np.testing.assert_array_equal(fresh.personal_parameters(w_bar),
                                  party.personal_parameters(w_bar))
    assert not np.array_equal(party.personal_parameters(w_bar), w_bar)
    ours, theirs = (p.fit(w_bar, {"seed": 3, "lam": LAM}) for p in (fresh, party))
    np.testing.assert_array_equal(ours.parameters, theirs.parameters)
    np.testing.assert_array_equal(fresh.state()["offset"], party.state()["offset"])


def test_restore_replaces_what_the_party_object_holds_and_save_rewrites_the_records():
    strategy, (party, *_) = fmtl_federation(_clients(), **_settings())
    w_bar = strategy.initialize_parameters()
    records = SimpleNamespace(array_records={}, config_records={})
    party.fit(w_bar, {"seed": 1, "lam": LAM})
    assert restore_node_state(party, records) == {}          # an empty node: a party that
    assert party.state() == {"fmtl": False}                  # never trained, whatever it held
    party.fit(w_bar, {"seed": 1, "lam": LAM})
    saved = party.state()
    assert save_node_state(party, records, (dict, dict)) == {}   # no DP: nothing to report
    assert set(records.array_records[NODE_ARRAYS]) == {"party.params", "party.offset"}
    assert records.config_records[NODE_CONFIG] == {"party.fmtl": True}
    party.load_state({})
    restored = restore_node_state(party, records)
    np.testing.assert_array_equal(restored["party.offset"], saved["offset"])
    np.testing.assert_array_equal(party.personal_parameters(w_bar), w_bar + saved["offset"])


def test_bad_party_state_is_refused_naming_the_entry():
    with pytest.raises(TypeError, match=r"state\['params'\] = None"):
        split_state({"params": None})
    with pytest.raises(TypeError, match=r"state\['v'\]"):
        split_state({"v": [1.0, 2.0]})
    assert split_state({"k": np.int64(3)}) == ({}, {"k": 3})
    with pytest.raises(ValueError, match=r"\['x'\] are both"):
        join_state({"x": np.zeros(1)}, {"x": 1})
    _, (party, *_) = fmtl_federation(_clients(), **_settings())
    with pytest.raises(ValueError, match=r"unknown state entries \['W'\]; allowed"):
        party.load_state({"W": np.zeros(3)})


def test_a_party_that_keeps_no_state_is_left_alone():
    party = PartyClient(Party("a", np.zeros((4, 2), np.float32), np.zeros(4, np.float32),
                              LogisticSGDTrainer(epochs=1, lr=0.1, batch_size=None)),
                        LogisticRegression(2, seed=0))
    records = SimpleNamespace(array_records={}, config_records={})
    assert restore_node_state(party, records) == {}
    assert save_node_state(party, records, (dict, dict)) == {}
    assert records.array_records[NODE_ARRAYS] == records.config_records[NODE_CONFIG] == {}


# -- the real ClientApp and Context, without Ray -----------------------------------------------

def _instruction(content, node_id: int, message_type: str, rnd: int):
    """A message as a SuperNode hands it to its ClientApp (the SuperLink set its metadata)."""
    from flwr.app import Message, Metadata

    return Message(content, metadata=Metadata(
        run_id=1, message_id=f"m{rnd}{message_type}", src_node_id=0, dst_node_id=node_id,
        reply_to_message_id="", group_id=str(rnd), created_at=0.0, ttl=600.0,
        message_type=message_type))


def test_the_client_app_trains_and_evaluates_with_its_nodes_state_not_the_party_object(flwr):
    """Every message goes to a new copy of the parties (as a new SuperNode process would):
    with the node's Context carried from message to message the uploads, the personal state
    and the personal model's evaluation equal those of one party object kept throughout;
    with a new Context per message (Flower not carrying the state) they differ. The readout
    of :mod:`fedlib.flower.readback` hands the node's state to a party object that never
    trained."""
    from flwr.app import Context, MessageType, RecordDict

    from fedlib.flower.client import party_client_app
    from fedlib.flower.node_readout import READOUT, add_state_readout, load_kept_state
    from fedlib.flower.records import pack, unpack_metrics, unpack_vector

    strategy, kept = fmtl_federation(_clients(), **_settings())
    w_bar = strategy.initialize_parameters()
    node = Context(run_id=1, node_id=9, node_config={"partition-id": 1}, state=RecordDict(),
                   run_config={})
    for rnd in range(1, ROUNDS + 1):
        config = {"seed": 10 + rnd, "lam": LAM, "weight": 1.0, "round": rnd}
        app = party_client_app(fmtl_federation(_clients(), **_settings())[1])
        reply = app(_instruction(pack(vector=w_bar, config=config), 9, MessageType.TRAIN, rnd),
                    node)
        amnesiac = party_client_app(fmtl_federation(_clients(), **_settings())[1])(
            _instruction(pack(vector=w_bar, config=config), 9, MessageType.TRAIN, rnd),
            Context(run_id=1, node_id=9, node_config={"partition-id": 1},
                    state=RecordDict(), run_config={}))
        expected = kept[1].fit(w_bar, config)
        np.testing.assert_array_equal(unpack_vector(reply.content), expected.parameters)
        if rnd > 1:                                # V_i ≠ 0 from round 2 on: the state matters
            assert not np.array_equal(unpack_vector(amnesiac.content), expected.parameters)
    np.testing.assert_array_equal(node.state.array_records[NODE_ARRAYS]["party.offset"].numpy(),
                                  kept[1].offset)
    app = party_client_app(fmtl_federation(_clients(), **_settings())[1])
    evaluated = app(_instruction(pack(vector=w_bar, config={}), 9, MessageType.EVALUATE, 9),
                    node)
    assert unpack_metrics(evaluated.content) == kept[1].evaluate(w_bar, {})
    fresh = fmtl_federation(_clients(), **_settings())[1][1]
    assert unpack_metrics(evaluated.content) != fresh.evaluate(w_bar, {})
    readout = add_state_readout(app)(_instruction(pack(), 9, READOUT, 10), node)
    load_kept_state([fresh], {fresh.name: readout.content})   # the book's evaluation
    np.testing.assert_array_equal(fresh.personal_parameters(w_bar),
                                  kept[1].personal_parameters(w_bar))


# -- Flower's simulation (Ray) -----------------------------------------------------------------

def _simulate(clients: list[FMTLClient], **kw):
    """Chapter 1's strategy and parties on Flower's simulation, two Ray actors sharing the
    three nodes, every party forgetting before and after each message; then every node's
    kept state read back into the parties of this process (which never trained)."""
    from fedlib.flower.readback import simulate_with_state
    from fedlib.flower.simulation import backend_config

    strategy, parties = fmtl_federation(clients, **_settings(**kw))
    nodes = [Reporting(p) for p in parties]
    run = simulate_with_state(strategy, nodes, rounds=ROUNDS, seed=SEED,
                              mods=[_forgetting_mod(nodes)],
                              backend=backend_config(cpus=2, cpus_per_party=1.0))
    return run, parties


def test_fmtl_on_flower_simulation_equals_the_local_engine(flwr):
    """Same seed, same run (issue 11): W̄, every W_i and every personal model W̄ + V_i,
    bit for bit, every round, although no party object keeps anything between messages."""
    local = _local(_clients())
    run, parties = _simulate(_clients())

    assert [p.name for p in run.roster] == [c.name for c in _clients()]
    for ours, theirs in zip(run.history, local, strict=True):
        np.testing.assert_array_equal(ours.parameters, theirs["global"])
        assert ours.failures == [] and sorted(ours.uploaded) == sorted(theirs["models"])
        for name, metrics in ours.fit_metrics.items():
            np.testing.assert_array_equal(_reported(metrics, "params"), theirs["params"][name])
            np.testing.assert_array_equal(ours.parameters + _reported(metrics, "offset"),
                                          theirs["models"][name])
    last = run.history[-1]
    offsets = [_reported(m, "offset") for m in last.fit_metrics.values()]
    assert all(np.abs(v).max() > 0 for v in offsets)        # personal models did diverge
    assert not np.allclose(run.parameters, get_flat_params(MLP(3, (4,), seed=0)))
    assert os.getpid() not in {m["pid"] for r in run.history for m in r.fit_metrics.values()}
    for party in parties:                     # read back from the nodes after the last round
        np.testing.assert_array_equal(party.personal_parameters(run.parameters),
                                      local[-1]["models"][party.name])
        np.testing.assert_array_equal(party.params, local[-1]["params"][party.name])


def test_dp_fmtl_on_flower_composes_the_local_engines_epsilon(flwr):
    """With DP-SGD (eq. 2) every institution's ε after the last round equals the local
    engine's, from the ledger its node kept; with seeded noise the models agree too."""
    delta = 1e-5
    local_clients = _clients(epsilon=2.0)
    local = _local(local_clients)
    flower_clients = _clients(epsilon=2.0)
    run, _ = _simulate(flower_clients)

    np.testing.assert_array_equal(run.parameters, local[-1]["global"])
    for client in local_clients:
        ledgers = [accountant_from_report(r.fit_metrics[client.name]) for r in run.history]
        assert [a.steps for a in ledgers] == sorted({a.steps for a in ledgers})  # growing
        assert ledgers[-1].segments == client.accountant.segments
        assert ledgers[-1].epsilon(delta=delta) == client.accountant.epsilon(delta=delta)
        assert ledgers[-1].epsilon(delta=delta) == pytest.approx(2.0, rel=0.05)
    for ours, theirs in zip(flower_clients, local_clients, strict=True):   # read back
        assert ours.accountant.segments == theirs.accountant.segments
