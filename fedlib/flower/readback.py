"""Read back, after a simulated run, what every node kept for its party.

On the local engine the book evaluates chapter 1's institutions by reading each party object
after the run: its personal model (:meth:`~fedlib.fl.fmtl.FMTLParty.personal_parameters`,
``W̄ + V_i``) and its client's DP accountant. On Flower the parties' objects in the caller's
process never train (the nodes train copies), and what a node keeps between rounds lives in
its ``Context.state`` (:mod:`fedlib.flower.state`).
:func:`simulate_with_state` therefore ends the run with one more message per node, a
``query.party_state`` that :func:`~fedlib.flower.node_readout.add_state_readout` answers
with the node's kept records,
and loads them into the caller's party objects, which then look as they would after the
local engine's run.

This readout is the book's evaluation, not part of FMTL's protocol (paper 000 §4.1: the
personal model never leaves the institution): it exists only in the simulation, where the
caller is the study that evaluates every institution on its test rows, as the local engine
reads its party objects. The deployed App (:mod:`fedlib.flower.deployment`) does not
register it; there an institution would evaluate its personal model on its own node.

What is read back is everything the node kept, its ledgers' full form included (a Bayesian
accountant's step inputs, not only the ε its node reported to the server): the caller here is
the study in the process that built the parties. A node starts from its party's state when
the ``ClientApp`` was built (:func:`~fedlib.flower.client.initial_states`), so a caller's
accountant that already held earlier runs' steps ends with those and this run's, as on the
local engine.

References: Beutel et al. 2020 (Flower); paper 000 (Nagaraj 2024) §4.1.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from fedlib.fl.strategies import FederatedParty, Strategy
from fedlib.flower.client import party_client_app
from fedlib.flower.dropouts import dropout_mod
from fedlib.flower.node_readout import add_state_readout, load_kept_state, read_node_states
from fedlib.flower.server import FlowerRun, run_strategy, server_app
from fedlib.flower.simulation import run_apps

__all__ = ["simulate_with_state"]

def simulate_with_state(strategy: Strategy, parties: Sequence[FederatedParty], *, rounds: int,
                        seed: int, dropouts: Mapping[int, Mapping[str, Collection[str]]]
                        | None = None, mods: Sequence[Any] = (),
                        backend: dict[str, Any] | None = None, timeout: float = 600.0,
                        verbose: bool = False) -> FlowerRun:
    """:func:`~fedlib.flower.simulation.simulate`, then the nodes' state into ``parties``.

    The rounds are :func:`~fedlib.flower.server.run_strategy`'s (plaintext uploads); after
    the last one the ``ServerApp`` reads every node's kept records back
    (:func:`read_node_states`) and ``parties`` (the caller's objects) are loaded with them
    (:func:`load_kept_state`): an FMTL party's personal model and its client's accountant
    are then those its node ended with.

    Parameters
    ----------
    strategy, parties, rounds, seed, dropouts, backend, verbose
        As for :func:`~fedlib.flower.simulation.simulate`.
    mods
        Further Flower client mods, after the dropout mod.
    timeout
        Seconds to wait for the nodes and for each round's replies.

    Returns
    -------
    FlowerRun
        The roster, every round and the final global parameters.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    run, kept = FlowerRun(), {}

    def main(grid: Any, context: Any) -> None:
        run_strategy(grid, strategy, num_parties=len(parties), rounds=rounds, seed=seed,
                     run=run, timeout=timeout)
        kept.update(read_node_states(grid, {p.name: p.node_id for p in run.roster}, timeout))

    all_mods = [dropout_mod(dropouts, [p.name for p in parties])] if dropouts else []
    client = add_state_readout(party_client_app(parties, mods=[*all_mods, *mods]))
    run_apps(server_app(main), client, num_nodes=len(parties), backend=backend,
             verbose=verbose)
    if run.parameters is None or len(kept) != len(parties):
        raise RuntimeError("the Flower simulation ended before its last round or its "
                           "readout; see its log")
    load_kept_state(parties, kept)
    return run
