"""Federated multi-task learning (paper 000, eq. 1) and FedAvg, with DP-SGD and secure aggregation.

Objective (paper 000, eq. 1), with the convention used here written out::

    min_{W_1..W_N, W̄}  Σ_i [ L_i(W_i; D_i) + λ ‖W_i − W̄‖² ]

``L_i`` is the *mean* binary cross-entropy on institution i's rows and the penalty is
``λ‖·‖²`` exactly as printed (not ``λ/2‖·‖²``), so the proximal gradient a client adds is
``2λ (W_i − W̄)``. Alternating minimisation gives the protocol of §4.1: each client keeps its
personal ``W_i`` across rounds and runs local SGD on ``L_i + λ‖W_i − W̄‖²`` from where it left
off; the server's minimiser over ``W̄`` is the plain average of the ``W_i`` it receives (the
"proximal centre"). ``λ = 0`` is purely local training; ``λ → ∞`` pulls every ``W_i`` onto one
model (unweighted FedAvg). Each institution is evaluated with its own ``W_i``.

Two optimisers of the same objective (``algorithm``):

``"joint"`` (default)
    Write ``W_i = W̄ + V_i``; eq. 1 becomes ``Σ_i L_i(W̄ + V_i) + λ‖V_i‖²``, the same objective
    with the same minimisers. Each local step takes the (noisy) gradient ``g`` of ``L_i`` at
    ``W_i`` and moves both blocks: the client's copy of the shared part ``u ← u − lr·g``, its
    personal offset by a proximal step ``V_i ← (V_i − lr·g) / (1 + 2λ·lr)``. The client uploads
    ``u``; the server's ``W̄`` is the plain average. As ``λ → ∞`` the offsets vanish and the
    loop *is* FedAvg with equal weights, step for step; the proximal step is stable for every
    ``λ ≥ 0`` and learning rate.
``"alternating"``
    Block-coordinate descent: each client runs local SGD on ``L_i + λ‖W_i − W̄‖²`` from its
    own ``W_i`` and uploads ``W_i``; ``W̄`` is their average. Correct, but slow for large
    λ: once the local problem is solved, ``W_i ≈ W̄ − ∇L_i(W_i)/(2λ)``, so ``W̄`` moves by
    about ``1/(2λ)`` times the mean gradient per *round*, whatever the learning rate and the
    number of local steps. With a fixed number of rounds a large λ leaves ``W̄`` (and every
    ``W_i`` near it) undertrained, which is why the validation AUC of this variant *falls*
    as λ grows (chapter 1 shows it). Needs ``2λ·lr < 1``.

FedAvg (the baseline) is the same loop with one global model: every client starts the round
from ``W̄``, trains on ``L_i`` alone, and ``W̄`` is the n_i-weighted average.

Differential privacy (eq. 2, Abadi et al. Alg. 1): each client runs DP-SGD through Opacus —
per-example gradients clipped to ``C``, Gaussian noise ``N(0, σ²C²)`` on their sum — and its
one :class:`~fedlib.privacy.accountants.PartyAccountant` composes every noisy step of every
round. The proximal term needs no noise: ``2λ(W_i − W̄)`` depends on the client's data only
through ``W_i``, itself the output of earlier noisy steps, so it is post-processing; it is added
to the noised gradient before the SGD step.

Secure aggregation (§4.3): each round the clients upload ``[w_i·W_i, w_i]`` (``w_i = 1`` for
FMTL, ``n_i/Σn`` for FedAvg) through :class:`~fedlib.crypto.secagg.SecureAggregation`, so the
server learns only the sums ``Σ w_i W_i`` and ``Σ w_i`` over the survivors ``U3`` and divides.
Clients drop out with probability ``dropout_rate`` in the given phases; a round with fewer than
``t`` survivors aborts and ``W̄`` stays as it was. Every message goes through one
:class:`~fedlib.core.transcript.Transcript`; :func:`server_view` summarises what the server
received.

Both run on the one round loop (:class:`fedlib.fl.loop.RoundLoop`): FMTL is the
:class:`~fedlib.fl.strategies.FMTLStrategy` (λ in the config, plain average) and FedAvg the
:class:`~fedlib.fl.strategies.FedAvg` strategy; an :class:`FMTLParty` keeps its personal state
(``W_i``, or ``V_i`` for ``"joint"``) inside itself and runs the proximal (DP-)SGD;
secure aggregation is the loop's protection, one protocol run (fresh keys, dropout phases)
per round. :func:`run_federated` wires them for chapter 1 and leaves the caller's clients and
secure aggregation object untouched (only the DP accountants, which belong to the clients,
compose the new steps).

References: paper 000 (Nagaraj 2024) eq. 1, eq. 2, §4.1-4.3, §5.3; Smith et al. 2017 (MOCHA);
Li et al. 2020 (FedProx) and Li et al. 2021 (Ditto) for the proximal personalisation;
Abadi et al. 2016. Introduced in chapter 1 (``chapters/01_fmtl_dp_secagg.py``).

Examples
--------
>>> import numpy as np
>>> from fedlib.fl.models import LogisticRegression
>>> rng = np.random.default_rng(0)
>>> clients = []
>>> for k in range(3):
...     X = rng.normal(size=(60, 2)).astype(np.float32)
...     y = (X[:, 0] + 0.5 * k > 0).astype(np.float32)
...     clients.append(FMTLClient(f"bank-{k}", X, y))
>>> run = run_federated(clients, model_fn=lambda: LogisticRegression(2, seed=0), mode="fmtl",
...                     rounds=2, lam=0.1, epochs=2, lr=0.5, batch_size=None, seed=0)
>>> len(run.history), sorted(run.models)
(2, ['bank-0', 'bank-1', 'bank-2'])
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from fedlib.core.party import PartyData
from fedlib.core.transcript import Transcript
from fedlib.evaluate.fairness import fairness_report
from fedlib.evaluate.metrics import classification_metrics
from fedlib.fl.loop import SERVER, Engine, LocalEngine, LocalTransport, RoundLoop, RoundOutcome
from fedlib.fl.models import get_flat_params, predict_proba, set_flat_params
from fedlib.fl.protection import PlaintextProtection
from fedlib.fl.strategies import FedAvg, FitResult, FMTLStrategy
from fedlib.privacy.accountants import PartyAccountant
from fedlib.privacy.calibrate import calibrate_noise_multiplier
from fedlib.privacy.delta import check_delta
from fedlib.privacy.dpsgd import train_local as plain_sgd
from fedlib.privacy.dpsgd import train_local_dp

__all__ = ["FMTLClient", "FMTLParty", "FederatedRun", "JointStep", "RoundLog", "auc_sensitivity",
           "fmtl_federation", "injected_noise_std",
           "institution_report", "local_train", "make_clients", "run_federated", "server_view",
           "train_centralized"]

Mode = Literal["fmtl", "fedavg"]


class JointStep:
    """The ``"joint"`` FMTL step on ``W_i = W̄ + V_i`` (module docstring) as a training hook.

    :func:`fedlib.privacy.dpsgd.train_local` / ``train_local_dp`` call it after clipping and
    noise (``proximal=JointStep(...)``).

    Each call reads the (noisy) gradient ``g`` in ``p.grad``, updates the shared copy
    ``u ← u − lr·g`` and the offset ``V ← (V − lr·g)/(1 + 2λ·lr)`` (the exact proximal step of
    ``λ‖V‖²``), writes ``W = u + V`` into the parameters and zeroes ``p.grad`` so that the
    optimizer's own SGD step leaves them there. The gradient is used once for both blocks,
    so DP costs what one DP-SGD step costs (post-processing of the noisy gradient).

    >>> import torch
    >>> p = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    >>> step = JointStep(np.array([1.0, 1.0]), np.zeros(2), lam=1e6, lr=0.5)
    >>> p.grad = torch.tensor([2.0, -2.0])
    >>> step([p])
    >>> step.shared.tolist(), [round(v, 4) + 0.0 for v in p.detach().tolist()]
    ([0.0, 2.0], [0.0, 2.0])
    """

    def __init__(self, shared: np.ndarray, offset: np.ndarray, *, lam: float, lr: float):
        if not (lam >= 0 and lr > 0):
            raise ValueError(f"lam={lam} must be >= 0 and lr={lr} > 0")
        self._shared = np.asarray(shared, dtype=np.float64).copy()
        self._offset = np.asarray(offset, dtype=np.float64).copy()
        if self._shared.shape != self._offset.shape:
            raise ValueError(f"shared {self._shared.shape} and offset {self._offset.shape} "
                             "differ")
        self.lam, self.lr = float(lam), float(lr)
        self._blocks = None

    @property
    def shared(self) -> np.ndarray:
        """The client's copy of ``W̄`` after the steps so far (what it uploads)."""
        if self._blocks is None:
            return self._shared.copy()
        return np.concatenate([u.reshape(-1).numpy() for u, _ in self._blocks])

    @property
    def offset(self) -> np.ndarray:
        """The personal offset ``V_i`` after the steps so far (never leaves the client)."""
        if self._blocks is None:
            return self._offset.copy()
        return np.concatenate([v.reshape(-1).numpy() for _, v in self._blocks])

    def _split(self, params) -> list:
        sizes = [p.numel() for p in params]
        if sum(sizes) != self._shared.size:
            raise ValueError(f"JointStep holds {self._shared.size} values, the model "
                             f"{sum(sizes)} parameters")
        u = torch.split(torch.as_tensor(self._shared), sizes)
        v = torch.split(torch.as_tensor(self._offset), sizes)
        return [(ui.reshape(p.shape).clone(), vi.reshape(p.shape).clone())
                for p, ui, vi in zip(params, u, v, strict=True)]

    def __call__(self, params) -> None:
        """Apply the joint step to ``params`` (their ``.grad`` holds the noisy gradient)."""
        if self._blocks is None:
            self._blocks = self._split(params)
        shrink = 1.0 + 2.0 * self.lam * self.lr
        with torch.no_grad():
            for p, (u, v) in zip(params, self._blocks, strict=True):
                g = p.grad.detach().to(u.dtype)
                u.sub_(self.lr * g)
                v.sub_(self.lr * g).div_(shrink)
                p.copy_((u + v).to(p.dtype))
                p.grad.zero_()


