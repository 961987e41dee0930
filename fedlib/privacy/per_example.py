"""Per-example gradients behind one contract, with four backends, for DP-SGD.

DP-SGD (Abadi et al. 2016, Alg. 1) needs, per step, three things of the per-example
gradients ``g_i`` of the batch: their norms (to clip), the clipped sum ``sum_i f_i g_i``
(``f_i = min(1, C / ||g_i||)``), and — for the Bayesian accountant of paper 002 (FSL-BDP,
Algorithm 2 lines 15-20) — the distances ``||clip(g_a) - clip(g_b)||^2`` of a few pairs. A
backend computes the gradients of a batch and returns a handle (:class:`PerExampleGradients`)
that answers those three questions; :func:`fedlib.privacy.dp_step.dp_step` does the rest.

Backends (:data:`BACKENDS`):

* ``"closed_form"`` — logistic regression (one ``Linear(d, 1)`` on the logit, loss ``"bce"``;
  or ``"mse"``): the loss gradient at the logit is ``r_i = sigmoid(z_i) - y_i`` in closed
  form (:mod:`fedlib.privacy.closed_form`), so ``g_i = r_i [x_i, 1]`` needs no autograd;
* ``"linear"`` — a stack of ``nn.Linear`` layers and element-wise activations (the MLPs of
  chapter 1, the hazard net of chapter 3): one forward pass and one backward pass to the
  layers' outputs, both written out with the kernels autograd would call (no graph; the
  same numbers), give, per layer ``l``, its inputs ``a_i`` and output gradients ``delta_i``;
  example ``i``'s gradient of the layer is ``outer(delta_i, a_i)`` (bias ``delta_i``). Hence,
  without forming any ``g_i`` (Goodfellow 2015; the "ghost norm" of Li et al. 2022):
  ``||g_i||^2 = sum_l (||a_i||^2 + 1) ||delta_i||^2``, the clipped sum per layer is one matmul
  ``(f * delta)^T a``, and inner products are ``<g_a, g_b> = sum_l (<a_a, a_b> + 1)
  <delta_a, delta_b>`` — the Gram matrix of any set of rows from the Gram matrices of the
  factors. With rows of a 2-D input (no sequence dimension) this is cheaper than
  materialising ``[B, P]`` for every layer shape, so the factors are always used;
* ``"vmap"`` — ``torch.func`` (``vmap`` of ``grad`` over ``functional_call``): any model;
* ``"opacus"`` — Opacus' ``GradSampleModule`` (hooks): the reference the others are tested
  against.

``"auto"`` (:func:`resolve_backend`) takes the first that fits the model and loss, in the
order closed_form, linear, opacus, vmap — fastest first (``bench/bench_dpsgd.py`` prints the
costs).

The loss is the pluggable part: ``loss(out, *targets)`` returns the *summed* loss of the rows
(so the gradient of row ``i`` is example ``i``'s own); chapter 3 passes its eq. 1
likelihood, :func:`fedlib.privacy.dpsgd.train_local_dp` one of its ``LOSSES``.

References: Abadi et al. 2016, Alg. 1 (per-example clipping); Goodfellow 2015 ("Efficient
per-example gradient computations"); Li et al. 2022 (ghost clipping); paper 000 eq. 2,
paper 001 §4.3, paper 002 eqs. 5-7 and Algorithm 2.

Examples
--------
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
>>> X, y = torch.randn(5, 3), torch.ones(5, 1)
>>> loss = lambda out, t: nn.functional.mse_loss(out, t, reduction="sum")
>>> fast, ref = (make_backend(net, loss, backend=b, probe=X) for b in ("linear", "vmap"))
>>> g_fast, g_ref = fast(X, y), ref(X, y)
>>> fast.name, bool(torch.allclose(g_fast.norms(), g_ref.norms(), atol=1e-6))
('linear', True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from fedlib.privacy.closed_form import RESIDUALS

__all__ = ["BACKENDS", "DenseGradients", "LinearFactors", "PerExampleGradients",
           "clipped_pair_sq_distances", "linear_stack", "make_backend", "resolve_backend"]

BACKENDS = ("closed_form", "linear", "vmap", "opacus")

#: Activations applied element-wise (row by row): a stack of them and ``Linear`` layers has
#: outer-product per-example gradients.
ELEMENTWISE = (nn.SELU, nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.SiLU, nn.GELU,
               nn.Identity)

LossFn = Callable[..., torch.Tensor]


class PerExampleGradients(Protocol):
    """What DP-SGD asks of the per-example gradients ``g_i`` of ``n_rows`` rows.

    Parameters are flattened in ``model.parameters()`` order wherever a flat vector appears.
    """

    n_rows: int

    def norms(self) -> torch.Tensor:
        """``||g_i||`` per row, shape ``[n_rows]``."""

    def weighted_sum(self, weights: torch.Tensor) -> list[torch.Tensor]:
        """``sum_i weights_i g_i``, one tensor per parameter, shaped like it."""

    def subset(self, rows: slice | torch.Tensor) -> PerExampleGradients:
        """The same handle restricted to ``rows``."""

    def materialize(self, rows: slice | torch.Tensor = slice(None)) -> torch.Tensor:
        """The flattened gradients of ``rows``, shape ``[k, P]``."""

    def gram(self, rows: torch.Tensor) -> torch.Tensor:
        """``<g_a, g_b>`` for all ``a, b`` in ``rows``, float64, shape ``[k, k]``."""

    def pair_sq_distances(self, left: torch.Tensor, right: torch.Tensor, *,
                          clip_norm: float) -> np.ndarray:
        """``||clip(g_left[m]) - clip(g_right[m])||^2`` per pair ``m`` (float64)."""


def clipped_pair_sq_distances(gram: torch.Tensor, m: int, *, clip_norm: float) -> np.ndarray:
    """Distances of the clipped pairs ``(m', m + m')`` from the Gram matrix of ``2m`` rows.

    ``||f_a g_a - f_b g_b||^2 = f_a^2 G_aa + f_b^2 G_bb - 2 f_a f_b G_ab`` with the clip
    factors ``f = 1 / max(1, ||g|| / C)`` of :func:`fedlib.privacy.bdp.neighbour_distances`
    (FSL-BDP Algorithm 2 line 19); one vectorised expression, no loop over pairs. A rounding
    below zero (identical rows) is returned as 0.

    >>> G = torch.tensor([[4.0, 0.0], [0.0, 0.25]], dtype=torch.float64)
    >>> clipped_pair_sq_distances(G, 1, clip_norm=1.0).tolist()   # clip([2,0]) vs [0,.5]
    [1.25]
    """
    sq = gram.diagonal()
    sa, sb, ab = sq[:m], sq[m:], gram.diagonal(offset=m)
    C = float(clip_norm)
    fa = 1.0 / torch.clamp(sa.clamp(min=0).sqrt() / C, min=1.0)
    fb = 1.0 / torch.clamp(sb.clamp(min=0).sqrt() / C, min=1.0)
    return (fa * fa * sa + fb * fb * sb - 2.0 * fa * fb * ab).clamp(min=0.0).numpy()


def _pairs(handle: PerExampleGradients, left: torch.Tensor, right: torch.Tensor,
           clip_norm: float) -> np.ndarray:
    left, right = torch.as_tensor(left).reshape(-1), torch.as_tensor(right).reshape(-1)
    if left.numel() != right.numel():
        raise ValueError(f"left has {left.numel()} rows, right {right.numel()}: need pairs")
    return clipped_pair_sq_distances(handle.gram(torch.cat([left, right])), left.numel(),
                                     clip_norm=clip_norm)


@dataclass
class DenseGradients:
    """Materialised per-example gradients, one ``[n, *p.shape]`` tensor per parameter.

    What ``vmap`` and Opacus' ``grad_sample`` give. Norms and the weighted sum use Opacus'
    ``DPOptimizer`` formulas (per-parameter norms, ``einsum("i,i...")``), so that with the
    same gradients the clipped sum is Opacus' to the bit.
    """

    grads: list[torch.Tensor]

    @classmethod
    def from_flat(cls, flat: torch.Tensor, shapes: Sequence[torch.Size]) -> DenseGradients:
        """Split a ``[n, P]`` matrix of flattened per-example gradients by parameter shape.

        >>> g = DenseGradients.from_flat(torch.arange(8.0).reshape(2, 4), [(1, 3), (1,)])
        >>> [tuple(t.shape) for t in g.grads], g.norms().round().tolist()
        ([(2, 1, 3), (2, 1)], [4.0, 11.0])
        """
        sizes = [math.prod(s) for s in shapes]
        if flat.ndim != 2 or flat.shape[1] != sum(sizes):
            raise ValueError(f"per-example gradients of shape {tuple(flat.shape)}: need "
                             f"[n, {sum(sizes)}] for parameters of shapes {list(shapes)}")
        parts = torch.split(flat, sizes, dim=1)
        return cls([p.reshape(flat.shape[0], *s) for p, s in zip(parts, shapes, strict=True)])

    @property
    def n_rows(self) -> int:
        """Number of rows (examples)."""
        return self.grads[0].shape[0]

    def norms(self) -> torch.Tensor:
        """``||g_i||`` per row: per-parameter norms, then their norm (as Opacus)."""
        per_param = [g.reshape(len(g), -1).norm(2, dim=-1) for g in self.grads]
        return torch.stack(per_param, dim=1).norm(2, dim=1)

    def weighted_sum(self, weights: torch.Tensor) -> list[torch.Tensor]:
        """``sum_i weights_i g_i`` per parameter (Opacus' ``einsum("i,i...")``)."""
        return [torch.einsum("i,i...", weights.to(g.dtype), g) for g in self.grads]

    def subset(self, rows: slice | torch.Tensor) -> DenseGradients:
        """The gradients of ``rows`` only."""
        return DenseGradients([g[rows] for g in self.grads])

    def materialize(self, rows: slice | torch.Tensor = slice(None)) -> torch.Tensor:
        """The flattened gradients of ``rows``, ``[k, P]``."""
        parts = [g[rows] for g in self.grads]
        return torch.cat([p.reshape(p.shape[0], -1) for p in parts], 1)

    def gram(self, rows: torch.Tensor) -> torch.Tensor:
        """``<g_a, g_b>`` of ``rows`` in float64, ``[k, k]``."""
        flat = self.materialize(rows).double()
        return flat @ flat.T

    def pair_sq_distances(self, left, right, *, clip_norm: float) -> np.ndarray:
        """``||clip(g_left[m]) - clip(g_right[m])||^2`` per pair, from the Gram matrix."""
        return _pairs(self, left, right, clip_norm)


@dataclass
class LinearFactors:
    """Per-layer factors of the per-example gradients of a ``Linear`` / element-wise stack.

    ``inputs[l]`` (``a``, ``[n, in]``) and ``deltas[l]`` (``delta``, ``[n, out]``, the loss
    gradient at the layer's output); example ``i``'s gradient of layer ``l`` is
    ``outer(delta_i, a_i)`` for the weight and ``delta_i`` for the bias (if ``has_bias[l]``).
    """

    inputs: list[torch.Tensor]
    deltas: list[torch.Tensor]
    has_bias: list[bool]

    @property
    def n_rows(self) -> int:
        """Number of rows (examples)."""
        return self.inputs[0].shape[0]

    def sq_norms(self) -> torch.Tensor:
        """``||g_i||^2 = sum_l (||a_i||^2 + 1[bias]) ||delta_i||^2`` — no ``g_i`` formed.

        The per-layer terms are stacked into ``[L, n]`` and weighted in two ops (a step's op
        count is a visible part of its cost on a small network), then added layer after
        layer as a loop over layers adds them (``sum(0)`` would not: ATen's reduction
        reorders the additions, and the last bit changes). The same operations in the same
        order, so the same numbers (tests/test_dp_backends.py checks them against the loop).
        """
        sa = torch.stack([torch.linalg.vecdot(a, a) for a in self.inputs])
        sd = torch.stack([torch.linalg.vecdot(d, d) for d in self.deltas])
        if all(self.has_bias):
            sa += 1.0
        elif any(self.has_bias):
            sa += torch.tensor([[float(b)] for b in self.has_bias], dtype=sa.dtype)
        sa *= sd
        rows = sa.unbind(0)
        total = rows[0]
        for t in rows[1:]:
            total = total + t
        return total

    def norms(self) -> torch.Tensor:
        """``||g_i||`` per row (the ghost norm, :meth:`sq_norms`)."""
        return self.sq_norms().sqrt()

    def weighted_sum(self, weights: torch.Tensor) -> list[torch.Tensor]:
        """Per layer ``(w * delta)^T a`` (and ``sum_i w_i delta_i``): one matmul, no ``g_i``."""
        out = []
        w = weights[:, None].to(self.deltas[0].dtype)
        for a, d, b in zip(self.inputs, self.deltas, self.has_bias, strict=True):
            wd = d * w
            out.append(wd.T @ a)
            if b:
                out.append(wd.sum(0))
        return out

    def subset(self, rows: slice | torch.Tensor) -> LinearFactors:
        """The factors of ``rows`` only."""
        return LinearFactors([a[rows] for a in self.inputs], [d[rows] for d in self.deltas],
                             list(self.has_bias))

    def materialize(self, rows: slice | torch.Tensor = slice(None)) -> torch.Tensor:
        """Outer products of the selected rows (as Opacus' hooks form them)."""
        parts = []
        for a, d, b in zip(self.inputs, self.deltas, self.has_bias, strict=True):
            ar, dr = a[rows], d[rows]
            parts.append((dr[:, :, None] * ar[:, None, :]).reshape(dr.shape[0], -1))
            if b:
                parts.append(dr)
        return torch.cat(parts, 1)

    def gram(self, rows: torch.Tensor) -> torch.Tensor:
        """``<g_a, g_b>`` of ``rows`` in float64, ``[k, k]``, from the factors' Gram matrices.

        ``sum_l (A A^T + 1[bias]) * (D D^T)``: the gradients themselves are never formed.
        """
        total = None
        for a, d, b in zip(self.inputs, self.deltas, self.has_bias, strict=True):
            a2, d2 = a[rows].double(), d[rows].double()
            t = (a2 @ a2.T + float(b)) * (d2 @ d2.T)
            total = t if total is None else total + t
        return total

    def pair_sq_distances(self, left, right, *, clip_norm: float) -> np.ndarray:
        """``||clip(g_left[m]) - clip(g_right[m])||^2`` per pair, from the Gram matrix."""
        return _pairs(self, left, right, clip_norm)


# -- which backend fits ------------------------------------------------------------------------

def linear_stack(model: nn.Module) -> list[nn.Module] | None:
    """The layers of ``model`` if it is a plain ``Linear`` / element-wise stack, else ``None``.

    Accepted: an ``nn.Linear``, an ``nn.Sequential``, or a module that declares
    ``forward_is_stack = True`` (its ``forward`` is its only child, an ``nn.Linear`` or
    ``nn.Sequential``, up to a reshape: ``LogisticRegression`` and ``MLP`` of
    :mod:`fedlib.fl.models`, ``HazardNet``) and whose parameters are exactly the stack's;
    layers must be ``nn.Linear`` (not a subclass) or non-in-place :data:`ELEMENTWISE`
    activations, every parameter trainable. The declaration is asked for because the fast
    backends never call ``forward``: a module whose ``forward`` does anything else (records,
    rescales) must not be bypassed; :func:`make_backend` also checks the stack's output
    against ``forward`` on a probe.

    >>> from torch import nn
    >>> len(linear_stack(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))))
    3
    >>> linear_stack(nn.Sequential(nn.Linear(2, 3), nn.ReLU(inplace=True))) is None
    True
    """
    if type(model) in (nn.Linear, nn.Sequential):
        inner = model
    else:
        children = list(model.children())
        if not _declares_stack(type(model)) or len(children) != 1 or type(children[0]) not in (nn.Linear, nn.Sequential):
            return None
        inner = children[0]
    layers = [inner] if type(inner) is nn.Linear else list(inner)
    if not layers or not all(type(m) is nn.Linear
                             or (type(m) in ELEMENTWISE and not getattr(m, "inplace", False))
                             for m in layers):
        return None
    own = [p for m in layers if type(m) is nn.Linear for p in (m.weight, m.bias)
           if p is not None]
    params = list(model.parameters())
    if not own or [id(p) for p in params] != [id(p) for p in own] \
            or not all(p.requires_grad for p in params):
        return None
    return layers


def _declares_stack(cls: type) -> bool:
    """Whether the class defining the ``forward`` in use sets ``forward_is_stack``.

    A subclass that overrides ``forward`` does not inherit the declaration.
    """
    owner = next(c for c in cls.__mro__ if "forward" in vars(c))
    return bool(vars(owner).get("forward_is_stack", False))


def _stack_forward(layers: Sequence[nn.Module], X: torch.Tensor) -> torch.Tensor:
    h = X
    for m in layers:
        h = m(h)
    return h


def _stack_matches(model: nn.Module, layers, probe: torch.Tensor | None) -> tuple[bool, tuple]:
    """Whether ``model(x)`` is the stack's output (reshaped) on ``probe``; the row shape.

    A module could wrap the stack in a forward that does more.
    """
    if probe is None or probe.shape[0] == 0:
        return False, ()
    x = probe[:2]
    with torch.no_grad():
        out, mine = model(x), _stack_forward(layers, x)
    if out.shape[0] != x.shape[0] or out.numel() != mine.numel():
        return False, ()
    return bool(torch.equal(out, mine.reshape(out.shape))), tuple(out.shape[1:])


def resolve_backend(model: nn.Module, *, loss_name: str | None = None,
                    probe: torch.Tensor | None = None) -> str:
    """The backend ``"auto"`` picks for ``model``.

    ``closed_form`` for logistic regression with a loss of known residual, ``linear`` for a
    ``Linear`` / element-wise stack, else ``opacus`` (hooks, faster than ``vmap`` on the
    bench's models) where Opacus supports every layer, else ``vmap``.

    >>> from torch import nn
    >>> resolve_backend(nn.Linear(3, 1), loss_name="bce", probe=torch.zeros(2, 3))
    'closed_form'
    >>> resolve_backend(nn.Conv1d(1, 1, 2), probe=torch.zeros(2, 1, 3))
    'opacus'
    """
    layers = linear_stack(model)
    if layers is None or not _stack_matches(model, layers, probe)[0]:
        from opacus import GradSampleModule  # Opacus loads only where the fallback is asked

        return "vmap" if GradSampleModule.validate(model, strict=False) else "opacus"
    if loss_name in RESIDUALS and len(layers) == 1 and layers[0].out_features == 1:
        return "closed_form"
    return "linear"


def make_backend(model: nn.Module, loss: LossFn, *, backend: str = "auto",
                 loss_name: str | None = None, probe: torch.Tensor | None = None,
                 grad_sample_mode: str = "hooks",
                 loss_grad: Callable[..., torch.Tensor] | None = None) -> _Backend:
    """A callable ``backend(X, *targets) -> PerExampleGradients`` for ``model`` and ``loss``.

    Parameters
    ----------
    model
        The model whose parameters' per-example gradients are wanted (used in place).
    loss
        ``loss(out, *targets)``: the summed loss of the rows.
    backend
        One of :data:`BACKENDS` or ``"auto"`` (:func:`resolve_backend`).
    loss_name
        The name of ``loss`` if it is one with a closed-form residual (``"bce"``, ``"mse"``
        of :data:`fedlib.privacy.closed_form.RESIDUALS`); needed by ``closed_form``, and
        ``linear`` then takes the loss gradient in closed form. ``loss`` must then be that
        loss, summed over rows.
    probe
        A few input rows; ``closed_form`` and ``linear`` check on them that the model's
        ``forward`` is its layer stack.
    grad_sample_mode
        Opacus' mode for ``backend="opacus"`` (``"hooks"`` or ``"functorch"``).
    loss_grad
        ``loss_grad(out, *targets)``: the gradient of ``loss`` at ``out``, if the caller has
        it in closed form; ``linear`` then uses it instead of autograd. It must be the same
        numbers as autograd's (chapter 3's eq. 1 loss passes one written with the kernels
        autograd's backward calls).

    Raises
    ------
    ValueError
        For an unknown backend, or one that does not fit the model or loss.
    """
    if backend == "auto":
        backend = resolve_backend(model, loss_name=loss_name, probe=probe)
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: allowed values are 'auto', "
                         f"{', '.join(map(repr, BACKENDS))}")
    if backend == "vmap":
        return _VmapBackend(model, loss)
    if backend == "opacus":
        return _OpacusBackend(model, loss, grad_sample_mode)
    layers = linear_stack(model)
    ok, tail = (False, ()) if layers is None else _stack_matches(model, layers, probe)
    if not ok:
        raise ValueError(f"backend={backend!r} needs a stack of nn.Linear layers and "
                         "element-wise activations whose forward is the stack "
                         f"(got {type(model).__name__}); use 'vmap' or 'opacus'")
    if backend == "closed_form":
        if loss_name not in RESIDUALS or len(layers) != 1 or layers[0].out_features != 1:
            raise ValueError(f"backend='closed_form' needs logistic regression (one "
                             f"nn.Linear(d, 1)) and a loss in {sorted(RESIDUALS)}, got "
                             f"{type(model).__name__} with loss {loss_name!r}")
        return _ClosedFormBackend(layers[0], RESIDUALS[loss_name])
    return _LinearBackend(layers, loss, tail, RESIDUALS.get(loss_name), loss_grad)


