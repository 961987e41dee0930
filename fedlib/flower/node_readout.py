"""The end-of-run readout of what each node kept, for :class:`~fedlib.flower.engine.FlowerEngine`.

After a run on the local engine the book reads its party objects: an FMTL institution's
personal model (``W̄ + V_i``, paper 000 eq. 1) and its client's DP accountant. On Flower the
party objects of the caller's process never train (the nodes train copies) and what a node
keeps between rounds lives in its ``Context.state`` (:mod:`fedlib.flower.state`). So the engine's ``ServerApp`` ends with one ``query.party_state``
message per node, answered with the node's kept records (:func:`add_state_readout`), and the
engine loads them into the caller's party objects (:func:`load_kept_state`), which then look
as after the local engine's run.

Why a module of its own. Both the engine and :func:`~fedlib.flower.readback.simulate_with_state`
(a strategy over parties, outside the round loop) end with these three steps; ``readback``
imports the simulation, which imports the engine, so the steps live here, below both
(imports may not form a cycle: ``tests/test_layers.py``).

This readout is the book's evaluation, not FMTL's protocol (paper 000 §4.1: the personal
model never leaves the institution); only the simulation registers it.

References: Beutel et al. 2020 (Flower); paper 000 (Nagaraj 2024) §4.1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fedlib.flower.env import offline
from fedlib.flower.state import NODE_ARRAYS, NODE_CONFIG, restore_node_state

__all__ = ["KEPT_RECORDS", "READOUT", "add_state_readout", "load_kept_state",
           "read_node_states"]

#: The message type of the readout (a ``query`` with its own action).
READOUT = "query.party_state"
#: The records of a node's ``Context.state`` the readout returns (party state and ledgers).
KEPT_RECORDS = (NODE_ARRAYS, NODE_CONFIG)


def add_state_readout(app: Any) -> Any:
    """Register on ``app`` (a ``ClientApp``) the answer to :data:`READOUT`; returns ``app``.

    The reply holds those of :data:`KEPT_RECORDS` the node's state has, under the same keys,
    so that :func:`load_kept_state` reads it as the node's state itself.
    """
    offline()
    from flwr.app import Message, RecordDict  # optional extra [flower]

    @app.query(READOUT.split(".", 1)[1])
    def readout(msg: Message, context: Any) -> Message:
        return Message(RecordDict({key: context.state[key] for key in KEPT_RECORDS
                                   if key in context.state}), reply_to=msg)

    return app


def read_node_states(grid: Any, nodes: Mapping[str, int], timeout: float) -> dict[str, Any]:
    """Ask every node (party name → node id) for its kept records; name → ``RecordDict``.

    A node that does not answer is an error naming its party, whose state would otherwise be
    missing from the evaluation.
    """
    offline()
    from flwr.app import Message, RecordDict  # optional extra [flower]

    replies = grid.send_and_receive([Message(RecordDict(), node, READOUT)
                                     for node in nodes.values()], timeout=timeout)
    by_node = {m.metadata.src_node_id: m.content for m in replies if not m.has_error()}
    missing = [name for name, node in nodes.items() if node not in by_node]
    if missing:
        raise RuntimeError(f"parties {missing} did not return their kept state")
    return {name: by_node[node] for name, node in nodes.items()}


def load_kept_state(parties: Sequence[Any], kept: Mapping[str, Any]) -> None:
    """Load each party's kept records into the party object (its state and its ledgers)."""
    for party in parties:
        restore_node_state(party, kept[party.name])
