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
of the parties). So what a party keeps between rounds — its privacy accountants' ledgers and
its own state (an FMTL institution's personal model, :class:`~fedlib.fl.fmtl.FMTLParty`) —
lives in the node's ``Context.state`` (:mod:`fedlib.flower.state`). :func:`fit_on_node` is
the one body of every way a node trains (this ``train``, SecAgg+'s masked stage in
:mod:`fedlib.flower.secagg`, the book's masked phase in :mod:`fedlib.flower.bookagg_client`):
restore the node's state into the party, fit, save it back, and reply with the fit metrics
and the ledgers' report (:mod:`fedlib.flower.ledgers`: what the server may see of the
accountants). ``evaluate`` restores the party's own state only (FMTL evaluates its personal
model).

References: Beutel et al. 2020 (Flower); Flower 1.4x ``ClientApp`` (Message API).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fedlib.fl.strategies import FederatedParty, FitResult
from fedlib.flower.env import offline
from fedlib.flower.records import CONFIG, pack, plain_config, unpack_metrics, unpack_vector
from fedlib.flower.state import node_state, restore_node_state, save_node_state

__all__ = ["PARTITION_ID", "fit_on_node", "initial_states", "node_client_app",
           "party_client_app", "party_of", "roster_entry"]

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


def initial_states(parties: Sequence[FederatedParty]) -> list[dict[str, Any]]:
    """Each party's state now (:func:`~fedlib.flower.state.node_state`), by position.

    A ``ClientApp`` built over party objects takes this snapshot when it is built: it is what
    a node starts from before it has saved anything (so a caller's accountant that already
    held steps goes on composing, as on the local engine), and it cannot be changed by what
    happens to the party objects afterwards.
    """
    return [node_state(p) for p in parties]


def fit_on_node(party: FederatedParty, parameters: np.ndarray, config: Mapping[str, Any],
                context: Any, *, initial: Mapping[str, Any] | None = None) -> FitResult:
    """Restore the node's state into ``party``, fit it, save the state back: one ``train``.

    The one body of every way a node trains: a plain ``train`` (:func:`node_client_app`),
    SecAgg+'s masked stage (:func:`fedlib.flower.secagg.masked_stage_reply`) and the book's
    masked phase (:func:`fedlib.flower.bookagg_client.masked_reply`).

    Parameters
    ----------
    party
        The node's party (a fresh or stale object: its state is replaced by the node's).
    parameters, config
        The global parameters and the fit config of the message.
    context
        Flower's ``Context`` of the node; its ``state`` holds what the node keeps
        (:mod:`fedlib.flower.state`).
    initial
        What the node starts from if it has saved nothing yet (:func:`initial_states`;
        ``None``: a party that never trained).

    Returns
    -------
    FitResult
        The party's new parameters and ``num_examples``; its ``metrics`` are the party's fit
        metrics with ``num_examples`` and the ledgers' report
        (:func:`~fedlib.flower.ledgers.ledger_report`), as Flower's records hold them.
    """
    restore_node_state(party, context.state, initial)
    result = party.fit(parameters, dict(config))
    report = save_node_state(party, context.state)
    metrics = plain_config({**result.metrics, "num_examples": int(result.num_examples),
                            **report})
    return FitResult(result.parameters, int(result.num_examples), metrics)


def party_client_app(parties: Sequence[FederatedParty], *, mods: Sequence[Any] = ()) -> Any:
    """A Flower ``ClientApp`` whose node ``k`` is ``parties[k]``.

    Each node starts from its party's state as it is now (:func:`initial_states`).

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
    return node_client_app(lambda context: party_of(parties, context.node_config), mods=mods,
                           initial=initial_states(parties))


def node_client_app(resolve: Callable[[Any], tuple[int, FederatedParty]], *,
                    mods: Sequence[Any] = (),
                    initial: Sequence[Mapping[str, Any]] | None = None) -> Any:
    """A Flower ``ClientApp`` whose node runs the party ``resolve(context)`` names.

    ``resolve`` receives Flower's ``Context`` (its ``node_config`` and ``run_config``) and
    returns the party's position and the party; :func:`party_client_app` picks it from a
    list, :func:`fedlib.flower.deployment.deployed_client_app` loads it from the node's own
    data file. ``initial[k]`` is what node ``k`` starts from (:func:`initial_states`;
    ``None``: every node starts empty, as a party loaded afresh is).

    Returns
    -------
    flwr.clientapp.ClientApp
    """
    offline()
    from flwr.app import Message  # optional extra [flower]
    from flwr.clientapp import ClientApp  # optional extra [flower]

    app = ClientApp(mods=list(mods))

    def start(index: int) -> Mapping[str, Any] | None:
        return None if initial is None else initial[index]

    @app.query()
    def roster(msg: Message, context: Any) -> Message:
        return Message(pack(config=roster_entry(*resolve(context))), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Any) -> Message:
        index, party = resolve(context)
        result = fit_on_node(party, unpack_vector(msg.content),
                             unpack_metrics(msg.content, CONFIG), context, initial=start(index))
        return Message(pack(vector=result.parameters, metrics=result.metrics), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Any) -> Message:
        index, party = resolve(context)
        # FMTL evaluates its personal model; the ledgers play no part here.
        restore_node_state(party, context.state, start(index), ledgers=False)
        metrics = party.evaluate(unpack_vector(msg.content), unpack_metrics(msg.content, CONFIG))
        return Message(pack(metrics=metrics or {}), reply_to=msg)

    return app
