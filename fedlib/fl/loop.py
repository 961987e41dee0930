"""The one round loop of horizontal federated learning.

One round, as ARCHITECTURE.md's data flow: the strategy picks the parties and their
instructions → the server broadcasts the global parameters → every instructed party trains
locally (its trainer decides plain SGD, DP-SGD or FMTL's proximal step) → simulated dropouts
are drawn → each surviving party turns its result into its weighted contribution and protects
it (plaintext, CKKS, secure aggregation masks) → the server aggregates each protection's
payloads without any secret → the key holders recover the sums → the strategy turns what
arrived into the new global model → the strategy evaluates it. Every message goes through
the :class:`~fedlib.core.transcript.Transcript`.

FedAvg (chapter 2), FMTL (chapter 1) and reputation-screened FedAvg (chapter 4) are
strategies of :mod:`fedlib.fl.strategies` on this loop; :class:`fedlib.fl.federation.Federation`,
:func:`fedlib.fl.fmtl.run_federated` and :func:`fedlib.fl.screening.run_screened_fedavg` are
thin wrappers that keep their chapters' interfaces.

Protections. An :class:`~fedlib.fl.protection.UpdateProtection` (plaintext, CKKS) is one object
for the whole run. A :class:`RoundProtection` (secure aggregation) opens a fresh protocol run
per round (new keys) with the round's parties and dropouts; it reports who can still upload
(``uploaders``) and recovers the sum itself from the survivors' shares. If it aborts (fewer
than ``t`` survivors), nothing is revealed and the global model stays as it was.

Engines. Who carries a round's messages is the loop's :class:`Transport`: the local one
(:class:`LocalTransport`, the default) calls the party objects in this process; a distributed
one (:class:`fedlib.flower.server.FlowerTransport`) sends each instruction to the party's
node and waits for its reply. Everything else — sampling, seeds, weights, dropouts,
protections, aggregation, recovery, evaluation and history — is this loop's, whichever
transport carries the messages. An :class:`Engine` runs the loop for some rounds:
:class:`LocalEngine` calls :meth:`RoundLoop.run`; :class:`fedlib.flower.engine.FlowerEngine`
calls the same method inside a Flower ``ServerApp`` after giving the loop its transport. A
party may protect its own contribution where it trains (on a node: CKKS encryption with the
public context); the transport then hands the loop that payload (:meth:`Transport.uploaded`)
and the loop never sees the plain vector.

Randomness. One generator seeded by ``seed`` draws, per round and in this order, the
strategy's sample and training seeds, then the dropouts (after every party trained: secure
aggregation needs to know who dropped in which phase). A run is a function of ``seed``.

References: paper 001 §3 (secure FL workflow); paper 000 §4.1-4.3; McMahan et al. 2017;
Bonawitz et al. 2017 (dropout phases). Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import numpy as np
>>> from fedlib.fl.strategies import FedAvg, FitResult
>>> class Bank:
...     private = False
...     def __init__(self, name, target): self.name, self.num_examples, self.target = name, 10, target
...     def fit(self, parameters, config): return FitResult(self.target, 10, {"loss": 0.0})
...     def evaluate(self, parameters, config): return None
>>> loop = run_rounds(FedAvg(np.zeros(2)), [Bank("a", np.ones(2)), Bank("b", np.zeros(2))],
...                   rounds=2, seed=0)
>>> loop.parameters, [o.uploaded for o in loop.history]
(array([0.5, 0.5]), [['a', 'b'], ['a', 'b']])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fedlib.core.protection import UpdateProtection
from fedlib.core.transcript import Transcript
from fedlib.crypto.secagg import SecureAggregationAborted
from fedlib.fl.protection import PlaintextProtection
from fedlib.fl.strategies import (
    FederatedParty,
    FitInstruction,
    FitResult,
    Strategy,
    Uploads,
    contribution,
)

__all__ = ["SERVER", "Engine", "LocalEngine", "LocalTransport", "RoundLoop", "RoundOutcome",
           "RoundProtection", "Transport", "draw_dropouts", "run_rounds"]

SERVER = "server"


@runtime_checkable
class RoundProtection(Protocol):
    """A protection that runs one protocol instance per round (secure aggregation).

    ``new_round`` returns an object with ``setup(dropouts)``, ``uploaders``, ``upload_label``
    and the three :class:`~fedlib.fl.protection.UpdateProtection` steps.
    """

    kind: str

    def new_round(self, clients: Sequence[str], *, round: int | None = None,
                  transcript: Transcript | None = None) -> Any:
        """A fresh protocol instance among ``clients`` for one round, logged to ``transcript``."""


@runtime_checkable
class Transport(Protocol):
    """How one round's fit instructions reach the parties and their results come back."""

    def fit(self, round: int, instructions: Sequence[FitInstruction]) -> dict[str, FitResult]:
        """Each instructed party's :class:`FitResult`, in instruction order.

        A party that did not answer (its node failed) is missing from the result; the loop
        counts it as a failure.
        """

    def uploaded(self, round: int, party: str) -> Any | None:
        """The payload ``party`` protected itself this round, or ``None``.

        ``None`` means the loop protects the party's contribution with the party's protection
        (in this process, in the party's name, as the local engine does).
        """


