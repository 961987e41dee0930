"""Noise calibration for a target (ε, δ), and the inverse searches a privacy-claims audit needs.

:func:`calibrate_noise_multiplier` answers "which σ gives ε = target after T steps at rate q?"
(a root search on :func:`~fedlib.privacy.accountants.epsilon_for`, so that the answer is
consistent with what the accountants report; Opacus' ``get_noise_multiplier`` does the same by
plain bisection but needs ~10× more ε evaluations, which is seconds per σ at q = 0.2). :func:`find_settings_for_epsilon` answers the
audit's questions the other way round: at a stated σ, how many steps, or which sampling rate,
would produce a claimed ε? ε grows with steps and with the sampling rate, so both are
monotone searches.

References: paper 001 (chapter 2) §4.3 and Table 1 (ε = 14.13, 8.65, 5.74 at σ = 1.2, 1.6, 2.0
full batch, or σ = 0.5, 1.0, 1.5 at q = 0.2, δ = 1e-5, 1000 epochs × 5 rounds); paper 002
(chapter 3) §4 (σ calibrated to ε ∈ {0.5, 1, 2, 10}). Introduced in chapter 2
(``chapters/02_dp_vs_ckks.py``), used in chapter 3.

Examples
--------
>>> sigma = calibrate_noise_multiplier(target_epsilon=2.0, delta=1e-5, sample_rate=0.01,
...                                    steps=1000)
>>> eps = epsilon_for(noise_multiplier=sigma, sample_rate=0.01, steps=1000, delta=1e-5)
>>> 1.99 <= eps <= 2.0
True
>>> s = find_settings_for_epsilon(target_epsilon=14.13, delta=1e-5, noise_multiplier=1.2,
...                               sample_rate=1.0)
>>> s.steps, round(s.epsilon, 2)
(8, 13.13)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from fedlib.privacy.accountants import (
    Method,
    PrivacyArgumentError,
    _as_float,
    _check_delta,
    _check_method,
    _check_noise_multiplier,
    _check_sample_rate,
    _check_steps,
    epsilon_for,
)

__all__ = ["SettingsForEpsilon", "calibrate_noise_multiplier", "find_settings_for_epsilon"]

MAX_NOISE_MULTIPLIER = 1e6
MAX_STEPS = 10**9


def _check_target_epsilon(value: float) -> float:
    v = _as_float("target_epsilon", value)
    if not (math.isfinite(v) and v > 0):
        raise PrivacyArgumentError(f"target_epsilon must be a finite number > 0, got {value!r}")
    return v


def calibrate_noise_multiplier(*, target_epsilon: float, delta: float, sample_rate: float,
                               steps: int, method: Method = "rdp", tol: float = 0.01) -> float:
    """Smallest σ (up to ``tol`` in ε) with ε(σ, q, T, δ) ≤ ``target_epsilon``.

    The returned σ always satisfies ε ≤ target, and ε ≥ target − ``tol``.

    Raises
    ------
    PrivacyArgumentError
        If an argument is out of range, or if the target cannot be reached with
        σ ≤ 1e6 (ε of the composition does not go below the target).
    AccountantFailure
        If ``method``'s accountant cannot compute ε at a σ the search visits (e.g. Opacus
        PRV at ε in the hundreds); no other accountant's value is substituted.

    Examples
    --------
    >>> round(calibrate_noise_multiplier(target_epsilon=8.0, delta=1e-5, sample_rate=1.0,
    ...                                  steps=5000), 1)
    45.1
    """
    eps_target = _check_target_epsilon(target_epsilon)
    delta = _check_delta(delta)
    q = _check_sample_rate(sample_rate)
    steps = _check_steps(steps)
    method = _check_method(method)
    tol = _as_float("tol", tol)
    if not tol > 0:
        raise PrivacyArgumentError(f"tol must be > 0, got {tol!r}")

    def eps(sigma: float) -> float:
        return epsilon_for(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=delta,
                           method=method)

    lo, hi = 1.0, 1.0
    while (e_hi := eps(hi)) > eps_target:
        if hi >= MAX_NOISE_MULTIPLIER:
            raise PrivacyArgumentError(
                f"target_epsilon={eps_target} is unreachable with {steps} steps at "
                f"sample_rate={q}, delta={delta}: even noise_multiplier={hi:g} gives "
                f"ε={e_hi:.4g}")
        hi *= 2
    while eps(lo) <= eps_target:
        if lo < 1e-6:
            return lo
        lo /= 2
    return _solve_monotone(eps, lo, hi, eps_target, tol, increasing=False)


def _solve_monotone(f: Callable[[float], float], lo: float, hi: float, target: float,
                    tol: float, *, increasing: bool) -> float:
    """The x in [lo, hi] with f(x) ≤ target closest to the crossing, f(x) ≥ target − tol.

    Brent's method on log x: the answers span orders of magnitude and each evaluation of ε
    costs a fresh RDP curve (up to 0.4 s at q = 0.2), so the ~10 evaluations Brent needs
    matter; Opacus' ``get_noise_multiplier`` bisection took ~100 (5 s) for one σ.
    """
    from scipy.optimize import brentq

    best: list[tuple[float, float]] = []

    def g(log_x: float) -> float:
        x = math.exp(log_x)
        value = f(x)
        if value <= target:
            best.append((x, value))
        return value - target

    if g(math.log(lo)) == 0:
        return lo
    if g(math.log(hi)) == 0:
        return hi
    brentq(g, math.log(lo), math.log(hi), xtol=1e-10, rtol=1e-12, maxiter=200)
    x, value = max(best) if increasing else min(best)
    if target - value > tol:
        raise RuntimeError(f"search stopped at ε={value:.6g}, more than tol={tol} below "
                           f"the target {target}")
    return float(x)


@dataclass(frozen=True)
class SettingsForEpsilon:
    """Answer of :func:`find_settings_for_epsilon`.

    ``solved_for`` names the unknown (``"steps"`` or ``"sample_rate"``); ``epsilon`` is the ε
    of the returned setting, which is ≤ the target; for steps, ``epsilon_next`` is ε of one
    more step (> target), bracketing the claim.
    """

    solved_for: str
    target_epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    epsilon: float
    epsilon_next: float | None = None

    @property
    def epochs(self) -> float:
        """Passes over the data the steps amount to (``steps · sample_rate``)."""
        return self.steps * self.sample_rate


def find_settings_for_epsilon(*, target_epsilon: float, delta: float, noise_multiplier: float,
                              sample_rate: float | None = None, steps: int | None = None,
                              method: Method = "rdp", tol: float = 1e-4) -> SettingsForEpsilon:
    """The ``steps`` (or ``sample_rate``) that give a claimed ε at a stated σ.

    Give exactly one of ``sample_rate`` and ``steps``; the other is solved for.

    * unknown ``steps``: the largest T with ε(T) ≤ target (ε(T + 1) > target is returned as
      ``epsilon_next``);
    * unknown ``sample_rate``: the largest q ∈ (0, 1] with ε(q) ≤ target, to ``tol`` in ε.

    Raises
    ------
    PrivacyArgumentError
        If both or neither unknown is given, an argument is out of range, or no value
        reaches the target (one step already exceeds it; the full batch stays below it).

    Examples
    --------
    >>> s = find_settings_for_epsilon(target_epsilon=8.65, delta=1e-5, noise_multiplier=1.0,
    ...                               steps=25000)
    >>> s.solved_for, round(s.sample_rate, 4), round(s.epsilon, 2)
    ('sample_rate', 0.0079, 8.65)
    """
    eps_target = _check_target_epsilon(target_epsilon)
    delta = _check_delta(delta)
    sigma = _check_noise_multiplier(noise_multiplier)
    method = _check_method(method)
    if (sample_rate is None) == (steps is None):
        raise PrivacyArgumentError(
            "give exactly one of sample_rate and steps (the other is solved for), got "
            f"sample_rate={sample_rate!r}, steps={steps!r}")

    if steps is None:
        q = _check_sample_rate(sample_rate)

        def eps_t(t: int) -> float:
            return epsilon_for(noise_multiplier=sigma, sample_rate=q, steps=t, delta=delta,
                               method=method)

        if eps_t(1) > eps_target:
            raise PrivacyArgumentError(
                f"target_epsilon={eps_target} is unreachable: one step at noise_multiplier="
                f"{sigma}, sample_rate={q} already gives ε={eps_t(1):.4g}")
        lo, hi = 1, 2
        while eps_t(hi) <= eps_target:
            lo, hi = hi, hi * 2
            if hi > MAX_STEPS:
                raise PrivacyArgumentError(
                    f"target_epsilon={eps_target} needs more than {MAX_STEPS:g} steps")
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if eps_t(mid) <= eps_target else (lo, mid)
        return SettingsForEpsilon("steps", eps_target, delta, sigma, q, lo, eps_t(lo), eps_t(hi))

    t = _check_steps(steps)

    def eps_q(q: float) -> float:
        return epsilon_for(noise_multiplier=sigma, sample_rate=q, steps=t, delta=delta,
                           method=method)

    e_full = eps_q(1.0)
    if e_full <= eps_target:
        raise PrivacyArgumentError(
            f"target_epsilon={eps_target} is unreachable by sampling: even the full batch "
            f"(sample_rate=1) gives only ε={e_full:.4g} at noise_multiplier={sigma}, steps={t}")
    if eps_q(1e-12) > eps_target:
        raise PrivacyArgumentError(
            f"target_epsilon={eps_target} is unreachable: even sample_rate=1e-12 gives "
            f"ε={eps_q(1e-12):.4g}")
    lo = _solve_monotone(eps_q, 1e-12, 1.0, eps_target, tol, increasing=True)
    eps_lo = eps_q(lo)
    return SettingsForEpsilon("sample_rate", eps_target, delta, sigma, lo, t, eps_lo)
