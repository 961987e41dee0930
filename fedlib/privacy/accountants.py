"""Per-party privacy accountants for DP-SGD: Opacus RDP and PRV, cross-checked with Google's.

A party that runs DP-SGD in several federated rounds composes *all* of its noisy steps: the
privacy loss of round 5 adds to rounds 1-4. :class:`PartyAccountant` is created once per party
and lives as long as the party; it records compositions as ``(noise_multiplier, sample_rate,
steps)`` segments (Opacus' own history format) and converts them to (ε, δ) on demand:

* ``method="rdp"``: Rényi DP of the sampled Gaussian mechanism (Mironov 2017; Mironov, Talwar,
  Zhang 2019) with Opacus' ``compute_rdp`` and its RDP→(ε, δ) conversion (Balle et al. 2020,
  Thm 21), over :data:`RDP_ORDERS`, a wider grid of orders than Opacus' default so that both
  very large ε (orders close to 1) and very small ε (orders up to 1024) are converted tightly;
* ``method="prv"``: Opacus' PRV accountant (numerical composition of privacy-loss random
  variables, Gopi et al. 2021). With full-batch steps only (``sample_rate == 1``) the composition
  of T Gaussians with multiplier σ is exactly one Gaussian with multiplier σ/√T, so ε comes from
  the analytic Gaussian mechanism (Balle & Wang 2018) through ``dp_accounting`` instead, because
  Opacus' PRV is undefined at q = 1 (``log(1 - q)``). When the PRV discretisation cannot
  represent the loss (it returns ∞ at ε in the hundreds), the RDP bound, also a valid upper
  bound, is returned with a warning;
* ``method="dp_accounting"``: Google's ``dp_accounting`` RDP accountant on
  ``SelfComposedDpEvent(PoissonSampledDpEvent(q, GaussianDpEvent(σ)), T)`` (plain
  ``GaussianDpEvent`` at q = 1), an independent implementation used to cross-check Opacus.

Training records into the accountant through Opacus' optimizer step hook
(:meth:`PartyAccountant.attach`), so only optimizer steps that really added noise are counted.

References: paper 001 (chapter 2) §4.3 "DP configuration" (RDP accountant, δ = 1e-5,
composition over 1000 local epochs × 5 rounds); paper 002 (chapter 3) eqs. 5-7; Abadi et al.
2016, "Deep learning with differential privacy", Alg. 1 and the moments accountant.
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``), used again in chapters 1 and 3.

Examples
--------
>>> acc = PartyAccountant(party="bank-2")
>>> for _round in range(2):
...     acc.record(noise_multiplier=1.1, sample_rate=256 / 60000, steps=7031)
>>> acc.steps
14062
>>> round(acc.epsilon(delta=1e-5), 2)
2.6
>>> round(epsilon_for(noise_multiplier=1.0, sample_rate=1.0, steps=1, delta=1e-5), 3)
4.729
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

__all__ = [
    "RDP_ORDERS",
    "CrossCheck",
    "PartyAccountant",
    "PrivacyArgumentError",
    "Segment",
    "epsilon_for",
    "epsilon_for_segments",
]

Method = Literal["rdp", "prv", "dp_accounting"]
METHODS: tuple[str, ...] = ("rdp", "prv", "dp_accounting")

# Opacus' default orders (1.1 ... 63) miss the optimum when ε is in the hundreds (the optimal
# order tends to 1) or below ~0.5 (the optimal order exceeds 63); the paper audit needs both.
RDP_ORDERS: tuple[float, ...] = tuple(
    [float(a) for a in 1.0 + np.geomspace(1e-4, 0.08, 10)]
    + [1 + x / 10.0 for x in range(1, 100)]
    + [float(a) for a in range(11, 64)]
    + [float(a) for a in (80, 96, 128, 160, 192, 256, 384, 512, 768, 1024)]
)


class PrivacyArgumentError(ValueError):
    """A privacy parameter is out of range; the message names the argument and the value."""


def _check_noise_multiplier(value: Any, *, allow_zero: bool = False) -> float:
    v = _as_float("noise_multiplier", value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        allowed = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise PrivacyArgumentError(f"noise_multiplier must be {allowed}, got {value!r}")
    return v


def _check_sample_rate(value: Any) -> float:
    v = _as_float("sample_rate", value)
    if not 0 < v <= 1:
        raise PrivacyArgumentError(f"sample_rate must be in (0, 1], got {value!r}")
    return v


def _check_steps(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise PrivacyArgumentError(f"steps must be an integer >= 1, got {value!r}")
    return int(value)


def _check_delta(value: Any) -> float:
    v = _as_float("delta", value)
    if not 0 < v < 1:
        raise PrivacyArgumentError(f"delta must be in (0, 1), got {value!r}")
    return v


def _check_method(value: Any) -> str:
    if value not in METHODS:
        raise PrivacyArgumentError(f"method must be one of {METHODS}, got {value!r}")
    return value


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise PrivacyArgumentError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise PrivacyArgumentError(f"{name} must be a number, got {value!r}") from None


@dataclass(frozen=True)
class Segment:
    """``steps`` consecutive DP-SGD steps with the same noise multiplier and sample rate."""

    noise_multiplier: float
    sample_rate: float
    steps: int

    def as_tuple(self) -> tuple[float, float, int]:
        """Opacus' history format ``(noise_multiplier, sample_rate, steps)``."""
        return (self.noise_multiplier, self.sample_rate, self.steps)