def local_train(model: nn.Module, X: np.ndarray, y: np.ndarray, *, center: np.ndarray | None,
                lam: float, epochs: int, lr: float, batch_size: int | None, seed: int,
                dp: tuple[float, float] | None = None, accountant=None,
                noise_seed: int | None = None) -> float:
    """SGD on mean BCE + ``lam·‖W − center‖²`` in place; DP-SGD if ``dp = (σ, C)``.

    A thin layer over :func:`fedlib.privacy.dpsgd.train_local` / ``train_local_dp``,
    whose ``proximal`` option adds the penalty's gradient after clipping and noise. With DP,
    batches are Poisson-sampled at q = B/n (the accountant's assumption), each step is
    recorded in ``accountant`` (required), and ``noise_seed`` (default ``None``: OS entropy)
    seeds sampling and noise for reproduction only. Non-private training shuffles. Returns
    the final mean training loss (the data term only). ``center`` may instead be a
    :class:`JointStep` (the ``"joint"`` FMTL step; ``lam`` is then the step's own and ignored
    here).
    """
    if isinstance(center, JointStep):
        proximal = center
    elif lam < 0 or (lam > 0 and center is None):
        raise ValueError(f"lam={lam}: must be >= 0, and > 0 needs a center")
    else:
        proximal = (center, lam) if lam > 0 else None
    if batch_size is not None and batch_size >= len(X):
        batch_size = None
    if dp is None:
        stats = plain_sgd(model, X, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                          proximal=proximal)
    else:
        if accountant is None:
            raise ValueError("dp=(sigma, clip_norm) needs the client's accountant")
        sigma, clip = dp
        stats = train_local_dp(model, X, y, epochs=epochs, lr=lr, noise_multiplier=sigma,
                               clip_norm=clip, batch_size=batch_size, accountant=accountant,
                               seed=seed, noise_seed=noise_seed, proximal=proximal)
    return stats.final_loss


