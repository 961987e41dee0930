"""The book's secure aggregation as a Flower protocol, beside Flower's SecAgg+ on one runtime.

Chapter 1 protects each round with the book's own secure aggregation
(:mod:`fedlib.crypto.secagg`: Bonawitz et al. 2017, semi-honest, on the complete graph;
ChaCha20 masks keyed by 32-byte seeds; t-of-n Shamir shares over GF(2^521 − 1); fixed point in
Z_{2^64}). :mod:`fedlib.flower.secagg` runs a round with Flower's SecAgg+ instead; this module
runs it with the book's protocol on the same Flower runtime, so that the two can be compared
message for message (``bench/bench_flower.py``).

The server's side is :class:`~fedlib.crypto.secagg.SecAggServer`, the same object the
in-process :class:`~fedlib.crypto.secagg.SecureAggregationRound` drives: roster building,
threshold checks, relaying the encrypted shares, the sum mod 2^64, reconstruction and mask
removal, and the rule that never reconstructs both secrets of one client. Here it is driven
through the ``Grid``: :func:`run_bookagg` is the ``ServerApp``'s ``main`` and each round sends
four messages to every node still in the protocol, each one ``send_and_receive`` (the nodes
answer in parallel; a node that answers with an error or not before ``timeout`` is gone from
that phase on):

1. ``advertise`` → the parties the book's strategy sampled, each told its position (its
   Shamir x-coordinate), the round, ``t`` and ``n``; replies: two public keys (``U1``);
2. ``share`` → the roster to ``U1``; replies: encrypted shares, one per peer (``U2``);
3. ``masked`` → to ``U2``, the ciphertexts the server relays to each, the global parameters
   and the fit config (as SecAgg+ does, the relayed shares ride with the masked-input
   request: one round trip fewer than a separate relay); each node trains and replies with
   its masked contribution (``U3``); the server sums them mod 2^64;
4. ``unmask`` → ``U3`` to ``U3``; replies: shares (``U5``); the server removes the masks,
   decodes the sum and hands it to the book strategy's ``aggregate_fit``, as the local
   engine does.

If fewer than ``t`` remain after any phase the round aborts
(:class:`~fedlib.crypto.secagg.SecureAggregationAborted`): the model stays as it was and the
round is recorded with ``aborted=True``, as the local engine and the SecAgg+ adapter do. The
client side is :mod:`fedlib.flower.bookagg_client`; the records on the wire are
:mod:`fedlib.flower.bookagg_wire`.

Exactness. The codec rounds each coordinate of a contribution to the nearest multiple of
``2^-f``, so the decoded sum of ``n`` contributions is within ``n · 2^-(f+1)`` of their sum
(:meth:`BookSecAgg.sum_error_bound`) and FedAvg's mean within that over ``Σ w``
(:meth:`BookSecAgg.mean_error_bound`), for contributions inside ``[-clip, clip]``; each node
counts the coordinates outside in its fit metric ``clipped``.

References: Bonawitz et al. 2017, §4 and Fig. 4; Bell et al. 2020 (SecAgg+); Flower 1.42
Message API (``Grid.send_and_receive``, message types with actions).

Examples
--------
>>> p = BookSecAgg(threshold=6)
>>> p.sum_error_bound(10) == 10 * 2.0 ** -25
True
>>> p.check(10)
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedlib.crypto.fixedpoint import FixedPointCodec
from fedlib.crypto.secagg import (
    MaskedInput,
    SecAggProtocolError,
    SecAggServer,
    SecureAggregationAborted,
    check_threshold,
)
from fedlib.fl.strategies import FederatedParty, FitInstruction, Strategy, Uploads
from fedlib.flower.bookagg_client import bookagg_client_app
from fedlib.flower.bookagg_wire import (
    MESSAGE_TYPE,
    PROTOCOL_RECORD,
    roster_record,
    shares_from_record,
    shares_record,
    unmask_from_record,
)
from fedlib.flower.env import offline
from fedlib.flower.metering import MeteredGrid
from fedlib.flower.records import METRICS, pack, plain_config, unpack_metrics, unpack_vector
from fedlib.flower.secagg import WEIGHT_IN_UPLOAD
from fedlib.flower.server import FlowerRound, FlowerRun, query_roster, server_app
from fedlib.flower.simulation import run_apps

__all__ = ["DROP_RECORD", "BookAggRound", "BookSecAgg", "KeyExchange", "Phases", "ask_unmask",
           "bookagg_server_app", "collect_masked", "exchange_keys", "masked_inputs",
           "run_bookagg", "secure_round", "simulate_bookagg", "unmask_sum"]

#: The record of a phase message that tells its party to drop out after handling it: how the
#: round loop's simulated dropouts (drawn by the server) reach the node on Flower.
DROP_RECORD = "fedlib.simulated_dropout"


@dataclass(frozen=True)
class BookSecAgg:
    """The settings of the book's secure aggregation on Flower.

    Parameters
    ----------
    threshold
        ``t``: shares needed to recover a secret and the fewest parties that may remain;
        ``n/2 < t ≤ n`` for the ``n`` parties of a round
        (:func:`~fedlib.crypto.secagg.check_threshold`).
    codec
        Fixed-point encoding of the contributions (default: the book's, ``f = 24``,
        ``clip = 1024``).
    timeout
        Seconds each phase waits for replies; a node that has not answered by then is gone.
        ``None``: 600 s.
    """

    threshold: int
    codec: FixedPointCodec = field(default_factory=FixedPointCodec)
    timeout: float | None = 300.0

    def check(self, n_parties: int) -> None:
        """Raise if ``threshold`` or the codec's capacity does not allow ``n_parties``."""
        check_threshold(self.threshold, n_parties)
        self.codec.check_capacity(n_parties)

    def sum_error_bound(self, n_uploads: int) -> float:
        """Bound on ``|recovered sum − sum|`` per coordinate: ``n · 2^-(f+1)``."""
        return self.codec.sum_error_bound(n_uploads)

    def mean_error_bound(self, n_uploads: int, total_weight: float) -> float:
        """Bound on FedAvg's mean (``weight_in_upload=False``): the sum's, over ``Σ w_k``."""
        return self.sum_error_bound(n_uploads) / total_weight