@dataclass(frozen=True)
class CrossCheck:
    """ε of one history from three accountants, at one δ.

    Expect PRV ≤ RDP (PRV is tight, RDP an upper bound) and RDP ≈ dp_accounting. Where
    ``dp_accounting``'s fractional-order series stops after 1000 terms (large q such as 0.2,
    orders near 1) it drops those orders and logs a warning; its ε is then larger than
    Opacus', whose series runs to convergence (checked against quadrature in the tests).
    """

    delta: float
    rdp: float
    prv: float
    dp_accounting: float

    @property
    def rdp_vs_dp_accounting(self) -> float:
        """Relative difference |rdp − dp_accounting| / dp_accounting."""
        if self.dp_accounting == 0 or not math.isfinite(self.dp_accounting):
            return 0.0 if self.rdp == self.dp_accounting else math.inf
        return abs(self.rdp - self.dp_accounting) / self.dp_accounting


@lru_cache(maxsize=4096)
def _rdp_per_step(noise_multiplier: float, sample_rate: float) -> np.ndarray:
    # RDP composes additively and is linear in the number of steps, so one step's curve per
    # (σ, q) is all a history needs; caching it makes step searches and long histories cheap.
    from opacus.accountants.analysis import rdp as rdp_analysis

    curve = rdp_analysis.compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier,
                                     steps=1, orders=list(RDP_ORDERS))
    curve = np.asarray(curve, dtype=np.float64)
    curve.setflags(write=False)
    return curve


def _rdp_epsilon(segments: Sequence[Segment], delta: float) -> float:
    from opacus.accountants.analysis import rdp as rdp_analysis

    if any(s.noise_multiplier == 0 for s in segments):
        return math.inf
    total = sum(s.steps * _rdp_per_step(s.noise_multiplier, s.sample_rate) for s in segments)
    with warnings.catch_warnings():
        # Opacus warns when the optimum sits at the edge of the grid; our grid is already wide.
        warnings.filterwarnings("ignore", message="Optimal order is the")
        eps, _ = rdp_analysis.get_privacy_spent(orders=list(RDP_ORDERS), rdp=total, delta=delta)
    return float(eps)