@dataclass
class FMTLClient:
    """One institution: its rows and, if private, its DP settings.

    ``noise_multiplier``/``clip_norm``/``accountant`` are all None (non-private) or all set;
    the accountant lives as long as the client and composes every round of every run it
    takes part in. Its personal model lives in the :class:`FMTLParty` of a run.
    """

    name: str
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    noise_multiplier: float | None = None
    clip_norm: float | None = None
    accountant: object | None = None

    def __post_init__(self) -> None:
        if len(self.X) == 0 or len(self.X) != len(self.y):
            raise ValueError(f"client {self.name!r}: X has {len(self.X)} rows, y {len(self.y)}")
        dp = (self.noise_multiplier, self.clip_norm, self.accountant)
        if any(v is not None for v in dp) and any(v is None for v in dp):
            raise ValueError(f"client {self.name!r}: noise_multiplier, clip_norm and accountant "
                             "must be all set (DP) or all None")
        if self.noise_multiplier is not None and not (self.noise_multiplier >= 0
                                                      and self.clip_norm > 0):
            raise ValueError(f"client {self.name!r}: noise_multiplier={self.noise_multiplier} "
                             f"must be >= 0 and clip_norm={self.clip_norm} > 0")

    @property
    def private(self) -> bool:
        """Whether the client trains with DP-SGD."""
        return self.noise_multiplier is not None

    @property
    def n_rows(self) -> int:
        """Number of training rows."""
        return len(self.X)


