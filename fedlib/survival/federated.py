"""Local and federated training of the FSL-BDP hazard network: no DP, DP-SGD and Bayesian DP.

One local trainer serves the three privacy modes of the paper, so that the only difference
between them is the privacy mechanism:

* ``"none"``: Adam (lr 1e-3) on the mean negative log-likelihood of eq. 1, mini-batches of 32;
* ``"dp"``: DP-SGD (eq. 5): per-example gradients, clipping to ``C``, Gaussian noise
  ``N(0, sigma^2 C^2)`` on the clipped sum, division by the batch size, then the same Adam
  step; every step is recorded in the client's
  :class:`~fedlib.privacy.accountants.PartyAccountant` (Opacus RDP, eqs. 6-7), which lives as
  long as the client, so the reported epsilon composes all rounds;
* ``"bdp"``: the same clipped and noised update (Algorithm 2 lines 8-13), and per step the
  Monte-Carlo Bayesian sensitivity of lines 14-20: ``M`` rows drawn from the client's own
  data outside the batch (the client's empirical distribution stands in for ``mu``) replace
  one batch element each, and ``Delta^(m) = ||clip(g_i) - clip(g'_m)||^2`` is computed from
  the same per-example gradients (their Gram matrix, no loop over pairs) and fed to the client's
  :class:`~fedlib.privacy.bdp.BayesianAccountant` (lines 21-31), which composes the whole run
  with Hoelder's inequality and, by default (``bdp_bound="hoeffding"``), reports a valid
  bound; ``bdp_bound="mean"`` or ``"student_t"`` gives the Monte-Carlo *estimate* instead,
  flagged ``is_bound=False`` in :meth:`SurvivalRun.epsilons`.

One DP step for all of fedlib. The clipping, the noise, the division by the expected batch
size and the accounting are :func:`fedlib.privacy.dp_step.dp_step`, the step
:func:`fedlib.privacy.dpsgd.train_local_dp` takes (Abadi et al. 2016, Alg. 1): the same
sampler, the same noise draws (Opacus' secure-mode sampler, one parameter at a time, from the
mechanism generator) and the same accountant contract; what this trainer plugs in is its
per-example loss, eq. 1 summed over rows. Its per-example gradients come from a backend of
:mod:`fedlib.privacy.per_example`:

* ``grad_path="ghost"`` (default): the hazard net is a stack of ``Linear`` layers and
  element-wise activations, so the ``linear`` backend keeps only per-layer factors (inputs
  ``a_i`` and output gradients ``delta_i`` of one forward and backward pass): clipping norms
  from ``||g_i||^2 = sum_l (||a_i||^2 + 1) ||delta_i||^2``, the clipped sum as one matmul per
  layer, and the BDP distances from the Gram matrix ``sum_l (A A^T + 1) * (D D^T)`` of the
  ``2M`` compared rows — no ``[B, P]`` matrix is formed (Goodfellow 2015; the "ghost
  clipping" of Li et al. 2022). A model that is not such a stack falls back to ``vmap``;
* ``grad_path="vmap"``: the ``[B, P]`` matrix of ``torch.func`` — the reference path.

Both compute the same update up to float32 rounding (tests: per-example gradients against a
per-row autograd loop to 1e-6, seeded DP and BDP runs against ``grad_path="vmap"`` to 1e-5,
and the DP step against Opacus' ``DPOptimizer`` in ``tests/test_dp_backends.py``). The batch
and the ``M`` replacement rows go through one pass, so BDP costs no extra backward pass; the
replacement rows never enter the update (which is why Opacus' ``DPOptimizer``, which clips
whatever sits in ``grad_sample``, is not used here). What a BDP step costs beyond a DP step
does not shrink with the batch: the ``M`` pair distances (:func:`neighbour_pair_distances`,
the Gram matmuls of ``2M`` rows) and the accountant's ``|orders| x M`` costs, which the
trainer's accountant computes :data:`BDP_COST_BLOCK` steps at a time and at the end of each
:meth:`SurvivalTrainer.train` (``BayesianAccountant(defer=...)``; the same numbers to the bit
as step by step). ``bench/bench_survival.py`` prints the split.
Batches: the private modes Poisson-sample, as their accountants assume (``q = B / n_k``): each
of the ``ceil(n_k / B)`` steps of an epoch takes every row independently with probability
``q`` (Opacus' ``UniformWithReplacementSampler``, through
:func:`fedlib.privacy.randomness.poisson_batches`), and the noisy clipped sum is divided by the
*expected* batch size ``B``, never the realised one (which would leak it); an empty batch
releases pure noise and is accounted. ``"none"`` keeps shuffled disjoint mini-batches.
Sampling and noise of the private modes come from
:func:`fedlib.privacy.randomness.mechanism_generator`: OS entropy unless ``noise_seed`` is
given — seeded noise is a reproduction device that voids the guarantee.

:func:`train_federated` runs Algorithm 1 on :class:`fedlib.fl.federation.Federation` (weighted
FedAvg, full or partial participation, every message through the transcript; a DP or BDP
client's update travels as ``noisy``). :func:`train_centralized` trains one model on the pooled
training rows with the same trainer and one accountant.

References: Amed, Sen & Banerjee (2026), FSL-BDP, Algorithm 1, Algorithm 2, eqs. 1, 5-7,
sec. 4.3 (Adam lr 1e-3, batch 32, R = 10, E = 5, C = 1, M = 10); Abadi et al. (2016);
Triastcyn & Faltings (2020). Introduced in chapter 3 (``chapters/03_fsl_bdp_survival.py``).

Examples
--------
>>> import numpy as np
>>> from fedlib.survival.model import HazardNet
>>> from fedlib.survival.labels import interval_grid, survival_targets
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(64, 4)).astype(np.float32)
>>> t, e = rng.uniform(0, 6, 64), rng.integers(0, 2, 64)
>>> y = np.hstack(survival_targets(t, e, interval_grid(horizon=6, n_intervals=6)))
>>> trainer = SurvivalTrainer(epochs=1, lr=1e-3, batch_size=32, mode="bdp",
...                           noise_multiplier=1.0, clip_norm=1.0, n_neighbours=4,
...                           beta=1e-5, gamma=1e-6, n_rows=64)
>>> stats = trainer.train(HazardNet(4, 6, seed=0), X, y, seed=1)
>>> stats.steps, trainer.bdp_accountant.steps, trainer.private
(2, 2, True)
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from fedlib.fl.federation import Federation
from fedlib.fl.loop import Engine
from fedlib.fl.models import set_flat_params
from fedlib.fl.party import Party, TrainStats
from fedlib.privacy.accountants import PartyAccountant
from fedlib.privacy.bdp import BayesianAccountant, neighbour_swap_indices
from fedlib.privacy.dp_step import dp_step
from fedlib.privacy.per_example import LinearFactors, linear_stack, make_backend
from fedlib.privacy.randomness import mechanism_generator, poisson_batches
from fedlib.survival.labels import survival_targets
from fedlib.survival.likelihood import discrete_time_nll
from fedlib.survival.model import HazardNet

__all__ = [
    "BDP_COST_BLOCK",
    "MODES",
    "SurvivalRun",
    "SurvivalTrainer",
    "linear_backprops",
    "make_model",
    "neighbour_pair_distances",
    "nll_sum_gradient",
    "per_example_gradients",
    "train_centralized",
    "train_federated",
]

MODES = ("none", "dp", "bdp")
#: Steps whose Bayesian costs the trainer's accountant computes in one call (its ``defer``):
#: the same numbers as step by step, computed at the end of each :meth:`SurvivalTrainer.train`
#: call at the latest; 64 steps of M = 10 keep the largest temporary near 3 MB.
BDP_COST_BLOCK = 64
Mode = Literal["none", "dp", "bdp"]


def _nll_sum(out: torch.Tensor, s_surv: torch.Tensor, s_fail: torch.Tensor) -> torch.Tensor:
    """The eq. 1 loss summed over rows: the per-example loss DP-SGD differentiates."""
    return discrete_time_nll(out, s_surv, s_fail, reduction="sum")


def nll_sum_gradient(out: torch.Tensor, s_surv: torch.Tensor, s_fail: torch.Tensor
                  ) -> torch.Tensor:
    """The gradient of :func:`_nll_sum` at ``out``, without autograd, to the bit.

    ``d/dz [-(s log sigmoid(-z) + f log sigmoid(z))]`` with the kernels autograd's backward of
    :func:`~fedlib.survival.likelihood.discrete_time_nll` calls: the summed and negated
    rows pass ``-s`` and ``-f`` down to the two ``log_sigmoid_backward`` calls (on ``-z``,
    then negated, and on ``z``), whose results add (tests/test_dp_backends.py checks the
    equality). The DP step of the hazard net then starts no autograd graph at all.

    >>> z = torch.tensor([[0.3, -2.0]])
    >>> s, f = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    >>> zz = z.clone().requires_grad_(True)
    >>> bool(torch.equal(nll_sum_gradient(z, s, f), torch.autograd.grad(_nll_sum(zz, s, f), zz)[0]))
    True
    """
    neg = -out
    _, buf_neg = torch.ops.aten.log_sigmoid_forward(neg)
    _, buf_pos = torch.ops.aten.log_sigmoid_forward(out)
    surv = torch.ops.aten.log_sigmoid_backward(-s_surv.to(out.dtype), neg, buf_neg)
    fail = torch.ops.aten.log_sigmoid_backward(-s_fail.to(out.dtype), out, buf_pos)
    return -surv + fail


def per_example_gradients(model: torch.nn.Module, X: torch.Tensor, s_surv: torch.Tensor,
                          s_fail: torch.Tensor, *,
                          method: Literal["auto", "vmap", "outer"] = "auto") -> torch.Tensor:
    """Flattened per-example gradients of the eq. 1 loss, shape ``[n, P]``.

    ``method="vmap"``: ``torch.func`` (the ``vmap`` backend of
    :mod:`fedlib.privacy.per_example`), for any model — the reference. ``"outer"``: outer
    products of the per-layer factors of one backward pass (its ``linear`` backend), for a
    stack of ``Linear`` layers and element-wise activations such as :class:`HazardNet`; equal
    to ``"vmap"`` up to float32 rounding and several times faster. ``"auto"`` (default):
    ``"outer"`` where the model allows it.

    >>> net = HazardNet(3, 4, hidden=(5,), seed=0)
    >>> g = per_example_gradients(net, torch.zeros(2, 3), torch.ones(2, 4), torch.zeros(2, 4))
    >>> tuple(g.shape) == (2, sum(p.numel() for p in net.parameters()))
    True
    """
    if method not in ("auto", "vmap", "outer"):
        raise ValueError(f"method={method!r}: allowed values are 'auto', 'vmap', 'outer'")
    backend = _grad_backend(model, X, "vmap" if method == "vmap" else "ghost")
    if method == "outer" and backend.name != "linear":
        raise ValueError("method='outer' needs a stack of Linear layers and element-wise "
                         "activations (e.g. HazardNet)")
    return backend(X, s_surv, s_fail).materialize()


def _grad_backend(model: torch.nn.Module, X: torch.Tensor, grad_path: str):
    """The per-example gradient backend of ``grad_path``.

    ``"ghost"`` is the per-layer factors (``linear``) where the model is a stack, else
    ``vmap``; ``"vmap"`` is ``vmap``.
    """
    fits = grad_path == "ghost" and linear_stack(model) is not None
    try:
        return make_backend(model, _nll_sum, backend="linear" if fits else "vmap", probe=X,
                            loss_grad=nll_sum_gradient)
    except ValueError:                  # the stack's output is not the model's forward
        return make_backend(model, _nll_sum, backend="vmap")


def linear_backprops(layers: list[nn.Module], X: torch.Tensor, s_surv: torch.Tensor,
                     s_fail: torch.Tensor) -> LinearFactors:
    """The per-layer factors of the eq. 1 loss's per-example gradients through ``layers``.

    One forward and one backward pass; a :class:`~fedlib.privacy.per_example.LinearFactors`.

    >>> net = HazardNet(3, 4, hidden=(5,), seed=0)
    >>> f = linear_backprops(list(net.net), torch.zeros(2, 3), torch.ones(2, 4), torch.zeros(2, 4))
    >>> f.n_rows, len(f.inputs)
    (2, 2)
    """
    return make_backend(nn.Sequential(*layers), _nll_sum, backend="linear", probe=X)(
        X, s_surv, s_fail)


def _draw_outside(rng: np.random.Generator, n: int, batch: np.ndarray, m: int) -> np.ndarray:
    """``m`` rows of ``range(n)`` outside the sorted, distinct ``batch`` (all rows if none are).

    Exactly ``rng.choice(pool, size=m, replace=pool.size < m)`` for ``pool`` the rows outside
    the batch: numpy draws positions in the pool and takes them from it, so the positions are
    drawn here and turned into rows without building the pool — the ``j``-th row outside
    the batch is ``j`` plus the number of batch rows ``s_i`` with ``s_i - i <= j``. That is
    O(batch) per step instead of O(n) (a mask of every row of the client).

    >>> rng, batch = np.random.default_rng(3), np.array([1, 2, 5])
    >>> pool = np.setdiff1d(np.arange(8), batch)
    >>> bool((_draw_outside(rng, 8, batch, 4)
    ...       == np.random.default_rng(3).choice(pool, size=4, replace=False)).all())
    True
    """
    k = n - batch.size
    if k == 0:                                   # the batch is every row: draw from all
        return rng.choice(n, size=m, replace=n < m)
    pos = rng.choice(k, size=m, replace=k < m)
    return pos + np.searchsorted(batch - np.arange(batch.size), pos, side="right")


def neighbour_pair_distances(grads, left: np.ndarray, right: np.ndarray, *,
                             clip_norm: float) -> np.ndarray:
    """``||clip(g_left[m]) - clip(g_right[m])||^2`` per pair: ``grads.pair_sq_distances``'s bits.

    For the per-layer factors (:class:`~fedlib.privacy.per_example.LinearFactors`) the
    per-layer Gram matrices are the same ``float64`` matmuls of freshly gathered rows as
    :meth:`~fedlib.privacy.per_example.LinearFactors.gram` (the same kernel on the same
    operands), and their combination ``(A A^T + 1[bias]) * (D D^T)``, summed over the layers
    in order, and then the clip factors and distances of
    :func:`~fedlib.privacy.per_example.clipped_pair_sq_distances` are the same element-wise
    IEEE arithmetic in the same order, done in numpy (on ``2M x 2M`` matrices torch's
    per-call cost is most of the time, and this runs at every BDP step, FSL-BDP Algorithm 2
    line 19), except the square roots, which stay torch's kernel on the same operands.
    Other handles use their own ``pair_sq_distances``. ``left`` and ``right`` are int64 row
    positions of equal length.

    >>> net = HazardNet(3, 4, hidden=(5,), seed=0)
    >>> f = linear_backprops(list(net.net), torch.randn(6, 3), torch.ones(6, 4), torch.zeros(6, 4))
    >>> l, r = np.array([0, 2]), np.array([4, 5])
    >>> bool(np.array_equal(neighbour_pair_distances(f, l, r, clip_norm=0.1),
    ...                     f.pair_sq_distances(torch.as_tensor(l), torch.as_tensor(r), clip_norm=0.1)))
    True
    """
    if type(grads) is not LinearFactors:
        return grads.pair_sq_distances(torch.as_tensor(left), torch.as_tensor(right),
                                       clip_norm=clip_norm)
    m = left.size
    rows = torch.from_numpy(np.concatenate([left, right]))
    total = None
    for a, d, b in zip(grads.inputs, grads.deltas, grads.has_bias, strict=True):
        a2 = torch.index_select(a, 0, rows).double()       # a[rows]: the same fresh copy
        d2 = torch.index_select(d, 0, rows).double()
        t = (torch.mm(a2, a2.T).numpy() + float(b)) * torch.mm(d2, d2.T).numpy()
        total = t if total is None else total + t
    # clipped_pair_sq_distances' arithmetic, op for op; the square roots stay torch's, on
    # the same 10-row operands (its vectorised sqrt is not numpy's to the last bit).
    sq = total.diagonal()
    sa, sb, ab = sq[:m], sq[m:], total.diagonal(offset=m)
    C = float(clip_norm)
    fa = 1.0 / _clamp_min(_torch_sqrt(_clamp_min(sa, 0.0)) / C, 1.0)
    fb = 1.0 / _clamp_min(_torch_sqrt(_clamp_min(sb, 0.0)) / C, 1.0)
    return _clamp_min(fa * fa * sa + fb * fb * sb - 2.0 * fa * fb * ab, 0.0)


def _clamp_min(x: np.ndarray, low: float) -> np.ndarray:
    """``torch.clamp(x, min=low)`` in numpy, to the bit (``-0.0`` and NaN pass through)."""
    return np.where(x < low, low, x)


def _torch_sqrt(x: np.ndarray) -> np.ndarray:
    """``torch.sqrt`` of a contiguous float64 array (torch's kernel, torch's bits)."""
    return torch.from_numpy(x).sqrt().numpy()


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: allowed values are {MODES}")
    return mode


@dataclass
class SurvivalTrainer:
    """Local trainer of one client (a :class:`fedlib.fl.party.LocalTrainer`).

    ``y`` passed to :meth:`train` is ``[s_surv | s_fail]`` side by side (``[n, 2T]``). The
    accountants are created once, on first use, and kept across rounds.

    Parameters
    ----------
    epochs, lr, batch_size
        Local epochs per call, Adam learning rate, mini-batch size.
    mode
        ``"none"``, ``"dp"`` or ``"bdp"``.
    noise_multiplier, clip_norm
        ``sigma`` and ``C`` (required for ``dp`` and ``bdp``; pass ``None`` for ``none``).
    n_neighbours
        ``M``, Monte-Carlo neighbours per step (BDP).
    beta, gamma
        BDP privacy failure probability and the estimator's failure probability over the
        whole run (``delta_mu = beta + gamma``).
    n_rows
        The client's training rows ``n_k`` (BDP fallback below 100).
    cost
        BDP cost rule, ``"left"`` or ``"paper"`` (see :mod:`fedlib.privacy.bdp`).
    bdp_bound
        What the BDP accountant reports: ``"hoeffding"`` (a bound) or the estimates
        ``"mean"`` / ``"student_t"``; every kind can still be asked of the accountant.
    total_steps
        Hoelder exponent fixed in advance (see :class:`~fedlib.privacy.bdp.BayesianAccountant`);
        ``None``: the number of BDP steps actually taken.
    keep_optimizer
        Reuse one Adam across calls (centralised training epoch by epoch).
    noise_seed
        Private modes: ``None`` (default) draws the Poisson batches and the noise from OS
        entropy; an integer seeds them (with each call's ``seed``) so runs repeat — seeded
        noise is a reproduction device that voids the guarantee.
    grad_path
        ``"ghost"`` (default): clipping norms, the clipped sum and the BDP distances from the
        per-layer factors of one backward pass (the ``linear`` backend of
        :mod:`fedlib.privacy.per_example`; models that are not a ``Linear`` / element-wise
        stack fall back to ``"vmap"``). ``"vmap"``:
        the ``[B, P]`` per-example gradient matrix from ``torch.func`` — the reference path,
        kept for tests and the bench. Both compute the same update up to float rounding.
    """

    epochs: int
    lr: float
    batch_size: int
    mode: Mode
    noise_multiplier: float | None
    clip_norm: float | None
    n_neighbours: int = 10
    beta: float | None = None
    gamma: float | None = None
    n_rows: int | None = None
    cost: Literal["left", "paper"] = "left"
    bdp_bound: Literal["hoeffding", "student_t", "mean"] = "hoeffding"
    total_steps: int | None = None
    keep_optimizer: bool = False
    noise_seed: int | None = None
    grad_path: Literal["ghost", "vmap"] = "ghost"
    dp_accountant: PartyAccountant | None = None
    bdp_accountant: BayesianAccountant | None = None
    distances: list[float] = field(default_factory=list, repr=False)
    _opt: object = field(default=None, repr=False)
    _grads: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check_mode(self.mode)
        if self.grad_path not in ("ghost", "vmap"):
            raise ValueError(f"grad_path={self.grad_path!r}: allowed values are 'ghost', 'vmap'")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"{name}={v!r}: must be an integer >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr={self.lr!r}: must be > 0")
        if self.mode != "none":
            if self.noise_multiplier is None or not self.noise_multiplier > 0:
                raise ValueError(f"noise_multiplier={self.noise_multiplier!r}: mode "
                                 f"{self.mode!r} needs a noise multiplier > 0")
            if self.clip_norm is None or not self.clip_norm > 0:
                raise ValueError(f"clip_norm={self.clip_norm!r}: mode {self.mode!r} needs C > 0")
        if self.mode == "dp" and self.dp_accountant is None:
            self.dp_accountant = PartyAccountant()
        if self.mode == "bdp":
            if self.beta is None or self.gamma is None or self.n_rows is None:
                raise ValueError("mode 'bdp' needs beta, gamma and n_rows")
            if int(self.n_neighbours) != self.n_neighbours or self.n_neighbours < 2:
                raise ValueError(f"n_neighbours={self.n_neighbours!r}: must be an integer >= 2")
            if self.bdp_accountant is None:
                self.bdp_accountant = BayesianAccountant(
                    sample_rate=min(1.0, self.batch_size / self.n_rows),
                    noise_multiplier=self.noise_multiplier, clip_norm=self.clip_norm,
                    beta=self.beta, gamma=self.gamma, n_rows=self.n_rows, cost=self.cost,
                    bound=self.bdp_bound, total_steps=self.total_steps,
                    defer=BDP_COST_BLOCK)

    @property
    def private(self) -> bool:
        """True unless ``mode`` is ``"none"`` (``dp`` and ``bdp`` both add noise)."""
        return self.mode != "none"

    def epsilon(self, *, delta: float) -> tuple[float, float]:
        """``(epsilon, delta)`` spent so far: RDP for ``dp``, ``(eps_mu, delta_mu)`` for ``bdp``.

        For ``bdp`` this is a :class:`~fedlib.privacy.bdp.BayesianEpsilon`; its ``is_bound``
        says whether it is a bound or an estimate.
        """
        if self.mode == "dp":
            return self.dp_accountant.epsilon(delta=delta), delta
        if self.mode == "bdp":
            return self.bdp_accountant.epsilon()
        return math.inf, 0.0

    def train(self, model: torch.nn.Module, X: np.ndarray, y: np.ndarray, *, seed: int
              ) -> TrainStats:
        """Train ``model`` in place for ``epochs`` local epochs; returns steps, loss, seconds."""
        t0 = time.perf_counter()
        Xt = torch.as_tensor(np.asarray(X, dtype=np.float32))
        yt = torch.as_tensor(np.asarray(y, dtype=np.float32))
        T = yt.shape[1] // 2
        ss, sf = yt[:, :T], yt[:, T:]
        n = Xt.shape[0]
        rng = np.random.default_rng(int(seed))
        # FedAvg clients start a fresh Adam each round; the centralised baseline keeps one
        # optimizer across epochs (keep_optimizer) so its moments are not reset.
        opt = self._opt if self.keep_optimizer and self._opt is not None else \
            torch.optim.Adam(model.parameters(), lr=self.lr)
        if self.keep_optimizer:
            self._opt = opt
        params = list(model.parameters())
        B = min(self.batch_size, n)
        steps = 0
        model.train()
        if self.mode == "none":
            gen = torch.Generator().manual_seed(int(seed))
            batches = (idx for _ in range(self.epochs)
                       for idx in torch.randperm(n, generator=gen).split(B))
        else:
            # The accountants assume Poisson sampling at q = B/n: sample exactly that.
            gen = mechanism_generator(self.noise_seed, seed=int(seed))
            batches = poisson_batches(n, sample_rate=B / n, steps=self.epochs * math.ceil(n / B),
                                      generator=gen)
        for idx in batches:
            opt.zero_grad(set_to_none=True)
            if self.mode == "none":
                discrete_time_nll(model(Xt[idx]), ss[idx], sf[idx]).backward()
            else:
                self._private_grad(model, params, Xt, ss, sf, idx, gen, rng)
            opt.step()
            steps += 1
        if self.mode == "bdp":
            self.bdp_accountant.flush()     # the deferred costs belong to this call's time
        with torch.no_grad():
            loss = float(discrete_time_nll(model(Xt), ss, sf))
        return TrainStats(steps=steps, loss=loss, seconds=time.perf_counter() - t0)

    def _backend(self, model: torch.nn.Module, Xt: torch.Tensor):
        """The per-example gradient backend of ``grad_path`` for ``model``, made once per model.

        Caching it means its probe forward is not repeated every step.
        """
        cached = self._grads
        if cached is None or cached[0] is not model or cached[1] != self.grad_path:
            cached = self._grads = (model, self.grad_path,
                                    _grad_backend(model, Xt, self.grad_path))
        return cached[2]

    def _private_grad(self, model, params, Xt, ss, sf, idx, gen, rng) -> None:
        """One private step into ``p.grad`` (eq. 5; Algorithm 2 lines 8-20).

        The shared DP step of :func:`fedlib.privacy.dp_step.dp_step` (eq. 5; Algorithm 2 lines
        8-13) on the batch's per-example gradients and, for BDP, the ``M`` Monte-Carlo
        distances of lines 14-20 from the same gradients (one pass over the batch and the
        replacement rows).
        """
        n = Xt.shape[0]
        b = idx.numel()
        rows = idx
        M = self.n_neighbours
        use_bdp = self.mode == "bdp" and not self.bdp_accountant.uses_fallback
        if use_bdp:
            # x'^(m) ~ mu: rows of the client outside the batch (its empirical distribution).
            batch = idx.numpy()
            repl = _draw_outside(rng, n, batch, M)
            # An empty Poisson batch has no element to swap out: draw the x side of the
            # pairs from the client's rows too (Delta only needs x in D, x' ~ mu).
            side = batch if b else rng.choice(n, size=M)
            rows = torch.from_numpy(np.concatenate([side, repl]))
        C = float(self.clip_norm)
        grads = self._backend(model, Xt)(Xt[rows], ss[rows], sf[rows]) if rows.numel() else None
        # Divide by the expected batch size q·n = B, never the realised b (it would leak b).
        noisy = dp_step(grads.subset(slice(0, b)) if b else None, params, clip_norm=C,
                        noise_multiplier=self.noise_multiplier,
                        expected_batch_size=min(self.batch_size, n), generator=gen,
                        accountant=self.dp_accountant if self.mode == "dp" else None,
                        sample_rate=min(1.0, self.batch_size / n))
        for p, g in zip(params, noisy, strict=True):
            p.grad = g
        if self.mode == "bdp":
            if use_bdp:
                # Which batch element each replacement swaps out (the draw of
                # neighbour_distances_from_per_example), then the M pairs' distances from
                # the Gram matrix of those 2M rows' gradients.
                k = len(rows) - M
                swap = neighbour_swap_indices(k, M, rng=rng)
                d = neighbour_pair_distances(grads, swap, np.arange(k, k + M), clip_norm=C)
                self.distances.append(statistics.median(d.tolist()))   # np.median's value
                # A deferring accountant (the trainer's own) only records d here; the costs
                # of the recorded steps are computed together at the end of train().
                self.bdp_accountant.step(d)
            else:
                self.bdp_accountant.step(None)


@dataclass
class SurvivalRun:
    """A trained model, its per-round/epoch history and the clients' trainers (accountants)."""

    model: HazardNet
    history: pd.DataFrame
    trainers: dict[str, SurvivalTrainer]
    federation: object | None = None

    def epsilons(self, *, delta: float) -> pd.DataFrame:
        """Per-client ``(epsilon, delta)`` after training (Algorithm 1's return value).

        ``is_bound`` is ``False`` where ``epsilon`` is a Bayesian *estimate*;
        ``epsilon_estimate`` is the Hoelder-composed Monte-Carlo estimate of every BDP client
        (NaN for DP), never to be read as a guarantee.
        """
        rows = []
        for name, tr in self.trainers.items():
            res = tr.epsilon(delta=delta)
            eps, dlt = res
            bdp = tr.mode == "bdp"
            rows.append({"client": name, "mode": tr.mode, "noise_multiplier": tr.noise_multiplier,
                         "epsilon": eps, "delta": dlt,
                         "is_bound": bool(res.is_bound) if bdp else True,
                         "epsilon_estimate": (tr.bdp_accountant.epsilon(bound="mean").epsilon
                                              if bdp else math.nan),
                         "analytical_fallback": bdp and tr.bdp_accountant.uses_fallback})
        return pd.DataFrame(rows)


def make_model(n_features: int, n_intervals: int, *, seed: int, init_hazard: float | None,
               hidden=None) -> HazardNet:
    """A :class:`HazardNet` whose output bias starts at ``logit(init_hazard)`` (or 0).

    ``init_hazard`` is public prior knowledge (e.g. the published portfolio default rate
    spread over the window), not a statistic of any client's rows, so it costs no privacy.
    Starting the hazards near 0.5 instead leaves DP-SGD at lr 1e-3 unable to move them far
    enough on a dataset with a few thousand steps (the paper trains on ~30,000 steps per epoch).

    >>> net = make_model(3, 4, seed=0, init_hazard=0.01, hidden=(5,))
    >>> round(float(net.hazards(torch.zeros(1, 3)).detach()[0, 0]), 4)
    0.01
    """
    kw = {} if hidden is None else {"hidden": hidden}
    net = HazardNet(n_features, n_intervals, seed=seed, **kw)
    if init_hazard is not None:
        if not 0 < init_hazard < 1:
            raise ValueError(f"init_hazard={init_hazard!r}: must be in (0, 1)")
        with torch.no_grad():
            net.net[-1].bias.fill_(math.log(init_hazard / (1 - init_hazard)))
    return net


def _targets(t, e, grid) -> np.ndarray:
    return np.hstack(survival_targets(t, e, grid))


def _trainer(mode, *, epochs, lr, batch_size, sigma, clip_norm, n_rows, n_neighbours, beta,
             gamma, cost, bdp_bound, noise_seed) -> SurvivalTrainer:
    private = mode != "none"
    return SurvivalTrainer(epochs=epochs, lr=lr, batch_size=batch_size, mode=mode,
                           noise_multiplier=sigma if private else None,
                           clip_norm=clip_norm if private else None, n_neighbours=n_neighbours,
                           beta=beta, gamma=gamma, n_rows=n_rows, cost=cost, bdp_bound=bdp_bound,
                           noise_seed=noise_seed)


def train_centralized(data, *, mode: Mode, epochs: int, lr: float, batch_size: int,
                      noise_multiplier: float | None, clip_norm: float | None, seed: int,
                      n_neighbours: int = 10, beta: float | None = None,
                      gamma: float | None = None, cost: str = "left",
                      evaluate: Callable[[torch.nn.Module], dict] | None = None,
                      init_hazard: float | None = None, hidden=None,
                      bdp_bound: str = "hoeffding", noise_seed: int | None = None) -> SurvivalRun:
    """Centralised baseline: one model on the pooled training rows, one accountant.

    ``data`` is a :class:`~fedlib.survival.data.PreparedSurvival`; ``evaluate(model)`` is
    called after every epoch and its metrics land in the history. ``noise_seed``: see
    :class:`SurvivalTrainer` (``None``, the default, is OS entropy).
    """
    X, t, e, _ = data.pooled("train")
    y = _targets(t, e, data.grid)
    model = make_model(data.n_features, data.grid.size - 1, seed=seed,
                       init_hazard=init_hazard, hidden=hidden)
    tr = _trainer(mode, epochs=1, lr=lr, batch_size=batch_size, sigma=noise_multiplier,
                  clip_norm=clip_norm, n_rows=len(t), n_neighbours=n_neighbours, beta=beta,
                  gamma=gamma, cost=cost, bdp_bound=bdp_bound, noise_seed=noise_seed)
    tr.keep_optimizer = True
    rows = []
    for ep in range(1, epochs + 1):
        s = tr.train(model, X, y, seed=seed * 1000 + ep)
        row = {"epoch": ep, "train_loss": s.loss}
        if evaluate is not None:
            row.update(evaluate(model))
        rows.append(row)
    return SurvivalRun(model, pd.DataFrame(rows), {"central": tr})


def train_federated(data, *, mode: Mode, rounds: int, local_epochs: int, lr: float,
                    batch_size: int, noise_multipliers: dict[str, float] | None,
                    clip_norm: float | None, seed: int, sample_fraction: float = 1.0,
                    n_neighbours: int = 10, beta: float | None = None,
                    gamma: dict[str, float] | float | None = None, cost: str = "left",
                    evaluate: Callable[[torch.nn.Module], dict] | None = None,
                    init_hazard: float | None = None, hidden=None,
                    bdp_bound: str = "hoeffding", noise_seed: int | None = None,
                    engine: Engine | None = None) -> SurvivalRun:
    """FSL / FSL-DP / FSL-BDP (Algorithm 1) on :class:`fedlib.fl.federation.Federation`.

    ``noise_multipliers`` maps client name to ``sigma`` (calibrated per client, since
    ``q = B / n_k`` differs); ``gamma`` (each BDP client's estimator failure probability over
    the whole run) may be per client. ``evaluate(model)`` runs on the global model after every
    round. ``noise_seed``: see :class:`SurvivalTrainer` (``None``, the default, is OS entropy;
    an integer is a reproduction device that voids the guarantee). ``engine`` runs the rounds
    (default local; :class:`fedlib.flower.engine.FlowerEngine`: Flower's simulation, the
    clients' accountants mirrored back into ``trainers``).
    """
    _check_mode(mode)
    parties, trainers = [], {}
    for c in data.clients:
        g = gamma.get(c.name) if isinstance(gamma, dict) else gamma
        sigma = None if mode == "none" else noise_multipliers[c.name]
        tr = _trainer(mode, epochs=local_epochs, lr=lr, batch_size=batch_size, sigma=sigma,
                      clip_norm=clip_norm, n_rows=c.n_train, n_neighbours=n_neighbours,
                      beta=beta, gamma=g, cost=cost, bdp_bound=bdp_bound, noise_seed=noise_seed)
        trainers[c.name] = tr
        parties.append(Party(c.name, c.X_train, _targets(c.t_train, c.e_train, data.grid), tr))
    def model_fn() -> HazardNet:
        return make_model(data.n_features, data.grid.size - 1, seed=seed,
                          init_hazard=init_hazard, hidden=hidden)

    fed = Federation(parties, model_fn=model_fn, seed=seed, sample_fraction=sample_fraction,
                     engine=engine)
    rows = []
    scratch = model_fn()

    def on_round(rec) -> None:
        row = {"round": rec.round, "train_loss": float(np.average(
            list(rec.client_loss.values()),
            weights=[fed.parties[[p.name for p in fed.parties].index(k)].n_rows
                     for k in rec.client_loss])),
            "bytes_to_server": rec.bytes_to_server}
        if evaluate is not None:
            set_flat_params(scratch, rec.global_params)
            row.update(evaluate(scratch))
        rows.append(row)

    fed.fit(rounds, on_round=on_round)
    set_flat_params(scratch, fed.global_params)
    return SurvivalRun(scratch, pd.DataFrame(rows), trainers, fed)
