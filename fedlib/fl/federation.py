"""The round loop of horizontal federated learning with weighted FedAvg.

One round, as ARCHITECTURE.md's data flow: the server broadcasts the global parameters → each sampled
party trains locally (plain SGD or DP-SGD) → the party scales its parameters by its FedAvg
weight and protects them (plaintext, CKKS, masks) → the server aggregates what it received,
per protection, without any secret → the key holder recovers the sum → the server divides by
the weight of the parties that actually uploaded (dropouts) and broadcasts the new model.
Every message goes through the :class:`~fedlib.fl.transcript.Transcript`.

Weighted FedAvg (McMahan et al. 2017): w̄ = Σ_k (n_k / Σ_j n_j) w_k over the parties that
uploaded. Parties pre-scale by n_k / N_sampled so that a protected *sum* is already the average
(CKKS then needs no multiplication, so no extra modulus level), and the server rescales by the
uploaded weight mass when some parties dropped.

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

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from fedlib.core.transcript import Transcript
from fedlib.fl.models import get_flat_params
from fedlib.fl.party import Party

__all__ = ["Federation", "RoundRecord"]

SERVER = "server"


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
        The institutions; names must be unique.
    model_fn
        Builds a fresh model of the shared architecture (called once; the federation reuses it
        as the scratch model each party loads the global parameters into).
    sample_fraction
        Fraction of parties the server samples each round (1.0 = full participation).
    dropout_rate
        Probability that a sampled party trains but fails to upload (simulated dropout).
    seed
        Seeds sampling, dropout and the per-party, per-round training seeds.
    """

    def __init__(self, parties: Sequence[Party], *, model_fn: Callable[[], nn.Module], seed: int,
                 sample_fraction: float = 1.0, dropout_rate: float = 0.0,
                 transcript: Transcript | None = None) -> None:
        names = [p.name for p in parties]
        if not parties:
            raise ValueError("a federation needs at least one party")
        if len(set(names)) != len(names):
            raise ValueError(f"party names must be unique, got {names}")
        if not 0.0 < sample_fraction <= 1.0:
            raise ValueError(f"sample_fraction must be in (0, 1], got {sample_fraction}")
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
        self.parties = list(parties)
        self.model = model_fn()
        self.global_params = get_flat_params(self.model)
        self.sample_fraction = sample_fraction
        self.dropout_rate = dropout_rate
        self.transcript = transcript if transcript is not None else Transcript()
        self._rng = np.random.default_rng(seed)
        self._seed = seed
        self.history: list[RoundRecord] = []

    def _sample(self) -> list[Party]:
        k = max(1, round(self.sample_fraction * len(self.parties)))
        idx = np.sort(self._rng.choice(len(self.parties), size=k, replace=False))
        return [self.parties[i] for i in idx]

    def run_round(self) -> RoundRecord:
        """One communication round; returns its record and updates ``global_params``."""
        rnd = len(self.history) + 1
        sampled = self._sample()
        total_rows = sum(p.n_rows for p in sampled)
        sent_before = self.transcript.bytes_sent(receiver=SERVER)
        from_before = self.transcript.bytes_sent(sender=SERVER)

        payloads: dict[int, list] = {}          # protection id -> payloads received
        protections: dict[int, object] = {}
        uploaded_weight = 0.0
        uploaded, seconds, losses = [], {}, {}
        for party in sampled:
            params = self.transcript.send(sender=SERVER, receiver=party.name, kind="public",
                                          payload=self.global_params.copy(),
                                          label="global_model", round=rnd)
            seed = int(self._rng.integers(2**31 - 1))
            vector, stats = party.local_update(self.model, params, round=rnd, seed=seed)
            seconds[party.name], losses[party.name] = stats.seconds, stats.loss
            if self.dropout_rate and self._rng.random() < self.dropout_rate:
                continue                         # trained, but the upload never arrives
            weight = party.n_rows / total_rows
            payload = party.protection.protect(party.name, weight * vector)
            self.transcript.send(sender=party.name, receiver=SERVER, kind=party.message_kind,
                                 payload=payload, label="model_update", round=rnd)
            key = id(party.protection)
            protections[key] = party.protection
            payloads.setdefault(key, []).append(payload)
            uploaded.append(party.name)
            uploaded_weight += weight
        if not uploaded:
            raise RuntimeError(f"round {rnd}: every sampled party dropped out; no update to aggregate")

        start = time.perf_counter()
        aggregates = {key: protections[key].aggregate(p) for key, p in payloads.items()}
        aggregation_seconds = time.perf_counter() - start

        start = time.perf_counter()
        total = np.zeros_like(self.global_params)
        for key, aggregate in aggregates.items():
            protection = protections[key]
            if protection.kind != "plaintext":
                # The sum goes to the key holder, who returns the decrypted aggregate.
                holder = getattr(protection, "key_holder_name", "key-holder")
                self.transcript.send(sender=SERVER, receiver=holder, kind=protection.kind,
                                     payload=aggregate, label="aggregate", round=rnd)
                plain = protection.recover(aggregate)
                self.transcript.send(sender=holder, receiver=SERVER, kind="public",
                                     payload=plain, label="decrypted_aggregate", round=rnd)
                total += plain[: total.size]
            else:
                total += protection.recover(aggregate)
        recovery_seconds = time.perf_counter() - start

        self.global_params = total / uploaded_weight
        record = RoundRecord(
            round=rnd, sampled=[p.name for p in sampled], uploaded=uploaded,
            client_seconds=seconds, client_loss=losses,
            aggregation_seconds=aggregation_seconds, recovery_seconds=recovery_seconds,
            bytes_to_server=self.transcript.bytes_sent(receiver=SERVER) - sent_before,
            bytes_from_server=self.transcript.bytes_sent(sender=SERVER) - from_before,
            global_params=self.global_params.copy(),
        )
        self.history.append(record)
        return record

    def fit(self, rounds: int, *, on_round: Callable[[RoundRecord], None] | None = None
            ) -> list[RoundRecord]:
        """Run ``rounds`` rounds, calling ``on_round`` after each (evaluation, progress)."""
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        for _ in range(rounds):
            record = self.run_round()
            if on_round is not None:
                on_round(record)
        return self.history