def _prv_epsilon(segments: Sequence[Segment], delta: float) -> float:
    if any(s.noise_multiplier == 0 for s in segments):
        return math.inf
    if all(s.sample_rate == 1.0 for s in segments):
        from dp_accounting import gaussian_mechanism

        # T Gaussians with multipliers σ_i compose exactly to one Gaussian with
        # 1/σ² = Σ T_i/σ_i², so the analytic Gaussian ε is the exact (tight) answer.
        sigma = 1.0 / math.sqrt(sum(s.steps / s.noise_multiplier**2 for s in segments))
        return float(gaussian_mechanism.get_epsilon_gaussian(sigma, delta))
    rdp_eps = _rdp_epsilon(segments, delta)
    if any(s.sample_rate == 1.0 for s in segments):
        warnings.warn("PRV cannot mix full-batch and sampled steps (Opacus' PRV needs q < 1); "
                      "returning the RDP bound", RuntimeWarning, stacklevel=3)
        return rdp_eps
    from opacus.accountants import PRVAccountant

    acc = PRVAccountant()
    acc.history = [s.as_tuple() for s in segments]
    # The discretisation mesh scales with eps_error; at ε in the hundreds a 0.01 mesh costs
    # minutes for nothing, so the tolerance follows the size of the answer.
    eps_error = max(0.01, 1e-3 * rdp_eps) if math.isfinite(rdp_eps) else 1.0
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            eps = float(acc.get_epsilon(delta, eps_error=eps_error))
        except (ValueError, OverflowError, FloatingPointError):
            eps = math.inf
    if not math.isfinite(eps):
        warnings.warn(f"PRV accountant could not discretise this history (ε ≈ {rdp_eps:.4g} by "
                      "RDP); returning the RDP bound", RuntimeWarning, stacklevel=3)
        return rdp_eps
    return min(eps, rdp_eps)


def _dp_accounting_epsilon(segments: Sequence[Segment], delta: float) -> float:
    import dp_accounting
    from dp_accounting.rdp import RdpAccountant

    if any(s.noise_multiplier == 0 for s in segments):
        return math.inf
    # dp_accounting logs one absl warning per order it drops (see CrossCheck); the drop is
    # documented there, so keep chapter output readable.
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        acc = RdpAccountant(orders=list(RDP_ORDERS))
        for s in segments:
            event = dp_accounting.GaussianDpEvent(s.noise_multiplier)
            if s.sample_rate < 1.0:
                event = dp_accounting.PoissonSampledDpEvent(s.sample_rate, event)
            acc.compose(dp_accounting.SelfComposedDpEvent(event, s.steps))
        return float(acc.get_epsilon(delta))
    finally:
        absl_logger.setLevel(level)


_EPSILON = {"rdp": _rdp_epsilon, "prv": _prv_epsilon, "dp_accounting": _dp_accounting_epsilon}


def epsilon_for_segments(segments: Iterable[Segment], *, delta: float,
                         method: Method = "rdp") -> float:
    """ε after composing ``segments`` at ``delta`` (0 for an empty history).

    Examples
    --------
    >>> segs = [Segment(1.0, 0.01, 100), Segment(2.0, 0.01, 100)]
    >>> round(epsilon_for_segments(segs, delta=1e-5), 3)
    1.227
    """
    delta = _check_delta(delta)
    method = _check_method(method)
    segments = list(segments)
    if not segments:
        return 0.0
    return _EPSILON[method](segments, delta)


def epsilon_for(*, noise_multiplier: float, sample_rate: float, steps: int, delta: float,
                method: Method = "rdp") -> float:
    """ε of ``steps`` DP-SGD steps with multiplier σ and Poisson sample rate q, at ``delta``.

    ``sample_rate=1`` is full-batch training: plain composition of Gaussian mechanisms, whose
    RDP at order α is ``steps · α / (2σ²)``.

    Examples
    --------
    >>> round(epsilon_for(noise_multiplier=1.1, sample_rate=256 / 60000, steps=14062,
    ...                   delta=1e-5), 2)
    2.6
    """
    seg = Segment(_check_noise_multiplier(noise_multiplier), _check_sample_rate(sample_rate),
                  _check_steps(steps))
    return epsilon_for_segments([seg], delta=delta, method=method)


