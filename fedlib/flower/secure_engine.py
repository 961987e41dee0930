"""The Flower engine with the book's secure aggregation: the round loop's masked rounds on Flower.

Chapter 1 protects its FMTL runs with the book's secure aggregation
(:class:`~fedlib.crypto.secagg.SecureAggregation`, Bonawitz et al. 2017), a
:class:`~fedlib.fl.loop.RoundProtection`: a fresh protocol run per round, whose parties
exchange keys and shares, upload masked contributions and help unmask their sum. On the local
engine :class:`~fedlib.fl.loop.RoundLoop` plays every party in this process. Here the same
loop runs inside a Flower ``ServerApp`` (:class:`SecureFlowerEngine`, a
:class:`~fedlib.flower.engine.FlowerEngine`) and every phase is a message to the parties'
nodes, the four ``train.bookagg_*`` messages of :mod:`fedlib.flower.bookagg` (server side:
the same :class:`~fedlib.crypto.secagg.SecAggServer`; node side:
:mod:`fedlib.flower.bookagg_client`).

How the loop's steps map onto the phases. The loop asks its transport to ``fit`` and then
opens the round's protection (``new_round`` → ``setup(dropouts)``), takes each uploader's
payload, sums them (``aggregate``) and recovers the sum (``recover``). A node may only train
in the masked phase: a plain ``train`` reply would show the server its update. So:

- :class:`DeferredTransport` — ``fit`` sends nothing; it keeps the round's instructions and
  hands the loop one :class:`~fedlib.fl.strategies.FitResult` per party with no vector (the
  fit metrics are filled in when the masked replies arrive);
- :class:`GridSecAggRound` — ``setup`` runs AdvertiseKeys, ShareKeys and
  MaskedInputCollection over the grid (each node trains there, with the instruction the
  loop's generator drew, and replies with its masked vector ``y_u``); the loop gets each
  ``y_u`` from :meth:`DeferredTransport.uploaded`; ``aggregate`` is the server's sum mod
  2^64; ``recover`` is the Unmasking phase. Every message is logged to the loop's transcript
  as the local :class:`~fedlib.crypto.secagg.SecureAggregationRound` logs it, so the bytes
  the server received are counted alike.

Same seed, same numbers: the loop draws samples, training seeds and dropouts as locally; the
masks cancel exactly mod 2^64, so the decoded sum equals the local one bit for bit (both
encode the same contributions with the same codec).

Personal state and ledgers. The masked phase's handler trains the node's party through
:func:`~fedlib.flower.client.fit_on_node`, as the plain ``train`` handler does: it restores
the party's personal state (FMTL's ``W_i``, ``V_i``) and its DP ledger from the node's
``Context.state`` (:mod:`fedlib.flower.state`) before and saves them after, and the engine
reads both back after the run.

Dropouts. The loop draws who drops in which phase, as locally, after every party "trained"
(locally they all have). On Flower the server tells a dropping party in that phase's
message (:data:`~fedlib.flower.bookagg.DROP_RECORD`) and the node handles the message, then
answers with an error instead of its reply: a party that drops in ``"masked"`` trained (its
personal state and ledger advance, as locally) but never uploads; one that drops in
``"unmask"`` uploaded but sends no shares. A party that dropped in ``"advertise"`` or
``"share"`` would never reach the masked phase and so never train, unlike locally:
:meth:`SecureFlowerEngine.check` refuses those phases. Any other missing reply is a failure
that stops the run.

Why a module above :mod:`fedlib.flower.engine`. The node side of the protocol
(:mod:`fedlib.flower.bookagg_client`) imports Flower's SecAgg+ adapter, which imports the
simulation, which imports the engine; the engine cannot import it back
(``tests/test_layers.py``). :func:`engine_for` here is therefore the one that knows the
secure engine; :func:`fedlib.flower.engine.engine_for` gives the plain one.

References: Bonawitz et al. 2017, §4 and Fig. 4; paper 000 §4.3 (secure aggregation of the
FMTL uploads); Beutel et al. 2020 (Flower).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fedlib.core.transcript import Transcript
from fedlib.crypto.secagg import (
    PHASES,
    MaskedSum,
    SecAggProtocolError,
    SecAggServer,
    SecureAggregation,
)
from fedlib.fl.loop import SERVER, Engine, LocalEngine, RoundLoop, RoundProtection, Transport
from fedlib.fl.strategies import FederatedParty, FitInstruction, FitResult
from fedlib.flower.bookagg import (
    DROP_RECORD,
    BookSecAgg,
    Phases,
    ask_unmask,
    collect_masked,
    exchange_keys,
    masked_inputs,
)
from fedlib.flower.bookagg_client import add_bookagg_handlers
from fedlib.flower.bookagg_wire import PHASE_OF_MESSAGE_TYPE
from fedlib.flower.client import initial_states, node_client_app, party_of
from fedlib.flower.engine import FlowerEngine, node_parties
from fedlib.flower.installed import ENGINES
from fedlib.flower.records import METRICS, unpack_metrics
from fedlib.flower.server import RemoteParty

__all__ = ["FLOWER_DROPOUT_PHASES", "DeferredTransport", "GridSecAggRound",
           "GridSecureAggregation", "SecureFlowerEngine", "bookagg_drop_mod", "engine_for",
           "secure_client_app"]

#: The dropout phases a secure run may draw on Flower (see the module docstring).
FLOWER_DROPOUT_PHASES = ("masked", "unmask")


def engine_for(name: str, **options: Any) -> Engine:
    """The engine a chapter's ``fl_engine`` value names, secure aggregation included.

    ``"local"``: :class:`~fedlib.fl.loop.LocalEngine`; ``"flower"``:
    :class:`SecureFlowerEngine` with ``options`` (:class:`~fedlib.flower.engine.FlowerEngine`'s).

    >>> engine_for("local").name
    'local'
    """
    if name == "local":
        return LocalEngine()
    if name == "flower":
        return SecureFlowerEngine(**options)
    raise ValueError(f"fl_engine={name!r}: allowed values are {ENGINES}")


class DeferredTransport:
    """A secure round's transport: training waits for the masked phase.

    :meth:`fit` keeps the instructions and returns, per party, a
    :class:`~fedlib.fl.strategies.FitResult` without a vector (its size from the roster; its
    metrics filled in by :class:`GridSecAggRound` from the masked reply). :meth:`uploaded`
    gives the loop each party's masked input.
    """

    def __init__(self, grid: Any, roster: Sequence[RemoteParty], *, timeout: float) -> None:
        self.grid, self.timeout = grid, timeout
        self.node_of = {p.name: p.node_id for p in roster}
        self.size_of = {p.name: p.num_examples for p in roster}
        self.instructions: list[FitInstruction] = []
        self.results: dict[str, FitResult] = {}
        self.payloads: dict[str, Any] = {}

    def fit(self, round: int, instructions: Sequence[FitInstruction]) -> dict[str, FitResult]:
        """Keep the round's instructions; nothing is sent before the keys are exchanged."""
        self.instructions, self.payloads = list(instructions), {}
        self.results = {i.party: FitResult(np.empty(0), self.size_of[i.party], {})
                        for i in instructions}
        return dict(self.results)

    def uploaded(self, round: int, party: str) -> Any | None:
        """``party``'s masked input of this round (a node always masks its own)."""
        return self.payloads.get(party)


class GridSecAggRound:
    """One round of the book's secure aggregation over the ``Grid``, as the loop's protection.

    The loop's :class:`~fedlib.fl.loop.RoundProtection` session (``setup``, ``uploaders``,
    ``aggregate``, ``recover``); see the module docstring for what each step sends.
    """

    kind = "masked"
    upload_label = "masked_input"

    def __init__(self, clients: Sequence[str], *, protection: SecureAggregation,
                 transport: DeferredTransport, weight_in_upload: bool, round: int | None,
                 transcript: Transcript) -> None:
        self.server = SecAggServer(list(clients), threshold=protection.threshold,
                                   codec=protection.codec, round=round)
        self.settings = BookSecAgg(threshold=protection.threshold, codec=protection.codec,
                                   timeout=transport.timeout)
        self.transport, self.weight_in_upload = transport, weight_in_upload
        self.round, self.transcript = round, transcript
        self.uploaders: tuple[str, ...] = ()
        self.phases: Phases | None = None
        self.drops: dict[str, set[str]] = {}

    def _send(self, sender: str, receiver: str, kind: str, payload: Any, label: str) -> Any:
        return self.transcript.send(sender=sender, receiver=receiver, kind=kind,
                                    payload=payload, label=label, round=self.round)

    def _all_answered(self, phase: str, asked: Sequence[str], answered: Any) -> None:
        """Every asked party answered, but those the loop made drop: else a node failed."""
        failed = [c for c in asked if c not in answered and c not in self.drops.get(phase, ())]
        if failed:
            raise RuntimeError(f"round {self.round}, phase {phase!r}: no reply from the nodes "
                               f"of {failed} (a node failure, not a simulated dropout)")

    def setup(self, dropouts: Mapping[str, set[str]]) -> None:
        """AdvertiseKeys, ShareKeys and MaskedInputCollection: every node trains and masks."""
        unknown = set(dropouts) - set(PHASES)
        if unknown:
            raise ValueError(f"dropouts: phases {sorted(unknown)} are not among {PHASES}")
        self.drops = {phase: set(who) for phase, who in dropouts.items()}
        self.phases = Phases(self.transport.grid, self.round, self.transport.node_of,
                             self.transport.timeout, dropping=self.drops)
        server = self.server
        exchange = exchange_keys(self.phases, server)
        self._all_answered("advertise", server.clients, exchange.keys)
        self._all_answered("share", server.u1, exchange.outbox)
        # Logged as the local round logs them: what each party sent and was sent.
        for c, keys in exchange.keys.items():
            self._send(c, SERVER, "key", keys, "advertise_keys")
        for c in server.u1:
            self._send(SERVER, c, "key", exchange.roster, "roster")
        for c, shares in exchange.outbox.items():
            self._send(c, SERVER, "ciphertext", shares, "encrypted_shares")
        for v in server.u2:
            self._send(SERVER, v, "ciphertext", exchange.inboxes[v], "forwarded_shares")
        replies = collect_masked(self.phases, server, self.transport.instructions,
                                 exchange.inboxes, protocol=self.settings,
                                 weight_in_upload=self.weight_in_upload)
        self._all_answered("masked", server.u2, replies)
        for masked in masked_inputs(replies):
            self.transport.payloads[masked.party] = masked
            metrics = unpack_metrics(replies[masked.party], METRICS)
            metrics.pop("num_examples", None)
            self.transport.results[masked.party].metrics.update(metrics)
        self.uploaders = tuple(u for u in server.u2 if u in replies)

    def protect(self, party: str, vector: np.ndarray) -> Any:
        """Never called: on Flower each node masks its own contribution."""
        raise SecAggProtocolError(f"{party}: on Flower a node masks its own contribution; the "
                                  "server never holds a plain update to mask")

    def aggregate(self, payloads: Sequence[Any]) -> MaskedSum:
        """The server's sum of the masked inputs mod 2^64 (fixes ``U3``)."""
        return self.server.aggregate(payloads)

    def recover(self, aggregate: MaskedSum) -> np.ndarray:
        """Unmasking: the survivors' shares over the grid, the masks removed, the sum decoded."""
        alive = self.server.survivors(aggregate)
        responses = ask_unmask(self.phases, alive)
        self._all_answered("unmask", alive, responses)
        for u in alive:
            self._send(SERVER, u, "public", list(alive), "survivors")
            if u in responses:
                self._send(u, SERVER, "share", responses[u], "unmask_shares")
        return self.server.unmask(aggregate, responses)


class GridSecureAggregation:
    """Stands in for the loop's :class:`~fedlib.crypto.secagg.SecureAggregation` on Flower.

    Same threshold and codec; each round's session is a :class:`GridSecAggRound` over the
    transport's grid.
    """

    kind = "masked"

    def __init__(self, protection: SecureAggregation, *, weight_in_upload: bool) -> None:
        self.protection, self.weight_in_upload = protection, weight_in_upload
        self.transport: DeferredTransport | None = None

    def new_round(self, clients: Sequence[str], *, round: int | None = None,
                  transcript: Transcript | None = None) -> GridSecAggRound:
        """A fresh protocol run among ``clients`` over the grid, logged to ``transcript``."""
        if self.transport is None:
            raise RuntimeError("the secure rounds run only inside SecureFlowerEngine.run")
        return GridSecAggRound(clients, protection=self.protection, transport=self.transport,
                               weight_in_upload=self.weight_in_upload, round=round,
                               transcript=transcript if transcript is not None
                               else self.protection.transcript)


def bookagg_drop_mod(parties: Sequence[FederatedParty]) -> Callable:
    """A client mod for the protocol's messages: a party that drops out after its phase's work.

    A phase message carrying :data:`~fedlib.flower.bookagg.DROP_RECORD` is handled, then
    answered with an error: the party drops out after doing that phase's work (in the masked
    phase it has trained, as on the local engine). The error is returned, not raised, because
    Flower keeps a node's ``Context`` only from a ``ClientApp`` that returned. The party's
    personal state and ledgers are restored and saved by the masked phase's handler itself
    (:func:`~fedlib.flower.client.fit_on_node`).
    """
    parties = list(parties)

    def mod(msg: Any, context: Any, call_next: Any) -> Any:
        phase = PHASE_OF_MESSAGE_TYPE.get(msg.metadata.message_type)
        reply = call_next(msg, context)
        if phase is None or DROP_RECORD not in msg.content.config_records:
            return reply
        from flwr.app import Error, Message  # optional extra [flower]

        name = party_of(parties, context.node_config)[1].name
        return Message(Error(code=0, reason=f"{name} drops out in round "
                                            f"{msg.metadata.group_id}, phase {phase!r}"),
                       reply_to=msg)

    return mod


def secure_client_app(parties: Sequence[FederatedParty]) -> Any:
    """A ``ClientApp`` whose node ``k`` runs ``parties[k]`` in the book's secure aggregation.

    The plain handlers (:func:`~fedlib.flower.client.node_client_app`), the four phases
    (:func:`~fedlib.flower.bookagg_client.add_bookagg_handlers`) and
    :func:`bookagg_drop_mod`, all resolving the same party objects; every node starts from
    its party's state as it is now (:func:`~fedlib.flower.client.initial_states`).
    """
    parties = list(parties)

    def resolve(context: Any) -> tuple[int, FederatedParty]:
        return party_of(parties, context.node_config)

    initial = initial_states(parties)
    return add_bookagg_handlers(node_client_app(resolve, mods=[bookagg_drop_mod(parties)],
                                                initial=initial), resolve, initial=initial)


def _secure(loop: RoundLoop) -> SecureAggregation | None:
    """The loop's one secure aggregation, ``None`` without; an error for a mix."""
    round_protections = {id(p): p for p in loop.protections.values()
                         if isinstance(p, RoundProtection)}
    if not round_protections:
        return None
    protection = next(iter(round_protections.values()))
    if len(round_protections) > 1 or len(round_protections) != len(
            {id(p) for p in loop.protections.values()}):
        raise ValueError("on fl_engine 'flower' the book's secure aggregation must protect "
                         "every party with one SecureAggregation object (no mixed federation)")
    if not isinstance(protection, SecureAggregation | GridSecureAggregation):
        raise ValueError(f"protection {type(protection).__name__} does not run on fl_engine "
                         "'flower'; allowed: plaintext, CKKS and the book's SecureAggregation")
    return protection.protection if isinstance(protection, GridSecureAggregation) else protection


class SecureFlowerEngine(FlowerEngine):
    """:class:`~fedlib.flower.engine.FlowerEngine`, plus the book's secure aggregation.

    A loop without a :class:`~fedlib.fl.loop.RoundProtection` runs exactly as on
    :class:`~fedlib.flower.engine.FlowerEngine`; one whose parties share a
    :class:`~fedlib.crypto.secagg.SecureAggregation` runs its rounds through the protocol's
    four phases on the nodes (module docstring). Parameters as for
    :class:`~fedlib.flower.engine.FlowerEngine`.
    """

    def check(self, loop: RoundLoop) -> None:
        """Raise a ``ValueError`` naming what is allowed if ``loop`` cannot run here."""
        secure = _secure(loop)
        if secure is None:
            super().check(loop)
            return
        BookSecAgg(threshold=secure.threshold, codec=secure.codec).check(len(loop.parties))
        if self.dropouts is not None:
            raise ValueError("a node failure plan (dropouts=) applies to plain train messages; "
                             "with the book's secure aggregation use the loop's dropout_rate")
        early = sorted(set(loop.dropout_phases) - set(FLOWER_DROPOUT_PHASES))
        if loop.dropout_rate > 0 and early:
            raise ValueError(f"dropout_phases {early}: on fl_engine 'flower' a party that drops "
                             "before the masked phase never trains (locally it does); allowed "
                             f"phases there: {FLOWER_DROPOUT_PHASES}")

    def client_app(self, loop: RoundLoop) -> Any:
        """The nodes' ``ClientApp``: :func:`secure_client_app` for a secure loop."""
        if _secure(loop) is None:
            return super().client_app(loop)
        return secure_client_app(node_parties(loop.parties))

    def transport(self, loop: RoundLoop, grid: Any, roster: Sequence[RemoteParty]) -> Transport:
        """:class:`DeferredTransport` for a secure loop, whose protection then uses it."""
        if _secure(loop) is None:
            return super().transport(loop, grid, roster)
        transport = DeferredTransport(grid, roster, timeout=self.timeout)
        for protection in loop.protections.values():
            protection.transport = transport
        return transport

    def run(self, loop: RoundLoop, rounds: int, *, on_round: Callable | None = None) -> list:
        """As :meth:`FlowerEngine.run <fedlib.flower.engine.FlowerEngine.run>`.

        A secure loop's protection is replaced, for the run only, by a
        :class:`GridSecureAggregation` of the same settings.
        """
        secure = _secure(loop)
        if secure is None:
            return super().run(loop, rounds, on_round=on_round)
        self.check(loop)
        original = loop.protections
        grid_protection = GridSecureAggregation(
            secure, weight_in_upload=bool(loop.strategy.weight_in_upload))
        loop.protections = {name: grid_protection for name in original}
        try:
            return super().run(loop, rounds, on_round=on_round)
        finally:
            loop.protections = original