@dataclass
class BookAggRound(FlowerRound):
    """A :class:`~fedlib.flower.server.FlowerRound` with what the protocol fixed.

    ``survivors[phase]`` are the parties still in after each phase (``U1``, ``U2``, ``U3``,
    ``U5``; a phase the round did not reach is absent); ``reconstructed`` is what the server
    rebuilt per party (``"pairwise_key"`` of a party that dropped after sharing its keys,
    ``"self_mask"`` of one whose input is in the sum).
    """

    survivors: dict[str, list[str]] = field(default_factory=dict)
    reconstructed: dict[str, str] = field(default_factory=dict)


class Phases:
    """One round of the protocol over a ``Grid``: the messages of each phase and their replies.

    ``dropping[phase]`` are the parties told, in that phase's message, to drop out after
    handling it (the round loop's simulated dropouts on Flower, :data:`DROP_RECORD`).
    """

    def __init__(self, grid: Any, rnd: int, node_of: Mapping[str, int], timeout: float, *,
                 dropping: Mapping[str, Collection[str]] | None = None) -> None:
        self.grid, self.rnd, self.node_of, self.timeout = grid, rnd, node_of, timeout
        self.dropping = {phase: set(who) for phase, who in (dropping or {}).items()}

    def ask(self, phase: str, contents: Mapping[str, Any]) -> dict[str, Any]:
        """Send each party its content in one ``send_and_receive``; the replies that came back.

        Keyed by party name, in the order of ``contents``; an error reply or none is a dropout.
        """
        from flwr.app import Message  # optional extra [flower]

        for name in self.dropping.get(phase, set()) & set(contents):
            contents[name][DROP_RECORD] = _fields({"phase": phase})
        messages = [Message(content, self.node_of[name], MESSAGE_TYPE[phase],
                            group_id=str(self.rnd)) for name, content in contents.items()]
        replies = {m.metadata.src_node_id: m for m in self.grid.send_and_receive(
            messages, timeout=self.timeout) if not m.has_error()}
        return {name: replies[self.node_of[name]].content for name in contents
                if self.node_of[name] in replies}


def _fields(fields: Mapping[str, Any]) -> Any:
    """The protocol's fields of a message as its ``ConfigRecord``."""
    from flwr.app import ConfigRecord  # optional extra [flower]

    return ConfigRecord(dict(fields))


def _record(fields: Mapping[str, Any]) -> Any:
    """A message content holding only the protocol's fields."""
    from flwr.app import RecordDict  # optional extra [flower]

    return RecordDict({PROTOCOL_RECORD: _fields(fields)})


def _masked_vector(party: str, content: Any) -> np.ndarray:
    """The ``y_u`` of a masked-input reply: one-dimensional ``uint64``, or a protocol error."""
    y = unpack_vector(content)
    if y.dtype != np.uint64 or y.ndim != 1:
        raise SecAggProtocolError(f"{party}: a masked input is a 1-D uint64 vector, got "
                                  f"{y.dtype} of shape {y.shape}")
    return y


@dataclass
class KeyExchange:
    """What phases 0 and 1 carried: public keys, the roster, encrypted shares, relayed shares."""

    keys: dict[str, dict[str, bytes]]
    roster: dict[str, dict]
    outbox: dict[str, dict[str, bytes]]
    inboxes: dict[str, dict[str, bytes]]