class _Backend:
    name: str

    def __call__(self, X: torch.Tensor, *targets: torch.Tensor) -> PerExampleGradients:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the backend attached to the model (Opacus' hooks)."""


class _ClosedFormBackend(_Backend):
    name = "closed_form"

    def __init__(self, layer: nn.Linear, residual) -> None:
        self.layer, self.residual = layer, residual

    def __call__(self, X, y) -> LinearFactors:
        with torch.no_grad():
            z = F.linear(X, self.layer.weight, self.layer.bias)
            r = self.residual(z, y.reshape(z.shape).to(z.dtype))
        return LinearFactors([X], [r], [self.layer.bias is not None])


#: ATen's SELU constants (``F.selu`` is ``elu`` with them; aten/src/ATen/native/Activation.cpp).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _activation_backward(m: nn.Module, pre: torch.Tensor, post: torch.Tensor,
                         grad: torch.Tensor) -> torch.Tensor:
    """The loss gradient at an activation's input from the one at its output.

    For SELU, ReLU, Tanh, Sigmoid and Identity the kernel autograd's own backward formula
    calls (``elu_backward`` on the input, ``threshold_backward``, ``tanh_backward`` and
    ``sigmoid_backward`` on the output), so the result is autograd's to the bit
    (tests/test_dp_backends.py checks it); any other element-wise activation asks autograd
    for this one op.
    """
    kind = type(m)
    if kind is nn.Identity:
        return grad
    if kind is nn.SELU:
        return torch.ops.aten.elu_backward(grad, SELU_ALPHA, SELU_SCALE, 1.0, False, pre)
    if kind is nn.ReLU:
        return torch.ops.aten.threshold_backward(grad, post, 0)
    if kind is nn.Tanh:
        return torch.ops.aten.tanh_backward(grad, post)
    if kind is nn.Sigmoid:
        return torch.ops.aten.sigmoid_backward(grad, post)
    with torch.enable_grad():
        x = pre.detach().requires_grad_(True)
        (out,) = torch.autograd.grad(m(x), x, grad)
    return out


