"""A party: its own rows, its own local trainer, its own protection.

A :class:`Party` is the only object that holds its training rows; the round loop
(:mod:`fedlib.fl.federation`) never reads them, it only asks the party for a protected update.
The local trainer decides *how* the party learns (plain SGD or DP-SGD with its own accountant
that persists across rounds); the protection decides what the server receives (plaintext,
CKKS ciphertext, masked vector).

References: paper 001 §3 "Secure federated learning workflow" (client initialisation, local
training per privacy mode). Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import numpy as np
>>> from fedlib.fl.models import LogisticRegression, get_flat_params
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(40, 3)).astype(np.float32); y = (X[:, 0] > 0).astype(np.float32)
>>> party = Party("bank-1", X, y, trainer=StandardTrainer(epochs=5, lr=0.5, batch_size=None))
>>> model = LogisticRegression(3, seed=0)
>>> vec, stats = party.local_update(model, get_flat_params(model), round=1, seed=1)
>>> vec.shape, stats.steps
((4,), 5)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from torch import nn

from fedlib.fl.models import get_flat_params, set_flat_params
from fedlib.fl.protection import PlaintextProtection, UpdateProtection

__all__ = ["DPSGDTrainer", "LocalTrainer", "Party", "StandardTrainer", "TrainStats"]


@dataclass(frozen=True)
class TrainStats:
    """What one local training call did: optimizer steps, final loss, wall-clock seconds."""

    steps: int
    loss: float
    seconds: float


class LocalTrainer(Protocol):
    """Trains ``model`` in place on a party's rows for one round."""

    private: bool

    def train(self, model: nn.Module, X: np.ndarray, y: np.ndarray, *, seed: int) -> TrainStats: ...


@dataclass
class StandardTrainer:
    """Non-private local SGD: ``epochs`` passes, mini-batches of ``batch_size`` (None = full batch)."""

    epochs: int
    lr: float
    batch_size: int | None
    private: bool = field(default=False, init=False)

    def train(self, model: nn.Module, X: np.ndarray, y: np.ndarray, *, seed: int) -> TrainStats:
        from fedlib.privacy.dpsgd import train_local

        s = train_local(model, X, y, epochs=self.epochs, lr=self.lr,
                        batch_size=self.batch_size, seed=seed)
        return TrainStats(steps=s.steps, loss=s.final_loss, seconds=s.seconds)


@dataclass
class DPSGDTrainer:
    """DP-SGD through Opacus with one accountant that lives as long as the party.

    The accountant is created once and handed to every round's training call, so the ε the
    party reports is the composition over *all* its rounds, never a per-round value. Batches
    are Poisson-sampled at q = ``batch_size``/n, as the accountant assumes. ``noise_seed``
    ``None`` (default) draws sampling and noise from OS entropy; an integer makes runs
    repeatable — seeded noise is a reproduction device that voids the guarantee
    (:func:`fedlib.privacy.dpsgd.train_local_dp`).
    """

    epochs: int
    lr: float
    batch_size: int | None
    noise_multiplier: float
    clip_norm: float
    accountant: object
    noise_seed: int | None = None
    private: bool = field(default=True, init=False)

    def train(self, model: nn.Module, X: np.ndarray, y: np.ndarray, *, seed: int) -> TrainStats:
        from fedlib.privacy.dpsgd import train_local_dp

        s = train_local_dp(model, X, y, epochs=self.epochs, lr=self.lr,
                           noise_multiplier=self.noise_multiplier, clip_norm=self.clip_norm,
                           batch_size=self.batch_size, accountant=self.accountant,
                           seed=seed, noise_seed=self.noise_seed)
        return TrainStats(steps=s.steps, loss=s.final_loss, seconds=s.seconds)


@dataclass
class Party:
    """One institution of a horizontal federation.

    Parameters
    ----------
    name
        Unique name, used as sender/receiver in the transcript.
    X, y
        The party's own preprocessed training rows; nothing outside the party reads them.
    trainer
        Its local trainer (:class:`StandardTrainer` or :class:`DPSGDTrainer`).
    protection
        How its update travels to the server (default: plaintext).
    """

    name: str
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    trainer: LocalTrainer
    protection: UpdateProtection = field(default_factory=PlaintextProtection)

    def __post_init__(self) -> None:
        if len(self.X) == 0:
            raise ValueError(f"party {self.name!r} has no rows; every party needs training data")
        if len(self.X) != len(self.y):
            raise ValueError(f"party {self.name!r}: {len(self.X)} feature rows but {len(self.y)} labels")

    @property
    def n_rows(self) -> int:
        return len(self.X)

    @property
    def message_kind(self) -> str:
        """The transcript kind of this party's update as the server receives it."""
        if self.protection.kind != "plaintext":
            return self.protection.kind
        return "noisy" if self.trainer.private else "plaintext"

    def local_update(self, model: nn.Module, global_params: np.ndarray, *, round: int,
                     seed: int) -> tuple[np.ndarray, TrainStats]:
        """Load the global model, train locally, return the new parameter vector and stats."""
        set_flat_params(model, global_params)
        model.train()
        start = time.perf_counter()
        stats = self.trainer.train(model, self.X, self.y, seed=seed)
        seconds = time.perf_counter() - start
        return get_flat_params(model), TrainStats(stats.steps, stats.loss, seconds)
