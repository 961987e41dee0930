"""Assembling a federation from per-client privacy modes, and running it into a tidy table.

A *mode* says how one client takes part: how it trains (plain SGD or DP-SGD at a noise
multiplier) and how its update travels (plaintext or a CKKS ciphertext). A whole-federation
experiment gives every client the same mode; the paper's own experiment mixes them (client 1
standard, clients 2–4 DP, client 5 HE). :func:`run_federation` returns the long-format rows that
go straight into ``results.json`` and the figures.

References: paper 001 §3 "Local training (per client)", §5 "Privacy mode assignments".
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import numpy as np
>>> from fedlib.core.party import PartyRows
>>> from fedlib.fl.models import LogisticRegression, predict_proba
>>> rng = np.random.default_rng(0)
>>> data = []
>>> for k in range(2):
...     X = rng.normal(size=(50, 2)).astype(np.float32)
...     data.append(PartyRows(f"bank-{k+1}", X, (X[:, 0] > 0).astype(np.float32)))
>>> parties = build_parties(data, [STANDARD, STANDARD], epochs=3, lr=0.5, batch_size=None,
...                         delta=None)
>>> run = run_federation(parties, model_fn=lambda: LogisticRegression(2, seed=0), rounds=2,
...                      seed=0, evaluate=lambda model: {"accuracy": 1.0})
>>> sorted(run.history.metric.unique())[:3]
['accuracy', 'aggregation_seconds', 'bytes_to_server']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from torch import nn

from fedlib.core.party import PartyData
from fedlib.core.protection import UpdateProtection
from fedlib.fl.federation import Federation
from fedlib.fl.loop import Engine
from fedlib.fl.models import get_flat_params, set_flat_params
from fedlib.fl.party import (
    DPSGDTrainer,
    LogisticDPSGDTrainer,
    LogisticSGDTrainer,
    Party,
    StandardTrainer,
)
from fedlib.fl.protection import PlaintextProtection
from fedlib.privacy.accountants import PartyAccountant
from fedlib.privacy.delta import check_delta

__all__ = ["STANDARD", "ClientMode", "FederationRun", "RunComparison",
           "build_parties", "compare_runs", "run_federation", "time_modes"]


@dataclass(frozen=True)
class ClientMode:
    """How one client trains and what it sends.

    ``training`` is ``"standard"`` or ``"dp"`` (DP-SGD at ``noise_multiplier``);
    ``protection`` is ``"plaintext"`` or ``"ckks"``.
    """

    label: str
    training: Literal["standard", "dp"] = "standard"
    protection: Literal["plaintext", "ckks"] = "plaintext"
    noise_multiplier: float | None = None

    def __post_init__(self) -> None:
        if self.training == "dp" and (self.noise_multiplier is None or self.noise_multiplier <= 0):
            raise ValueError(f"mode {self.label!r}: DP training needs a noise_multiplier > 0")


STANDARD = ClientMode("standard")


@dataclass
class FederationRun:
    """The finished federation and its per-round long-format history."""

    federation: Federation
    history: pd.DataFrame

    @property
    def parties(self) -> list[Party]:
        """The federation's parties."""
        return self.federation.parties


