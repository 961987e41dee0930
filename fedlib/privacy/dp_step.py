r"""The one DP-SGD step every trainer takes: clip, sum, noise, divide, account.

Given the per-example gradients of a Poisson-sampled batch (a handle of
:mod:`fedlib.privacy.per_example`, or ``None`` for an empty batch), :func:`dp_step` releases

.. math::

   \tilde g = \frac{1}{B}\Big(\sum_i g_i \min\big(1, \tfrac{C}{\|g_i\| + 10^{-6}}\big)
              + \mathcal N(0, \sigma^2 C^2 I)\Big)

(Abadi et al. 2016, Alg. 1, "clip gradient" and "add noise"; paper 000 eq. 2, paper 001
§4.3 ``g̃ = g + N(0, σ²C²)``, paper 002 eq. 5) and records the step in the accountant. It
is Opacus' ``DPOptimizer`` step written out: the same clip factor (``1e-6`` in the
denominator), the same secure-mode noise drawn from the same generator one parameter at a
time in ``model.parameters()`` order
(:func:`~fedlib.privacy.randomness.gaussian_noise`), the same division by the *expected*
batch size ``B = qn`` (never the realised one, which would leak it). So with the same Poisson
draw and the same generator state every backend releases what Opacus releases, up to the
float rounding of the clipped sum (tests/test_dp_backends.py). An empty batch releases pure
noise and is accounted like any other step.

Examples
--------
>>> from torch import nn
>>> from fedlib.privacy.accountants import PartyAccountant
>>> from fedlib.privacy.per_example import make_backend
>>> from fedlib.privacy.randomness import mechanism_generator
>>> model, acc = nn.Linear(3, 1), PartyAccountant()
>>> X, y = torch.randn(8, 3), torch.ones(8)
>>> loss = lambda out, t: nn.functional.binary_cross_entropy_with_logits(
...     out, t.reshape(out.shape), reduction="sum")
>>> backend = make_backend(model, loss, loss_name="bce", probe=X)
>>> g = dp_step(backend(X, y), list(model.parameters()), clip_norm=1.0, noise_multiplier=1.0,
...             expected_batch_size=8, generator=mechanism_generator(0, seed=0),
...             accountant=acc, sample_rate=0.5)
>>> backend.name, [tuple(t.shape) for t in g], acc.steps
('closed_form', [(1, 3), (1,)], 1)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch
from torch._utils import _unflatten_dense_tensors

from fedlib.privacy.accountants import PartyAccountant
from fedlib.privacy.per_example import DenseGradients, PerExampleGradients

__all__ = ["CLIP_EPS", "clip_factors", "dp_step"]

#: Added to the norm in the clip factor, as Opacus' ``DPOptimizer`` does (so an all-zero
#: gradient does not divide by zero and the backends agree with Opacus to the bit).
CLIP_EPS = 1e-6


def clip_factors(grads: PerExampleGradients, clip_norm: float) -> torch.Tensor:
    """``min(1, C / (||g_i|| + 1e-6))`` per row (Abadi et al. 2016, Alg. 1, "clip gradient").

    >>> from fedlib.privacy.per_example import DenseGradients
    >>> clip_factors(DenseGradients([torch.tensor([[3.0, 4.0], [0.3, 0.4]])]), 1.0).tolist()
    [0.19999995827674866, 1.0]
    """
    return (float(clip_norm) / (grads.norms() + CLIP_EPS)).clamp(max=1.0)


class _NoiseScratch(threading.local):
    """Per-thread scratch space of the noise draws, one per parameter layout.

    A step's Python work on a small network is a large part of its cost: the buffer of the
    four draws, its per-parameter views and the one-value buffer of the draw Opacus throws
    away are made once per layout (a tuple of parameter sizes) and reused. Thread-local, so
    two trainers in two threads never share a buffer; the released noise is always a fresh
    tensor, never a view of the scratch.
    """

    def __init__(self) -> None:
        self.layouts: dict[tuple[int, ...], tuple] = {}

    def get(self, sizes: tuple[int, ...]) -> tuple:
        """``(blocks, rows, first_rows, other_rows, flat, throwaway)`` for ``sizes``."""
        key = (sizes, torch.get_default_dtype())     # what torch.normal draws in
        hit = self.layouts.get(key)
        if hit is None:
            if len(self.layouts) >= 16:          # a bound: layouts seldom change in a run
                self.layouts.clear()
            buf = torch.empty(4 * sum(sizes))
            blocks = buf.split([4 * k for k in sizes])
            rows = [b.view(4, k).unbind(0) for b, k in zip(blocks, sizes, strict=True)]
            first = [r[0] for r in rows]
            others = [[r[i] for r in rows] for i in (1, 2, 3)]
            hit = self.layouts[key] = (blocks, rows, first, others, torch.empty(sum(sizes)),
                                         torch.empty(1, 1))
        return hit


_SCRATCH = _NoiseScratch()


def _secure_noise_sum(std: float, sizes: tuple[int, ...], generator: torch.Generator
                      ) -> torch.Tensor:
    """``((n1 + n2) + n3) + n4`` of Opacus' secure-mode noise, all parameters, flattened.

    Per parameter, in ``model.parameters()`` order: the ``(1, 1)`` draw Opacus throws away,
    then its four Gaussian draws ``n1 .. n4`` of the parameter's size, from ``generator``, as
    :func:`~fedlib.privacy.randomness.gaussian_noise` draws them; each draw fills a slice of
    one scratch buffer in place (``Tensor.normal_`` on a contiguous slice is what
    ``torch.normal`` does on a fresh tensor, so the stream and the values are the same). The
    sums run as three ``foreach`` calls over all parameters (a Python loop of small tensor
    ops was a large part of a step). Returns a view of the scratch: copy before the next call.
    """
    blocks, rows, first, others, flat, throwaway = _SCRATCH.get(sizes)
    for block, row, k in zip(blocks, rows, sizes, strict=True):
        throwaway.normal_(0.0, std, generator=generator)
        if k % 16 == 0 or 4 * k < 16:
            # One draw of 4k values *is* the four draws of k: ATen fills the uniforms in order
            # and turns them into normals in blocks of 16 (below 16 values, one at a time), so
            # no block straddles two of the four when k is a multiple of 16. One call instead
            # of four; tests/test_dp_backends.py checks the result against Opacus' own draws.
            block.normal_(0.0, std, generator=generator)
        else:
            for r in row:
                r.normal_(0.0, std, generator=generator)
    for n in others:
        torch._foreach_add_(first, n)
    return torch.cat(first, out=flat)


def dp_step(grads: PerExampleGradients | torch.Tensor | None, params: Sequence[torch.Tensor], *,
            clip_norm: float, noise_multiplier: float, expected_batch_size: float,
            generator: torch.Generator, accountant: PartyAccountant | None = None,
            sample_rate: float | None = None) -> list[torch.Tensor]:
    """One DP-SGD release: clipped sum + N(0, σ²C²), divided by ``expected_batch_size``.

    Parameters
    ----------
    grads
        The batch's per-example gradients: any backend's handle, or a ``[B, P]`` matrix of
        flattened gradients in parameter order; ``None`` or zero rows for an empty Poisson
        batch, which releases pure noise.
    params
        The parameters, in the order the handle flattens them (``model.parameters()``); the
        result has one tensor per parameter, shaped like it.
    clip_norm, noise_multiplier
        ``C`` and ``σ``; σ = 0 adds no noise (and draws none, as Opacus).
    expected_batch_size
        ``B = qn`` (``n`` for full batch).
    generator
        The mechanism's generator (:func:`~fedlib.privacy.randomness.mechanism_generator`),
        the one the Poisson batches were drawn from.
    accountant, sample_rate
        If given, one step at ``(σ, q)`` is recorded (Opacus RDP/PRV composition later).

    Returns
    -------
    list of torch.Tensor
        The noisy gradient per parameter, ready for ``p.grad``.
    """
    if isinstance(grads, torch.Tensor):
        grads = DenseGradients.from_flat(grads, [p.shape for p in params])
    sizes = tuple(p.numel() for p in params)
    if grads is None or grads.n_rows == 0:
        flat = torch.zeros(sum(sizes), dtype=params[0].dtype if params else torch.float32)
    else:
        # One flat vector for all parameters: noise, halving and division are then one op
        # each (elementwise, so the same values as per parameter).
        sums = grads.weighted_sum(clip_factors(grads, clip_norm))
        flat = torch.cat([s.reshape(-1) for s in sums])
    std = float(noise_multiplier) * float(clip_norm)
    if std > 0:
        # Opacus: p.grad = summed + noise, noise = (((n1 + n2) + n3) + n4) / 2 (the halving
        # is exact, so adding half the sum is the same number).
        flat.add_(_secure_noise_sum(std, sizes, generator), alpha=0.5)
    flat.div_(float(expected_batch_size))
    # Views of the vector shaped like the parameters, made in one C++ call (torch's helper
    # for flattened gradient buckets) rather than a Python loop of splits and views.
    out = list(_unflatten_dense_tensors(flat, params))
    if accountant is not None:
        accountant.record(noise_multiplier=noise_multiplier, sample_rate=sample_rate, steps=1)
    return out
