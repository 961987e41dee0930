"""The Flower engine: the book's round loop run inside a Flower ``ServerApp`` on its simulation.

One kernel, two engines. :class:`~fedlib.fl.loop.RoundLoop` is the only implementation of a
round (sampling, seeds, weights, dropouts, protections, aggregation, recovery, evaluation,
history). :class:`~fedlib.fl.loop.LocalEngine` calls :meth:`RoundLoop.run` with the party
objects of this process; :class:`FlowerEngine` calls the same method inside the ``main`` of a
Flower ``ServerApp`` (:func:`fedlib.flower.server.run_loop`), after giving the loop a
:class:`~fedlib.flower.server.FlowerTransport` whose ``fit`` sends ``train`` messages to the
nodes and waits for their replies. Each node runs one party (:mod:`fedlib.flower.client`) on
Flower's simulation runtime (Ray: :func:`run_apps`; :mod:`fedlib.flower.simulation` has its
notes and :func:`~fedlib.flower.simulation.simulate`, a strategy over parties on this engine). Same seed, same numbers:
the parties train with the seeds the loop's generator drew, the vectors travel bit for bit
and the server sums them in the loop's order with the loop's code.

What a node adds, as two client mods around the ``ClientApp`` (so the ``ClientApp`` itself
is the one the deployment uses too):

- :func:`protect_mod` — **protected uploads**. A party whose protection is CKKS protects its own
  contribution on its node: it scales its new parameters by its weight
  (:func:`~fedlib.fl.strategies.contribution`), encrypts them with the *public* TenSEAL context
  (:class:`NodeEncryptor`; the node never needs the secret key for this) and replies with the
  ciphertext bytes in place of the vector, so the plain update never leaves the node. The
  server sums the ciphertexts homomorphically (the loop's ``aggregate``,
  :class:`~fedlib.crypto.ckks.CKKSAggregator`: public context only). **Where the key holder
  runs:** the loop sends the encrypted sum to the key holder and gets the decrypted sum back
  through the transcript exactly as on the local engine, and the key holder (the
  :class:`~fedlib.crypto.ckks.CKKSKeyHolder` inside the party's
  :class:`~fedlib.crypto.ckks.CKKSProtection`) runs in the process that started the
  simulation, beside the ``ServerApp``, not on a node: in the paper every bank holds the same
  key, so one of them decrypts; here that bank's decryption is the local engine's call. A
  TenSEAL context cannot be pickled, so no node is given one: a node gets the public context
  as bytes.
- :func:`trainer_state_mod` — **state the book reads after a run**. Nothing of a party object
  outlives a message on Flower (:mod:`fedlib.flower.state`). The DP accountants a chapter
  reads after training (``accountant``, ``dp_accountant``, ``bdp_accountant`` and the BDP
  ``distances`` of a trainer: :data:`STATE_ATTRS`) are kept in the node's ``Context.state``
  between messages and come back with every ``train`` reply, where the engine copies them
  into the trainer of the party object in this process. They travel pickled: on the
  simulation the nodes run copies of this process's own party objects (Ray pickled them to
  start with), which is why only :class:`FlowerEngine`'s server unpickles them; the
  deployment (:mod:`fedlib.flower.deployment`) carries no such mod.

Simulated dropouts. A federation's ``dropout_rate`` is drawn by the loop's generator after
the replies arrived, as on the local engine, so a party that "drops" has already answered and
the server leaves its update out of the sum (the same model as locally; Flower's byte counts
include the discarded reply). A plan of node failures (``dropouts``) makes the nodes fail
their ``train`` messages instead (:mod:`fedlib.flower.dropouts`); without one, a node that fails
stops the run (a strict :class:`~fedlib.flower.server.FlowerTransport`).

After the last round the ``ServerApp`` asks every node for what it kept (an FMTL party's
personal state, a DP ledger: :mod:`fedlib.flower.node_readout`) and loads it into the loop's
party objects, which then look as after the local engine's run.

The book's secure aggregation (a multi-phase masking protocol that runs one protocol
instance per round, :class:`~fedlib.fl.loop.RoundProtection`) runs on the subclass
:class:`fedlib.flower.secure_engine.SecureFlowerEngine`, which this module cannot import (its
node side imports the simulation, which imports this module); :meth:`FlowerEngine.check`
refuses it before any round and names that engine. Flower's own way is SecAgg+
(:mod:`fedlib.flower.secagg`).

References: Beutel et al. 2020 (Flower); paper 001 §3 (CKKS aggregation, key holders);
McMahan et al. 2017 (FedAvg).

>>> engine_for("local").name
'local'
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np
import tenseal as ts

from fedlib.crypto.ckks import CKKSProtection, encrypt_vector
from fedlib.fl.loop import (
    Engine,
    LocalEngine,
    LocalTransport,
    RoundLoop,
    RoundOutcome,
    RoundProtection,
    Transport,
)
from fedlib.fl.party import Party
from fedlib.fl.protection import PlaintextProtection
from fedlib.fl.strategies import FederatedParty, contribution
from fedlib.flower.client import party_client_app, party_of
from fedlib.flower.dropouts import dropout_mod
from fedlib.flower.env import offline
from fedlib.flower.installed import ENGINES, FLOWER_MISSING, flower_available
from fedlib.flower.node_readout import add_state_readout, load_kept_state, read_node_states
from fedlib.flower.records import CONFIG, pack_payload, unpack_metrics, unpack_vector
from fedlib.flower.server import FlowerRun, FlowerTransport, RemoteParty, run_loop, server_app

__all__ = ["STATE_ATTRS", "TRAINER_STATE", "FlowerEngine", "NodeEncryptor", "backend_config",
           "engine_for", "node_parties", "protect_mod", "run_apps", "trainer_state",
           "trainer_state_mod"]

#: The trainer attributes a node keeps between messages and sends back (DP and BDP ledgers).
STATE_ATTRS = ("accountant", "dp_accountant", "bdp_accountant", "distances")
#: The ``ConfigRecord`` (of ``Context.state`` and of a ``train`` reply) that holds them.
TRAINER_STATE = "fedlib.trainer_state"


def backend_config(*, cpus: int = 1, cpus_per_party: float = 1.0) -> dict[str, Any]:
    """A small Ray backend: ``cpus`` cores in all, ``cpus_per_party`` per running node.

    >>> backend_config(cpus=2)["init_args"]["num_cpus"]
    2
    """
    return {"client_resources": {"num_cpus": cpus_per_party, "num_gpus": 0.0},
            "init_args": {"num_cpus": cpus, "include_dashboard": False,
                          "log_to_driver": False}}


def run_apps(server: Any, client: Any, *, num_nodes: int,
             backend: dict[str, Any] | None = None, verbose: bool = False) -> None:
    """Run a ``ServerApp`` and a ``ClientApp`` on ``num_nodes`` virtual nodes (Ray).

    Flower's ``run_simulation`` starts Ray, runs the server's ``main`` to its end (an
    exception there is raised again here) and shuts Ray down again.
    """
    offline()
    from flwr.simulation import run_simulation  # optional extra [flower]

    run_simulation(server_app=server, client_app=client, num_supernodes=num_nodes,
                   backend_config=backend_config() if backend is None else backend,
                   verbose_logging=verbose)


def engine_for(name: str, **options: Any) -> Engine:
    """The engine a chapter's ``fl_engine`` value names.

    ``"local"``: :class:`~fedlib.fl.loop.LocalEngine`; ``"flower"``: :class:`FlowerEngine`
    with ``options`` (an error naming how to install Flower if it is missing).
    """
    if name == "local":
        return LocalEngine()
    if name == "flower":
        return FlowerEngine(**options)
    raise ValueError(f"fl_engine={name!r}: allowed values are {ENGINES}")


class NodeEncryptor:
    """A node's CKKS encryption with the public context only (picklable, unlike TenSEAL's).

    The context is loaded from its bytes on first use in the node's process.
    """

    kind = "ciphertext"

    def __init__(self, public_context: bytes) -> None:
        self.public_context = bytes(public_context)
        self._context = None

    def __getstate__(self) -> dict[str, Any]:
        return {"public_context": self.public_context, "_context": None}

    def protect(self, party: str, vector: np.ndarray) -> bytes:
        """Party ``party`` encrypts its contribution into one ciphertext."""
        if self._context is None:               # loaded in the node's process, once
            self._context = ts.context_from(self.public_context)
        try:
            return encrypt_vector(self._context, vector)
        except ValueError as exc:
            raise type(exc)(f"party {party!r}: {exc}") from exc


def _trainer(party: Any) -> Any | None:
    """The trainer of a book party (:class:`~fedlib.fl.party.PartyClient` or ``Party``)."""
    return getattr(getattr(party, "party", party), "trainer", None)


def trainer_state(trainer: Any) -> dict[str, Any]:
    """The :data:`STATE_ATTRS` a trainer has (its DP / BDP ledgers), by name."""
    return {a: getattr(trainer, a) for a in STATE_ATTRS if getattr(trainer, a, None) is not None}


def _restore(trainer: Any, blob: bytes) -> None:
    for attr, value in pickle.loads(blob).items():
        setattr(trainer, attr, value)


def trainer_state_mod(parties: Sequence[FederatedParty]) -> Callable:
    """A client mod that keeps each party's trainer state in its node's ``Context.state``.

    Before a ``train`` message the trainer's :data:`STATE_ATTRS` are restored from the node's
    state (in the first round, from a copy of the trainer's own); after it they are saved there and added to the reply
    (:data:`TRAINER_STATE`), for the server to mirror into its party objects.
    """
    parties = list(parties)

    def mod(msg: Any, context: Any, call_next: Any) -> Any:
        if msg.metadata.message_type != "train":
            return call_next(msg, context)
        from flwr.app import ConfigRecord  # optional extra [flower]

        trainer = _trainer(party_of(parties, context.node_config)[1])
        kept = context.state.config_records.get(TRAINER_STATE)
        if trainer is not None:
            # First message: a fresh copy of the trainer's own state, because Ray hands the
            # actor NumPy arrays as read-only views of its object store.
            _restore(trainer, bytes(kept["pickle"]) if kept is not None
                     else pickle.dumps(trainer_state(trainer), protocol=4))
        reply = call_next(msg, context)
        state = trainer_state(trainer) if trainer is not None else {}
        if state and reply.has_content():
            # Protocol 4: protocol 5 would unpickle NumPy arrays as read-only views of the blob.
            blob = pickle.dumps(state, protocol=4)
            context.state.config_records[TRAINER_STATE] = ConfigRecord({"pickle": blob})
            reply.content[TRAINER_STATE] = ConfigRecord({"pickle": blob})
        return reply

    return mod


def protect_mod(encryptors: Mapping[str, NodeEncryptor], names: Sequence[str], *,
                weight_in_upload: bool) -> Callable:
    """A client mod with which a node protects its own contribution before replying.

    For a party named in ``encryptors`` the ``train`` reply's vector ``x`` becomes the
    ciphertext of its contribution ``w x`` (``w`` is the weight in the message's config;
    ``[w x, w]`` when ``weight_in_upload``), as the local engine's loop protects it.
    """
    encryptors, names = dict(encryptors), list(names)

    def mod(msg: Any, context: Any, call_next: Any) -> Any:
        reply = call_next(msg, context)
        if msg.metadata.message_type != "train" or not reply.has_content():
            return reply
        name = party_of(names, context.node_config)[1]
        if name in encryptors:
            weight = unpack_metrics(msg.content, CONFIG)["weight"]
            vector = contribution(unpack_vector(reply.content), weight,
                                  weight_in_upload=weight_in_upload)
            pack_payload(reply.content, encryptors[name].protect(name, vector))
        return reply

    return mod


def node_parties(parties: Sequence[FederatedParty]) -> list[FederatedParty]:
    """The parties as their nodes get them: any protection object replaced by plaintext.

    A node protects with what :func:`protect_mod` gives it; a CKKS protection holds TenSEAL
    contexts (and the secret key), which neither pickle nor belong on every node. The party
    objects here are left as they are (shallow copies are changed).
    """
    out = []
    for p in parties:
        inner = getattr(p, "party", None)
        if isinstance(inner, Party) and not isinstance(inner.protection, PlaintextProtection):
            p = copy.copy(p)
            p.party = dataclasses.replace(inner, protection=PlaintextProtection())
        out.append(p)
    return out


class FlowerEngine:
    """Runs a :class:`~fedlib.fl.loop.RoundLoop` on Flower's simulation (one node a party).

    Parameters
    ----------
    backend
        Flower's ``backend_config`` (default :func:`backend_config`:
        one core).
    timeout
        Seconds to wait for the nodes and for each round's replies.
    dropouts
        round → phase → names of the parties whose node fails that round's ``train`` message
        (:func:`~fedlib.flower.dropouts.dropout_mod`); the loop counts them as failures.
    verbose
        Flower's verbose logging.

    After :meth:`run`, :attr:`flower_run` holds the roster, one
    :class:`~fedlib.flower.server.FlowerRound` per round (with the bytes of Flower's messages)
    and the final parameters.
    """

    name = "flower"

    def __init__(self, *, backend: dict[str, Any] | None = None, timeout: float = 600.0,
                 dropouts: Mapping[int, Mapping[str, Collection[str]]] | None = None,
                 verbose: bool = False) -> None:
        if not flower_available():
            raise ModuleNotFoundError(FLOWER_MISSING)
        self.backend, self.timeout, self.verbose = backend, float(timeout), verbose
        self.dropouts = dropouts
        self.flower_run: FlowerRun | None = None

    def check(self, loop: RoundLoop) -> None:
        """Raise a ``ValueError`` naming what is allowed if a protection cannot run here."""
        for name, protection in loop.protections.items():
            if isinstance(protection, RoundProtection):
                raise ValueError(
                    f"party {name!r} uses the book's secure aggregation, which this engine "
                    "runs on fl_engine 'local' only; on Flower use "
                    "fedlib.flower.secure_engine.SecureFlowerEngine (its engine_for), or "
                    "Flower's SecAgg+ (fedlib.flower.secagg.simulate_secaggplus)")
            if not isinstance(protection, PlaintextProtection | CKKSProtection):
                raise ValueError(
                    f"party {name!r}: protection {type(protection).__name__} does not run on "
                    "fl_engine 'flower'; allowed there: plaintext (PlaintextProtection) and "
                    "CKKS (CKKSProtection)")

    def client_app(self, loop: RoundLoop) -> Any:
        """The ``ClientApp`` of the nodes: a party each, plain ``train`` with the mods above.

        The parties as their nodes get them (:func:`node_parties`); a node failure plan
        (``dropouts``), each trainer's state (:func:`trainer_state_mod`) and a node's own
        CKKS encryption (:func:`protect_mod`).
        """
        names = [p.name for p in loop.parties]
        encryptors = {n: NodeEncryptor(p.public_context) for n, p in loop.protections.items()
                      if isinstance(p, CKKSProtection)}
        nodes = node_parties(loop.parties)
        mods = [dropout_mod(self.dropouts, names)] if self.dropouts else []
        mods += [trainer_state_mod(nodes),
                 protect_mod(encryptors, names,
                             weight_in_upload=bool(loop.strategy.weight_in_upload))]
        return party_client_app(nodes, mods=mods)

    def transport(self, loop: RoundLoop, grid: Any, roster: Sequence[RemoteParty]) -> Transport:
        """The loop's transport inside the ``ServerApp``: one ``train`` message a party.

        Each reply's trainer state is copied into this process's party (see the module
        docstring); without a node failure plan a failing node stops the run (``strict``).
        """
        by_name = {p.name: p for p in loop.parties}

        def mirror(name: str, content: Any) -> None:
            trainer = _trainer(by_name[name])
            if trainer is not None and TRAINER_STATE in content:
                _restore(trainer, bytes(content[TRAINER_STATE]["pickle"]))

        return FlowerTransport(grid, roster, timeout=self.timeout, on_reply=mirror,
                               strict=self.dropouts is None)

    def run(self, loop: RoundLoop, rounds: int, *,
            on_round: Callable[[RoundOutcome], None] | None = None) -> list[RoundOutcome]:
        """Run ``rounds`` rounds of ``loop`` inside a ``ServerApp`` on Flower's simulation.

        The nodes run :meth:`client_app`, the loop gets :meth:`transport`; after the last
        round every node's kept records (an FMTL party's personal state, a DP ledger) are read
        back into the loop's party objects (:mod:`fedlib.flower.node_readout`), which then
        look as after the local engine's run.
        """
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        self.check(loop)
        offline()
        client = add_state_readout(self.client_app(loop))
        run = self.flower_run = FlowerRun()
        first = len(loop.history)
        kept: dict[str, Any] = {}

        def main(grid: Any, context: Any) -> None:
            run_loop(grid, loop, rounds=rounds, run=run, timeout=self.timeout,
                     on_round=on_round,
                     make_transport=lambda g, roster: self.transport(loop, g, roster))
            # What each node kept (FMTL's personal model, a DP ledger), for the book to read.
            kept.update(read_node_states(grid, {p.name: p.node_id for p in run.roster},
                                         self.timeout))

        try:
            run_apps(server_app(main), client, num_nodes=len(loop.parties),
                     backend=self.backend, verbose=self.verbose)
        finally:
            # The nodes are gone with the run.
            loop.transport = LocalTransport({p.name: p for p in loop.parties})
        if run.parameters is None or len(kept) != len(loop.parties):
            raise RuntimeError("the Flower simulation ended before its last round or its "
                               "readout; see its log")
        # The caller's party objects never trained: give them what their nodes ended with.
        load_kept_state(loop.parties, kept)
        return loop.history[first:]