def exchange_keys(phases: Phases, server: SecAggServer) -> KeyExchange:
    """Phases 0 (AdvertiseKeys) and 1 (ShareKeys) among ``server.clients``; fixes ``U1``, ``U2``."""
    rnd, n = phases.rnd, len(server.clients)
    keys = phases.ask("advertise", {c: _record({
        "party": c, "index": i + 1, "round": rnd, "threshold": server.threshold, "n_total": n})
        for i, c in enumerate(server.clients)})
    keys = {c: {k: bytes(r.config_records[PROTOCOL_RECORD][k]) for k in ("c_pk", "s_pk")}
            for c, r in keys.items()}
    roster = server.roster_from_keys(keys)
    sent = phases.ask("share", {c: _record({"round": rnd, **roster_record(roster)})
                                for c in server.u1})
    outbox = {c: shares_from_record(r.config_records[PROTOCOL_RECORD]) for c, r in sent.items()}
    return KeyExchange(keys, roster, outbox, server.relay_shares(outbox))


def collect_masked(phases: Phases, server: SecAggServer, instructions: Sequence[FitInstruction],
                   inboxes: Mapping[str, Mapping[str, bytes]], *, protocol: BookSecAgg,
                   weight_in_upload: bool) -> dict[str, Any]:
    """Phase 2 (MaskedInputCollection); party → reply content.

    Each of ``U2`` gets its relayed shares and its instruction, trains and replies with its
    masked contribution.
    """
    by_party = {i.party: i for i in instructions}
    requests = {}
    for v in server.u2:
        content = pack(vector=by_party[v].parameters,
                       config={**plain_config(by_party[v].config),
                               WEIGHT_IN_UPLOAD: bool(weight_in_upload)})
        content[PROTOCOL_RECORD] = _fields({
            "round": phases.rnd, "frac_bits": int(protocol.codec.frac_bits),
            "clip": float(protocol.codec.clip), **shares_record(inboxes[v])})
        requests[v] = content
    return phases.ask("masked", requests)


def masked_inputs(replies: Mapping[str, Any]) -> list[MaskedInput]:
    """The masked inputs ``y_u`` of phase 2's replies, in their order."""
    return [MaskedInput(c, _masked_vector(c, r)) for c, r in replies.items()]


def ask_unmask(phases: Phases, survivors: Sequence[str]) -> dict[str, Any]:
    """Phase 3's messages: ``survivors`` (``U3``) to each of them; party → the shares returned."""
    shares = phases.ask("unmask", {u: _record({"round": phases.rnd, "survivors": list(survivors)})
                                   for u in survivors})
    return {u: unmask_from_record(r.config_records[PROTOCOL_RECORD]) for u, r in shares.items()}


def unmask_sum(phases: Phases, server: SecAggServer, masked_sum: Any) -> np.ndarray:
    """Phase 3 (Unmasking): ask ``U3`` for their shares, remove the masks, decode the sum."""
    return server.unmask(masked_sum, ask_unmask(phases, server.survivors(masked_sum)))


def secure_round(grid: Any, rnd: int, instructions: Sequence[FitInstruction], *,
                 protocol: BookSecAgg, weight_in_upload: bool, node_of: Mapping[str, int],
                 timeout: float, server: SecAggServer) -> tuple[Uploads, dict[str, dict]]:
    """The four phases of one round among the instructed parties (see the module docstring).

    Returns the recovered sum as :class:`~fedlib.fl.strategies.Uploads` and each uploader's
    fit metrics; raises :class:`~fedlib.crypto.secagg.SecureAggregationAborted` when fewer
    than ``t`` remain. ``server`` is the round's fresh
    :class:`~fedlib.crypto.secagg.SecAggServer` (its survivor sets are read afterwards).
    """
    phases = Phases(grid, rnd, node_of, timeout)
    exchange = exchange_keys(phases, server)
    uploads = collect_masked(phases, server, instructions, exchange.inboxes,
                             protocol=protocol, weight_in_upload=weight_in_upload)
    masked_sum = server.aggregate(masked_inputs(uploads))
    total = unmask_sum(phases, server, masked_sum)
    by_party = {i.party: i for i in instructions}
    order = [i.party for i in instructions if i.party in server.u3]
    fit_metrics = {u: unpack_metrics(uploads[u], METRICS) for u in order}
    return (Uploads(sums=(total,), weights={u: by_party[u].config["weight"] for u in order},
                    readable={}), fit_metrics)


