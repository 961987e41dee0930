"""Server strategies and the party protocol of horizontal federated learning.

One round of :class:`fedlib.fl.loop.RoundLoop` asks a :class:`Strategy` three things, in the
shape of Flower's ``Strategy`` (so that a distributed engine can drive the same objects later):

``configure_fit(round, parameters, parties, rng=...)``
    which parties train this round and with what: one :class:`FitInstruction` per party, whose
    ``config`` carries the round, the party's training seed, its aggregation weight and any
    hyper-parameter the algorithm sends (FMTL's λ).
``aggregate_fit(round, uploads, failures)``
    the new global parameters from what reached the server (:class:`Uploads`), or ``None`` to
    keep the old ones.
``evaluate(round, parameters)``
    server-side metrics of the global model, or ``None``.

A party (:class:`FederatedParty`, Flower's ``NumPyClient``) answers ``fit(parameters, config)``
with a :class:`FitResult` and ``evaluate(parameters, config)`` with metrics. Everything a party
keeps between rounds (an FMTL personal model, a DP accountant) lives inside it. Protections
(CKKS, secure aggregation) are not part of a strategy: the loop applies them between ``fit``
and ``aggregate_fit``, so a strategy that sums sees only the recovered sum, and only a
strategy that needs individual updates (reputation screening) requires them in plaintext.

Weighted averaging as a protected sum (paper 001 §3 "Global model update"; McMahan et al.
2017): party k contributes ``w_k x_k``; the server divides the recovered sum by the weight of
the parties that uploaded, ``x̄ = Σ_k w_k x_k / Σ_k w_k``. Either the server knows the public
weights of the uploaders (``weight_in_upload=False``, paper 001: pre-scaled sums, so CKKS needs
no multiplication), or each party appends its weight to the vector, ``[w_k x_k, w_k]``, and the
sum carries ``Σ w_k`` (``weight_in_upload=True``, paper 000 §4.3).

References: paper 000 (Nagaraj 2024) eq. 1 and §4.1-4.3 (FMTL); paper 001 §3 (FedAvg with
protections); paper 003 (Xu et al.) §3.4 eqs. 16-24 (reputation screening); Beutel et al.
2020 (Flower). Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import numpy as np
>>> class Bank:
...     def __init__(self, name, n): self.name, self.num_examples, self.private = name, n, False
>>> fedavg = FedAvg(np.zeros(2))
>>> [(i.party, i.config["weight"]) for i in fedavg.configure_fit(
...     1, np.zeros(2), [Bank("a", 30), Bank("b", 10)], rng=np.random.default_rng(0))]
[('a', 0.75), ('b', 0.25)]
>>> fedavg.aggregate_fit(1, Uploads(sums=(np.array([3.0, 1.0]),),
...                                 weights={"a": 0.75, "b": 0.25}, readable={}), failures=[])
array([3., 1.])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fedlib.fl.reputation import ReputationLedger, ReputationParams

__all__ = ["FMTLStrategy", "FedAvg", "FederatedParty", "FitInstruction", "FitResult",
           "ReputationScreen", "Strategy", "Uploads", "contribution"]

#: Training seeds are drawn below this bound (a non-negative int32, as torch and numpy accept).
SEED_BOUND = 2**31 - 1


@dataclass(frozen=True)
class FitInstruction:
    """What the server sends one party for one round (Flower's ``FitIns`` with its client)."""

    party: str
    parameters: np.ndarray = field(repr=False)
    config: dict[str, Any]


@dataclass(frozen=True)
class FitResult:
    """What a party's local training returns (Flower's ``FitRes``).

    Its new parameters, the number of rows it trained on, and metrics (``loss``, ``seconds``).
    """

    parameters: np.ndarray = field(repr=False)
    num_examples: int
    metrics: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class FederatedParty(Protocol):
    """A party of the round loop (Flower's ``NumPyClient``); it alone holds its rows.

    ``private`` says whether its training is differentially private, so that the transcript
    labels its plaintext update ``noisy`` rather than ``plaintext``.
    """

    name: str
    num_examples: int
    private: bool

    def fit(self, parameters: np.ndarray, config: dict[str, Any]) -> FitResult:
        """One round of local training from the global ``parameters`` (config: round, seed)."""

    def evaluate(self, parameters: np.ndarray, config: dict[str, Any]
                 ) -> dict[str, float] | None:
        """Metrics of ``parameters`` on the party's own rows, or ``None``."""


@dataclass(frozen=True)
class Uploads:
    """What reached the server in one round, as the server can use it.

    Parameters
    ----------
    sums
        The recovered sum of the uploaded contributions (:func:`contribution`), one per
        protection in the order the protections first uploaded.
    weights
        Aggregation weight of every party whose upload arrived, in arrival order.
    readable
        The individual results the server could read (plaintext uploads only).
    """

    sums: tuple[np.ndarray, ...] = field(repr=False)
    weights: dict[str, float]
    readable: dict[str, FitResult] = field(repr=False)


def contribution(parameters: np.ndarray, weight: float, *, weight_in_upload: bool) -> np.ndarray:
    """The vector a party protects and uploads: ``w x``, or ``[w x, w]`` with the weight.

    >>> contribution(np.array([2.0, 4.0]), 0.5, weight_in_upload=True)
    array([1. , 2. , 0.5])
    """
    if weight_in_upload:
        return np.r_[weight * parameters, weight]
    return weight * parameters


@runtime_checkable
class Strategy(Protocol):
    """The server's algorithm (Flower's ``Strategy``); see the module docstring."""

    weight_in_upload: bool

    def initialize_parameters(self) -> np.ndarray:
        """The global model before round 1."""

    def configure_fit(self, round: int, parameters: np.ndarray,
                      parties: Sequence[FederatedParty], *, rng: np.random.Generator
                      ) -> list[FitInstruction]:
        """Which parties train this round and with what: one instruction per party."""

    def aggregate_fit(self, round: int, uploads: Uploads, failures: Sequence[str]
                      ) -> np.ndarray | None:
        """The new global parameters from what reached the server, or ``None`` to keep them."""

    def evaluate(self, round: int, parameters: np.ndarray) -> dict[str, float] | None:
        """Server-side metrics of the global model, or ``None``."""


class ReputationScreen:
    """Reputation- and quality-screened aggregation (paper 003 §3.4) as an aggregation hook.

    Before a round the aiding node scores the current global model on its validation rows;
    after local training it scores every update, records an interaction in the
    :class:`~fedlib.fl.reputation.ReputationLedger` (positive when the update's accuracy is
    at least the global model's minus ``tolerance``) and lets in only the updates whose final
    score ``C = (1 − δ) T + δ Q`` (eq. 24) reaches the threshold. With ``enforce=False`` every
    update gets in but the scores are still kept, so a plain run can be compared.

    Parameters
    ----------
    params
        Weights of eqs. 16-24 and the threshold.
    parties
        Names of every party that may upload.
    validation_accuracy
        Accuracy of a parameter vector on the aiding node's validation rows.
    enforce
        Drop the updates below the threshold (``True``) or only score them.
    """

    def __init__(self, params: ReputationParams, parties: Sequence[str], *,
                 validation_accuracy: Callable[[np.ndarray], float], enforce: bool = True):
        self.ledger = ReputationLedger(params, parties)
        self.validation_accuracy = validation_accuracy
        self.enforce = enforce
        self.decisions: list[dict[str, Any]] = []
        self._global_accuracy: float | None = None

    def start_round(self, round: int, parameters: np.ndarray) -> None:
        """Score the global model the parties are about to receive."""
        self._global_accuracy = self.validation_accuracy(parameters)

    def __call__(self, round: int, results: Mapping[str, FitResult]) -> list[str]:
        """Record every update's interaction and return the names let into aggregation."""
        if self._global_accuracy is None:
            raise RuntimeError("start_round must score the global model before screening")
        accepted = []
        tolerance = self.ledger.params.tolerance
        for name, result in results.items():
            quality = self.validation_accuracy(result.parameters)
            positive = quality >= self._global_accuracy - tolerance
            self.ledger.record(name, positive=positive, quality=quality)
            score = self.ledger.score(name)
            chosen = not self.enforce or score >= self.ledger.params.threshold
            self.decisions.append({
                "round": round, "party": name, "val_accuracy": quality, "positive": positive,
                "T": self.ledger.reputation(name), "Q": self.ledger.quality(name), "C": score,
                "aggregated": chosen})
            if chosen:
                accepted.append(name)
        return accepted


class FedAvg:
    """Weighted FedAvg: ``w̄ = Σ_k (n_k / Σ_j n_j) w_k`` over the parties that uploaded.

    Parameters
    ----------
    initial_parameters
        The first global model.
    sample_fraction
        Share of the parties sampled each round (at least one), drawn from the loop's
        generator; ``None`` (default) takes every party without a draw.
    weight_in_upload
        Carry each weight inside the protected vector (paper 000 §4.3) instead of the server
        knowing the uploaders' weights (paper 001); see the module docstring.
    seed_fn
        ``(round, index of the party) -> training seed``; default: drawn from the loop's
        generator, one per sampled party.
    evaluate_fn
        Server-side evaluation of a global parameter vector.
    screen
        An aggregation hook such as :class:`ReputationScreen`. With a screen, the new model
        is the ``n_k``-weighted mean of the *accepted* updates, which the server must be able
        to read individually (plaintext uploads).
    """

    def __init__(self, initial_parameters: np.ndarray, *, sample_fraction: float | None = None,
                 weight_in_upload: bool = False,
                 seed_fn: Callable[[int, int], int] | None = None,
                 evaluate_fn: Callable[[np.ndarray], dict[str, float]] | None = None,
                 screen: ReputationScreen | None = None) -> None:
        if sample_fraction is not None and not 0.0 < sample_fraction <= 1.0:
            raise ValueError(f"sample_fraction must be in (0, 1], got {sample_fraction}")
        self.initial_parameters = np.asarray(initial_parameters)
        self.sample_fraction = sample_fraction
        self.weight_in_upload = weight_in_upload
        self.seed_fn = seed_fn
        self.evaluate_fn = evaluate_fn
        self.screen = screen

    def initialize_parameters(self) -> np.ndarray:
        """A copy of ``initial_parameters``."""
        return self.initial_parameters.copy()

    def _sample(self, parties: Sequence[FederatedParty], rng: np.random.Generator) -> list[int]:
        if self.sample_fraction is None:
            return list(range(len(parties)))
        k = max(1, round(self.sample_fraction * len(parties)))
        return [int(i) for i in np.sort(rng.choice(len(parties), size=k, replace=False))]

    def _weights(self, sampled: Sequence[FederatedParty]) -> list[float]:
        total = sum(p.num_examples for p in sampled)
        return [p.num_examples / total for p in sampled]

    def _extra_config(self) -> dict[str, Any]:
        return {}

    def configure_fit(self, round: int, parameters: np.ndarray,
                      parties: Sequence[FederatedParty], *, rng: np.random.Generator
                      ) -> list[FitInstruction]:
        """Sample, then give every sampled party its seed and its weight."""
        if self.screen is not None:
            self.screen.start_round(round, parameters)
        chosen = self._sample(parties, rng)
        sampled = [parties[i] for i in chosen]
        instructions = []
        for index, party, weight in zip(chosen, sampled, self._weights(sampled), strict=True):
            seed = (int(rng.integers(SEED_BOUND)) if self.seed_fn is None
                    else int(self.seed_fn(round, index)))
            config = {"round": round, "seed": seed, "weight": weight, **self._extra_config()}
            instructions.append(FitInstruction(party.name, parameters, config))
        return instructions

    def aggregate_fit(self, round: int, uploads: Uploads, failures: Sequence[str]
                      ) -> np.ndarray | None:
        """The weighted mean of what arrived; ``None`` if nothing did."""
        if not uploads.weights:
            return None
        if self.screen is not None:
            return self._screened_mean(round, uploads)
        if self.weight_in_upload:
            total = uploads.sums[0]
            for s in uploads.sums[1:]:
                total = total + s
            return total[:-1] / total[-1]
        total = np.zeros_like(uploads.sums[0], dtype=np.float64)
        for s in uploads.sums:
            total += s
        return total / sum(uploads.weights.values())

    def _screened_mean(self, round: int, uploads: Uploads) -> np.ndarray | None:
        hidden = sorted(set(uploads.weights) - set(uploads.readable))
        if hidden:
            raise ValueError(f"screening reads every update, but {hidden} uploaded through a "
                             "protection that hides them; screen plaintext uploads only")
        accepted = self.screen(round, uploads.readable)
        if not accepted:
            return None
        rows = sum(uploads.readable[n].num_examples for n in accepted)
        return sum(uploads.readable[n].num_examples / rows * uploads.readable[n].parameters
                   for n in accepted)

    def evaluate(self, round: int, parameters: np.ndarray) -> dict[str, float] | None:
        """``evaluate_fn(parameters)``, or ``None`` without one."""
        return None if self.evaluate_fn is None else self.evaluate_fn(parameters)


class FMTLStrategy(FedAvg):
    """Federated multi-task learning, the server's side of paper 000 eq. 1.

    ``min Σ_i [L_i(W_i) + λ‖W_i − W̄‖²]`` by alternating minimisation: each party keeps its
    personal model and trains it with the proximal term towards the ``W̄`` it received (λ
    travels in the config as ``"lam"``); the server's minimiser over ``W̄`` is the plain
    average of the uploads (every weight 1). By default the weight rides in the upload (paper
    000 §4.3: ``[W_i, 1]`` under secure aggregation, so the sum also counts the survivors).

    >>> class Bank:
    ...     name, num_examples, private = "a", 10, False
    >>> s = FMTLStrategy(np.zeros(2), lam=0.5)
    >>> [(i.config["lam"], i.config["weight"])
    ...  for i in s.configure_fit(1, np.zeros(2), [Bank()], rng=np.random.default_rng(0))]
    [(0.5, 1.0)]
    """

    def __init__(self, initial_parameters: np.ndarray, *, lam: float,
                 weight_in_upload: bool = True, **kwargs) -> None:
        if not lam >= 0.0:
            raise ValueError(f"lam={lam}: must be >= 0")
        super().__init__(initial_parameters, weight_in_upload=weight_in_upload, **kwargs)
        self.lam = float(lam)

    def _weights(self, sampled: Sequence[FederatedParty]) -> list[float]:
        return [1.0] * len(sampled)

    def _extra_config(self) -> dict[str, Any]:
        return {"lam": self.lam}