def build_parties(data: Sequence[PartyData], modes: Sequence[ClientMode], *, epochs: int,
                  lr: float, batch_size: int | None, delta: float | None,
                  clip_norm: float = 1.0, noise_seed: int | None = None,
                  ckks: UpdateProtection | None = None,
                  dp_backend: Literal["opacus", "closed_form"] = "opacus") -> list[Party]:
    """One :class:`Party` per client, each with its own trainer and (DP) accountant.

    All CKKS clients share the one ``ckks`` protection: they hold the same secret key, as in
    the paper, and the server only ever holds its public context. ``delta`` is the δ the DP
    clients will report ε at (``None`` only if no client is DP); it must be below 1/n for every
    DP client's n, checked here before any training. DP clients Poisson-sample their batches;
    ``noise_seed`` (default ``None``: OS entropy) seeds their sampling and noise for
    reproduction only — seeded noise voids the guarantee.

    ``dp_backend="closed_form"`` trains logistic regression with closed-form per-example gradients
    (:func:`fedlib.privacy.closed_form.logistic_sgd`: the same algorithm, about 20 times faster than
    Opacus' hooks on this model); ``dp_backend="opacus"`` runs DP-SGD through Opacus'
    ``DPOptimizer`` (``backend="opacus"`` of :func:`fedlib.privacy.dpsgd.train_local_dp`).
    """
    if dp_backend not in ("opacus", "closed_form"):
        raise ValueError(f"dp_backend must be 'opacus' or 'closed_form', got {dp_backend!r}")
    if len(data) != len(modes):
        raise ValueError(f"{len(data)} clients but {len(modes)} modes; give one mode per client")
    if any(m.protection == "ckks" for m in modes) and ckks is None:
        raise ValueError("a client uses CKKS but no ckks protection was given")

    dp_rows = {d.name: d.n_rows for d, m in zip(data, modes, strict=True) if m.training == "dp"}
    if dp_rows:
        if delta is None:
            raise ValueError("delta is None but clients "
                             f"{sorted(dp_rows)} train with DP: give the delta their epsilon "
                             "is reported at")
        check_delta(delta, rows=dp_rows)

    plaintext = PlaintextProtection()
    parties = []
    for d, mode in zip(data, modes, strict=True):
        if dp_backend == "closed_form":
            trainer = (LogisticDPSGDTrainer(epochs=epochs, lr=lr, batch_size=batch_size,
                                            noise_multiplier=float(mode.noise_multiplier),
                                            clip_norm=clip_norm, accountant=PartyAccountant(),
                                            noise_seed=noise_seed)
                       if mode.training == "dp" else
                       LogisticSGDTrainer(epochs=epochs, lr=lr, batch_size=batch_size))
        elif mode.training == "dp":
            trainer = DPSGDTrainer(epochs=epochs, lr=lr, batch_size=batch_size,
                                   noise_multiplier=float(mode.noise_multiplier),
                                   clip_norm=clip_norm, accountant=PartyAccountant(),
                                   noise_seed=noise_seed, backend="opacus")
        else:
            trainer = StandardTrainer(epochs=epochs, lr=lr, batch_size=batch_size)
        protection = ckks if mode.protection == "ckks" else plaintext
        parties.append(Party(d.name, d.X, d.y, trainer, protection))
    return parties


def run_federation(parties: Sequence[Party], *, model_fn: Callable[[], nn.Module], rounds: int,
                   seed: int, evaluate: Callable[[nn.Module], dict[str, float]],
                   sample_fraction: float = 1.0, dropout_rate: float = 0.0,
                   progress: Callable[[int], None] | None = None,
                   engine: Engine | None = None) -> FederationRun:
    """Run ``rounds`` FedAvg rounds and evaluate the global model after each.

    ``engine`` runs the rounds (default local; :class:`fedlib.flower.engine.FlowerEngine`
    runs them on Flower's simulation with the same numbers).

    Returns long-format rows ``round, party, metric, value``: ``evaluate``'s metrics for the
    global model (party ``"all"``), each client's training seconds and final local loss, the
    server's aggregation and key holder's recovery seconds, and bytes sent to the server.
    """
    federation = Federation(parties, model_fn=model_fn, seed=seed,
                            sample_fraction=sample_fraction, dropout_rate=dropout_rate,
                            engine=engine)
    scratch = model_fn()
    rows: list[dict] = []

    def record(r) -> None:
        set_flat_params(scratch, r.global_params)
        for metric, value in evaluate(scratch).items():
            rows.append({"round": r.round, "party": "all", "metric": metric, "value": value})
        for name, seconds in r.client_seconds.items():
            rows.append({"round": r.round, "party": name, "metric": "client_seconds",
                         "value": seconds})
            rows.append({"round": r.round, "party": name, "metric": "client_loss",
                         "value": r.client_loss[name]})
        for metric in ("aggregation_seconds", "recovery_seconds", "bytes_to_server"):
            rows.append({"round": r.round, "party": "server", "metric": metric,
                         "value": float(getattr(r, metric))})
        if progress is not None:
            progress(r.round)

    federation.fit(rounds, on_round=record)
    return FederationRun(federation, pd.DataFrame(rows))