@dataclass
class RoundLog:
    """One round of :func:`run_federated`.

    Whose update was summed (U3; empty if aborted), who dropped out (in any phase), whether
    secure aggregation aborted, bytes to the server, seconds.
    """

    round: int
    uploaded: list[str]
    dropped: list[str]
    aborted: bool
    bytes_to_server: int
    client_seconds: float
    server_seconds: float


@dataclass
class FederatedRun:
    """Result of :func:`run_federated`: the model each institution is evaluated with."""

    mode: str
    global_params: np.ndarray = field(repr=False)
    models: dict[str, np.ndarray] = field(repr=False)
    history: list[RoundLog]
    transcript: Transcript = field(repr=False)
    #: Each institution's parameters after its last local training (what it trained, before
    #: the joint step splits off its offset).
    local_params: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def history_frame(self) -> pd.DataFrame:
        """The history as a DataFrame, one row per round."""
        return pd.DataFrame([vars(r) for r in self.history])


class FMTLParty:
    """One institution in a run: its data, its DP settings and its personal state.

    ``fit(parameters, config)`` runs one round of local training from the received ``W̄``:
    with ``config["lam"]`` it is FMTL's step on eq. 1 (``"joint"``: the personal offset
    ``V_i`` is updated by the proximal step and the shared copy uploaded; ``"alternating"``:
    local SGD on ``L_i + λ‖W_i − W̄‖²`` from its own ``W_i``, or from ``W̄`` with
    ``personal_start="global"``), without it FedAvg's plain local training from ``W̄``. DP
    clients run DP-SGD with their own accountant (a trainer option: eq. 2). The personal state
    never leaves the party; :meth:`personal_parameters` is the model it is evaluated with.

    Parameters
    ----------
    client
        The institution (rows, DP settings, accountant); not modified, except that its
        accountant records the new DP steps.
    model
        Scratch model of the shared architecture (may be shared by all parties of a run).
    epochs, lr, batch_size
        Local epochs per round, SGD step size, batch size (None = full batch).
    algorithm, personal_start
        As :func:`run_federated`.
    noise_seed
        Seeds DP sampling and noise (reproduction only; ``None``: OS entropy).
    """

    def __init__(self, client: FMTLClient, model: nn.Module, *, epochs: int, lr: float,
                 batch_size: int | None, algorithm: Literal["joint", "alternating"] = "joint",
                 personal_start: Literal["own", "global"] = "own",
                 noise_seed: int | None = None) -> None:
        self.client, self.model = client, model
        self.name, self.num_examples, self.private = client.name, client.n_rows, client.private
        self.epochs, self.lr, self.batch_size = epochs, lr, batch_size
        self.algorithm, self.personal_start, self.noise_seed = algorithm, personal_start, noise_seed
        self.params: np.ndarray | None = None      # W_i after the last local training
        self.offset: np.ndarray | None = None      # V_i of the "joint" step
        self._fmtl = False

    #: The entries of :meth:`state`: whether the last round was FMTL's, ``W_i``, ``V_i``.
    STATE_KEYS = ("fmtl", "params", "offset")

    def state(self) -> dict[str, np.ndarray | bool]:
        """The personal state this party keeps between rounds, as plain values.

        ``fmtl`` (whether its last round was FMTL's: the evaluated model depends on it),
        ``params`` (``W_i``) and ``offset`` (``V_i``), the last two only once they exist. An
        engine that does not keep the party object between messages (Flower:
        :mod:`fedlib.flower.state`) stores it and hands it back with
        :meth:`load_state`. The DP accountant is not part of it: it belongs to the
        :class:`FMTLClient` and has its own ledger (:mod:`fedlib.flower.state`).

        >>> party = FMTLParty(FMTLClient("a", np.zeros((2, 1)), np.zeros(2)), None, epochs=1,
        ...                   lr=0.1, batch_size=None)
        >>> party.state()
        {'fmtl': False}
        """
        out: dict[str, np.ndarray | bool] = {"fmtl": self._fmtl}
        if self.params is not None:
            out["params"] = np.array(self.params, copy=True)
        if self.offset is not None:
            out["offset"] = np.array(self.offset, copy=True)
        return out

    def load_state(self, state: Mapping[str, np.ndarray | bool]) -> None:
        """Replace the personal state by ``state`` (as :meth:`state` gives it).

        A missing ``params`` or ``offset`` means the party has none yet (its first round);
        ``{}`` is a party that never trained. An unknown entry is an error.
        """
        unknown = sorted(set(state) - set(self.STATE_KEYS))
        if unknown:
            raise ValueError(f"party {self.name!r}: unknown state entries {unknown}; "
                             f"allowed: {list(self.STATE_KEYS)}")
        self._fmtl = bool(state.get("fmtl", False))
        self.params = (np.array(state["params"], copy=True)
                       if "params" in state else None)
        self.offset = (np.array(state["offset"], copy=True)
                       if "offset" in state else None)

    def fit(self, parameters: np.ndarray, config: dict) -> FitResult:
        """One round of local training from the received ``W̄``; uploads what the server may see.

        Parameters
        ----------
        parameters
            The global model ``W̄``.
        config
            ``seed`` (local training) and, for FMTL, ``lam`` (λ of eq. 1); without ``lam`` the
            round is FedAvg's plain local training.

        Returns
        -------
        FitResult
            The shared copy (``"joint"``) or the trained ``W_i``, the row count, and ``loss`` and
            ``seconds``.
        """
        lam = config.get("lam")
        self._fmtl = lam is not None
        joint = self._fmtl and self.algorithm == "joint"
        # "alternating" continues from its own W_i (block coordinate descent on eq. 1) or
        # restarts at W̄; "joint" starts at W̄ + V_i.
        own = self._fmtl and self.personal_start == "own" and self.params is not None
        start, step = (self.params if own else parameters), None
        if joint:
            if self.offset is None:
                self.offset = np.zeros_like(parameters)
            step = JointStep(parameters, self.offset, lam=lam, lr=self.lr)
            start = parameters + self.offset
        set_flat_params(self.model, start)
        c = self.client
        t0 = time.perf_counter()
        loss = local_train(self.model, c.X, c.y, center=step if joint else parameters,
                           lam=lam if self._fmtl else 0.0, epochs=self.epochs, lr=self.lr,
                           batch_size=self.batch_size, seed=config["seed"],
                           dp=(c.noise_multiplier, c.clip_norm) if c.private else None,
                           accountant=c.accountant, noise_seed=self.noise_seed)
        seconds = time.perf_counter() - t0
        self.params = get_flat_params(self.model)
        upload = self.params
        if joint:
            # The shared copy goes to the server; the offset V_i never leaves.
            self.offset = step.offset.astype(parameters.dtype)
            upload = step.shared.astype(parameters.dtype)
        return FitResult(upload, self.num_examples, {"loss": loss, "seconds": seconds})

    def personal_parameters(self, global_params: np.ndarray) -> np.ndarray:
        """The model this institution is evaluated with.

        ``W̄`` (FedAvg), ``W̄ + V_i`` (``"joint"``) or its own ``W_i`` (``"alternating"``).
        """
        if not self._fmtl:
            return global_params
        return global_params + self.offset if self.algorithm == "joint" else self.params

    def evaluate(self, parameters: np.ndarray, config: dict) -> dict[str, float]:
        """Mean BCE and accuracy at 0.5 of its personal model on its own training rows.

        The personal model is built on the received ``W̄`` (:meth:`personal_parameters`).
        """
        set_flat_params(self.model, self.personal_parameters(parameters))
        p = np.clip(predict_proba(self.model, self.client.X), 1e-7, 1 - 1e-7)
        y = np.asarray(self.client.y, dtype=np.float64)
        return {"loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
                "accuracy": float(np.mean((p >= 0.5) == (y >= 0.5)))}