class LocalTransport:
    """The local engine's transport: call each party object's ``fit`` in this process."""

    def __init__(self, parties: Mapping[str, FederatedParty]) -> None:
        self.parties = parties

    def fit(self, round: int, instructions: Sequence[FitInstruction]) -> dict[str, FitResult]:
        """``parties[i.party].fit(i.parameters, i.config)`` for every instruction, in order."""
        return {i.party: self.parties[i.party].fit(i.parameters, i.config) for i in instructions}

    def uploaded(self, round: int, party: str) -> None:
        """Never a payload: locally the loop protects on the party's behalf."""
        return None


@dataclass
class RoundOutcome:
    """One round of the loop, as recorded in its history.

    Who was asked, who uploaded, who dropped (in any phase), whether the protection aborted,
    each party's fit metrics, timings, bytes, the new global model and the strategy's
    evaluation of it.
    """

    round: int
    sampled: list[str]
    uploaded: list[str]
    dropped: list[str]
    aborted: bool
    fit_metrics: dict[str, dict[str, float]]
    client_seconds: float
    protection_seconds: float
    aggregation_seconds: float
    recovery_seconds: float
    bytes_to_server: int
    bytes_from_server: int
    parameters: np.ndarray = field(repr=False)
    metrics: dict[str, float] | None = None


def draw_dropouts(names: Sequence[str], rate: float, phases: Sequence[str],
                  rng: np.random.Generator) -> dict[str, set[str]]:
    """Each party drops with probability ``rate``, in a phase drawn uniformly from ``phases``.

    >>> draw_dropouts(["a", "b"], 0.0, ("masked",), np.random.default_rng(0))
    {}
    """
    out: dict[str, set[str]] = {}
    for name in names:
        if rate and rng.random() < rate:
            out.setdefault(str(rng.choice(list(phases))), set()).add(name)
    return out


class _OneRound:
    """An :class:`UpdateProtection` seen as a per-round protocol.

    There is nothing to set up, and a party that dropped out in any phase simply never uploads.
    """

    def __init__(self, protection: UpdateProtection, members: Sequence[str]):
        self.protection, self.members = protection, list(members)
        self.kind = protection.kind
        self.upload_label = "model_update"
        self.uploaders: tuple[str, ...] = ()

    def setup(self, dropouts: Mapping[str, set[str]]) -> None:
        gone = set().union(*dropouts.values()) if dropouts else set()
        self.uploaders = tuple(m for m in self.members if m not in gone)

    def protect(self, party: str, vector: np.ndarray) -> Any:
        return self.protection.protect(party, vector)

    def aggregate(self, payloads: Sequence[Any]) -> Any:
        return self.protection.aggregate(payloads)

    def recover(self, aggregate: Any) -> np.ndarray:
        return self.protection.recover(aggregate)


