"""Book parties as a Flower ``ClientApp``.

Node ``k`` of the federation runs party ``k``: the ``ClientApp`` reads the node's
``partition-id`` (Flower's simulation runtime sets it; a SuperNode is started with it) and
answers three message types with that party alone, so a party's rows never travel in a
message (on the simulation runtime the ``ClientApp`` is one pickled object, so the Ray workers
that run the virtual nodes each hold a copy of every party; on separate machines each
SuperNode would be given only its own party):

``query``
    the party's public roster entry: its position ``index``, ``name``, ``num_examples`` and
    ``private`` (what the book's strategies read from a party before a round).
``train``
    ``fit(parameters, config)`` of the party (:class:`~fedlib.fl.strategies.FederatedParty`);
    the reply carries the new flat parameter vector, ``num_examples`` and the fit metrics —
    Flower's ``FitRes``.
``evaluate``
    ``evaluate(parameters, config)`` of the party; the reply carries its metrics (none when
    the party has nothing to report).

Nothing of a party object outlives a message on Flower (a SuperNode starts a new process per
message; the simulation gives a node's messages to any free Ray actor, each with its own copy
of the parties). A DP party's accountant is therefore kept in the node's ``Context.state``
and replayed into the party before it trains (:mod:`fedlib.flower.state`); its ledger also
goes back in the fit metrics. A party that keeps other state between rounds (an FMTL
institution's personal model, :class:`~fedlib.fl.fmtl.FMTLParty`) has it restored from the
node's ``Context.state`` before ``train`` and ``evaluate`` and saved after ``train``
(:mod:`fedlib.flower.party_state`); it never goes to the server.

References: Beutel et al. 2020 (Flower); Flower 1.4x ``ClientApp`` (Message API).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fedlib.fl.strategies import FederatedParty
from fedlib.flower.env import offline
from fedlib.flower.party_state import restore_party_state, save_party_state
from fedlib.flower.records import CONFIG, pack, unpack_metrics, unpack_vector
from fedlib.flower.state import restore_accountant, save_accountant

__all__ = ["PARTITION_ID", "node_client_app", "party_client_app", "party_of", "roster_entry"]

#: The node config key naming which party a node runs (Flower's simulation sets it).
PARTITION_ID = "partition-id"


def party_of(parties: Sequence[FederatedParty], node_config: dict[str, Any]
             ) -> tuple[int, FederatedParty]:
    """The position and party a node runs, from its ``partition-id``.

    >>> class P: name = "a"
    >>> party_of([P()], {"partition-id": 0})[0]
    0
    """
    index = int(node_config[PARTITION_ID])
    if not 0 <= index < len(parties):
        raise ValueError(f"partition-id {index} names no party; there are {len(parties)}")
    return index, parties[index]


def roster_entry(index: int, party: FederatedParty) -> dict[str, Any]:
    """What a node tells the server about its party (the reply to ``query``).

    >>> class P: name, num_examples, private = "a", 5, False
    >>> roster_entry(0, P())
    {'index': 0, 'name': 'a', 'num_examples': 5, 'private': False}
    """
    return {"index": int(index), "name": party.name, "num_examples": int(party.num_examples),
            "private": bool(party.private)}


def party_client_app(parties: Sequence[FederatedParty], *, mods: Sequence[Any] = ()) -> Any:
    """A Flower ``ClientApp`` whose node ``k`` is ``parties[k]``.

    Parameters
    ----------
    parties
        The book's parties in the order the strategy sees them (the local engine's order).
    mods
        Flower client mods, outermost first (e.g. :func:`fedlib.flower.dropouts.dropout_mod`).

    Returns
    -------
    flwr.clientapp.ClientApp
    """
    parties = list(parties)
    return node_client_app(lambda context: party_of(parties, context.node_config), mods=mods)


def node_client_app(resolve: Callable[[Any], tuple[int, FederatedParty]], *,
                    mods: Sequence[Any] = ()) -> Any:
    """A Flower ``ClientApp`` whose node runs the party ``resolve(context)`` names.

    ``resolve`` receives Flower's ``Context`` (its ``node_config`` and ``run_config``) and
    returns the party's position and the party; :func:`party_client_app` picks it from a
    list, :func:`fedlib.flower.deployment.deployed_client_app` loads it from the node's own
    data file.

    Returns
    -------
    flwr.clientapp.ClientApp
    """
    offline()
    from flwr.app import ConfigRecord, Message  # optional extra [flower]
    from flwr.clientapp import ClientApp  # optional extra [flower]

    app = ClientApp(mods=list(mods))

    @app.query()
    def roster(msg: Message, context: Any) -> Message:
        return Message(pack(config=roster_entry(*resolve(context))), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Any) -> Message:
        _, party = resolve(context)
        restore_accountant(party, context.state)     # a DP party's ledger, from the node
        restore_party_state(party, context.state)    # its personal state (FMTL), from the node
        result = party.fit(unpack_vector(msg.content), unpack_metrics(msg.content, CONFIG))
        ledger = save_accountant(party, context.state, ConfigRecord)
        save_party_state(party, context.state)
        metrics = {"num_examples": int(result.num_examples), **result.metrics, **ledger}
        return Message(pack(vector=result.parameters, metrics=metrics), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Any) -> Message:
        _, party = resolve(context)
        restore_party_state(party, context.state)    # FMTL evaluates its personal model
        metrics = party.evaluate(unpack_vector(msg.content), unpack_metrics(msg.content, CONFIG))
        return Message(pack(metrics=metrics or {}), reply_to=msg)

    return app
