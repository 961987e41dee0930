"""Chapter 2's federation: FedAvg over :class:`~fedlib.fl.party.Party` objects on the one round loop.

:class:`Federation` keeps the interface chapters 2 and 3 use (``run_round``, ``fit``,
``history`` of :class:`RoundRecord`, ``global_params``, ``transcript``) and runs each round
with :class:`fedlib.fl.loop.RoundLoop` and the :class:`~fedlib.fl.strategies.FedAvg`
strategy: the server samples parties, each trains with its own trainer (plain SGD or DP-SGD)
and protects its pre-scaled update with its own protection (plaintext, CKKS), the server sums
per protection, the key holder decrypts, and the server divides by the weight of the parties
that uploaded.

Weighted FedAvg (McMahan et al. 2017): w̄ = Σ_k (n_k / Σ_j n_j) w_k over the parties that
uploaded. Parties pre-scale by n_k / N_sampled so that a protected *sum* is already the average
(CKKS then needs no multiplication, so no extra modulus level), and the server rescales by the
uploaded weight mass when some parties dropped.

Engines. ``engine`` (default :class:`~fedlib.fl.loop.LocalEngine`) runs the rounds of
:meth:`Federation.fit`: locally every party is an object of this process; with
:class:`fedlib.flower.engine.FlowerEngine` the same loop runs inside a Flower ``ServerApp``
and each party trains on its own simulated node. The engine is given from above (the papers
layer maps a chapter's ``fl_engine`` parameter to it), so this module never imports Flower.

References: paper 001 §3 "Secure aggregation" and "Global model update" (eqs. for standard,
DP and HE aggregation); McMahan et al. 2017. Introduced in chapter 2.

Examples
--------
>>> import numpy as np
>>> from fedlib.fl.models import LogisticRegression
>>> from fedlib.fl.party import Party, StandardTrainer
>>> rng = np.random.default_rng(0)
>>> parties = []
>>> for k in range(3):
...     X = rng.normal(size=(30, 2)).astype(np.float32); y = (X[:, 0] > 0).astype(np.float32)
...     parties.append(Party(f"bank-{k+1}", X, y, StandardTrainer(epochs=2, lr=0.5, batch_size=None)))
>>> fed = Federation(parties, model_fn=lambda: LogisticRegression(2, seed=0), seed=0)
>>> history = fed.fit(rounds=2)
>>> len(history), sorted(history[0].client_seconds)
(2, ['bank-1', 'bank-2', 'bank-3'])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from fedlib.core.transcript import Transcript
from fedlib.fl.loop import SERVER, Engine, LocalEngine, RoundLoop, RoundOutcome
from fedlib.fl.models import get_flat_params
from fedlib.fl.party import Party, PartyClient
from fedlib.fl.strategies import FedAvg

__all__ = ["SERVER", "Federation", "RoundRecord"]


@dataclass
class RoundRecord:
    """What happened in one round: who took part, timings, bytes, and the new global model."""

    round: int
    sampled: list[str]
    uploaded: list[str]
    client_seconds: dict[str, float]
    client_loss: dict[str, float]
    aggregation_seconds: float
    recovery_seconds: float
    bytes_to_server: int
    bytes_from_server: int
    global_params: np.ndarray = field(repr=False)


class Federation:
    """Parties, a server and the transcript between them.

    Parameters
    ----------
    parties
        The institutions; names must be unique. Each brings its trainer and its protection.
    model_fn
        Builds a fresh model of the shared architecture (called once; the federation reuses it
        as the scratch model each party loads the global parameters into).
    sample_fraction
        Fraction of parties the server samples each round (1.0 = full participation; the
        sampler runs even then, so that runs with and without sampling share their seeds).
    dropout_rate
        Probability that a sampled party trains but fails to upload (simulated dropout).
    seed
        Seeds sampling, dropout and the per-party, per-round training seeds.
    engine
        Runs the rounds of :meth:`fit` (default :class:`~fedlib.fl.loop.LocalEngine`); an
        engine that cannot run this federation says so here, before any training.
    """

    def __init__(self, parties: Sequence[Party], *, model_fn: Callable[[], nn.Module], seed: int,
                 sample_fraction: float = 1.0, dropout_rate: float = 0.0,
                 transcript: Transcript | None = None, engine: Engine | None = None) -> None:
        self.parties = list(parties)
        self.model = model_fn()
        self.sample_fraction = sample_fraction
        self.dropout_rate = dropout_rate
        strategy = FedAvg(get_flat_params(self.model), sample_fraction=sample_fraction)
        self.loop = RoundLoop(strategy, [PartyClient(p, self.model) for p in self.parties],
                              seed=seed, protection={p.name: p.protection for p in self.parties},
                              transcript=transcript, dropout_rate=dropout_rate)
        self.transcript = self.loop.transcript
        self.engine = LocalEngine() if engine is None else engine
        self.engine.check(self.loop)
        self.history: list[RoundRecord] = []

    @property
    def global_params(self) -> np.ndarray:
        """The current global model."""
        return self.loop.parameters

    def run_round(self) -> RoundRecord:
        """One communication round on the local engine; returns its record.

        A distributed engine runs whole :meth:`fit` calls only (its nodes keep their state
        for one run), so this is refused unless the engine is local.
        """
        if self.engine.name != "local":
            raise ValueError(f"run_round runs one round on the local engine; the "
                             f"{self.engine.name!r} engine runs whole fits: use fit(rounds)")
        return self._record(self.loop.run_round())

    def _record(self, outcome: RoundOutcome) -> RoundRecord:
        """The :class:`RoundRecord` of one round of the loop, appended to ``history``."""
        if outcome.aborted:
            raise RuntimeError(f"round {outcome.round}: every sampled party dropped out; "
                               "no update to aggregate")
        record = RoundRecord(
            round=outcome.round, sampled=outcome.sampled, uploaded=outcome.uploaded,
            client_seconds={n: m["seconds"] for n, m in outcome.fit_metrics.items()},
            client_loss={n: m["loss"] for n, m in outcome.fit_metrics.items()},
            aggregation_seconds=outcome.aggregation_seconds,
            recovery_seconds=outcome.recovery_seconds,
            bytes_to_server=outcome.bytes_to_server, bytes_from_server=outcome.bytes_from_server,
            global_params=outcome.parameters)
        self.history.append(record)
        return record

    def fit(self, rounds: int, *, on_round: Callable[[RoundRecord], None] | None = None
            ) -> list[RoundRecord]:
        """Run ``rounds`` rounds on the engine, calling ``on_round`` after each."""
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")

        def record(outcome: RoundOutcome) -> None:
            rec = self._record(outcome)
            if on_round is not None:
                on_round(rec)

        self.engine.run(self.loop, rounds, on_round=record)
        return self.history
