"""What a Flower node keeps for its party, and what the server sees of it (issue 11).

A node keeps its party's own state (FMTL's personal model) and its accountants' ledgers in
its ``Context.state`` (:mod:`fedlib.flower.state`, :mod:`fedlib.flower.ledgers`); every way
a node trains restores them, fits and saves them (:func:`fedlib.flower.client.fit_on_node`),
and the server gets a report of numbers, never pickled bytes. The first tests check the
ledgers with the project's packages alone; the others need the optional extra
(``pip install -e '.[flower]'``) and skip without it.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from flower_parties import Institution, dp_banks

from fedlib.fl.fmtl import make_clients
from fedlib.fl.models import MLP, get_flat_params
from fedlib.fl.party import Party, PartyClient
from fedlib.fl.strategies import FedAvg, FitResult
from fedlib.flower.client import party_of
from fedlib.flower.ledgers import (
    ReplayableBayesianAccountant,
    ReportedBayesianAccountant,
    accountant_from_report,
    ledger_report,
    ledger_state,
    load_ledger_report,
    load_ledger_state,
)
from fedlib.flower.state import node_state, restore_node_state
from fedlib.privacy.accountants import PartyAccountant
from fedlib.privacy.bdp import BOUNDS, COMPOSITIONS, BayesianAccountant, BayesianDPError
from fedlib.survival.federated import SurvivalTrainer, make_model
from fedlib.survival.labels import interval_grid, survival_targets

RULES = [(b, c) for b in BOUNDS for c in COMPOSITIONS if (b, c) != ("hoeffding", "per_step")]



# -- the ledgers, without Flower -----------------------------------------------------------------

def _survival_rows(n: int = 160, d: int = 5, T: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    ss, sf = survival_targets(rng.uniform(0, T, n), rng.integers(0, 2, n),
                              interval_grid(horizon=T, n_intervals=T))
    return X, np.hstack([ss, sf]).astype(np.float32)


def _trainer(mode: str, n_rows: int = 160) -> SurvivalTrainer:
    return SurvivalTrainer(epochs=1, lr=1e-3, batch_size=32, mode=mode, noise_multiplier=1.3,
                           clip_norm=1.0, n_neighbours=4, beta=1e-5, gamma=1e-5, n_rows=n_rows,
                           noise_seed=3)


def _forget(trainer: SurvivalTrainer) -> None:
    """What a new process holds of a trainer: its settings, and wrong accountants."""
    if trainer.dp_accountant is not None:
        trainer.dp_accountant = PartyAccountant()
        trainer.dp_accountant.record(noise_multiplier=9.0, sample_rate=1.0, steps=99)
    if trainer.bdp_accountant is not None:
        trainer.bdp_accountant.step([4.0, 4.0, 4.0, 4.0] if not
                                    trainer.bdp_accountant.uses_fallback else None)
    trainer.distances = [123.0]


@pytest.mark.parametrize("mode", ["dp", "bdp"])
def test_a_trainer_rebuilt_from_its_ledger_every_round_reports_the_kept_trainers_epsilon(mode):
    """Chapter 3's trainer over three rounds: one object kept throughout, and one whose
    accountants are thrown away (and replaced by wrong ones) before every round and
    rebuilt from the ledger of the round before. Same ε for every bound and composition,
    same distances; the server's view (the report) gives the same ε too."""
    X, y = _survival_rows()
    kept, node, ledger = _trainer(mode), _trainer(mode), {}
    for rnd in range(3):
        for trainer in (kept, node):
            if trainer is node:
                _forget(node)
                load_ledger_state(node, ledger)
            net = make_model(X.shape[1], y.shape[1] // 2, seed=0, init_hazard=0.05, hidden=(6,))
            trainer.train(net, X, y, seed=10 + rnd)
        ledger = ledger_state(node)
    assert all(isinstance(v, np.ndarray) and v.dtype.kind in "fi" for v in ledger.values())
    server = _trainer(mode)
    load_ledger_report(server, ledger_report(node))
    if mode == "dp":
        assert node.dp_accountant.segments == kept.dp_accountant.segments
        assert server.dp_accountant.segments == kept.dp_accountant.segments
        assert kept.dp_accountant.steps == 3 * 5
        return
    assert isinstance(node.bdp_accountant, ReplayableBayesianAccountant)
    assert node.bdp_accountant.steps == kept.bdp_accountant.steps == 3 * 5
    assert node.distances == kept.distances and len(kept.distances) == 15
    assert isinstance(server.bdp_accountant, ReportedBayesianAccountant)
    for bound, composition in RULES:
        ours = kept.bdp_accountant.epsilon(bound=bound, composition=composition)
        assert node.bdp_accountant.epsilon(bound=bound, composition=composition) == ours
        assert server.bdp_accountant.epsilon(bound=bound, composition=composition) == ours
    assert server.epsilon(delta=1e-5) == kept.epsilon(delta=1e-5)    # what chapter 3 reads
    assert server.distances == []                  # the distances never leave the node
    assert not any("inputs" in k or "distances" in k for k in ledger_report(node))
    with pytest.raises(BayesianDPError, match="accounted on the party's node"):
        server.bdp_accountant.step([0.0, 0.0])


def test_the_analytical_fallback_of_a_small_party_is_carried_as_a_step_count():
    X, y = _survival_rows(n=40)
    kept, node = _trainer("bdp", n_rows=40), _trainer("bdp", n_rows=40)
    assert kept.bdp_accountant.uses_fallback
    for trainer in (kept, node):
        trainer.train(make_model(5, 4, seed=0, init_hazard=0.05, hidden=(6,)), X, y, seed=1)
    ledger = ledger_state(node)
    assert ledger["bdp_accountant.lengths"].tolist() == [0, 0]
    fresh = _trainer("bdp", n_rows=40)
    load_ledger_state(fresh, ledger)
    assert fresh.bdp_accountant.steps == 2
    assert fresh.bdp_accountant.epsilon() == kept.bdp_accountant.epsilon()


def test_an_accountant_whose_steps_cannot_be_carried_is_refused_naming_it():
    class Holder:
        bdp_accountant = BayesianAccountant(sample_rate=0.1, noise_multiplier=1.0,
                                            clip_norm=1.0, beta=1e-5, gamma=1e-5, n_rows=500)

    holder = Holder()
    assert ledger_state(holder)["bdp_accountant.lengths"].size == 0    # nothing yet: fine
    holder.bdp_accountant.step([0.5, 0.7])
    with pytest.raises(ValueError, match="bdp_accountant has 1 Monte-Carlo steps whose "
                                         "distances were not kept"):
        ledger_state(holder)
    holder.accountant = object()
    with pytest.raises(TypeError, match="accountant is a object: .* only for a "
                                        "PartyAccountant, BayesianAccountant"):
        ledger_report(holder)
    with pytest.raises(ValueError, match="lengths add up to 3, the ledger holds 2"):
        load_ledger_state(SimpleNamespace(bdp_accountant=Holder.bdp_accountant),
                          {"bdp_accountant.lengths": np.array([3]),
                           "bdp_accountant.inputs": np.zeros(2)})


def test_a_node_starts_from_the_initial_state_then_from_what_it_saved():
    """``initial`` (the party when its ``ClientApp`` was built) counts only while the node
    has saved nothing; what the party object holds never counts."""
    party = dp_banks()[0]
    party.party.trainer.accountant.record(noise_multiplier=1.0, sample_rate=0.5, steps=3)
    initial = node_state(party)                    # a caller's accountant with earlier steps
    party.party.trainer.accountant.record(noise_multiplier=9.0, sample_rate=1.0, steps=99)
    records = SimpleNamespace(array_records={}, config_records={})
    restore_node_state(party, records, initial)
    assert party.party.trainer.accountant.steps == 3
    records.array_records["fedlib.node.arrays"] = {}
    records.config_records["fedlib.node.config"] = {}
    restore_node_state(party, records, initial)      # the node saved an empty ledger
    assert party.party.trainer.accountant.steps == 0


# -- no pickle: what a node replies and keeps ----------------------------------------------------

def _plain(record) -> list:
    """The values of one Flower record, as Python objects."""
    from flwr.app import ArrayRecord

    if isinstance(record, ArrayRecord):
        return [a.numpy() for a in record.values()]
    return list(record.values())


def _only_numbers_and_strings(records) -> list[str]:
    """What in a ``RecordDict`` is neither a number, a string nor a numeric array."""
    bad = []
    for name, record in records.items():
        for value in _plain(record):
            items = value if isinstance(value, list) else [value]
            for v in items:
                if isinstance(v, np.ndarray):
                    if v.dtype.kind not in "biuf":
                        bad.append(f"{name}: array of {v.dtype}")
                elif isinstance(v, bytes | bytearray) or not isinstance(v, bool | int | float
                                                                         | str):
                    bad.append(f"{name}: {type(v).__name__}")
    return bad


def _survival_party(mode: str, name: str, seed: int) -> PartyClient:
    X, y = _survival_rows(seed=seed)
    trainer = _trainer(mode)
    return PartyClient(Party(name, X, y, trainer),
                       make_model(X.shape[1], y.shape[1] // 2, seed=0, init_hazard=0.05,
                                  hidden=(6,)))


def test_a_node_replies_and_keeps_numbers_and_strings_only(flwr):
    """Chapter 3's DP and BDP parties through the real ``ClientApp`` and ``Context`` (no Ray):
    every record of the ``train`` replies and of the node's kept state holds numbers,
    strings or numeric arrays — no bytes, so nothing a server could unpickle — and the
    reply carries no distance of the BDP party's own rows."""
    from flwr.app import Context, Message, MessageType, Metadata, RecordDict

    from fedlib.flower.client import party_client_app
    from fedlib.flower.records import pack, unpack_metrics

    parties = [_survival_party("dp", "a", 0), _survival_party("bdp", "b", 1)]
    w = get_flat_params(parties[0].model)
    for k, party in enumerate(parties):
        node = Context(run_id=1, node_id=5, node_config={"partition-id": k},
                       state=RecordDict(), run_config={})
        for rnd in (1, 2):
            app = party_client_app(parties)
            msg = Message(pack(vector=w, config={"seed": rnd, "round": rnd}), metadata=Metadata(
                run_id=1, message_id=f"m{rnd}", src_node_id=0, dst_node_id=5,
                reply_to_message_id="", group_id=str(rnd), created_at=0.0, ttl=600.0,
                message_type=MessageType.TRAIN))
            reply = app(msg, node)
            assert not reply.has_error(), reply.error
            assert _only_numbers_and_strings(reply.content) == []
            assert _only_numbers_and_strings(node.state) == []
        metrics = unpack_metrics(reply.content)
        kept = node.state.array_records["fedlib.node.arrays"]
        if party.party.trainer.mode == "dp":
            assert accountant_from_report(metrics, "dp_accountant").steps == 2 * 5
        else:
            assert metrics["bdp_accountant.steps"] == 2 * 5
            assert kept["bdp_accountant.inputs"].numpy().size == 2 * 5 * 4    # M = 4 a step
            assert not any("inputs" in k or "distances" in k for k in metrics)


# -- ε on the Flower engine equals the local engine's, from numbers -------------------------------

def test_the_engine_restores_dp_and_bdp_epsilon_from_numbers(flwr):
    """Chapter 3's federation with DP and with BDP on both engines: the trainers the chapter
    reads after the run report the same ε, every bound and composition for BDP. During the
    rounds the server holds only the nodes' reports (numbers, no distances: the test above);
    after the last round the engine's readout (the study's evaluation, simulation only) loads
    each node's full ledger into the caller's trainers, which then equal the local engine's."""
    from fedlib.flower.engine import FlowerEngine
    from fedlib.survival.data import prepare_survival, synthetic_survival
    from fedlib.survival.federated import train_federated

    data = prepare_survival(synthetic_survival("bondora", scale=0.004, seed=0, n_features=6),
                            seed=0)
    kw = dict(rounds=2, local_epochs=1, lr=1e-3, batch_size=32, seed=0, hidden=(8,),
              init_hazard=0.02, noise_multipliers={c.name: 1.5 for c in data.clients},
              clip_norm=1.0, beta=5e-6, gamma=5e-6, noise_seed=3, n_neighbours=4)
    for mode in ("dp", "bdp"):
        local = train_federated(data, mode=mode, **kw)
        flower = train_federated(data, mode=mode, engine=FlowerEngine(), **kw)
        pd.testing.assert_frame_equal(flower.epsilons(delta=1e-5), local.epsilons(delta=1e-5))
        np.testing.assert_array_equal(flower.federation.global_params,
                                      local.federation.global_params)
        for name, theirs in local.trainers.items():
            ours = flower.trainers[name]
            if mode == "dp":
                assert ours.dp_accountant.segments == theirs.dp_accountant.segments
                continue
            assert ours.bdp_accountant.steps == theirs.bdp_accountant.steps > 0
            for bound, composition in RULES:
                assert ours.bdp_accountant.epsilon(bound=bound, composition=composition) == \
                    theirs.bdp_accountant.epsilon(bound=bound, composition=composition)
            np.testing.assert_array_equal(ours.distances, theirs.distances)   # the readout
            assert len(theirs.distances) == theirs.bdp_accountant.estimated_steps
        if mode == "bdp":                    # small clients use the analytical fallback
            assert {t.bdp_accountant.uses_fallback for t in local.trainers.values()} == {
                True, False}


# -- FMTL's personal state through SecAgg+ and the book's protocol -------------------------------

ROUNDS, SEED, LAM = 3, 5, 0.5


def _clients():
    rng = np.random.default_rng(0)
    out = []
    for k, n in enumerate((48, 64, 80, 56)):
        X = rng.random((n, 3)).astype(np.float32)
        out.append(Institution(name=f"bank-{k}", X=X,
                               y=(X[:, 0] + 0.15 * k > 0.6).astype(np.float32)))
    return make_clients(out, epsilon=2.0, delta=1e-5, clip_norm=1.0, rounds=ROUNDS, epochs=1,
                        batch_size=16)


def _fmtl():
    from fedlib.fl.fmtl import fmtl_federation

    return fmtl_federation(_clients(), model_fn=lambda: MLP(3, (4,), seed=0), mode="fmtl",
                           lam=LAM, epochs=1, lr=0.5, batch_size=16, noise_seed=7,
                           algorithm="joint")


class Reporting:
    """An FMTL party that reports, in its fit metrics, what it received (the global model and
    its config) and the personal state it holds after training: a test device, so that its
    training can be replayed here on one party object kept throughout."""

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
        received = {f"in_{i}": float(v) for i, v in enumerate(parameters)}
        return FitResult(result.parameters, result.num_examples,
                         {**result.metrics, **shown, **received, "cfg_seed": int(config["seed"]),
                          "cfg_lam": float(config["lam"]), "pid": os.getpid()})

    def evaluate(self, parameters, config):
        return self.inner.evaluate(parameters, config)


def _vector(metrics: dict, key: str) -> np.ndarray:
    return np.array([metrics[f"{key}_{i}"] for i in range(sum(k.startswith(f"{key}_")
                                                               for k in metrics))])


def _forgetting_mod(parties):
    """A client mod after which, and before which, the node's party object holds nothing
    of its own state and a wrong accountant (what a new process would hold, or worse)."""

    def forget(party):
        inner = party.inner
        inner.params = inner.offset = None
        inner._fmtl = False
        inner.client.accountant = PartyAccountant(inner.name)
        inner.client.accountant.record(noise_multiplier=9.0, sample_rate=1.0, steps=99)

    def mod(msg, context, call_next):
        party = party_of(parties, context.node_config)[1]
        forget(party)
        reply = call_next(msg, context)
        forget(party)
        return reply

    return mod


def _replay(history) -> None:
    """Each party's rounds replayed on one FMTL party object kept throughout, from what its
    node received: the node's reported state and ledger must be the same, bit for bit; a
    party that forgot between rounds would not give them."""
    _, kept = _fmtl()
    _, amnesiac = _fmtl()
    names = [p.name for p in kept]
    for r in history:
        for name, metrics in r.fit_metrics.items():
            party, lost = kept[names.index(name)], amnesiac[names.index(name)]
            config = {"seed": metrics["cfg_seed"], "lam": metrics["cfg_lam"]}
            received = _vector(metrics, "in")
            party.fit(received, config)
            lost.load_state({})
            lost.fit(received, config)
            np.testing.assert_array_equal(_vector(metrics, "params"), party.params)
            np.testing.assert_array_equal(_vector(metrics, "offset"), party.offset)
            assert accountant_from_report(metrics).segments == party.client.accountant.segments
            if r.round > 1:
                assert not np.array_equal(_vector(metrics, "offset"), lost.offset)
    assert all(p.client.accountant.steps > 0 and np.abs(p.offset).max() > 0 for p in kept)


def _nodes_and_initial(parties):
    from fedlib.flower.client import initial_states

    return (lambda context: party_of(parties, context.node_config)), initial_states(parties)


def test_fmtl_personal_state_and_ledger_survive_secaggplus_on_a_forgetful_party(flwr):
    """SecAgg+'s masked stage trains through the same node-side path as a plain ``train``:
    with every party object forgetting before and after each of SecAgg+'s messages, each
    institution's W_i, V_i and DP ledger are those of a party kept throughout."""
    from fedlib.flower.secagg import SecAggPlus, secaggplus_node_client_app, secaggplus_server_app
    from fedlib.flower.server import FlowerRun
    from fedlib.flower.simulation import backend_config, run_apps

    strategy, parties = _fmtl()
    nodes = [Reporting(p) for p in parties]
    resolve, initial = _nodes_and_initial(nodes)
    run = FlowerRun()
    server = secaggplus_server_app(strategy, num_parties=len(nodes), rounds=ROUNDS, seed=SEED,
                                   protocol=SecAggPlus(threshold=3, timeout=120.0), run=run)
    client = secaggplus_node_client_app(resolve, mods=[_forgetting_mod(nodes)], initial=initial)
    run_apps(server, client, num_nodes=len(nodes),
             backend=backend_config(cpus=2, cpus_per_party=1.0))
    assert [len(r.uploaded) for r in run.history] == [len(nodes)] * ROUNDS
    assert os.getpid() not in {m["pid"] for r in run.history for m in r.fit_metrics.values()}
    _replay(run.history)


def test_fmtl_personal_state_and_ledger_survive_the_books_protocol_on_a_forgetful_party(flwr):
    """The same through the book's secure aggregation on Flower (its masked phase)."""
    from fedlib.flower.bookagg import BookSecAgg, bookagg_server_app
    from fedlib.flower.bookagg_client import add_bookagg_handlers
    from fedlib.flower.client import node_client_app
    from fedlib.flower.server import FlowerRun
    from fedlib.flower.simulation import backend_config, run_apps

    strategy, parties = _fmtl()
    nodes = [Reporting(p) for p in parties]
    resolve, initial = _nodes_and_initial(nodes)
    run = FlowerRun()
    server = bookagg_server_app(strategy, num_parties=len(nodes), rounds=ROUNDS, seed=SEED,
                                protocol=BookSecAgg(threshold=3, timeout=120.0), run=run)
    client = add_bookagg_handlers(
        node_client_app(resolve, mods=[_forgetting_mod(nodes)], initial=initial), resolve,
        initial=initial)
    run_apps(server, client, num_nodes=len(nodes),
             backend=backend_config(cpus=2, cpus_per_party=1.0))
    assert [len(r.uploaded) for r in run.history] == [len(nodes)] * ROUNDS
    _replay(run.history)


# -- one Ray runtime for many federations ---------------------------------------------------------

class WhereTrained(PartyClient):
    """A party that reports the process it trained in and how often this object trained."""

    def fit(self, parameters, config):
        self.calls = getattr(self, "calls", 0) + 1
        result = super().fit(parameters, config)
        return FitResult(result.parameters, result.num_examples,
                         {**result.metrics, "pid": os.getpid(), "calls": self.calls})


def _banks(seed: int) -> list[WhereTrained]:
    return [WhereTrained(p.party, p.model) for p in dp_banks(seed)]


def test_federations_share_one_ray_runtime_and_its_actors_but_never_parties(flwr):
    """Federations in a row: the later ones reuse the first's Ray runtime (same Ray node) and
    its actor processes, yet every message is answered by a new copy of its own
    federation's party (each object trains once), the models equal the local engine's on
    the same parties, and they start far faster. Other resources get a new runtime."""
    import ray

    from fedlib.fl.loop import run_rounds
    from fedlib.flower.simulation import backend_config, simulate

    ray.shutdown()                 # whatever an earlier test left: the first run starts Ray
    backend = backend_config(cpus=2, cpus_per_party=1.0)
    runs, seconds, ray_nodes = [], [], []
    for seed in (0, 1, 2):
        start = time.perf_counter()
        banks = _banks(seed)
        runs.append(simulate(FedAvg(get_flat_params(banks[0].model), sample_fraction=1.0),
                             banks, rounds=2, seed=seed, backend=backend))
        seconds.append(time.perf_counter() - start)
        assert ray.is_initialized()                 # kept after the federation ended
        ray_nodes.append(ray.get_runtime_context().get_node_id())
        local = run_rounds(FedAvg(get_flat_params(banks[0].model), sample_fraction=1.0),
                           _banks(seed), rounds=2, seed=seed)
        np.testing.assert_array_equal(runs[-1].parameters, local.parameters)
        assert {m["calls"] for r in runs[-1].history for m in r.fit_metrics.values()} == {1}
        assert all(getattr(b, "calls", 0) == 0 for b in banks)   # nodes train copies
    assert len(set(ray_nodes)) == 1
    pids = [{m["pid"] for r in run.history for m in r.fit_metrics.values()} for run in runs]
    assert pids[1] | pids[2] <= pids[0] and os.getpid() not in pids[0]   # the same actors
    print(f"\nfederations: {', '.join(f'{s:.1f} s' for s in seconds)} (the first starts Ray)")
    assert max(seconds[1:]) < seconds[0] / 2

    banks = _banks(3)
    simulate(FedAvg(get_flat_params(banks[0].model), sample_fraction=1.0), banks, rounds=1,
             seed=3, backend=backend_config(cpus=1))
    assert ray.get_runtime_context().get_node_id() != ray_nodes[0]   # other init_args


class Failing(WhereTrained):
    def fit(self, parameters, config):
        raise ValueError(f"{self.name} cannot train")


def test_a_failed_federation_shuts_its_ray_runtime_down(flwr):
    import ray

    from fedlib.flower.simulation import backend_config, simulate

    banks = _banks(0)
    banks[1] = Failing(banks[1].party, banks[1].model)
    with pytest.raises(RuntimeError, match="bank-2"):
        simulate(FedAvg(get_flat_params(banks[0].model), sample_fraction=1.0), banks,
                 rounds=1, seed=0, backend=backend_config(cpus=2))
    assert not ray.is_initialized()


def test_an_accountant_the_node_cannot_carry_is_refused_before_ray_starts(flwr):
    import ray

    from fedlib.flower.simulation import backend_config, simulate

    if ray.is_initialized():
        ray.shutdown()
    banks = _banks(0)
    banks[1].party.trainer.accountant = "an accountant"
    with pytest.raises(TypeError, match="accountant is a str: .* PartyAccountant, "
                                        "BayesianAccountant or a list of floats"):
        simulate(FedAvg(get_flat_params(banks[0].model), sample_fraction=1.0), banks,
                 rounds=1, seed=0, backend=backend_config(cpus=2))
    assert not ray.is_initialized()