class RoundLoop:
    """A strategy, its parties, their protections and the transcript, round after round.

    Parameters
    ----------
    strategy
        The server's algorithm (:mod:`fedlib.fl.strategies`).
    parties
        The parties (:class:`~fedlib.fl.strategies.FederatedParty`); names must be unique.
    protection
        One protection for every party, or a mapping party name → protection (a mixed
        federation); default plaintext.
    seed
        Seeds the generator of sampling, training seeds and dropouts.
    transcript
        Where every message is logged (a new one, keeping payloads, if omitted).
    dropout_rate, dropout_phases
        Probability that a party drops out in a round, and the protocol phases it may drop in
        (``"advertise"``, ``"share"``, ``"masked"``, ``"unmask"``; without secure aggregation
        any phase means "trains but never uploads").
    """

    def __init__(self, strategy: Strategy, parties: Sequence[FederatedParty], *, seed: int,
                 protection: UpdateProtection | RoundProtection
                 | Mapping[str, UpdateProtection | RoundProtection] | None = None,
                 transcript: Transcript | None = None, dropout_rate: float = 0.0,
                 dropout_phases: Sequence[str] = ("masked",)) -> None:
        names = [p.name for p in parties]
        if not parties:
            raise ValueError("a federation needs at least one party")
        if len(set(names)) != len(names):
            raise ValueError(f"party names must be unique, got {names}")
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
        if not dropout_phases:
            raise ValueError("dropout_phases must name at least one phase")
        protection = PlaintextProtection() if protection is None else protection
        if isinstance(protection, Mapping):
            missing = sorted(set(names) - set(protection))
            if missing:
                raise ValueError(f"no protection given for parties {missing}")
            self.protections = {n: protection[n] for n in names}
        else:
            self.protections = {n: protection for n in names}
        self.strategy = strategy
        self.parties = list(parties)
        self._by_name = {p.name: p for p in self.parties}
        self.transcript = transcript if transcript is not None else Transcript()
        self.dropout_rate, self.dropout_phases = dropout_rate, tuple(dropout_phases)
        self.transport: Transport = LocalTransport(self._by_name)
        self.rng = np.random.default_rng(seed)
        self.parameters = strategy.initialize_parameters()
        self.initial_metrics = strategy.evaluate(0, self.parameters)
        self.history: list[RoundOutcome] = []

    # -- one round ---------------------------------------------------------------------------
    def run_round(self) -> RoundOutcome:
        """One communication round; returns its outcome and updates ``parameters``."""
        rnd = len(self.history) + 1
        to_server = self.transcript.bytes_sent(receiver=SERVER)
        from_server = self.transcript.bytes_sent(sender=SERVER)
        instructions = self.strategy.configure_fit(rnd, self.parameters, self.parties,
                                                   rng=self.rng)
        sampled = [i.party for i in instructions]

        start = time.perf_counter()
        sent = [FitInstruction(ins.party, self.transcript.send(
            sender=SERVER, receiver=ins.party, kind="public", payload=ins.parameters.copy(),
            label="global_model", round=rnd), ins.config) for ins in instructions]
        results = self.transport.fit(rnd, sent)
        client_seconds = time.perf_counter() - start

        dropouts = draw_dropouts(sampled, self.dropout_rate, self.dropout_phases, self.rng)
        failed = {n for n in sampled if n not in results}
        if failed:
            # A party whose node never answered is gone before it could upload anything.
            dropouts = {**dropouts, "masked": dropouts.get("masked", set()) | failed}
        gone = set().union(*dropouts.values()) if dropouts else set()
        weights = {i.party: i.config["weight"] for i in instructions}
        timing = {"protection": 0.0, "aggregation": 0.0, "recovery": 0.0}
        try:
            uploads = self._upload_and_recover(rnd, sampled, results, weights, dropouts, timing)
        except SecureAggregationAborted:
            uploads = None                  # nothing revealed; the global model stays
        aborted = uploads is None or not uploads.weights
        if not aborted:
            # Flower's failures: the instructed parties whose update is not in the sum.
            failures = [n for n in sampled if n not in uploads.weights]
            new = self.strategy.aggregate_fit(rnd, uploads, failures=failures)
            if new is not None:
                self.parameters = new
        outcome = RoundOutcome(
            round=rnd, sampled=sampled, uploaded=[] if aborted else list(uploads.weights),
            dropped=[n for n in sampled if n in gone], aborted=aborted,
            fit_metrics={n: dict(r.metrics) for n, r in results.items()},
            client_seconds=client_seconds, protection_seconds=timing["protection"],
            aggregation_seconds=timing["aggregation"], recovery_seconds=timing["recovery"],
            bytes_to_server=self.transcript.bytes_sent(receiver=SERVER) - to_server,
            bytes_from_server=self.transcript.bytes_sent(sender=SERVER) - from_server,
            parameters=self.parameters.copy(),
            metrics=self.strategy.evaluate(rnd, self.parameters))
        self.history.append(outcome)
        return outcome

    def _open_rounds(self, rnd: int, sampled: Sequence[str],
                     dropouts: Mapping[str, set[str]]) -> list:
        """One per-round protection object per distinct protection, in order of first use."""
        members: dict[int, list[str]] = {}
        for name in sampled:
            members.setdefault(id(self.protections[name]), []).append(name)
        opened = []
        for names in members.values():
            protection = self.protections[names[0]]
            if isinstance(protection, RoundProtection):
                session = protection.new_round(names, round=rnd, transcript=self.transcript)
            else:
                session = _OneRound(protection, names)
            session.setup({phase: who & set(names) for phase, who in dropouts.items()})
            opened.append(session)
        return opened

    def _upload_and_recover(self, rnd: int, sampled: Sequence[str],
                            results: Mapping[str, FitResult], weights: Mapping[str, float],
                            dropouts: Mapping[str, set[str]], timing: dict[str, float]
                            ) -> Uploads:
        """Run the protected exchange of one round.

        Parties protect and send their contributions; the server sums each protection's
        payloads; the key holders (or, for secure aggregation, the survivors' shares) recover
        the sums.
        """
        start = time.perf_counter()
        sessions = self._open_rounds(rnd, sampled, dropouts)
        payloads: list[list] = []
        first_upload: list[int] = []        # position of each protection's first uploader
        arrived: dict[str, float] = {}
        readable: dict[str, FitResult] = {}
        # Every contribution has the global model's length (+1 when it carries its weight).
        size = self.parameters.size + int(bool(self.strategy.weight_in_upload))
        for session in sessions:
            payloads.append([])
            first_upload.append(min((sampled.index(n) for n in session.uploaders), default=-1))
            for name in session.uploaders:
                payload = self.transport.uploaded(rnd, name)
                if payload is None:         # the loop protects on the party's behalf
                    payload = session.protect(name, contribution(
                        results[name].parameters, weights[name],
                        weight_in_upload=self.strategy.weight_in_upload))
                kind = session.kind
                if kind == "plaintext":
                    kind = "noisy" if self._by_name[name].private else "plaintext"
                    readable[name] = results[name]
                payloads[-1].append(self.transcript.send(
                    sender=name, receiver=SERVER, kind=kind, payload=payload,
                    label=session.upload_label, round=rnd))
                arrived[name] = weights[name]
        timing["protection"] += time.perf_counter() - start

        # Sum per protection in the order the protections first received an upload.
        groups = sorted((first_upload[i], i) for i in range(len(sessions)) if payloads[i])
        start = time.perf_counter()
        aggregates = [(sessions[i], sessions[i].aggregate(payloads[i])) for _, i in groups]
        timing["aggregation"] += time.perf_counter() - start

        start = time.perf_counter()
        sums = tuple(self._recover(rnd, session, aggregate)[:size]
                     for session, aggregate in aggregates)
        timing["recovery"] += time.perf_counter() - start
        order = [n for n in sampled if n in arrived]
        return Uploads(sums=sums, weights={n: arrived[n] for n in order},
                       readable={n: readable[n] for n in order if n in readable})

    def _recover(self, rnd: int, session, aggregate) -> np.ndarray:
        if session.kind == "plaintext" or not isinstance(session, _OneRound):
            # Plaintext needs no key; secure aggregation recovers from the survivors' shares.
            return session.recover(aggregate)
        # The sum goes to the key holder, who returns the decrypted aggregate.
        holder = getattr(session.protection, "key_holder_name", "key-holder")
        self.transcript.send(sender=SERVER, receiver=holder, kind=session.kind,
                             payload=aggregate, label="aggregate", round=rnd)
        plain = session.recover(aggregate)
        return self.transcript.send(sender=holder, receiver=SERVER, kind="public",
                                    payload=plain, label="decrypted_aggregate", round=rnd)

    # -- many rounds -------------------------------------------------------------------------
    def run(self, rounds: int, *, on_round: Callable[[RoundOutcome], None] | None = None
            ) -> list[RoundOutcome]:
        """Run ``rounds`` rounds, calling ``on_round`` after each (evaluation, progress)."""
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        for _ in range(rounds):
            outcome = self.run_round()
            if on_round is not None:
                on_round(outcome)
        return self.history


