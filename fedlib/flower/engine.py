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
- **State the book reads after a run.** Nothing of a party object outlives a message on
  Flower; what a party keeps between rounds lives in its node's ``Context.state``
  (:mod:`fedlib.flower.state`), and every ``train`` reply carries the report of its privacy
  accountants in its fit metrics (:mod:`fedlib.flower.ledgers`: a DP accountant's segments,
  a Bayesian accountant's ε per order; numbers only, never pickled, so a node cannot make
  the server run code). :func:`report_mirror` loads each report into the party object of
  this process, where the chapter reads its ε after the run.

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
import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
from fedlib.flower.records import CONFIG, METRICS, pack_payload, unpack_metrics, unpack_vector
from fedlib.flower.server import FlowerRun, FlowerTransport, RemoteParty, run_loop, server_app
from fedlib.flower.state import mirror_report

__all__ = ["FlowerEngine", "NodeEncryptor", "backend_config", "engine_for", "kept_ray_runtime",
           "node_parties", "protect_mod", "report_mirror", "run_apps"]


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

    Flower's ``run_simulation`` runs the server's ``main`` to its end (an exception there is
    raised again here) with new Ray actors for the nodes, on the Ray runtime this process
    keeps across federations (:func:`kept_ray_runtime`).
    """
    offline()
    from flwr.simulation import run_simulation  # optional extra [flower]

    config = backend_config() if backend is None else backend
    with kept_ray_runtime(config):
        run_simulation(server_app=server, client_app=client, num_supernodes=num_nodes,
                       backend_config=config, verbose_logging=verbose)


#: The Ray runtime this process keeps: its ``init_args`` (JSON) and its idle actor pools by
#: client resources (JSON); ``init_args`` is ``None`` when there is none.
_KEPT_RAY: dict[str, Any] = {"init_args": None, "pools": {}}


def _kept_ray_backend() -> type:
    """Flower's Ray backend, except that Ray and the actors outlive a federation.

    Flower 1.42's ``RayBackend`` (flwr/server/superlink/fleet/vce/backend/raybackend.py)
    starts Ray in ``init_ray`` only ``if not ray.is_initialized()``, makes a new
    ``BasicActorPool`` in ``build`` and ends every run in ``terminate`` with the actors'
    ``terminate`` and ``ray.shutdown()``. Here ``build`` takes the idle pool an earlier
    federation left for the same client resources (else makes one, as Flower does) and
    ``terminate`` leaves the pool, and Ray, for the next one.

    Why an actor may serve several federations: it keeps no party. ``process_message``
    sends every message with the run's ``ClientApp`` (``a.run.remote(a_fn, mssg, cid,
    state)``) and ``ClientAppActor.run`` calls that ``client_app_fn()`` for each message
    (flwr/simulation/ray_transport/ray_actor.py), so an actor unpickles a new copy of the
    run's parties for every message, within a run as across runs. What it does keep is its
    process: Python, Ray and the imported modules, which take most of a federation's time to
    start (seconds per actor under load).
    """
    from flwr.server.superlink.fleet.vce.backend.raybackend import RayBackend  # optional

    class KeptRayBackend(RayBackend):
        def build(self, app_fn: Callable[[], Any]) -> None:
            key = json.dumps(self.client_resources, sort_keys=True)
            pool = _KEPT_RAY["pools"].pop(key, None)
            if pool is None or len(pool.pool) != pool.num_actors:
                super().build(app_fn)                 # new actors, as Flower makes them
            else:
                self.pool, self.app_fn = pool, app_fn
            self._kept_key = key

        def terminate(self) -> None:
            if self.pool is not None:                 # idle once a run ended: keep them
                _KEPT_RAY["pools"][self._kept_key] = self.pool

    return KeptRayBackend


@contextmanager
def kept_ray_runtime(config: Mapping[str, Any]) -> Iterator[None]:
    """Run one Flower simulation on the Ray runtime this process keeps.

    Starting Ray and its actors and stopping them costs seconds per federation, and a chapter
    runs dozens. Measured on the book's two-core machine under load, a two-round federation
    of three small banks: 27 s when it starts Ray, 19 s on a kept Ray with new actors (most of
    it the actors' start and imports), 1.4 s on a kept Ray and kept actors. So the first simulation starts Ray (Flower's ``init_ray``, with ``config``'s
    ``init_args``) and its actors, and later ones reuse both (:func:`_kept_ray_backend`:
    an actor keeps no party between messages, so none reaches another federation); Ray
    itself shuts everything down when the process exits (``ray._private.worker`` registers
    ``atexit``).

    A runtime with other ``init_args`` (another number of CPUs), or one this module did not
    start, is shut down first, so a federation runs on the resources its config asks for;
    a federation that fails shuts Ray down (and with it the actors), as Flower would.

    Inside the block, Flower's ``raybackend.RayBackend`` is :func:`_kept_ray_backend`'s
    subclass (``start_vce`` imports that name when it builds the backend); it is put back
    afterwards.
    """
    import ray  # optional extra [flower]
    from flwr.server.superlink.fleet.vce.backend import raybackend  # optional extra [flower]

    wanted = json.dumps(config.get("init_args", {}), sort_keys=True, default=str)
    if not ray.is_initialized() or _KEPT_RAY["init_args"] != wanted:
        _shutdown_ray()            # also forgets the actors of a runtime someone else ended
    flower_backend = raybackend.RayBackend
    raybackend.RayBackend = _kept_ray_backend()
    try:
        yield
    except BaseException:
        _shutdown_ray()
        raise
    finally:
        raybackend.RayBackend = flower_backend
    if ray.is_initialized():
        _KEPT_RAY["init_args"] = wanted
    else:
        _shutdown_ray()


def _shutdown_ray() -> None:
    """Shut Ray down and forget the runtime and its actors."""
    import ray  # optional extra [flower]

    ray.shutdown()
    _KEPT_RAY["init_args"], _KEPT_RAY["pools"] = None, {}


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


def report_mirror(parties: Sequence[FederatedParty]) -> Callable[[str, Any], None]:
    """The server's ``on_reply``: a node's ledgers report into this process's party object.

    Each ``train`` reply's fit metrics carry what the server may see of the party's
    accountants (:func:`~fedlib.flower.ledgers.ledger_report`: numbers only);
    :func:`~fedlib.flower.state.mirror_report` gives them to the party named, so the chapter
    reads the same ε after a Flower run as after a local one.
    """
    by_name = {p.name: p for p in parties}

    def mirror(name: str, content: Any) -> None:
        mirror_report(by_name[name], unpack_metrics(content, METRICS))

    return mirror


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
        mods += [protect_mod(encryptors, names,
                             weight_in_upload=bool(loop.strategy.weight_in_upload))]
        return party_client_app(nodes, mods=mods)

    def transport(self, loop: RoundLoop, grid: Any, roster: Sequence[RemoteParty]) -> Transport:
        """The loop's transport inside the ``ServerApp``: one ``train`` message a party.

        Each reply's trainer state is copied into this process's party (see the module
        docstring); without a node failure plan a failing node stops the run (``strict``).
        """
        mirror = report_mirror(loop.parties)    # the nodes' ledgers reports (module doc)

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