def run_bookagg(grid: Any, strategy: Strategy, *, num_parties: int, rounds: int, seed: int,
                protocol: BookSecAgg, run: FlowerRun) -> FlowerRun:
    """The body of the ``ServerApp``: ``rounds`` rounds of ``strategy`` with the book's protocol.

    The roster comes from a ``query`` to every node
    (:func:`~fedlib.flower.server.query_roster`); each round the book strategy's instructions
    (from a generator seeded as the local engine's) go through :func:`secure_round` among the
    sampled parties, and the recovered sum to ``aggregate_fit``. ``run.history`` gets one
    :class:`BookAggRound` per round. Returns ``run``, filled in.
    """
    offline()
    protocol.check(num_parties)
    grid = MeteredGrid(grid)
    timeout = 600.0 if protocol.timeout is None else float(protocol.timeout)
    roster = run.roster = query_roster(grid, num_parties, timeout)
    node_of = {p.name: p.node_id for p in roster}
    name_of = {p.node_id: p.name for p in roster}
    rng = np.random.default_rng(seed)
    parameters = strategy.initialize_parameters()
    run.initial_metrics = strategy.evaluate(0, parameters)
    for rnd in range(1, rounds + 1):
        grid.reset()
        start = time.perf_counter()
        instructions = strategy.configure_fit(rnd, parameters, roster, rng=rng)
        sampled = [i.party for i in instructions]
        server = SecAggServer(sampled, threshold=protocol.threshold, codec=protocol.codec,
                              round=rnd)
        try:
            uploads, fit_metrics = secure_round(
                grid, rnd, instructions, protocol=protocol,
                weight_in_upload=strategy.weight_in_upload, node_of=node_of,
                timeout=timeout, server=server)
        except SecureAggregationAborted:
            uploads, fit_metrics = None, {}         # nothing revealed; the model stays
        uploaded = [] if uploads is None else list(uploads.weights)
        failures = [n for n in sampled if n not in uploaded]
        if uploads is not None:
            new = strategy.aggregate_fit(rnd, uploads, failures=failures)
            if new is not None:
                parameters = new
        seconds = time.perf_counter() - start
        reached = zip(("advertise", "share", "masked", "unmask"),
                      (server.u1, server.u2, server.u3, server.u5), strict=True)
        run.history.append(BookAggRound(
            round=rnd, sampled=sampled, uploaded=uploaded, failures=failures,
            fit_metrics=fit_metrics, seconds=seconds, parameters=np.array(parameters, copy=True),
            metrics=strategy.evaluate(rnd, parameters),
            bytes_to_server=grid.bytes_to_server(name_of),
            bytes_from_server=grid.bytes_from_server(name_of), aborted=uploads is None,
            survivors={phase: list(who) for phase, who in reached if who},
            reconstructed=dict(server.reconstructed)))
    run.parameters = np.array(parameters, copy=True)
    return run


def bookagg_server_app(strategy: Strategy, *, num_parties: int, rounds: int, seed: int,
                       protocol: BookSecAgg, run: FlowerRun) -> Any:
    """A ``ServerApp`` that runs :func:`run_bookagg` (parameters as there)."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    protocol.check(num_parties)          # before Flower starts: a bad threshold fails here

    def main(grid: Any, context: Any) -> None:
        run_bookagg(grid, strategy, num_parties=num_parties, rounds=rounds, seed=seed,
                    protocol=protocol, run=run)

    return server_app(main)


def simulate_bookagg(strategy: Strategy, parties: Sequence[FederatedParty], *, rounds: int,
                     seed: int, protocol: BookSecAgg,
                     dropouts: Mapping[int, Mapping[str, Collection[str]]] | None = None,
                     backend: dict[str, Any] | None = None, verbose: bool = False
                     ) -> FlowerRun:
    """Run ``rounds`` rounds of ``strategy`` over ``parties`` with the book's protocol on Flower.

    Parameters
    ----------
    strategy, parties, rounds, seed
        As for :func:`fedlib.flower.simulation.simulate`.
    protocol
        The protocol's settings (:class:`BookSecAgg`).
    dropouts
        round → phase → names of the parties that drop there (phases of
        :data:`fedlib.crypto.secagg.PHASES`).
    backend, verbose
        As for :func:`~fedlib.flower.simulation.simulate`.

    Returns
    -------
    FlowerRun
        The roster and one :class:`BookAggRound` per round.
    """
    run = FlowerRun()
    server = bookagg_server_app(strategy, num_parties=len(parties), rounds=rounds, seed=seed,
                                protocol=protocol, run=run)
    run_apps(server, bookagg_client_app(parties, dropouts=dropouts), num_nodes=len(parties),
             backend=backend, verbose=verbose)
    if run.parameters is None:
        raise RuntimeError("the Flower simulation ended before its last round; see its log")
    return run