@runtime_checkable
class Engine(Protocol):
    """Runs a :class:`RoundLoop` for some rounds: :class:`LocalEngine` or Flower's.

    :class:`fedlib.fl.federation.Federation` and the chapters take one (``engine=``) without
    knowing which; the papers layer maps a chapter's ``fl_engine`` parameter to it.
    """

    name: str

    def check(self, loop: RoundLoop) -> None:
        """Raise a ``ValueError`` naming what is allowed if this engine cannot run ``loop``."""

    def run(self, loop: RoundLoop, rounds: int, *,
            on_round: Callable[[RoundOutcome], None] | None = None) -> list[RoundOutcome]:
        """Run ``rounds`` rounds of ``loop`` (as :meth:`RoundLoop.run`); returns its history."""


class LocalEngine:
    """Every party in this process: :meth:`RoundLoop.run` as it is."""

    name = "local"

    def check(self, loop: RoundLoop) -> None:
        """Every loop runs locally."""

    def run(self, loop: RoundLoop, rounds: int, *,
            on_round: Callable[[RoundOutcome], None] | None = None) -> list[RoundOutcome]:
        """:meth:`RoundLoop.run` with the loop's own (local) transport."""
        return loop.run(rounds, on_round=on_round)


def run_rounds(strategy: Strategy, parties: Sequence[FederatedParty], *, rounds: int,
               seed: int, protection=None, transcript: Transcript | None = None,
               dropout_rate: float = 0.0, dropout_phases: Sequence[str] = ("masked",),
               on_round: Callable[[RoundOutcome], None] | None = None) -> RoundLoop:
    """Build a :class:`RoundLoop` and run it for ``rounds`` rounds.

    Returns the loop (its ``parameters``, ``history``, ``initial_metrics`` and ``transcript``).
    The other arguments are :class:`RoundLoop`'s; ``on_round`` is called with each round's
    :class:`RoundOutcome` (as in :meth:`RoundLoop.run`).
    """
    loop = RoundLoop(strategy, parties, seed=seed, protection=protection, transcript=transcript,
                     dropout_rate=dropout_rate, dropout_phases=dropout_phases)
    loop.run(rounds, on_round=on_round)
    return loop