def fmtl_federation(clients: Sequence[FMTLClient], *, model_fn: Callable[[], nn.Module],
                    mode: Mode, lam: float, epochs: int, lr: float, batch_size: int | None,
                    noise_seed: int | None = None,
                    personal_start: Literal["own", "global"] = "own",
                    algorithm: Literal["joint", "alternating"] = "joint"
                    ) -> tuple[FedAvg, list[FMTLParty]]:
    """The strategy and the parties of one chapter 1 run, before any round.

    What :func:`run_federated` puts on the local engine's round loop, and what another engine
    (Flower: :mod:`fedlib.flower.state`) runs instead: :class:`FMTLStrategy` (λ of
    eq. 1, plain average) or :class:`~fedlib.fl.strategies.FedAvg` (n_i-weighted), both with
    the weight in the upload (paper 000 §4.3), and one :class:`FMTLParty` per client, all
    sharing one scratch model whose initial weights are the first ``W̄``. The arguments are
    :func:`run_federated`'s and are checked here.
    """
    if mode not in ("fmtl", "fedavg"):
        raise ValueError(f"mode={mode!r}: must be 'fmtl' or 'fedavg'")
    if personal_start not in ("own", "global"):
        raise ValueError(f"personal_start={personal_start!r}: must be 'own' or 'global'")
    if algorithm not in ("joint", "alternating"):
        raise ValueError(f"algorithm={algorithm!r}: must be 'joint' or 'alternating'")
    if mode == "fmtl" and algorithm == "joint" and not lam >= 0.0:
        raise ValueError(f"lam={lam}: must be >= 0")
    if mode == "fmtl" and algorithm == "alternating" and not 0.0 <= 2.0 * lam * lr < 1.0:
        # Each SGD step multiplies W_i − W̄ by (1 − 2λ·lr): at >= 1 it overshoots the centre.
        raise ValueError(f"lam={lam}, lr={lr}: FMTL needs 0 <= 2*lam*lr < 1 for a stable "
                         "proximal step")
    model = model_fn()
    w_bar = get_flat_params(model)
    parties = [FMTLParty(c, model, epochs=epochs, lr=lr, batch_size=batch_size,
                         algorithm=algorithm, personal_start=personal_start,
                         noise_seed=noise_seed) for c in clients]
    # Both upload [w_i·W_i, w_i] (paper 000 §4.3): FMTL with w_i = 1, FedAvg with n_i/Σn.
    strategy = (FMTLStrategy(w_bar, lam=lam) if mode == "fmtl"
                else FedAvg(w_bar, weight_in_upload=True))
    return strategy, parties


