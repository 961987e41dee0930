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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn

from fedlib.core.protection import UpdateProtection
from fedlib.fl.models import get_flat_params, set_flat_params
from fedlib.fl.protection import PlaintextProtection
from fedlib.fl.strategies import FitResult
from fedlib.privacy.closed_form import logistic_sgd
from fedlib.privacy.dpsgd import train_local, train_local_dp

__all__ = ["DPSGDTrainer", "LocalTrainer", "LogisticDPSGDTrainer", "LogisticSGDTrainer", "Party",
           "PartyClient", "StandardTrainer", "TrainStats"]


@dataclass(frozen=True)
class TrainStats:
    """What one local training call did: optimizer steps, final loss, wall-clock seconds."""

    steps: int
    loss: float
    seconds: float


class LocalTrainer(Protocol):
    """Trains ``model`` in place on a party's rows for one round."""

    private: bool

    def train(self, model: nn.Module, X: np.ndarray, y: np.ndarray, *, seed: int) -> TrainStats:
        """What one round's training of ``model`` on the party's rows did.

        Parameters
        ----------
        model : torch.nn.Module
            The model to train; its parameters are updated in place.
        X, y : numpy.ndarray
            The party's training features ``(n_rows, n_features)`` and labels ``(n_rows,)``.
        seed : int
            The seed of the round's batch sampling (and of the noise, where the trainer
            seeds it).

        Returns
        -------
        TrainStats
            Optimizer steps, final loss and wall-clock seconds.
        """


@dataclass
class StandardTrainer:
    """Non-private local SGD: ``epochs`` passes, mini-batches of ``batch_size`` (None = full batch)."""

    epochs: int
    lr: float
    batch_size: int | None
    private: bool = field(default=False, init=False)

    def train(self, model: nn.Module, X: np.ndarray, y: np.ndarray, *, seed: int) -> TrainStats:
        """One round of plain SGD, ``model`` in place (see :meth:`LocalTrainer.train`)."""
        s = train_local(model, X, y, epochs=self.epochs, lr=self.lr,
                        batch_size=self.batch_size, seed=seed)
        return TrainStats(steps=s.steps, loss=s.final_loss, seconds=s.seconds)


@dataclass
class DPSGDTrainer:
    """DP-SGD with one accountant that lives as long as the party.

    The accountant is created once and handed to every round's training call, so the ε the
    party reports is the composition over *all* its rounds, never a per-round value. Batches
    are Poisson-sampled at q = ``batch_size``/n, as the accountant assumes. ``noise_seed``
    ``None`` (default) draws sampling and noise from OS entropy; an integer makes runs
    repeatable — seeded noise is a reproduction device that voids the guarantee.
    ``backend`` is the per-example gradient backend of
    :func:`fedlib.privacy.dpsgd.train_local_dp` (``"auto"``: the fastest that fits the
    model; ``"opacus"``: Opacus' ``DPOptimizer``, the reference).
    """

    epochs: int
    lr: float
    batch_size: int | None
    noise_multiplier: float
    clip_norm: float
    accountant: object
    noise_seed: int | None = None
    backend: str = "auto"
    private: bool = field(default=True, init=False)

    def train(self, model: nn.Module, X: np.ndarray, y: np.ndarray, *, seed: int) -> TrainStats:
        """One round of DP-SGD, ``model`` in place, its steps recorded in the party's accountant.

        See :meth:`LocalTrainer.train` for the arguments.
        """
        s = train_local_dp(model, X, y, epochs=self.epochs, lr=self.lr,
                           noise_multiplier=self.noise_multiplier, clip_norm=self.clip_norm,
                           batch_size=self.batch_size, accountant=self.accountant,
                           seed=seed, noise_seed=self.noise_seed, backend=self.backend)
        return TrainStats(steps=s.steps, loss=s.final_loss, seconds=s.seconds)


def _linear_layer(model: nn.Module) -> nn.Linear:
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(layers) != 1 or sum(p.numel() for p in model.parameters()) != (
            layers[0].in_features + 1) or layers[0].out_features != 1:
        raise TypeError("the closed-form trainers need a model with exactly one nn.Linear(d, 1) "
                        f"layer (logistic regression), got {type(model).__name__}")
    return layers[0]


def _train_closed_form(model: nn.Module, X: np.ndarray, y: np.ndarray, **kw) -> tuple[int, float]:
    layer = _linear_layer(model)
    with torch.no_grad():
        w0 = np.append(layer.weight.detach().double().numpy().ravel(),
                       layer.bias.detach().double().numpy())
    w, steps = logistic_sgd(w0, X, y, **kw)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w[:-1]).reshape(layer.weight.shape))
        layer.bias.copy_(torch.from_numpy(w[-1:]))
    z = np.asarray(X, dtype=np.float64) @ w[:-1] + w[-1]
    yy = np.asarray(y, dtype=np.float64)
    loss = float(np.mean(np.logaddexp(0.0, z) - yy * z))
    return steps, loss


