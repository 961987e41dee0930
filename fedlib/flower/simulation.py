"""Run book parties and a book strategy on Flower's simulation runtime.

``flwr.simulation.run_simulation`` starts the ``ServerApp`` in a thread of this process and
runs every node's ``ClientApp`` on its backend. Flower 1.4x has one backend, Ray: nodes run in
Ray actor processes, which receive a pickled copy of the ``ClientApp`` (and so of the
parties) and keep the parties' state for the run only. The server side stays in this
process, so :class:`~fedlib.flower.server.FlowerRun` is filled in here.

Flower 1.42 marks ``run_simulation`` deprecated in favour of the ``flwr run`` command, which
runs a packaged Flower app through a local SuperLink; ``run_simulation`` is still the one
in-process entry point, which a test and a notebook need. Its in-memory grid pulls replies
every ``pull_interval`` (0.1 s by default in Flower's source), so a simulated round takes at
least that long however fast the parties train.

References: Beutel et al. 2020 (Flower).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from fedlib.fl.loop import RoundLoop
from fedlib.fl.strategies import FederatedParty, Strategy
from fedlib.flower.engine import FlowerEngine, backend_config, run_apps
from fedlib.flower.server import FlowerRun

__all__ = ["backend_config", "run_apps", "simulate"]


def simulate(strategy: Strategy, parties: Sequence[FederatedParty], *, rounds: int, seed: int,
             dropouts: Mapping[int, Mapping[str, Collection[str]]] | None = None,
             backend: dict[str, Any] | None = None, verbose: bool = False) -> FlowerRun:
    """Run ``rounds`` rounds of ``strategy`` over ``parties`` on Flower's simulation.

    The book's :class:`~fedlib.fl.loop.RoundLoop` over ``parties`` (plaintext uploads), run by
    :class:`~fedlib.flower.engine.FlowerEngine`: the same rounds as
    :func:`fedlib.fl.loop.run_rounds` with the same arguments, each party on its own node.

    Parameters
    ----------
    strategy, parties, rounds, seed
        As for :func:`fedlib.fl.loop.run_rounds`.
    dropouts
        round → phase → names of the parties that fail that round's ``train`` message (any
        phase: without a protocol the one upload is the message; :mod:`fedlib.flower.dropouts`).
    backend
        Flower's ``backend_config`` (default :func:`backend_config`: one core).
    verbose
        Flower's verbose logging.

    Returns
    -------
    FlowerRun
        The roster, every round and the final global parameters.
    """
    engine = FlowerEngine(backend=backend, dropouts=dropouts, verbose=verbose)
    engine.run(RoundLoop(strategy, parties, seed=seed), rounds)
    return engine.flower_run
