"""Local training of one party: DP-SGD on one step contract, and the same loop without privacy.

:func:`train_local_dp` runs DP-SGD (Abadi et al. 2016, Alg. 1) on a party's rows: per-example
gradients from a backend of :mod:`fedlib.privacy.per_example` (closed form for logistic
regression, per-layer factors for ``Linear`` stacks, ``torch.func`` for any model, or Opacus),
then :func:`fedlib.privacy.dp_step.dp_step` clips them to ``clip_norm``, adds Gaussian noise
N(0, σ²C²) to their sum, divides by the expected batch size and records the step in the
party's :class:`~fedlib.privacy.accountants.PartyAccountant`, so the accountant composes over
all rounds. ``backend="opacus"`` runs Opacus' ``GradSampleModule`` and ``DPOptimizer``
instead (its step hook feeds the accountant): the reference the other backends are tested
against. :func:`train_local` is the non-private counterpart: the same SGD, the same loss and
the same expected batch size; the differences are clipping, noise and Poisson (rather than
shuffled) batches, which is what the chapter compares.

The model is trained in place and left without Opacus hooks, so the federation can load the
server's new global weights into the same module next round (``load_state_dict``) and call
again; only the accountant carries state between rounds.

Batching. ``batch_size=None`` is full-batch gradient descent: one step per epoch over all
rows, sample rate q = 1 (plain Gaussian composition). With a ``batch_size`` B, DP-SGD is
Poisson-sampled, always: each of the ⌈n/B⌉ steps of an epoch takes each row independently
with probability q = B/n (Opacus' ``UniformWithReplacementSampler``), which is the sampling
the accountant's sampled-Gaussian RDP at q = B/n assumes; shuffled fixed-size batches can have
a much larger ε (Chua et al. 2024), so the DP trainer does not offer them. The noisy sum is
divided by the *expected* batch size B = qn, not the realised one, which would leak it; an
empty batch releases pure noise and is accounted like any other step. Non-private training
(:func:`train_local`) keeps shuffled disjoint batches.

Randomness. The Poisson draws and the Gaussian noise come from
:func:`fedlib.privacy.randomness.mechanism_generator`: by default (``noise_seed=None``) from a
fresh OS-entropy seed, so nobody can regenerate them; an explicit ``noise_seed`` makes the run
repeatable — a reproduction device that voids the guarantee. Noise is drawn by Opacus'
``secure_mode`` sampler (floating-point-safe), one parameter at a time, by every backend, so a
seeded run draws the same batches and the same noise whichever backend computes the
gradients.

Speed. ``backend="auto"`` (default) picks the fastest backend that fits the model
(:func:`fedlib.privacy.per_example.resolve_backend`); ``bench/bench_dpsgd.py`` prints each
backend's step cost against a plain step.

References: paper 001 (chapter 2) §4.3 (DP-SGD, C = 1.0, σ ∈ {1.2, 1.6, 2.0} full batch or
σ ∈ {0.5, 1.0, 1.5} at q = 0.2, g̃ = g + N(0, σ²C²)); paper 000 (chapter 1) eq. 2; paper 002
(chapter 3) eqs. 5-7; Abadi et al. 2016, Alg. 1. Introduced in chapter 2
(``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import numpy as np
>>> from torch import nn
>>> from fedlib.privacy.accountants import PartyAccountant
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 5)).astype(np.float32)
>>> y = (X[:, 0] > 0).astype(np.float32)
>>> model, acc = nn.Linear(5, 1), PartyAccountant(party="bank-2")
>>> for rnd in range(2):  # two federated rounds, one accountant
...     stats = train_local_dp(model, X, y, epochs=10, lr=0.5, noise_multiplier=1.0,
...                            clip_norm=1.0, batch_size=None, accountant=acc, seed=rnd)
>>> stats.steps, acc.steps, acc.segments[0].sample_rate
(10, 20, 1.0)
>>> stats.final_loss < 0.69
True
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from fedlib.privacy.accountants import (
    PartyAccountant,
    PrivacyArgumentError,
    _as_float,
    _check_noise_multiplier,
)
from fedlib.privacy.dp_step import dp_step
from fedlib.privacy.per_example import BACKENDS, make_backend
from fedlib.privacy.randomness import mechanism_generator, poisson_batches

__all__ = ["LOSSES", "LocalTrainStats", "train_local", "train_local_dp"]

# "bce" takes the model's *logit* (fedlib's models keep the sigmoid out of forward, for a
# numerically stable loss); "bce_prob" is for models that end in a Sigmoid.
LOSSES: dict[str, Callable[[], nn.Module]] = {
    "bce": lambda: nn.BCEWithLogitsLoss(reduction="sum"),
    "bce_prob": lambda: nn.BCELoss(reduction="sum"),
    "mse": lambda: nn.MSELoss(reduction="sum"),
    "cross_entropy": lambda: nn.CrossEntropyLoss(reduction="sum"),
}


@dataclass(frozen=True)
class LocalTrainStats:
    """What one local training call did.

    ``steps``: optimizer steps taken (= noisy steps recorded, for DP); ``final_loss``: mean
    loss over all the party's rows after training (computed locally; it is not covered by the
    accountant if released); ``seconds``: wall-clock time of the call.
    """

    steps: int
    final_loss: float
    seconds: float


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise PrivacyArgumentError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_positive(name: str, value: Any) -> float:
    v = _as_float(name, value)
    if not (math.isfinite(v) and v > 0):
        raise PrivacyArgumentError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _prepare(model: nn.Module, X: Any, y: Any, loss: str, batch_size: int | None,
             epochs: int, lr: float) -> tuple[torch.Tensor, torch.Tensor, nn.Module, int | None]:
    if not isinstance(model, nn.Module):
        raise PrivacyArgumentError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_positive_int("epochs", epochs)
    _check_positive("lr", lr)
    if loss not in LOSSES:
        raise PrivacyArgumentError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise PrivacyArgumentError("model has no trainable parameters")
    dtype = params[0].dtype
    Xt = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X).to(dtype)
    ydt = torch.long if loss == "cross_entropy" else dtype
    yt = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y).to(ydt)
    if Xt.ndim < 2 or len(Xt) == 0:
        raise PrivacyArgumentError(f"X must have shape (n_rows >= 1, ...), got {tuple(Xt.shape)}")
    if len(yt) != len(Xt):
        raise PrivacyArgumentError(f"y has {len(yt)} rows but X has {len(Xt)}")
    if batch_size is not None:
        batch_size = _check_positive_int("batch_size", batch_size)
        if batch_size > len(Xt):
            raise PrivacyArgumentError(
                f"batch_size must be <= the party's {len(Xt)} rows (or None for full batch), "
                f"got {batch_size}")
        if batch_size == len(Xt):
            batch_size = None
    return Xt, yt, LOSSES[loss](), batch_size


def _batch_generator(seed: int) -> torch.Generator:
    # Non-private training only: its shuffles are not a privacy mechanism.
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise PrivacyArgumentError(f"seed must be an integer, got {seed!r}")
    s_batch = np.random.SeedSequence(int(seed)).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(s_batch) >> 1)


def _shuffled_batches(n: int, batch_size: int | None, epochs: int,
                      gen: torch.Generator) -> Iterator[torch.Tensor | None]:
    """Row indices of each non-private step (``None`` = all rows): shuffled disjoint batches."""
    for _ in range(epochs):
        if batch_size is None:
            yield None
        else:
            yield from torch.randperm(n, generator=gen).split(batch_size)


def _poisson_steps(n: int, batch_size: int | None, epochs: int,
                   gen: torch.Generator) -> Iterator[torch.Tensor | None]:
    """Row indices of each DP step: all rows (``None``) or a Poisson sample at q = B/n."""
    if batch_size is None:
        yield from (None for _ in range(epochs))
        return
    yield from poisson_batches(n, sample_rate=batch_size / n,
                               steps=epochs * math.ceil(n / batch_size), generator=gen)


def _loss_value(model: nn.Module, loss_fn: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        out = model(X)
        return float(loss_fn(out, _target(y, out))) / len(X)


def _target(y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return y if y.dtype == torch.long else y.reshape(out.shape)


def _proximal_step(params: list[torch.Tensor],
                   proximal: tuple[Any, float] | None) -> Callable[[], None]:
    """The gradient of ``λ‖W − center‖²``, added to ``p.grad`` by the returned function.

    The proximal term involves no example, so in DP-SGD it is added *after* clipping and
    noise and costs no privacy (paper 000 eq. 1: FMTL's pull of W_i towards W̄). A callable
    ``proximal`` is called instead with the parameter list (post-processing of the noisy
    gradient in ``p.grad``; chapter 1's joint FMTL step, :class:`fedlib.fl.fmtl.JointStep`).
    """
    if proximal is None:
        return lambda: None
    if callable(proximal):
        return lambda: proximal(params)
    center, lam = proximal
    if not lam >= 0:
        raise PrivacyArgumentError(f"proximal weight λ must be >= 0, got {lam!r}")
    flat = torch.as_tensor(np.asarray(center), dtype=torch.float32)
    if flat.numel() != sum(p.numel() for p in params):
        raise PrivacyArgumentError(f"proximal center has {flat.numel()} values, the model "
                                   f"{sum(p.numel() for p in params)} parameters")
    centers = list(torch.split(flat, [p.numel() for p in params]))

    def add() -> None:
        for p, c in zip(params, centers, strict=True):
            p.grad.add_(2.0 * lam * (p.detach() - c.reshape(p.shape)))

    return add


def train_local(model: nn.Module, X: Any, y: Any, *, epochs: int, lr: float,
                batch_size: int | None, seed: int, loss: str = "bce",
                proximal: tuple[Any, float] | None = None) -> LocalTrainStats:
    """Non-private local SGD: shuffled disjoint batches of ``batch_size`` (None = full batch).

    ``proximal = (center, λ)`` adds λ‖W − center‖² to the mean loss (FMTL, paper 000 eq. 1).

    Examples
    --------
    >>> from torch import nn
    >>> X, y = np.eye(4, dtype=np.float32), np.array([0, 1, 0, 1], dtype=np.float32)
    >>> train_local(nn.Linear(4, 1), X, y, epochs=3, lr=0.1, batch_size=2, seed=0).steps
    6
    """
    t0 = time.perf_counter()
    Xt, yt, loss_fn, batch_size = _prepare(model, X, y, loss, batch_size, epochs, lr)
    gen_batch = _batch_generator(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    add_proximal = _proximal_step(params, proximal)
    opt = torch.optim.SGD(params, lr=lr)
    was_training = model.training
    model.train()
    steps = 0
    for idx in _shuffled_batches(len(Xt), batch_size, epochs, gen_batch):
        xb, yb = (Xt, yt) if idx is None else (Xt[idx], yt[idx])
        opt.zero_grad(set_to_none=True)
        out = model(xb)
        (loss_fn(out, _target(yb, out)) / len(xb)).backward()
        add_proximal()
        opt.step()
        steps += 1
    model.train(was_training)
    return LocalTrainStats(steps, _loss_value(model, loss_fn, Xt, yt), time.perf_counter() - t0)


def train_local_dp(model: nn.Module, X: Any, y: Any, *, epochs: int, lr: float,
                   noise_multiplier: float, clip_norm: float, batch_size: int | None,
                   accountant: PartyAccountant, seed: int, noise_seed: int | None = None,
                   loss: str = "bce", backend: str = "auto", grad_sample_mode: str = "hooks",
                   proximal: tuple[Any, float] | None = None) -> LocalTrainStats:
    """DP-SGD on one party's rows (Abadi et al. 2016, Alg. 1), each step in ``accountant``.

    Parameters
    ----------
    model
        Trained in place; no hooks are left on it.
    X, y
        The party's rows (numpy arrays or tensors).
    epochs, lr
        Passes over the data and SGD learning rate.
    noise_multiplier, clip_norm
        σ and C: per-example gradients are clipped to L2 norm C and N(0, σ²C²) is added to
        their sum. σ = 0 is allowed (recorded: ε becomes infinite), for sanity checks.
    batch_size
        Expected rows per step B: each of the ⌈n/B⌉ steps per epoch Poisson-samples every
        row with probability q = B/n (the accountant's assumption); ``None`` = full batch
        (q = 1, every row every step).
    accountant
        The party's accountant, kept across rounds.
    seed
        This call's seed (give each round and party its own); it affects the sampling and
        the noise only through a given ``noise_seed``.
    noise_seed
        ``None`` (default): Poisson draws and noise from OS entropy, which nobody can
        regenerate. An integer: both derived from ``(noise_seed, seed)``, identical on re-run;
        seeded noise is a reproduction device that voids the guarantee.
    loss
        A key of :data:`LOSSES` (``"bce"``: binary cross-entropy on the model's logit).
    backend
        Per-example gradients (:mod:`fedlib.privacy.per_example`): ``"auto"`` (default, the
        fastest that fits: ``closed_form`` for logistic regression, ``linear`` for a stack of
        ``Linear`` layers and element-wise activations, else ``vmap``), one of those by name,
        or ``"opacus"``: Opacus' ``GradSampleModule`` and ``DPOptimizer``, the reference. All
        draw the same batches and the same noise from the same generator, so they release the
        same gradients up to float rounding (tests/test_dp_backends.py).
    grad_sample_mode
        Opacus' per-example gradient mode for ``backend="opacus"``, ``"hooks"`` or
        ``"functorch"``.
    proximal
        ``(center, λ)``: add λ‖W − center‖² (FMTL, paper 000 eq. 1); its gradient is added
        after clipping and noise, since it depends on no example.
    """
    t0 = time.perf_counter()
    Xt, yt, loss_fn, batch_size = _prepare(model, X, y, loss, batch_size, epochs, lr)
    sigma = _check_noise_multiplier(noise_multiplier, allow_zero=True)
    clip = _check_positive("clip_norm", clip_norm)
    if not isinstance(accountant, PartyAccountant):
        raise PrivacyArgumentError(
            f"accountant must be a PartyAccountant, got {type(accountant).__name__}")
    if grad_sample_mode not in ("hooks", "functorch"):
        raise PrivacyArgumentError(
            f"grad_sample_mode must be 'hooks' or 'functorch', got {grad_sample_mode!r}")
    if backend != "auto" and backend not in BACKENDS:
        raise PrivacyArgumentError(
            f"backend must be 'auto' or one of {list(BACKENDS)}, got {backend!r}")
    try:
        gen = mechanism_generator(noise_seed, seed=seed)
    except ValueError as err:
        raise PrivacyArgumentError(str(err)) from None
    n = len(Xt)
    q = 1.0 if batch_size is None else batch_size / n
    params = [p for p in model.parameters() if p.requires_grad]
    add_proximal = _proximal_step(params, proximal)
    was_training = model.training
    model.train()
    steps_before = accountant.steps
    run = _run_opacus if backend == "opacus" else _run_backend
    try:
        run(model, params, Xt, yt, loss_fn, backend=backend, loss=loss, sigma=sigma, clip=clip,
            batch_size=batch_size, epochs=epochs, lr=lr, gen=gen, accountant=accountant, q=q,
            add_proximal=add_proximal, grad_sample_mode=grad_sample_mode)
    finally:
        for p in params:
            p.grad = None
        model.train(was_training)
    steps = accountant.steps - steps_before
    return LocalTrainStats(steps, _loss_value(model, loss_fn, Xt, yt), time.perf_counter() - t0)


def _run_backend(model, params, Xt, yt, loss_fn, *, backend, loss, sigma, clip, batch_size,
                 epochs, lr, gen, accountant, q, add_proximal, **_) -> None:
    """The steps on a :mod:`~fedlib.privacy.per_example` backend and :func:`dp_step`."""
    def summed(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return loss_fn(out, _target(target, out))

    try:
        grads_of = make_backend(model, summed, backend=backend, loss_name=loss, probe=Xt[:2])
    except ValueError as err:
        raise PrivacyArgumentError(str(err)) from None
    opt = torch.optim.SGD(params, lr=lr)
    n = len(Xt)
    try:
        for idx in _poisson_steps(n, batch_size, epochs, gen):
            xb, yb = (Xt, yt) if idx is None else (Xt[idx], yt[idx])
            grads = grads_of(xb, yb) if len(xb) else None
            noisy = dp_step(grads, params, clip_norm=clip, noise_multiplier=sigma,
                            expected_batch_size=batch_size or n, generator=gen,
                            accountant=accountant, sample_rate=q)
            for p, g in zip(params, noisy, strict=True):
                p.grad = g
            add_proximal()
            opt.step()
    finally:
        grads_of.close()


def _run_opacus(model, params, Xt, yt, loss_fn, *, sigma, clip, batch_size, epochs, lr, gen,
                accountant, q, add_proximal, grad_sample_mode, **_) -> None:
    """The reference: Opacus' ``GradSampleModule`` and ``DPOptimizer``.

    The accountant is fed by the optimizer's step hook.
    """
    from opacus import GradSampleModule  # Opacus loads only where the reference is asked for
    from opacus.optimizers import DPOptimizer

    # loss_reduction="sum": grad_sample holds true per-example gradients; DPOptimizer then
    # divides the clipped, noised sum by the *expected* batch size B ("mean" below).
    n = len(Xt)
    gsm = GradSampleModule(model, loss_reduction="sum",
                           force_functorch=grad_sample_mode == "functorch")
    opt = DPOptimizer(torch.optim.SGD(params, lr=lr), noise_multiplier=sigma,
                      max_grad_norm=clip, expected_batch_size=batch_size or n,
                      loss_reduction="mean", generator=gen, secure_mode=True)
    accountant.attach(opt, sample_rate=q)
    try:
        with warnings.catch_warnings():
            # Opacus' backward hooks fire on module outputs when inputs need no grad: harmless.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            for idx in _poisson_steps(n, batch_size, epochs, gen):
                xb, yb = (Xt, yt) if idx is None else (Xt[idx], yt[idx])
                opt.zero_grad(set_to_none=True)
                if len(xb) == 0:
                    # An empty Poisson batch still releases pure noise and is accounted.
                    for p in params:
                        p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype)
                else:
                    out = gsm(xb)
                    loss_fn(out, _target(yb, out)).backward()
                if opt.pre_step():          # clip, noise, scale, record in the accountant
                    add_proximal()
                    opt.original_optimizer.step()
    finally:
        gsm._close()