@dataclass(frozen=True)
class RunComparison:
    """Two runs that differ in one mechanism only, compared round by round."""

    per_round: pd.DataFrame

    @property
    def max_param_diff(self) -> float:
        """Largest absolute parameter difference over all rounds."""
        return float(self.per_round["max_param_diff"].max())

    @property
    def accuracy_diff(self) -> float:
        """Final-round accuracy of the second run minus the first's."""
        return float(self.per_round["accuracy_diff"].iloc[-1])


def compare_runs(a: FederationRun, b: FederationRun) -> RunComparison:
    """Largest parameter difference and accuracy difference per round (paper 001 Table 6)."""
    if len(a.federation.history) != len(b.federation.history):
        raise ValueError("runs have different numbers of rounds")

    def accuracy(run: FederationRun) -> pd.Series:
        h = run.history
        return h[(h.party == "all") & (h.metric == "accuracy")].set_index("round")["value"]

    acc_a, acc_b = accuracy(a), accuracy(b)
    rows = [{"round": ra.round,
             "max_param_diff": float(np.max(np.abs(ra.global_params - rb.global_params))),
             "accuracy_a": acc_a[ra.round], "accuracy_b": acc_b[ra.round],
             "accuracy_diff": acc_b[ra.round] - acc_a[ra.round]}
            for ra, rb in zip(a.federation.history, b.federation.history, strict=True)]
    return RunComparison(pd.DataFrame(rows))


def time_modes(data: Sequence[PartyData], modes: Sequence[ClientMode], *, model_fn: Callable[[], nn.Module],
               epochs: int, repeats: int, lr: float, clip_norm: float, delta: float,
               ckks: UpdateProtection | None, dp_backend: Literal["opacus", "closed_form"],
               noise_seed: int | None = None) -> pd.DataFrame:
    """Client and server seconds per mode, ``repeats`` times, the modes interleaved.

    One repeat, for each mode in turn: every client trains ``epochs`` full-batch local epochs
    from the same start and protects its update (CKKS encrypts it: client cost), then the
    server aggregates the protected updates and the key holder recovers the sum (server cost).
    Interleaving the modes inside each repeat lets a ratio between two modes be taken per
    repeat, so that a load change on the machine hits both sides of the ratio alike.

    Returns rows ``repeat, mode, train_s_per_epoch, protect_s, server_s`` (client times summed
    over the clients: training divided by ``epochs``, and protecting the update once).
    """
    import time

    if repeats < 2:
        raise ValueError(f"repeats must be >= 2 for an interval, got {repeats}")
    rows = []
    model = model_fn()
    start = get_flat_params(model)
    for r in range(repeats):
        for mode in modes:
            parties = build_parties(data, [mode] * len(data), epochs=epochs, lr=lr,
                                    batch_size=None, delta=delta, clip_norm=clip_norm,
                                    noise_seed=noise_seed, ckks=ckks, dp_backend=dp_backend)
            total = sum(p.n_rows for p in parties)
            train, protect, payloads = 0.0, 0.0, []
            for p in parties:
                t0 = time.perf_counter()
                vector, _ = p.local_update(model, start, round=1, seed=r)
                t1 = time.perf_counter()
                payloads.append(p.protection.protect(p.name, p.n_rows / total * vector))
                train, protect = train + t1 - t0, protect + time.perf_counter() - t1
            t0 = time.perf_counter()
            parties[0].protection.recover(parties[0].protection.aggregate(payloads))
            rows.append({"repeat": r, "mode": mode.label, "train_s_per_epoch": train / epochs,
                         "protect_s": protect, "server_s": time.perf_counter() - t0})
    return pd.DataFrame(rows)