def run_federated(clients: Sequence[FMTLClient], *, model_fn: Callable[[], nn.Module], mode: Mode,
                  rounds: int, lam: float, epochs: int, lr: float, batch_size: int | None,
                  seed: int, secure_aggregation=None, dropout_rate: float = 0.0,
                  dropout_phases: Sequence[str] = ("masked",), noise_seed: int | None = None,
                  personal_start: Literal["own", "global"] = "own",
                  algorithm: Literal["joint", "alternating"] = "joint",
                  transcript: Transcript | None = None,
                  on_round: Callable[[RoundLog, FederatedRun], None] | None = None,
                  engine: Engine | None = None) -> FederatedRun:
    """Run FMTL (``mode="fmtl"``, eq. 1) or FedAvg (``mode="fedavg"``) for ``rounds`` rounds.

    Parameters
    ----------
    clients
        The institutions; DP clients carry their σ, C and accountant. They are not modified
        (their accountants record the run's DP steps).
    model_fn
        Builds the shared architecture; its initial weights are the first ``W̄``.
    lam
        λ of eq. 1 (FMTL only; FedAvg ignores it); ``2·lam·lr < 1``.
    algorithm
        FMTL only: ``"joint"`` (default; ``W_i = W̄ + V_i``, both blocks stepped together, any
        λ ≥ 0) or ``"alternating"`` (block-coordinate descent; ``2·lam·lr < 1``); see the
        module docstring for why the second undertrains at large λ.
    personal_start
        ``"alternating"`` only: ``"own"`` (each round continues from the client's previous
        ``W_i``: block coordinate descent on eq. 1) or ``"global"`` (each round starts ``W_i``
        at the received ``W̄``, FedProx-style; the personal model is ``W̄`` after one round
        of proximal local training).
    epochs, lr, batch_size
        Local epochs per round, SGD step size, batch size (None = full batch).
    secure_aggregation
        A :class:`~fedlib.crypto.secagg.SecureAggregation` (each round's protocol logs to the
        run's transcript; the object itself is not modified), or None for plaintext uploads.
    dropout_rate, dropout_phases
        Probability that a client drops out in a round, and the protocol phases it may drop in
        (``"share"``, ``"masked"``, ``"unmask"``; without secure aggregation any phase means
        "does not upload").
    noise_seed
        DP clients always Poisson-sample their batches (q = B/n_i, as their accountant
        assumes). ``None`` (default): their sampling and noise come from OS entropy and
        cannot be regenerated. An integer seeds them (mixed with each client's per-round
        seed) so the run is repeatable; seeded noise is a reproduction device that voids the
        guarantee.
    engine
        Who runs the rounds (default :class:`~fedlib.fl.loop.LocalEngine`; Flower's:
        :class:`fedlib.flower.engine.FlowerEngine`), checked before any round. ``on_round``
        gets every round's log and ``global_params``; ``models`` and ``local_params`` are
        filled in after each round only where the parties train in this process (the local
        engine), and after the run from the parties' final state on every engine (on
        Flower, read back from the nodes).
    """
    if rounds < 1 or not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"rounds={rounds} must be >= 1, dropout_rate={dropout_rate} in [0, 1)")
    strategy, parties = fmtl_federation(clients, model_fn=model_fn, mode=mode, lam=lam,
                                        epochs=epochs, lr=lr, batch_size=batch_size,
                                        noise_seed=noise_seed, personal_start=personal_start,
                                        algorithm=algorithm)
    w_bar = strategy.initialize_parameters()
    transcript = transcript if transcript is not None else Transcript(keep_payloads=False)
    loop = RoundLoop(strategy, parties, seed=seed,
                     protection=secure_aggregation if secure_aggregation is not None
                     else PlaintextProtection(),
                     transcript=transcript, dropout_rate=dropout_rate,
                     dropout_phases=dropout_phases)
    engine = LocalEngine() if engine is None else engine
    engine.check(loop)                  # e.g. a protection the engine cannot run: before round 1
    run = FederatedRun(mode, w_bar, {}, [], transcript)

    def personal_models() -> None:
        run.models = {p.name: p.personal_parameters(run.global_params) for p in parties}
        run.local_params = {p.name: p.params for p in parties}

    def record(outcome: RoundOutcome) -> None:
        log = RoundLog(outcome.round, outcome.uploaded, outcome.dropped, outcome.aborted,
                       outcome.bytes_to_server, outcome.client_seconds,
                       outcome.protection_seconds + outcome.aggregation_seconds
                       + outcome.recovery_seconds)
        run.history.append(log)
        run.global_params = outcome.parameters
        if isinstance(loop.transport, LocalTransport):
            # Only here did this process's party objects train; elsewhere they are stale.
            personal_models()
        if on_round is not None:
            on_round(log, run)

    engine.run(loop, rounds, on_round=record)
    run.global_params = loop.parameters
    personal_models()
    return run


