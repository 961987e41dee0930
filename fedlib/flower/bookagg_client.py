"""The client side of the book's secure aggregation on Flower: one ``train`` action per phase.

How a node takes part. The server (:mod:`fedlib.flower.bookagg`) sends one message per
protocol phase of :class:`fedlib.crypto.secagg.SecAggClient`, of type ``train.<action>``
(:data:`~fedlib.flower.bookagg_wire.MESSAGE_TYPE`), and the ``ClientApp`` answers each with
its own handler (:func:`add_bookagg_handlers`):

``train.bookagg_advertise``
    a fresh client for this round (two new X25519 key pairs); replies with the public keys.
``train.bookagg_share``
    the roster; replies with one encrypted share pair per peer.
``train.bookagg_masked``
    the shares the server relayed, the global parameters and the fit config: the node
    decrypts its shares, trains its party (:func:`~fedlib.flower.client.fit_on_node`, with
    the party's state and ledgers kept in the node's state as on every path), forms its
    FedAvg contribution as the local
    engine does (:func:`~fedlib.fl.strategies.contribution`), encodes it
    (:class:`~fedlib.crypto.fixedpoint.FixedPointCodec`) and replies with its masked vector
    ``y_u`` (``uint64``) and its fit metrics.
``train.bookagg_unmask``
    the survivors ``U3``; replies with its shares of the dropped clients' mask keys and of the
    survivors' self-mask seeds, refusing to reveal both for one client.

Why actions and not a mod. Flower 1.42's Message API routes a message of type
``<category>.<action>`` to the function registered with ``@app.train("<action>")``. Flower's
own ``secaggplus_mod`` instead wraps the default ``train`` handler and reads the stage from a
record, because SecAgg+ serves the legacy strategies, which only ever send ``train``. The
book's ``ServerApp`` writes its own messages, so each phase is its own message type and
handler; the handlers are added to a ``ClientApp`` that :func:`~fedlib.flower.client.
node_client_app` built, so the node answers the book's ``query`` (roster) and plain ``train``
and ``evaluate`` as before.

State. Nothing of a ``ClientApp`` object outlives a message (:mod:`fedlib.flower.state`). So
every handler rebuilds the round's client from the node's ``Context.state``
(:meth:`SecAggClient.from_state <fedlib.crypto.secagg.SecAggClient.from_state>`), acts, and
writes it back (:meth:`~fedlib.crypto.secagg.SecAggClient.export_state`: private keys, the
self-mask seed, the shares it holds, the roster, ``U2``, what it revealed). The state stays
on the node; only the replies travel.

Dropouts are simulated by :func:`bookagg_dropout_mod`, the plan of
:mod:`fedlib.flower.dropouts` read from the message type: a party named in a phase fails that
phase's message, and the server counts it as gone from then on, as the local engine's
``dropouts[phase]`` does.

References: Bonawitz et al. 2017, §4 and Fig. 4; Flower 1.42 ``ClientApp`` (message types
with actions).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

from fedlib.crypto.fixedpoint import FixedPointCodec
from fedlib.crypto.secagg import SecAggClient, SecAggProtocolError
from fedlib.fl.strategies import FederatedParty, contribution
from fedlib.flower.bookagg_wire import (
    ACTION,
    PHASE_OF_MESSAGE_TYPE,
    PROTOCOL_RECORD,
    STATE_RECORD,
    roster_from_record,
    shares_from_record,
    shares_record,
    survivors_from_record,
    unmask_record,
)
from fedlib.flower.client import (
    PARTITION_ID,
    fit_on_node,
    initial_states,
    node_client_app,
    party_of,
)
from fedlib.flower.dropouts import SimulatedDropout, drops, normalise_plan
from fedlib.flower.env import offline
from fedlib.flower.records import ARRAYS, CONFIG, METRICS, plain_config, unpack_metrics
from fedlib.flower.secagg import WEIGHT_IN_UPLOAD

__all__ = ["add_bookagg_handlers", "bookagg_client_app", "bookagg_dropout_mod",
           "masked_reply"]

Resolve = Callable[[Any], tuple[int, FederatedParty]]


def _protocol(msg: Any) -> Any:
    if PROTOCOL_RECORD not in msg.content.config_records:
        raise SecAggProtocolError(f"{msg.metadata.message_type}: no {PROTOCOL_RECORD!r} record")
    return msg.content.config_records[PROTOCOL_RECORD]


def _restore(context: Any, fields: Any, name: str) -> SecAggClient:
    """The round's client from the node's state; refuses a state of another round or party."""
    if STATE_RECORD not in context.state.config_records:
        raise SecAggProtocolError(f"{name}: no secure-aggregation state on this node; the "
                                  "round must start with its advertise phase")
    client = SecAggClient.from_state(context.state.config_records[STATE_RECORD])
    if client.name != name or client.round_id != int(fields["round"]):
        raise SecAggProtocolError(f"{name}: the node's state is {client.name}'s of round "
                                  f"{client.round_id}, the message is of round {fields['round']}")
    return client


def add_bookagg_handlers(app: Any, resolve: Resolve, *,
                         initial: Sequence[Mapping[str, Any]] | None = None) -> Any:
    """Register the four phases' handlers on ``app`` (a Flower ``ClientApp``) and return it.

    ``resolve(context)`` gives the node's party and ``initial`` what each node starts from,
    as for :func:`~fedlib.flower.client.node_client_app`.
    """
    offline()
    from flwr.app import ConfigRecord, Message, RecordDict  # optional extra [flower]

    def reply(msg: Any, fields: Mapping[str, Any]) -> Any:
        return Message(RecordDict({PROTOCOL_RECORD: ConfigRecord(dict(fields))}), reply_to=msg)

    def save(context: Any, client: SecAggClient) -> None:
        context.state.config_records[STATE_RECORD] = ConfigRecord(client.export_state())

    @app.train(ACTION["advertise"])
    def advertise(msg: Any, context: Any) -> Any:
        _, party = resolve(context)
        fields = _protocol(msg)
        if fields["party"] != party.name:
            raise SecAggProtocolError(f"this node runs {party.name}, not {fields['party']}")
        client = SecAggClient(party.name, int(fields["index"]), round_id=int(fields["round"]),
                              threshold=int(fields["threshold"]),
                              n_total=int(fields["n_total"]), entropy=None)
        save(context, client)                    # replaces any earlier round's client
        return reply(msg, client.advertise())

    @app.train(ACTION["share"])
    def share(msg: Any, context: Any) -> Any:
        _, party = resolve(context)
        fields = _protocol(msg)
        client = _restore(context, fields, party.name)
        ciphertexts = client.share_keys(roster_from_record(fields))
        save(context, client)
        return reply(msg, shares_record(ciphertexts))

    @app.train(ACTION["masked"])
    def masked(msg: Any, context: Any) -> Any:
        index, party = resolve(context)
        fields = _protocol(msg)
        client = _restore(context, fields, party.name)
        client.receive_shares(shares_from_record(fields))
        content = masked_reply(party, client, msg.content, context,
                               FixedPointCodec(frac_bits=int(fields["frac_bits"]),
                                               clip=float(fields["clip"])),
                               initial=None if initial is None else initial[index])
        save(context, client)
        return Message(content, reply_to=msg)

    @app.train(ACTION["unmask"])
    def unmask(msg: Any, context: Any) -> Any:
        _, party = resolve(context)
        fields = _protocol(msg)
        client = _restore(context, fields, party.name)
        shares = client.unmask(survivors_from_record(fields))
        save(context, client)                    # what it revealed, so it never reveals both
        return reply(msg, unmask_record(shares))

    return app


def masked_reply(party: FederatedParty, client: SecAggClient, content: Any, context: Any,
                 codec: FixedPointCodec, *, initial: Mapping[str, Any] | None = None) -> Any:
    """Train ``party`` on the message's parameters and return its masked contribution.

    The party trains as on every path, with its node's state restored and saved
    (:func:`~fedlib.flower.client.fit_on_node`, ``context`` the node's ``Context``, ``initial``
    as there). The reply's ``arrays`` record holds ``y_u`` (``uint64``); its ``metrics`` hold
    the party's fit metrics, ``num_examples``, the ledgers' report and ``clipped``
    (coordinates of the contribution outside the codec's ``[-clip, clip]``, saturated when
    encoded), as the plain path reports them.
    """
    offline()
    from flwr.app import ArrayRecord, MetricRecord, RecordDict  # optional extra [flower]

    (parameters,) = content[ARRAYS].to_numpy_ndarrays()
    config = unpack_metrics(content, CONFIG)
    in_band = bool(config.pop(WEIGHT_IN_UPLOAD))
    result = fit_on_node(party, parameters, config, context, initial=initial)
    upload = contribution(np.asarray(result.parameters, dtype=np.float64), config["weight"],
                          weight_in_upload=in_band)
    clipped = codec.count_clipped(upload)
    masked = client.masked_input(codec.encode(upload, on_clip="ignore"))
    metrics = plain_config({**result.metrics, "clipped": clipped})
    return RecordDict({ARRAYS: ArrayRecord([masked.y]), METRICS: MetricRecord(metrics)})


def bookagg_dropout_mod(plan: Mapping[int, Mapping[str, Collection[str]]],
                        names: Sequence[str]) -> Any:
    """A client mod that fails the phase messages ``plan`` names (round → phase → names).

    The phase is read from the message type (:data:`~fedlib.flower.bookagg_wire.
    PHASE_OF_MESSAGE_TYPE`), the round from its ``group_id``; other messages pass.
    """
    plan, names = normalise_plan(plan), list(names)

    def mod(msg: Any, context: Any, call_next: Any) -> Any:
        phase = PHASE_OF_MESSAGE_TYPE.get(msg.metadata.message_type)
        if phase is not None and msg.metadata.group_id.isdigit():
            name = names[int(context.node_config[PARTITION_ID])]
            if drops(plan, int(msg.metadata.group_id), phase, name):
                raise SimulatedDropout(f"{name} drops out in round {msg.metadata.group_id}, "
                                       f"phase {phase!r}")
        return call_next(msg, context)

    return mod


def bookagg_client_app(parties: Sequence[FederatedParty], *,
                       dropouts: Mapping[int, Mapping[str, Collection[str]]] | None = None
                       ) -> Any:
    """A ``ClientApp`` whose node ``k`` runs ``parties[k]`` in the book's secure aggregation.

    The node answers the book's ``query``, ``train`` and ``evaluate``
    (:func:`~fedlib.flower.client.node_client_app`) and the four phases
    (:func:`add_bookagg_handlers`), each starting from its party's state as it is now
    (:func:`~fedlib.flower.client.initial_states`); ``dropouts`` (round → phase → names) makes
    those parties fail that phase (:func:`bookagg_dropout_mod`).
    """
    parties = list(parties)
    initial = initial_states(parties)

    def resolve(context: Any) -> tuple[int, FederatedParty]:
        return party_of(parties, context.node_config)

    mods = [bookagg_dropout_mod(dropouts, [p.name for p in parties])] if dropouts else []
    return add_bookagg_handlers(node_client_app(resolve, mods=mods, initial=initial), resolve,
                                initial=initial)