#: The function a non-in-place activation module's ``forward`` calls, called directly (a
#: module call's hooks machinery is a visible part of a small network's step).
_ACTIVATION_FORWARD = {nn.SELU: torch.selu, nn.ReLU: torch.relu, nn.Tanh: torch.tanh,
                       nn.Sigmoid: torch.sigmoid}


class _LinearBackend(_Backend):
    """Per-layer factors of a ``Linear`` / element-wise stack, forward and backward by hand.

    Why by hand: the factors need the layers' inputs and output gradients, which autograd
    gives only through a graph built for the batch and walked once (or through hooks, as
    Opacus and the ghost-clipping libraries do it), both of which cost more Python and C++
    bookkeeping per step than the arithmetic on the small networks of chapters 1 and 3. A
    stack of ``Linear`` layers and element-wise activations has a backward of two kernels
    per layer — ``delta @ W`` and the activation's own backward kernel — so the backward pass
    is written out with exactly the kernels autograd's formulas call (``mm_mat1_backward``
    of ``addmm``, :func:`_activation_backward`): the same numbers, to the bit, without the
    graph. Only the loss's gradient at the network's output goes through autograd (the loss
    is pluggable, and its graph is a few ops on ``[B, out]``) — unless the loss is named and
    has a closed-form residual (:data:`~fedlib.privacy.closed_form.RESIDUALS`: ``sigmoid(z)
    - y`` and ``2 (z - y)`` are what the ATen backward kernels of the summed BCE-with-logits
    and MSE losses compute, so the result is the same to the bit and autograd is not started
    at all).
    """

    name = "linear"

    def __init__(self, layers, loss: LossFn, tail: tuple, residual=None,
                 loss_grad: Callable[..., torch.Tensor] | None = None) -> None:
        self.layers, self.loss, self.tail, self.residual = layers, loss, tail, residual
        self.loss_grad = loss_grad
        self.linear_at = [i for i, m in enumerate(layers) if type(m) is nn.Linear]
        self.has_bias = [layers[i].bias is not None for i in self.linear_at]
        # forward[i]: None for a Linear layer, else the function applied (the activation's
        # own, called without the module; :data:`ELEMENTWISE` activations take no options
        # other than ``inplace``, which linear_stack refused)
        self.forward = [None if type(m) is nn.Linear else _ACTIVATION_FORWARD.get(type(m), m)
                        for m in layers]

    def __call__(self, X, *targets) -> LinearFactors:
        """The factors of one forward and one backward pass over ``X``.

        Rows do not interact, so row ``i`` of each layer's output gradient is example
        ``i``'s own ``delta_i``; no parameter gradient is formed.
        """
        layers = self.layers
        inputs, seen = [], []          # seen[i]: (input, output) of layer i
        h = X
        with torch.no_grad():
            for m, fn in zip(layers, self.forward, strict=True):
                x = h
                if fn is None:
                    inputs.append(x)
                    h = F.linear(x, m.weight, m.bias)
                else:
                    h = fn(x)
                seen.append((x, h))
            if self.loss_grad is not None:
                g = self.loss_grad(h.reshape(h.shape[0], *self.tail), *targets).reshape(h.shape)
            elif self.residual is not None and len(targets) == 1:
                g = self.residual(h, targets[0].reshape(h.shape).to(h.dtype))
            else:
                with torch.enable_grad():
                    out = h.detach().requires_grad_(True)
                    total = self.loss(out.reshape(out.shape[0], *self.tail), *targets)
                    (g,) = torch.autograd.grad(total, out)
            deltas = [g] * len(self.linear_at)
            first = self.linear_at[0]
            j = len(self.linear_at)
            for i in range(len(layers) - 1, first - 1, -1):
                m = layers[i]
                if self.forward[i] is None:
                    j -= 1
                    deltas[j] = g
                    if i > first:
                        # autograd's mm_mat1_backward of addmm(b, x, W^T) on a row-major x
                        g = g.mm(m.weight)
                else:
                    g = _activation_backward(m, seen[i][0], seen[i][1], g)
        return LinearFactors(inputs, deltas, list(self.has_bias))