def train_centralized(model: nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float,
                      batch_size: int | None, seed: int) -> np.ndarray:
    """The centralized baseline: the same SGD on all institutions' pooled training rows."""
    local_train(model, X, y, center=None, lam=0.0, epochs=epochs, lr=lr,
                batch_size=batch_size, seed=seed)
    return get_flat_params(model)


def server_view(transcript: Transcript, *, server: str = SERVER) -> pd.DataFrame:
    """What the server received: messages and bytes per (kind, label).

    With secure aggregation the model updates arrive only as ``masked`` ``masked_input``; any
    ``plaintext`` or ``noisy`` ``model_update`` row means the server saw an individual update.

    >>> t = Transcript()
    >>> _ = t.send(sender="a", receiver="server", kind="masked", payload=b"xx", label="masked_input")
    >>> server_view(t)[["kind", "label", "messages", "bytes"]].values.tolist()
    [['masked', 'masked_input', 1, 2]]
    """
    frame = transcript.to_frame()
    frame = frame[frame.receiver == server]
    return (frame.groupby(["kind", "label"], as_index=False)
            .agg(messages=("nbytes", "size"), bytes=("nbytes", "sum")))


def injected_noise_std(*, lr: float, noise_multiplier: float, clip_norm: float,
                       batch_size: int, steps: int) -> float:
    """Std per coordinate of the DP noise injected into one client's parameters.

    ``steps`` DP-SGD steps each add ``lr·σC/B``, independently across steps; this is the
    noise before the training dynamics shrink or spread it.

    >>> injected_noise_std(lr=0.1, noise_multiplier=1.0, clip_norm=1.0, batch_size=10, steps=100)
    0.1
    """
    return lr * noise_multiplier * clip_norm / batch_size * math.sqrt(steps)