class PartyAccountant:
    """The privacy ledger of one party, kept across all federated rounds (never reset).

    Parameters
    ----------
    party
        Name of the party, for display only.

    Notes
    -----
    A step with ``noise_multiplier=0`` may be recorded (non-private training through the same
    code path); it makes ε infinite, which is the truth.

    Examples
    --------
    >>> acc = PartyAccountant(party="a")
    >>> acc.record(noise_multiplier=1.2, sample_rate=1.0, steps=10)
    >>> acc.record(noise_multiplier=1.2, sample_rate=1.0, steps=10)
    >>> acc.segments
    (Segment(noise_multiplier=1.2, sample_rate=1.0, steps=20),)
    >>> round(acc.epsilon(delta=1e-5), 2)
    23.61
    """

    def __init__(self, party: str = "") -> None:
        self.party = party
        self._segments: list[Segment] = []

    def __repr__(self) -> str:
        return f"PartyAccountant(party={self.party!r}, steps={self.steps}, segments={len(self._segments)})"

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The composed history, consecutive identical settings merged."""
        return tuple(self._segments)

    @property
    def history(self) -> list[tuple[float, float, int]]:
        """The history in Opacus' format, ready to assign to an Opacus accountant."""
        return [s.as_tuple() for s in self._segments]

    @property
    def steps(self) -> int:
        """Total number of recorded DP-SGD steps."""
        return sum(s.steps for s in self._segments)

    def record(self, *, noise_multiplier: float, sample_rate: float, steps: int) -> None:
        """Add ``steps`` steps with multiplier ``noise_multiplier`` and rate ``sample_rate``."""
        sigma = _check_noise_multiplier(noise_multiplier, allow_zero=True)
        q = _check_sample_rate(sample_rate)
        n = _check_steps(steps)
        last = self._segments[-1] if self._segments else None
        if last is not None and last.noise_multiplier == sigma and last.sample_rate == q:
            self._segments[-1] = Segment(sigma, q, last.steps + n)
        else:
            self._segments.append(Segment(sigma, q, n))

    def epsilon(self, *, delta: float, method: Method = "rdp") -> float:
        """ε spent so far at ``delta`` (``method``: ``"rdp"``, ``"prv"`` or ``"dp_accounting"``)."""
        return epsilon_for_segments(self._segments, delta=delta, method=method)

    def cross_check(self, *, delta: float) -> CrossCheck:
        """ε by Opacus RDP, Opacus PRV and Google ``dp_accounting`` RDP, side by side.

        Examples
        --------
        >>> acc = PartyAccountant()
        >>> acc.record(noise_multiplier=1.0, sample_rate=0.02, steps=500)
        >>> cc = acc.cross_check(delta=1e-5)
        >>> cc.prv <= cc.rdp and cc.rdp_vs_dp_accounting < 0.05
        True
        """
        delta = _check_delta(delta)
        return CrossCheck(delta=delta,
                          rdp=self.epsilon(delta=delta, method="rdp"),
                          prv=self.epsilon(delta=delta, method="prv"),
                          dp_accounting=self.epsilon(delta=delta, method="dp_accounting"))

    def attach(self, optimizer: Any, *, sample_rate: float) -> None:
        """Record one step into this accountant each time Opacus' ``DPOptimizer`` steps.

        The hook runs after clipping and noising and only for steps that are not skipped,
        so it counts exactly the noisy updates applied; σ is read from the optimizer.
        """
        q = _check_sample_rate(sample_rate)
        if not hasattr(optimizer, "attach_step_hook"):
            raise PrivacyArgumentError(
                f"optimizer must be an opacus DPOptimizer, got {type(optimizer).__name__}")

        def hook(opt: Any) -> None:
            self.record(noise_multiplier=opt.noise_multiplier, sample_rate=q, steps=1)

        optimizer.attach_step_hook(hook)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for ``results.json``."""
        return {"party": self.party, "segments": [
            {"noise_multiplier": s.noise_multiplier, "sample_rate": s.sample_rate,
             "steps": s.steps} for s in self._segments]}
