"""A book strategy as a Flower ``ServerApp`` (Message API).

Which Flower API, and why. Flower 1.4x recommends the Message API: a ``ServerApp`` whose
``main(grid, context)`` sends ``Message`` objects to nodes through a ``Grid`` and a
``ClientApp`` that answers them. Its built-in strategies (``flwr.serverapp.strategy``) own the
round loop (``Strategy.start``), sample nodes with Python's global ``random`` and add an
evaluation exchange every round. The book's strategy instead needs the parties' public
roster (names and sizes, to weight and to seed them) and the book's one seeded generator
(:class:`~fedlib.fl.loop.RoundLoop`'s ``rng``: sample, then training seeds). So
:func:`strategy_server_app` writes ``main`` itself, the low-level path of the same Message
API: a ``query`` asks every node for its roster entry once, then each round calls the book
strategy's ``configure_fit`` with that roster and a generator seeded as the local engine's,
sends one ``train`` message per instruction in one ``send_and_receive`` (the nodes train in
parallel), turns the replies into :class:`~fedlib.fl.strategies.Uploads` exactly as the
local engine does for plaintext uploads, and calls ``aggregate_fit`` and ``evaluate``. The
legacy ``flwr.server.strategy.Strategy`` + ``start_simulation`` path is deprecated in 1.4x.

Every update reaches the server in plaintext here, as in the local engine's plaintext mode;
a party whose reply is an error (a dropout, :mod:`fedlib.flower.dropouts`) counts as a
failure (Flower's ``failures``). Secure aggregation runs through Flower's SecAgg+ instead
(:mod:`fedlib.flower.secagg`); CKKS does not run on Flower. Each round records the bytes
every party sent and received (:class:`~fedlib.flower.metering.MeteredGrid`).

References: Beutel et al. 2020 (Flower); McMahan et al. 2017 (FedAvg).

Examples
--------
>>> from fedlib.fl.strategies import FitResult
>>> up = plaintext_uploads({"a": FitResult(np.ones(2), 30), "b": FitResult(np.zeros(2), 10)},
...                        {"a": 0.75, "b": 0.25}, weight_in_upload=False)
>>> up.sums, up.weights
((array([0.75, 0.75]),), {'a': 0.75, 'b': 0.25})
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedlib.fl.protection import PlaintextProtection
from fedlib.fl.strategies import FitResult, Strategy, Uploads, contribution
from fedlib.flower.env import offline
from fedlib.flower.metering import MeteredGrid
from fedlib.flower.records import CONFIG, METRICS, pack, unpack_metrics, unpack_vector

__all__ = ["FlowerRun", "FlowerRound", "RemoteParty", "plaintext_uploads", "query_roster",
           "run_strategy", "server_app", "strategy_server_app"]


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
    """What the server can use from plaintext fit results, as the local engine builds it.

    Each party's contribution (:func:`~fedlib.fl.strategies.contribution`) is summed with
    :class:`~fedlib.fl.protection.PlaintextProtection` in the order of ``results``, so that
    the sum is the local engine's float for float.
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


def run_strategy(grid: Any, strategy: Strategy, *, num_parties: int, rounds: int, seed: int,
                 run: FlowerRun, timeout: float) -> FlowerRun:
    """The body of the book's ``ServerApp``: ``rounds`` rounds of ``strategy`` over ``grid``.

    Called by ``main`` of :func:`strategy_server_app` (simulation) and of
    :func:`fedlib.flower.deployment.deployed_server_app` (SuperLink); see there for the
    parameters. Returns ``run``, filled in.
    """
    offline()
    from flwr.app import Message, MessageType  # optional extra [flower]

    grid = MeteredGrid(grid)
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
        messages = [Message(pack(vector=i.parameters, config=i.config), node_of[i.party],
                            MessageType.TRAIN, group_id=str(rnd)) for i in instructions]
        answered = _replies_by_node(grid.send_and_receive(messages, timeout=timeout))
        results: dict[str, FitResult] = {}
        for ins in instructions:                 # in the order the strategy asked
            msg = answered.get(node_of[ins.party])
            if msg is not None:
                metrics = unpack_metrics(msg.content, METRICS)
                results[ins.party] = FitResult(unpack_vector(msg.content),
                                               int(metrics.pop("num_examples")), metrics)
        weights = {i.party: i.config["weight"] for i in instructions}
        failures = [i.party for i in instructions if i.party not in results]
        if results:
            uploads = plaintext_uploads(results, weights,
                                        weight_in_upload=strategy.weight_in_upload)
            new = strategy.aggregate_fit(rnd, uploads, failures=failures)
            if new is not None:
                parameters = new
        seconds = time.perf_counter() - start
        run.history.append(FlowerRound(
            round=rnd, sampled=[i.party for i in instructions], uploaded=list(results),
            failures=failures, fit_metrics={n: r.metrics for n, r in results.items()},
            seconds=seconds, parameters=np.array(parameters, copy=True),
            metrics=strategy.evaluate(rnd, parameters),
            bytes_to_server=grid.bytes_to_server(name_of),
            bytes_from_server=grid.bytes_from_server(name_of)))
    run.parameters = np.array(parameters, copy=True)
    return run


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