class _VmapBackend(_Backend):
    name = "vmap"

    def __init__(self, model: nn.Module, loss: LossFn) -> None:
        self.model, self.loss = model, loss
        self.names = [k for k, p in model.named_parameters() if p.requires_grad]

        def loss_one(params, frozen, x, *t):
            out = functional_call(model, {**frozen, **params}, (x.unsqueeze(0),))
            return loss(out, *(v.unsqueeze(0) for v in t))

        self._grad = grad(loss_one)

    def __call__(self, X, *targets) -> DenseGradients:
        named = dict(self.model.named_parameters())
        params = {k: named[k].detach() for k in self.names}
        frozen = {k: v.detach() for k, v in named.items() if k not in params}
        dims = (None, None, 0, *(0 for _ in targets))
        g = vmap(self._grad, in_dims=dims)(params, frozen, X, *targets)
        return DenseGradients([g[k] for k in self.names])


class _OpacusBackend(_Backend):
    name = "opacus"

    def __init__(self, model: nn.Module, loss: LossFn, mode: str) -> None:
        from opacus import GradSampleModule  # Opacus loads only where this backend is asked for

        if mode not in ("hooks", "functorch"):
            raise ValueError(f"grad_sample_mode={mode!r}: allowed values are 'hooks', "
                             "'functorch'")
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.gsm = GradSampleModule(model, loss_reduction="sum",
                                    force_functorch=mode == "functorch")
        self.loss = loss

    def __call__(self, X, *targets) -> DenseGradients:
        for p in self.params:
            p.grad_sample, p.grad = None, None
        with warnings.catch_warnings():
            # Opacus' backward hooks fire on module outputs when inputs need no grad: harmless.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            self.loss(self.gsm(X), *targets).backward()
        grads = [p.grad_sample for p in self.params]
        for p in self.params:
            p.grad_sample, p.grad = None, None
        return DenseGradients(grads)

    def close(self) -> None:
        self.gsm._close()
