"""IFRS 9 lifetime expected credit loss from monthly hazards.

FSL-BDP (sec. 5.3) writes the lifetime ECL as ``ECL = sum_t h_t(x) * LGD(t) * EAD(t)``. The
hazard ``h_t`` is the default probability in month ``t`` *conditional on survival to the
start of month t*; the ECL needs the *unconditional* (marginal) probability of defaulting in
month ``t``, ``PD_t = h_t * S_{t-1}`` with ``S_0 = 1``, and IFRS 9 (B5.5.44) discounts each
month's loss at the effective interest rate:

    ECL = sum_t h_t(x) * S_{t-1}(x) * LGD(t) * EAD(t) * DF(t),   DF(t) = (1 + r)^(-t / 12).

Without the ``S_{t-1}`` factor the sum of "PDs" can exceed 1 (a borrower would default more
than once); the two formulas agree only when hazards are small and the horizon short, and the
paper's formula always overstates the loss. :func:`lifetime_ecl` with ``marginal=False``
gives the paper's formula as printed, for the comparison in the chapter.

References: Amed, Sen & Banerjee (2026), FSL-BDP, sec. 5.3 (ECL formula); IFRS 9, paragraphs
5.5.17 and B5.5.44. Introduced in chapter 3 (``chapters/03_fsl_bdp_survival.py``).

Examples
--------
Two months, hazard 0.5 each, LGD 0.4, EAD 100, no discounting: defaults in month 1 with
probability 0.5 and in month 2 with 0.5 * 0.5 = 0.25, so ECL = 0.75 * 40 = 30; the
uncorrected sum counts 1.0 * 40 = 40.

>>> lifetime_ecl([0.5, 0.5], lgd=0.4, ead=100.0)
30.0
>>> lifetime_ecl([0.5, 0.5], lgd=0.4, ead=100.0, marginal=False)
40.0
"""

from __future__ import annotations

import numpy as np

__all__ = ["discount_factors", "lifetime_ecl", "marginal_default_probabilities"]


def discount_factors(*, annual_rate: float, n_months: int) -> np.ndarray:
    """Monthly discount factors ``(1 + r)^(-t/12)`` for ``t = 1..n_months``.

    >>> np.round(discount_factors(annual_rate=0.12, n_months=12)[[0, -1]], 6).tolist()
    [0.9906, 0.892857]
    """
    if not np.isfinite(annual_rate) or annual_rate <= -1:
        raise ValueError(f"annual_rate={annual_rate!r}: must be finite and > -1")
    if int(n_months) != n_months or n_months < 1:
        raise ValueError(f"n_months={n_months!r}: must be an integer >= 1")
    t = np.arange(1, int(n_months) + 1)
    return (1.0 + annual_rate) ** (-t / 12.0)


def marginal_default_probabilities(hazards) -> np.ndarray:
    """``PD_t = h_t * prod_{j < t}(1 - h_j)``: probability of defaulting in month ``t``.

    Accepts ``[T]`` or ``[n, T]``; rows sum to ``1 - S_T <= 1``.

    >>> marginal_default_probabilities([0.1, 0.5]).tolist()
    [0.1, 0.45]
    """
    h = np.asarray(hazards, dtype=float)
    if h.ndim not in (1, 2) or h.shape[-1] == 0:
        raise ValueError(f"hazards has shape {h.shape}: need [T] or [n, T]")
    if np.any((h < 0) | (h > 1)) or not np.all(np.isfinite(h)):
        raise ValueError("hazards: every value must be a probability in [0, 1]")
    surv = np.cumprod(1.0 - h, axis=-1)
    prev = np.concatenate([np.ones(h.shape[:-1] + (1,)), surv[..., :-1]], axis=-1)
    return h * prev


def _per_month(name: str, value, T: int) -> np.ndarray:
    v = np.asarray(value, dtype=float)
    if v.ndim == 0:
        v = np.full(T, float(v))
    if v.shape[-1] != T:
        raise ValueError(f"{name} has shape {v.shape}: need a scalar or a last axis of length T={T}")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError(f"{name}: values must be finite and >= 0")
    return v


def lifetime_ecl(hazards, *, lgd, ead, discount=None, marginal: bool = True):
    """Lifetime expected credit loss per borrower.

    Parameters
    ----------
    hazards : array_like, shape (T,) or (n, T)
        Monthly hazards ``h_t(x)``, e.g. :func:`fedlib.survival.model.predict_hazards`.
    lgd, ead : float or array_like
        Loss given default (fraction) and exposure at default per month: a scalar, a ``[T]``
        schedule (e.g. an amortising balance), or ``[n, T]``.
    discount : float or array_like, optional
        Discount factors ``DF(t)`` (``[T]``, see :func:`discount_factors`); ``None`` = 1.
    marginal : bool
        ``True`` (IFRS 9): weight by ``h_t * S_{t-1}``. ``False``: the paper's printed
        ``sum_t h_t * LGD * EAD`` (overstates the loss).

    Returns
    -------
    float or numpy.ndarray
        A float for ``[T]`` input, shape ``(n,)`` for ``[n, T]``.

    Examples
    --------
    >>> round(lifetime_ecl([0.01] * 12, lgd=0.45, ead=1000.0,
    ...                    discount=discount_factors(annual_rate=0.1, n_months=12)), 2)
    48.62
    """
    h = np.asarray(hazards, dtype=float)
    pd_t = marginal_default_probabilities(h) if marginal else h
    if not marginal:
        marginal_default_probabilities(h)  # validates the hazards
    T = h.shape[-1]
    loss = pd_t * _per_month("lgd", lgd, T) * _per_month("ead", ead, T)
    if discount is not None:
        loss = loss * _per_month("discount", discount, T)
    out = loss.sum(axis=-1)
    return float(out) if np.ndim(out) == 0 else out