@dataclass
class LogisticSGDTrainer(StandardTrainer):
    """:class:`StandardTrainer` for logistic regression, with closed-form gradients (fast)."""

    def train(self, model: nn.Module, X: np.ndarray, y: np.ndarray, *, seed: int) -> TrainStats:
        """One round of plain SGD with closed-form gradients, ``model`` in place."""
        start = time.perf_counter()
        steps, loss = _train_closed_form(model, X, y, epochs=self.epochs, lr=self.lr,
                                         batch_size=self.batch_size, seed=seed)
        return TrainStats(steps=steps, loss=loss, seconds=time.perf_counter() - start)


@dataclass
class LogisticDPSGDTrainer(DPSGDTrainer):
    """:class:`DPSGDTrainer` for logistic regression, with closed-form per-example gradients.

    Same settings, algorithm and accounting (full batch: q = 1; with ``batch_size``: Poisson
    sampling at q = B/n); about 20 times faster than Opacus' hooks on this model, which is what
    lets chapter 2 run several seeds and a tuning sweep of the paper's 1000 × 5 schedule.
    """

    def train(self, model: nn.Module, X: np.ndarray, y: np.ndarray, *, seed: int) -> TrainStats:
        """One round of DP-SGD with closed-form per-example gradients, recorded in the accountant.

        See :meth:`LocalTrainer.train` for the arguments.
        """
        start = time.perf_counter()
        n = len(X)
        batch = None if self.batch_size is None or self.batch_size >= n else self.batch_size
        steps, loss = _train_closed_form(model, X, y, epochs=self.epochs, lr=self.lr,
                                         batch_size=batch, seed=seed,
                                         noise_multiplier=self.noise_multiplier,
                                         clip_norm=self.clip_norm, noise_seed=self.noise_seed)
        self.accountant.record(noise_multiplier=self.noise_multiplier,
                               sample_rate=1.0 if batch is None else batch / n, steps=steps)
        return TrainStats(steps=steps, loss=loss, seconds=time.perf_counter() - start)


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
        """The number of rows it trains on."""
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


class PartyClient:
    """A :class:`Party` as a party of the round loop (:mod:`fedlib.fl.loop`).

    ``fit(parameters, config)`` loads the parameters into ``model`` (a scratch model of the
    shared architecture, which several clients may share: each fit overwrites it), trains with
    the party's own trainer at ``config["seed"]`` and returns the new parameters with the
    loss, steps and seconds. ``evaluate`` reports the mean training loss of ``parameters`` on
    the party's rows when ``loss_fn`` is given, else nothing.

    >>> import numpy as np
    >>> from fedlib.fl.models import LogisticRegression, get_flat_params
    >>> X = np.eye(3, dtype=np.float32); y = np.array([1, 0, 1], dtype=np.float32)
    >>> model = LogisticRegression(3, seed=0)
    >>> client = PartyClient(Party("bank-1", X, y, StandardTrainer(1, 0.1, None)), model)
    >>> client.fit(get_flat_params(model), {"round": 1, "seed": 0}).num_examples
    3
    """

    def __init__(self, party: Party, model: nn.Module, *,
                 loss_fn: Callable[[nn.Module, np.ndarray, np.ndarray], float] | None = None
                 ) -> None:
        self.party, self.model, self.loss_fn = party, model, loss_fn
        self.name = party.name
        self.num_examples = party.n_rows
        self.private = party.trainer.private

    def fit(self, parameters: np.ndarray, config: dict) -> FitResult:
        """The party's new parameters after one round of local training from ``parameters``.

        Parameters
        ----------
        parameters : numpy.ndarray
            The global model's flat parameter vector.
        config : dict
            The round's settings: ``"round"`` and ``"seed"``.

        Returns
        -------
        FitResult
            The new parameter vector, :attr:`num_examples` and the ``loss``, ``steps`` and
            ``seconds`` of the training.
        """
        vector, stats = self.party.local_update(self.model, parameters, round=config["round"],
                                                seed=config["seed"])
        return FitResult(vector, self.num_examples,
                         {"loss": stats.loss, "steps": stats.steps, "seconds": stats.seconds})

    def evaluate(self, parameters: np.ndarray, config: dict) -> dict[str, float] | None:
        """``{"loss": ...}``, the mean training loss of ``parameters`` on the party's rows.

        None when the client has no ``loss_fn``; ``config`` is not read.
        """
        if self.loss_fn is None:
            return None
        set_flat_params(self.model, parameters)
        return {"loss": float(self.loss_fn(self.model, self.party.X, self.party.y))}
