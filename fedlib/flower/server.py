"""A book round loop as a Flower ``ServerApp`` (Message API).

Which Flower API, and why. Flower 1.4x recommends the Message API: a ``ServerApp`` whose
``main(grid, context)`` sends ``Message`` objects to nodes through a ``Grid`` and a
``ClientApp`` that answers them. Its built-in strategies (``flwr.serverapp.strategy``) own the
round loop (``Strategy.start``), sample nodes with Python's global ``random`` and add an
evaluation exchange every round. The book's strategy instead needs the parties' public
roster (names and sizes, to weight and to seed them) and the book's one seeded generator
(:class:`~fedlib.fl.loop.RoundLoop`'s ``rng``: sample, then training seeds). So ``main`` is
written here, on the low-level path of the same Message API: a ``query`` asks every node for
its roster entry once, then the book's own :class:`~fedlib.fl.loop.RoundLoop` runs with a
:class:`FlowerTransport`: each round's fit instructions go out as ``train`` messages in one
``send_and_receive`` (the nodes train in parallel) and the replies come back as the loop's
fit results. Sampling, seeds, weights, dropouts, protections, aggregation, recovery and
evaluation are therefore the local engine's code, not a copy of it (:func:`run_loop`). The
legacy ``flwr.server.strategy.Strategy`` + ``start_simulation`` path is deprecated in 1.4x.

A party whose reply is an error (a dropout, :mod:`fedlib.flower.dropouts`) counts as a
failure (Flower's ``failures``). Updates reach the server in plaintext, or as CKKS
ciphertexts a node encrypted itself (:mod:`fedlib.flower.engine`); the book's secure
aggregation runs through Flower's SecAgg+ instead (:mod:`fedlib.flower.secagg`). Each round
records the bytes every party sent and received (:class:`~fedlib.flower.metering.MeteredGrid`).

References: Beutel et al. 2020 (Flower); McMahan et al. 2017 (FedAvg).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedlib.fl.loop import RoundLoop, RoundOutcome, Transport
from fedlib.fl.protection import PlaintextProtection
from fedlib.fl.strategies import FitInstruction, FitResult, Strategy, Uploads, contribution
from fedlib.flower.env import offline
from fedlib.flower.metering import MeteredGrid
from fedlib.flower.records import (
    CONFIG,
    METRICS,
    pack,
    unpack_metrics,
    unpack_payload,
    unpack_vector,
)

__all__ = ["FlowerRound", "FlowerRun", "FlowerTransport", "RemoteParty", "plaintext_uploads",
           "query_roster", "run_loop", "run_strategy", "server_app", "strategy_server_app"]


@dataclass(frozen=True)
class RemoteParty:
    """A party as the server knows it: its public roster entry and its Flower node."""

    index: int
    name: str
    num_examples: int
    private: bool
    node_id: int


@dataclass
class FlowerRound:
    """One round on Flower: who was asked and answered, and what came of it.

    The fit metrics, the seconds from ``configure_fit`` to the new model, the new global model
    and its evaluation.
    """

    round: int
    sampled: list[str]
    uploaded: list[str]
    failures: list[str]
    fit_metrics: dict[str, dict[str, float]]
    seconds: float
    parameters: np.ndarray = field(repr=False)
    metrics: dict[str, float] | None = None
    #: Serialised bytes of every message each party sent the server / received from it.
    bytes_to_server: dict[str, int] = field(default_factory=dict)
    bytes_from_server: dict[str, int] = field(default_factory=dict)
    #: The protection gave up (SecAgg+ with too few survivors): the model stayed as it was.
    aborted: bool = False


@dataclass
class FlowerRun:
    """What a :func:`strategy_server_app` run produced (filled in as it runs)."""

    roster: list[RemoteParty] = field(default_factory=list)
    initial_metrics: dict[str, float] | None = None
    history: list[FlowerRound] = field(default_factory=list)
    parameters: np.ndarray | None = field(default=None, repr=False)


def plaintext_uploads(results: Mapping[str, FitResult], weights: Mapping[str, float], *,
                      weight_in_upload: bool) -> Uploads:
    """What the round loop's plaintext exchange gives the strategy, from fit results.

    Each party's contribution (:func:`~fedlib.fl.strategies.contribution`) summed with
    :class:`~fedlib.fl.protection.PlaintextProtection` in the order of ``results``, as
    :class:`~fedlib.fl.loop.RoundLoop` sums it: the reference the SecAgg+ tests compare a
    protected round against (the engines themselves run the loop).

    >>> up = plaintext_uploads({"a": FitResult(np.ones(2), 30), "b": FitResult(np.zeros(2), 10)},
    ...                        {"a": 0.75, "b": 0.25}, weight_in_upload=False)
    >>> up.sums, up.weights
    ((array([0.75, 0.75]),), {'a': 0.75, 'b': 0.25})
    """
    protection = PlaintextProtection()
    names = list(results)
    payloads = [protection.protect(n, contribution(results[n].parameters, weights[n],
                                                   weight_in_upload=weight_in_upload))
                for n in names]
    sums = (protection.recover(protection.aggregate(payloads)),) if payloads else ()
    return Uploads(sums=sums, weights={n: weights[n] for n in names},
                   readable={n: results[n] for n in names})


def _wait_for_nodes(grid: Any, count: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(nodes := sorted(grid.get_node_ids())) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(nodes)} of {count} Flower nodes connected in {timeout} s")
        time.sleep(0.05)
    return nodes


def _replies_by_node(replies: Any) -> dict[int, Any]:
    return {msg.metadata.src_node_id: msg for msg in replies if not msg.has_error()}


def query_roster(grid: Any, num_parties: int, timeout: float) -> list[RemoteParty]:
    """Wait for ``num_parties`` nodes and ask each for its roster entry, in party order."""
    offline()
    from flwr.app import Message, MessageType  # optional extra [flower]

    nodes = _wait_for_nodes(grid, num_parties, timeout)
    replies = _replies_by_node(grid.send_and_receive(
        [Message(pack(config={}), node, MessageType.QUERY) for node in nodes],
        timeout=timeout))
    roster = sorted((RemoteParty(node_id=node, **unpack_metrics(msg.content, CONFIG))
                     for node, msg in replies.items()), key=lambda p: p.index)
    if [p.index for p in roster] != list(range(num_parties)):
        raise RuntimeError(f"expected parties 0..{num_parties - 1}, got "
                           f"{[p.index for p in roster]}")
    return roster


class FlowerTransport:
    """The :class:`~fedlib.fl.loop.Transport` of a ``ServerApp``: one ``train`` message a party.

    :meth:`fit` sends each instruction to its party's node in one ``send_and_receive`` (the
    nodes train in parallel) and returns the replies as
    :class:`~fedlib.fl.strategies.FitResult` in instruction order; a node that answers with
    an error (a dropout, :mod:`fedlib.flower.dropouts`) is left out, and the round loop counts
    it as a failure. A node that protected its own contribution (CKKS,
    :mod:`fedlib.flower.engine`) replies with the payload bytes instead of a vector; the loop
    gets them from :meth:`uploaded` and never sees the plain update.

    Parameters
    ----------
    grid
        The ``ServerApp``'s ``Grid`` (a :class:`~fedlib.flower.metering.MeteredGrid` to count
        bytes).
    roster
        Every party's node (:func:`query_roster`).
    timeout
        Seconds to wait for a round's replies.
    on_reply
        Called with the party's name and the reply's ``RecordDict`` before it is unpacked
        (the simulation engine mirrors a node's trainer state into the party object here).
    strict
        A node that fails (an error reply, or none before ``timeout``) stops the run with its
        error instead of counting as a dropout: a chapter's federation has no simulated node
        failures, so a failure there is a bug, never a silently smaller average.
    """

    def __init__(self, grid: Any, roster: Sequence[RemoteParty], *, timeout: float,
                 on_reply: Callable[[str, Any], None] | None = None,
                 strict: bool = False) -> None:
        self.grid, self.timeout, self.on_reply, self.strict = grid, timeout, on_reply, strict
        self.node_of = {p.name: p.node_id for p in roster}
        self._payloads: dict[str, bytes] = {}

    def fit(self, round: int, instructions: Sequence[FitInstruction]) -> dict[str, FitResult]:
        """Send the ``train`` messages of a round and unpack the replies that came back."""
        offline()
        from flwr.app import Message, MessageType  # optional extra [flower]

        self._payloads = {}
        messages = [Message(pack(vector=i.parameters, config=i.config), self.node_of[i.party],
                            MessageType.TRAIN, group_id=str(round)) for i in instructions]
        replies = list(self.grid.send_and_receive(messages, timeout=self.timeout))
        if self.strict:
            _raise_failures(replies, instructions, self.node_of, round)
        answered = _replies_by_node(replies)
        results: dict[str, FitResult] = {}
        for ins in instructions:                 # in the order the strategy asked
            msg = answered.get(self.node_of[ins.party])
            if msg is None:
                continue
            if self.on_reply is not None:
                self.on_reply(ins.party, msg.content)
            metrics = unpack_metrics(msg.content, METRICS)
            payload = unpack_payload(msg.content)
            if payload is None:
                vector = unpack_vector(msg.content)
            else:                                # protected on the node: no plain vector here
                self._payloads[ins.party], vector = payload, np.empty(0)
            results[ins.party] = FitResult(vector, int(metrics.pop("num_examples")), metrics)
        return results

    def uploaded(self, round: int, party: str) -> bytes | None:
        """The payload ``party``'s node protected this round, or ``None``."""
        return self._payloads.get(party)


def _raise_failures(replies: Sequence[Any], instructions: Sequence[FitInstruction],
                    node_of: Mapping[str, int], rnd: int) -> None:
    """Raise if a node answered with an error or not at all (a strict transport)."""
    name_of = {node: name for name, node in node_of.items()}
    for msg in replies:
        if msg.has_error():
            raise RuntimeError(f"round {rnd}: the node of party "
                               f"{name_of.get(msg.metadata.src_node_id)!r} failed: "
                               f"{msg.error.reason}")
    missing = {i.party for i in instructions} - {name_of.get(m.metadata.src_node_id)
                                                 for m in replies}
    if missing:
        raise RuntimeError(f"round {rnd}: no reply from the nodes of {sorted(missing)}")


def _check_roster(roster: Sequence[RemoteParty], parties: Sequence[Any]) -> None:
    """The nodes must run the loop's parties, in its order (names and sizes)."""
    ours = [(p.name, int(p.num_examples)) for p in parties]
    theirs = [(p.name, p.num_examples) for p in roster]
    if ours != theirs:
        raise RuntimeError(f"the Flower nodes run parties {theirs}, the round loop expects {ours}")


def run_loop(grid: Any, loop: RoundLoop, *, rounds: int, run: FlowerRun, timeout: float,
             roster: Sequence[RemoteParty] | None = None,
             on_reply: Callable[[str, Any], None] | None = None,
             on_round: Callable[[RoundOutcome], None] | None = None,
             strict: bool = False,
             make_transport: Callable[[Any, Sequence[RemoteParty]], Transport] | None = None
             ) -> FlowerRun:
    """The body of the book's ``ServerApp``: ``rounds`` rounds of ``loop`` over ``grid``.

    The round loop (:class:`~fedlib.fl.loop.RoundLoop`: sampling, seeds, weights, dropouts,
    protections, aggregation, recovery, evaluation) is the local engine's; only its transport
    is Flower's (:class:`FlowerTransport`). ``run`` is filled in with the roster (asked of the
    nodes unless given), one :class:`FlowerRound` per round with the bytes each party sent and
    received, and the final parameters; ``on_round`` is called with each round's
    :class:`~fedlib.fl.loop.RoundOutcome` (as :meth:`RoundLoop.run` does); ``strict``: see
    :class:`FlowerTransport`; ``make_transport(grid, roster)``, if given, builds the loop's
    transport instead (then ``on_reply`` and ``strict`` are its business). Returns ``run``.
    """
    grid = grid if isinstance(grid, MeteredGrid) else MeteredGrid(grid)
    roster = run.roster = list(roster) if roster is not None else query_roster(
        grid, len(loop.parties), timeout)
    _check_roster(roster, loop.parties)
    name_of = {p.node_id: p.name for p in roster}
    loop.transport = (make_transport(grid, roster) if make_transport is not None else
                      FlowerTransport(grid, roster, timeout=timeout, on_reply=on_reply,
                                      strict=strict))
    run.initial_metrics = loop.initial_metrics
    clock = [time.perf_counter()]

    def record(outcome: RoundOutcome) -> None:
        now = time.perf_counter()
        run.history.append(FlowerRound(
            round=outcome.round, sampled=list(outcome.sampled), uploaded=list(outcome.uploaded),
            failures=[n for n in outcome.sampled if n not in outcome.uploaded],
            fit_metrics=outcome.fit_metrics, seconds=now - clock[0],
            parameters=np.array(outcome.parameters, copy=True), metrics=outcome.metrics,
            bytes_to_server=grid.bytes_to_server(name_of),
            bytes_from_server=grid.bytes_from_server(name_of), aborted=outcome.aborted))
        grid.reset()
        if on_round is not None:
            on_round(outcome)
        clock[0] = time.perf_counter()       # the next round starts now

    grid.reset()
    loop.run(rounds, on_round=record)
    run.parameters = np.array(loop.parameters, copy=True)
    return run


def run_strategy(grid: Any, strategy: Strategy, *, num_parties: int, rounds: int, seed: int,
                 run: FlowerRun, timeout: float) -> FlowerRun:
    """``rounds`` rounds of ``strategy`` over the nodes of ``grid``, plaintext uploads.

    Asks the nodes for the roster and runs a :class:`~fedlib.fl.loop.RoundLoop` over it
    (:func:`run_loop`), seeded by ``seed`` as the local engine's. Called by ``main`` of
    :func:`strategy_server_app` and of :func:`fedlib.flower.deployment.deployed_server_app`
    (SuperLink), where the server has no party objects, only the roster. Returns ``run``.
    """
    grid = MeteredGrid(grid)
    roster = query_roster(grid, num_parties, timeout)
    loop = RoundLoop(strategy, roster, seed=seed)
    return run_loop(grid, loop, rounds=rounds, run=run, timeout=timeout, roster=roster)


def strategy_server_app(strategy: Strategy, *, num_parties: int, rounds: int, seed: int,
                        run: FlowerRun, timeout: float = 600.0) -> Any:
    """A Flower ``ServerApp`` that runs ``rounds`` rounds of a book strategy.

    Parameters
    ----------
    strategy
        The book's strategy (:mod:`fedlib.fl.strategies`); only plaintext uploads for now.
    num_parties
        How many nodes to wait for before the first round.
    rounds
        Communication rounds.
    seed
        Seeds the generator of sampling and training seeds, as
        :class:`~fedlib.fl.loop.RoundLoop`'s ``seed`` does.
    run
        Filled in with the roster, every round and the final parameters.
    timeout
        Seconds to wait for the nodes to connect and for each round's replies.

    Returns
    -------
    flwr.serverapp.ServerApp
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")

    def main(grid: Any, context: Any) -> None:
        run_strategy(grid, strategy, num_parties=num_parties, rounds=rounds, seed=seed, run=run,
                     timeout=timeout)

    return server_app(main)


def server_app(main: Callable[[Any, Any], None]) -> Any:
    """A Flower ``ServerApp`` whose ``main(grid, context)`` is ``main`` (Flower kept offline).

    Every ServerApp of the book (:func:`strategy_server_app`, SecAgg+'s, the deployed App's)
    is built here, so each starts Flower with telemetry and update checks off.
    """
    offline()
    from flwr.serverapp import ServerApp  # optional extra [flower]

    app = ServerApp()
    app.main()(main)
    return app