def make_clients(parties: Sequence[PartyData], *, epsilon: float | None, delta: float | None,
                 clip_norm: float | None, rounds: int, epochs: int,
                 batch_size: int | None) -> list[FMTLClient]:
    """One client per party, training on the party's ``X`` and ``y``.

    Any :class:`~fedlib.core.party.PartyData` will do: chapter 1's prepared institutions, or
    any other chapter's labelled parties. With ``epsilon`` set, σ is calibrated per party (its
    own sampling rate ``B/n_i`` and step count) so that its accountant reaches ``epsilon``
    after all rounds; ``epsilon=None`` gives non-private clients. With ``epsilon`` set,
    ``delta`` must be below 1/n_i for every party (checked first, before any calibration or
    training).
    """
    if epsilon is not None:
        check_delta(delta, rows={p.name: p.n_rows for p in parties})
    clients = []
    for p in parties:
        if epsilon is None:
            clients.append(FMTLClient(p.name, p.X, p.y))
            continue
        n = p.n_rows
        b = n if batch_size is None or batch_size >= n else batch_size
        steps = rounds * epochs * math.ceil(n / b)
        sigma = calibrate_noise_multiplier(target_epsilon=epsilon, delta=delta,
                                           sample_rate=b / n, steps=steps)
        clients.append(FMTLClient(p.name, p.X, p.y, noise_multiplier=sigma,
                                  clip_norm=clip_norm, accountant=PartyAccountant(p.name)))
    return clients


def institution_report(models: dict[str, np.ndarray], model_fn: Callable[[], nn.Module],
                       institutions: Sequence) -> pd.DataFrame:
    """Per institution, on its own test rows: ROC-AUC, accuracy at 0.5 and EOD/DIR/SPD.

    The fairness metrics are for the decision "predict default if p >= the cut that flags the
    training default rate's share of the institution's training rows" with approval (label 0)
    as the favourable outcome and ``a = 0`` as the privileged group.

    ``flagged_share`` is the share of test rows predicted to default at that threshold (0 or
    1: the model predicts a single class there). A fairness metric that cannot be computed
    (one group absent, or never approved) is NaN and ``fairness_note`` says why.
    """
    rows = []
    model = model_fn()
    for inst in institutions:
        set_flat_params(model, models[inst.name])
        p = predict_proba(model, inst.X_test)
        m = classification_metrics(inst.y_test, p)
        # Flag the riskiest share of applicants equal to the training default rate, with the
        # cut taken on the model's scores of the institution's *training* rows: a rank rule,
        # so a private model whose scores are shifted by DP noise (badly calibrated, still
        # ranking) is not mistaken for a constant classifier, and no test row sets the cut.
        rate = float(np.mean(inst.y_train))
        cut = float(np.quantile(predict_proba(model, inst.X_train), 1.0 - rate))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fair = fairness_report(inst.y_test, p, inst.a_test, privileged=0, threshold=cut,
                                   favorable=0, missing_group="nan", with_note=True)
        rows.append({"institution": inst.name, "roc_auc": m["roc_auc"],
                     "accuracy": m["accuracy"], "threshold": cut,
                     "flagged_share": float(np.mean(p >= cut)),
                     **{k: fair[k] for k in ("eod", "dir", "spd")},
                     "fairness_note": fair["note"]})
    return pd.DataFrame(rows)


def auc_sensitivity(epsilons: Sequence[float], auc: Sequence[float]) -> np.ndarray:
    """S(ε) = ∂AUC/∂ε (paper 000 eq. 4) by finite differences on the sweep's points.

    Second-order accurate in the interior (:func:`numpy.gradient`).

    >>> auc_sensitivity([0.1, 1.0, 5.0], [0.6, 0.69, 0.73]).round(3).tolist()
    [0.1, 0.083, 0.01]
    """
    e, a = np.asarray(epsilons, dtype=float), np.asarray(auc, dtype=float)
    if e.shape != a.shape or e.size < 2 or np.any(np.diff(e) <= 0):
        raise ValueError(f"epsilons={list(e)}: need >= 2 increasing values matching auc")
    return np.gradient(a, e)
