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

from fedlib.fl.strategies import FederatedParty, Strategy
from fedlib.flower.client import party_client_app
from fedlib.flower.dropouts import dropout_mod
from fedlib.flower.env import offline
from fedlib.flower.server import FlowerRun, strategy_server_app

__all__ = ["backend_config", "run_apps", "simulate"]


def backend_config(*, cpus: int = 1, cpus_per_party: float = 1.0) -> dict[str, Any]:
    """A small Ray backend: ``cpus`` cores in all, ``cpus_per_party`` per running node.

    >>> backend_config(cpus=2)["init_args"]["num_cpus"]
    2
    """
    return {"client_resources": {"num_cpus": cpus_per_party, "num_gpus": 0.0},
            "init_args": {"num_cpus": cpus, "include_dashboard": False,
                          "log_to_driver": False}}


def simulate(strategy: Strategy, parties: Sequence[FederatedParty], *, rounds: int, seed: int,
             dropouts: Mapping[int, Mapping[str, Collection[str]]] | None = None,
             backend: dict[str, Any] | None = None, verbose: bool = False) -> FlowerRun:
    """Run ``rounds`` rounds of ``strategy`` over ``parties`` on Flower's simulation.

    Parameters
    ----------
    strategy, parties, rounds, seed
        As for :func:`fedlib.fl.loop.run_rounds` (plaintext uploads).
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
    run = FlowerRun()
    server = strategy_server_app(strategy, num_parties=len(parties), rounds=rounds, seed=seed,
                                 run=run)
    mods = [dropout_mod(dropouts, [p.name for p in parties])] if dropouts else []
    run_apps(server, party_client_app(parties, mods=mods), num_nodes=len(parties),
             backend=backend, verbose=verbose)
    if run.parameters is None:
        raise RuntimeError("the Flower simulation ended before its last round; see its log")
    return run


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
