"""Discrete-time survival likelihood (FSL-BDP eq. 1), hazards and survival curves in torch.

The network outputs one logit ``f_l(x)`` per interval; the hazard is ``h_l = sigmoid(f_l)``
(eq. 2) and the survival curve ``S_l = prod_{j <= l} (1 - h_j)`` (sec. 3.2). Eq. 1 is

    log L = sum_l [ s_surv_l * log(1 - h_l) + s_fail_l * log h_l ].

We never form ``h`` and take its log: ``log h = logsigmoid(f)`` and
``log(1 - h) = logsigmoid(-f)`` are exact and finite for any logit, whereas ``log(sigmoid(f))``
underflows to ``-inf`` once ``|f|`` exceeds about 17 in float32 (and the gradient becomes NaN).
The same trick makes the cumulative product a cumulative *sum* in log space.

References: Amed, Sen & Banerjee (2026), FSL-BDP, sec. 3.2, eqs. 1-2; Gensheimer &
Narasimhan (2019), "A scalable discrete-time survival model for neural networks". Introduced
in chapter 3 (``chapters/03_fsl_bdp_survival.py``).

Examples
--------
>>> import torch
>>> logits = torch.zeros(1, 3)                      # h = 0.5 in every interval
>>> survival_from_logits(logits).tolist()
[[0.5, 0.25, 0.125]]
>>> s_surv = torch.tensor([[1.0, 0.0, 0.0]]); s_fail = torch.tensor([[0.0, 1.0, 0.0]])
>>> round(float(discrete_time_nll(logits, s_surv, s_fail)), 6)   # -log(0.5 * 0.5)
1.386294
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "discrete_time_nll",
    "hazards_from_logits",
    "log_survival_from_logits",
    "survival_from_logits",
]


def hazards_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Hazard probabilities ``h_l = sigmoid(f_l)`` (eq. 2), shape ``[n, T]``.

    >>> hazards_from_logits(torch.tensor([[0.0, 100.0]])).tolist()
    [[0.5, 1.0]]
    """
    return torch.sigmoid(logits)


def log_survival_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """``log S_l = sum_{j <= l} log(1 - h_j) = cumsum(logsigmoid(-f))``, shape ``[n, T]``.

    >>> log_survival_from_logits(torch.tensor([[-1000.0, 0.0]])).tolist()
    [[0.0, -0.6931471824645996]]
    """
    return torch.cumsum(F.logsigmoid(-logits), dim=-1)


def survival_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Survival curve ``S_l = prod_{j <= l}(1 - h_j)``, non-increasing in ``l``.

    >>> survival_from_logits(torch.tensor([[0.0, 0.0]])).tolist()
    [[0.5, 0.25]]
    """
    return torch.exp(log_survival_from_logits(logits))


def discrete_time_nll(logits: torch.Tensor, s_surv: torch.Tensor, s_fail: torch.Tensor, *,
                      reduction: Literal["mean", "sum", "none"] = "mean") -> torch.Tensor:
    """Negative log-likelihood of eq. 1 from logits, numerically stable.

    Parameters
    ----------
    logits : torch.Tensor, shape (n, T)
        Pre-sigmoid outputs ``f_l(x)`` of the hazard network.
    s_surv, s_fail : torch.Tensor, shape (n, T)
        Label vectors from :func:`fedlib.survival.labels.survival_targets`.
    reduction : {"mean", "sum", "none"}
        The paper sums over individuals ("sum"); "mean" divides by ``n`` (the usual choice
        for mini-batch SGD and for Opacus, whose per-sample gradients assume a mean loss);
        "none" returns one value per row.

    Returns
    -------
    torch.Tensor
        Scalar, or shape ``(n,)`` for ``reduction="none"``.

    Examples
    --------
    >>> logits = torch.tensor([[0.0, 0.0]])
    >>> float(discrete_time_nll(logits, torch.ones(1, 2), torch.zeros(1, 2)))   # -2 log 0.5
    1.3862943649291992
    """
    if logits.shape != s_surv.shape or logits.shape != s_fail.shape or logits.ndim != 2:
        raise ValueError(
            f"logits {tuple(logits.shape)}, s_surv {tuple(s_surv.shape)}, s_fail "
            f"{tuple(s_fail.shape)}: need three [n, T] tensors of the same shape")
    s_surv = s_surv.to(logits.dtype)
    s_fail = s_fail.to(logits.dtype)
    loglik = s_surv * F.logsigmoid(-logits) + s_fail * F.logsigmoid(logits)
    per_row = -loglik.sum(dim=1)
    if reduction == "mean":
        return per_row.mean()
    if reduction == "sum":
        return per_row.sum()
    if reduction == "none":
        return per_row
    raise ValueError(f"reduction={reduction!r}: allowed values are 'mean', 'sum', 'none'")
