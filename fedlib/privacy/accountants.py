"""Per-party privacy accountants for DP-SGD: Opacus RDP and PRV, Google RDP and PLD.

A party that runs DP-SGD in several federated rounds composes *all* of its noisy steps: the
privacy loss of round 5 adds to rounds 1-4. :class:`PartyAccountant` is created once per party
and lives as long as the party; it records compositions as ``(noise_multiplier, sample_rate,
steps)`` segments (Opacus' own history format) and converts them to (ε, δ) on demand with one
of four accountants, all for the Poisson-subsampled Gaussian mechanism under the
**add/remove-one** neighbouring relation (Opacus' analysis, Mironov, Talwar & Zhang 2019, is
add/remove; the two ``dp_accounting`` accountants are built with ``ADD_OR_REMOVE_ONE``):

* ``method="rdp"``: Rényi DP (Mironov 2017) with Opacus' ``compute_rdp`` and its RDP→(ε, δ)
  conversion (Balle et al. 2020, Thm 21), over :data:`RDP_ORDERS`, a wider grid of orders than
  Opacus' default so that both very large ε (orders close to 1) and very small ε (orders up to
  1024) are converted tightly;
* ``method="prv"``: Opacus' PRV accountant (numerical composition of privacy-loss random
  variables, Gopi et al. 2021);
* ``method="dp_accounting"``: Google's ``dp_accounting`` RDP accountant on the same orders, an
  independent implementation. At fractional orders its series sums the *absolute values* of
  the binomial coefficients C(α, i) (``_log_comb`` is a difference of ``gammaln``, which drops
  the sign) and stops after 1000 terms, dropping the order when it has not converged; both
  make it larger than Opacus (still a valid upper bound). At integer orders the two agree to
  1e-12 (see :mod:`fedlib.privacy.audit`, which measures the effect);
* ``method="pld"``: Google's ``dp_accounting`` privacy-loss-distribution accountant
  (Koskela et al. 2020; Doroshenko et al. 2022, connect-the-dots, pessimistic), the tightest
  of the four; the discretisation interval follows the size of ε (:data:`PLD_RELATIVE_INTERVAL`).

An accountant that cannot compute ε for a history (Opacus' PRV cannot discretise a loss of
hundreds of nats; a series that does not converge) does **not** borrow another accountant's
number: :func:`run_accountant` returns an :class:`AccountantResult` that carries either the
value or the reason of the failure, and :func:`epsilon_for` raises :class:`AccountantFailure`.

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
>>> r = run_accountant([Segment(0.5, 0.2, 25000)], delta=1e-5, method="prv")
>>> r.ok, r.failure.startswith("Opacus PRV could not discretise")
(False, True)
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "METHODS",
    "PLD_RELATIVE_INTERVAL",
    "RDP_ORDERS",
    "AccountantFailure",
    "AccountantResult",
    "CrossCheck",
    "PartyAccountant",
    "PrivacyArgumentError",
    "Segment",
    "epsilon_for",
    "epsilon_for_segments",
    "run_accountant",
]

Method = Literal["rdp", "prv", "dp_accounting", "pld"]
METHODS: tuple[str, ...] = ("rdp", "prv", "dp_accounting", "pld")

#: Human-readable name of each method, for tables.
METHOD_NAMES: dict[str, str] = {"rdp": "Opacus RDP", "prv": "Opacus PRV",
                                "dp_accounting": "dp_accounting RDP",
                                "pld": "dp_accounting PLD"}

# Opacus' default orders (1.1 ... 63) miss the optimum when ε is in the hundreds (the optimal
# order tends to 1) or below ~0.5 (the optimal order exceeds 63); the paper audit needs both.
RDP_ORDERS: tuple[float, ...] = tuple(
    [float(a) for a in 1.0 + np.geomspace(1e-4, 0.08, 10)]
    + [1 + x / 10.0 for x in range(1, 100)]
    + [float(a) for a in range(11, 64)]
    + [float(a) for a in (80, 96, 128, 160, 192, 256, 384, 512, 768, 1024)]
)

#: PLD discretisation interval as a fraction of ε (RDP's value, an upper bound), floored at
#: 1e-4 (dp_accounting's default). The PLD's support grows with ε, so a fixed 1e-4 costs
#: minutes at ε in the thousands. Measured at q = 0.2, T = 25,000 (σ = 0.5 / 1.0 / 1.5): at
#: 2e-6·ε, ε is within 0.01 % of its value at 1e-3 absolute, in < 1 s each. A full-batch
#: (Gaussian-only) history uses :data:`PLD_RELATIVE_INTERVAL_GAUSSIAN`: there the interval
#: does not change ε beyond 1e-2 (1,987.42 at σ = 1.2, T = 5000 for 1e-2 ... 1e-4) but a fine
#: one costs 20 s or more.
PLD_RELATIVE_INTERVAL = 2e-6
PLD_RELATIVE_INTERVAL_GAUSSIAN = 1e-5


class PrivacyArgumentError(ValueError):
    """A privacy parameter is out of range; the message names the argument and the value."""


class AccountantFailure(RuntimeError):
    """An accountant could not compute ε for a history; the message says which and why."""


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
class AccountantResult:
    """What one accountant said about one history at one δ: ε, or why it has none.

    Exactly one of ``epsilon`` and ``failure`` is set. ``note`` records what the accountant
    did that a reader should know (orders it dropped, the discretisation it used).

    Examples
    --------
    >>> AccountantResult("prv", 1e-5, None, "mesh too coarse").cell()
    'failed: mesh too coarse'
    >>> AccountantResult("rdp", 1e-5, 12.345678).cell(), float(AccountantResult("rdp", 1e-5, 2.0))
    ('12.35', 2.0)
    """

    method: str
    delta: float
    epsilon: float | None
    failure: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if (self.epsilon is None) == (self.failure is None):
            raise ValueError("give exactly one of epsilon and failure, got "
                             f"epsilon={self.epsilon!r}, failure={self.failure!r}")

    @property
    def ok(self) -> bool:
        """True when the accountant produced an ε."""
        return self.failure is None

    @property
    def name(self) -> str:
        """The accountant's display name (e.g. ``"Opacus PRV"``)."""
        return METHOD_NAMES[self.method]

    def __float__(self) -> float:
        if self.epsilon is None:
            raise AccountantFailure(f"{self.name} failed: {self.failure}")
        return float(self.epsilon)

    def cell(self, digits: int = 4) -> str:
        """The value for a table cell: ε to ``digits`` significant digits, or the failure."""
        return f"{self.epsilon:.{digits}g}" if self.ok else f"failed: {self.failure}"


@dataclass(frozen=True)
class CrossCheck:
    """The results of all four accountants on one history, at one δ.

    Expect PLD ≤ PRV ≈ PLD (both numerical and tight, up to their discretisation) ≤ RDP
    (an upper bound) ≤ dp_accounting RDP (same orders and conversion; larger at fractional
    orders, see the module docstring). A failed accountant is a failed result, never a copy.
    """

    delta: float
    rdp: AccountantResult
    prv: AccountantResult
    dp_accounting: AccountantResult
    pld: AccountantResult

    @property
    def rdp_vs_dp_accounting(self) -> float:
        """Relative difference |rdp − dp_accounting| / dp_accounting (NaN if either failed)."""
        if not (self.rdp.ok and self.dp_accounting.ok):
            return math.nan
        a, b = self.rdp.epsilon, self.dp_accounting.epsilon
        if b == 0 or not math.isfinite(b):
            return 0.0 if a == b else math.inf
        return abs(a - b) / b


@contextlib.contextmanager
def _quiet_absl() -> Iterator[None]:
    """Silence dp_accounting's absl warnings (one per dropped RDP order); results carry them."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class _LazyCurves:
    """One step's RDP per ``(σ, q)``, filled order by order as ε needs them (an LRU store).

    Opacus' ``compute_rdp`` evaluates each order on its own (a series per fractional order,
    up to ~0.6 s a curve at q = 0.5), so the value at an order does not depend on which other
    orders are asked for: a curve filled piecewise holds exactly the numbers of one full call.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self.store: OrderedDict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = \
            OrderedDict()

    def values(self, noise_multiplier: float, sample_rate: float, wanted: np.ndarray
               ) -> np.ndarray:
        """The curve with every order in the boolean mask ``wanted`` filled.

        Orders not yet computed are +inf. A read-only view, valid until the next call.
        """
        from opacus.accountants.analysis import rdp as rdp_analysis

        key = (noise_multiplier, sample_rate)
        entry = self.store.get(key)
        if entry is None:
            entry = (np.full(len(RDP_ORDERS), np.inf), np.zeros(len(RDP_ORDERS), dtype=bool))
            self.store[key] = entry
            while len(self.store) > self.maxsize:
                self.store.popitem(last=False)
        else:
            self.store.move_to_end(key)
        curve, known = entry
        todo = np.flatnonzero(wanted & ~known)
        if todo.size:
            curve[todo] = rdp_analysis.compute_rdp(
                q=sample_rate, noise_multiplier=noise_multiplier, steps=1,
                orders=[RDP_ORDERS[i] for i in todo])
            known[todo] = True
        view = curve.view()
        view.setflags(write=False)
        return view


_CURVES = _LazyCurves()
_ORDERS = np.asarray(RDP_ORDERS)
_ALL_ORDERS = np.ones(len(RDP_ORDERS), dtype=bool)
#: Orders every ε evaluates first: the integer ones up to 64 (Opacus' closed-form sums, a few
#: ms in all), near the optimum for the ε of the book's settings (0.5 to ~20).
_FIRST_ORDERS = (_ORDERS == np.round(_ORDERS)) & (_ORDERS <= 64)
#: Skip an order only if its lower bound exceeds the best ε by this relative margin (rounding
#: of the series, far below it, can never reverse the comparison).
_PRUNE_MARGIN = 1e-9
#: Whether :func:`_rdp` skips the orders that cannot attain the minimum (tests switch it off to
#: check that the answer is the same).
_PRUNE = True


def _rdp_per_step(noise_multiplier: float, sample_rate: float) -> np.ndarray:
    """One step's RDP at every order of :data:`RDP_ORDERS` (read-only, cached per (σ, q)).

    RDP composes additively and is linear in the number of steps, so one step's curve per
    (σ, q) is all a history needs; caching it makes step searches and long histories cheap.
    """
    return _CURVES.values(noise_multiplier, sample_rate, _ALL_ORDERS).copy()


def _rdp_curve(segments: Sequence[Segment]) -> np.ndarray:
    """Opacus' RDP of the whole history at :data:`RDP_ORDERS`."""
    return sum(s.steps * _rdp_per_step(s.noise_multiplier, s.sample_rate) for s in segments)


def _conversion_floor(delta: float) -> np.ndarray:
    """Opacus' RDP→(ε, δ) conversion at RDP 0, per order: ε of an order is never below it."""
    return (0.0 - (np.log(delta) + np.log(_ORDERS)) / (_ORDERS - 1)
            + np.log((_ORDERS - 1) / _ORDERS))


def _rdp(segments: Sequence[Segment], delta: float) -> tuple[float, str]:
    """Opacus' RDP ε of the history, computing only the orders that can attain the minimum.

    ε = min over orders of ``RDP(α) + c(α)`` (Opacus' ``get_privacy_spent``, Balle et al.
    2020). The integer orders up to 64 are computed first; another order is computed only
    if a lower bound of its ε — ``c(α)`` plus the history's RDP at the largest computed order
    below it (Rényi divergence does not decrease with the order), or plus 0 — is not above
    the best ε so far; the skipped orders enter the conversion as +inf. The minimum, its
    order and so every σ calibrated on it are exactly those of the full curve (the
    conversion is elementwise and rounding is monotone; tests/test_accountants.py compares
    the two); a calibration visits many σ, and most fractional orders (the costly series)
    are far from the optimum.
    """
    from opacus.accountants.analysis import rdp as rdp_analysis

    def total(wanted: np.ndarray) -> np.ndarray:
        return sum(s.steps * _CURVES.values(s.noise_multiplier, s.sample_rate, wanted)
                   for s in segments)

    if _PRUNE:
        floor = _conversion_floor(delta)
        done = _FIRST_ORDERS.copy()
        while True:
            rdp = total(done)
            eps = rdp + floor
            best = np.nanmin(eps) if not np.isnan(eps).all() else np.nan
            if not np.isfinite(best):
                done = _ALL_ORDERS
                break
            # lower bound of the history's RDP at each order: at the largest computed order
            # below it (0 below all of them), shrunk by the margin
            known = np.where(done, rdp, np.nan)
            below = np.fmax.accumulate(np.where(np.isnan(known), -np.inf, known))
            lower = np.maximum(below, 0.0) * (1.0 - _PRUNE_MARGIN)
            need = ~done & (lower + floor <= best + _PRUNE_MARGIN * (1.0 + abs(best)))
            if not need.any():
                break
            done = done | need
    else:
        done = _ALL_ORDERS
    with warnings.catch_warnings():
        # Opacus warns when the optimum sits at the edge of the grid; our grid is already wide.
        warnings.filterwarnings("ignore", message="Optimal order is the")
        eps, order = rdp_analysis.get_privacy_spent(orders=list(RDP_ORDERS),
                                                    rdp=total(done), delta=delta)
    return float(eps), f"optimal order {float(order):.4g}"


def _prv(segments: Sequence[Segment], delta: float) -> tuple[float, str]:
    from opacus.accountants import PRVAccountant

    rdp_eps, _ = _rdp(segments, delta)
    acc = PRVAccountant()
    acc.history = [s.as_tuple() for s in segments]
    # The discretisation mesh scales with eps_error; at ε in the hundreds a 0.01 mesh costs
    # minutes for nothing, so the tolerance follows the size of the answer (RDP's ε is used
    # only to size the mesh, never as PRV's value).
    eps_error = max(0.01, 1e-3 * rdp_eps) if math.isfinite(rdp_eps) else 1.0
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # Opacus' PRV warns about its own mesh and log(1 − q) at q = 1; the outcome is judged
        # below from the value it returns.
        warnings.simplefilter("ignore")
        try:
            eps = float(acc.get_epsilon(delta, eps_error=eps_error))
        except (ValueError, OverflowError, FloatingPointError, IndexError) as exc:
            raise AccountantFailure(f"Opacus PRV raised {type(exc).__name__}: {exc}") from None
    if not math.isfinite(eps):
        raise AccountantFailure(
            f"Opacus PRV could not discretise the privacy-loss distribution (it returned "
            f"ε = {eps}; its mesh cannot span a loss of this size, ε ≈ {rdp_eps:.4g} by RDP)")
    return eps, f"eps_error = {eps_error:.3g} (ε is PRV's upper estimate)"


def _dp_accounting(segments: Sequence[Segment], delta: float) -> tuple[float, str]:
    import dp_accounting
    from dp_accounting.rdp import RdpAccountant

    with _quiet_absl():
        acc = RdpAccountant(orders=list(RDP_ORDERS),
                            neighboring_relation=dp_accounting.NeighboringRelation
                            .ADD_OR_REMOVE_ONE)
        for s in segments:
            event = dp_accounting.GaussianDpEvent(s.noise_multiplier)
            if s.sample_rate < 1.0:
                event = dp_accounting.PoissonSampledDpEvent(s.sample_rate, event)
            acc.compose(dp_accounting.SelfComposedDpEvent(event, s.steps))
        eps, order = acc.get_epsilon_and_optimal_order(delta)
    dropped = int(np.sum(~np.isfinite(acc.rdp)))
    if not math.isfinite(eps):
        raise AccountantFailure(
            f"dp_accounting RDP is infinite at all {len(RDP_ORDERS)} orders ({dropped} had "
            "fractional-order series that did not converge in 1000 terms)")
    note = f"optimal order {float(order):.4g}"
    if dropped:
        note += (f"; dropped {dropped} of {len(RDP_ORDERS)} orders whose fractional-order "
                 "series did not converge in 1000 terms")
    return float(eps), note


def _pld(segments: Sequence[Segment], delta: float) -> tuple[float, str]:
    rdp_eps, _ = _rdp(segments, delta)
    interval = max(1e-4, _pld_relative_interval(segments) * rdp_eps)
    return pld_epsilon(segments, delta, interval=interval), f"discretisation interval {interval:.3g}"


def _pld_relative_interval(segments: Sequence[Segment]) -> float:
    if all(s.sample_rate == 1.0 for s in segments):
        return PLD_RELATIVE_INTERVAL_GAUSSIAN
    return PLD_RELATIVE_INTERVAL


def pld_epsilon(segments: Sequence[Segment], delta: float, *, interval: float,
                relation: str = "ADD_OR_REMOVE_ONE") -> float:
    """dp_accounting's PLD ε at a given discretisation ``interval`` and neighbouring ``relation``.

    ``relation`` is a ``dp_accounting.NeighboringRelation`` name; the audit varies both to
    measure their effect.
    """
    import dp_accounting
    from dp_accounting.pld import PLDAccountant

    acc = PLDAccountant(dp_accounting.NeighboringRelation[relation],
                        value_discretization_interval=interval)
    full = [s for s in segments if s.sample_rate == 1.0]
    if full:
        # T Gaussians with multipliers σ_i compose exactly to one Gaussian with
        # 1/σ² = Σ T_i/σ_i² (their privacy losses are Gaussian and add); one event instead of
        # T self-compositions keeps the PLD's support, and the cost, small.
        sigma = 1.0 / math.sqrt(sum(s.steps / s.noise_multiplier**2 for s in full))
        acc.compose(dp_accounting.GaussianDpEvent(sigma))
    for s in segments:
        if s.sample_rate < 1.0:
            acc.compose(dp_accounting.SelfComposedDpEvent(dp_accounting.PoissonSampledDpEvent(
                s.sample_rate, dp_accounting.GaussianDpEvent(s.noise_multiplier)), s.steps))
    try:
        eps = float(acc.get_epsilon(delta))
    except (ValueError, OverflowError, MemoryError) as exc:
        raise AccountantFailure(f"dp_accounting PLD raised {type(exc).__name__}: {exc}") from None
    if not math.isfinite(eps):
        raise AccountantFailure("dp_accounting PLD returned an infinite ε (the mass at "
                                "infinite privacy loss exceeds δ)")
    return eps


_ACCOUNTANTS = {"rdp": _rdp, "prv": _prv, "dp_accounting": _dp_accounting, "pld": _pld}


def run_accountant(segments: Iterable[Segment], *, delta: float,
                   method: Method = "rdp") -> AccountantResult:
    """Run one accountant on a history: its ε, or the reason it has none.

    An empty history has ε = 0; a history with a step of ``noise_multiplier=0`` (non-private
    training) has ε = ∞ for every accountant, which is the truth, not a failure.

    Raises
    ------
    PrivacyArgumentError
        If ``delta`` or ``method`` is out of range (bad input is an error, not a failure).

    Examples
    --------
    >>> run_accountant([Segment(2.0, 1.0, 100)], delta=1e-5, method="pld").cell()
    '33.1'
    """
    delta = _check_delta(delta)
    method = _check_method(method)
    segments = list(segments)
    if not segments:
        return AccountantResult(method, delta, 0.0, note="empty history")
    if any(s.noise_multiplier == 0 for s in segments):
        return AccountantResult(method, delta, math.inf, note="a step without noise")
    try:
        eps, note = _ACCOUNTANTS[method](segments, delta)
    except AccountantFailure as exc:
        return AccountantResult(method, delta, None, str(exc))
    return AccountantResult(method, delta, eps, note=note)


def epsilon_for_segments(segments: Iterable[Segment], *, delta: float,
                         method: Method = "rdp") -> float:
    """ε after composing ``segments`` at ``delta`` (0 for an empty history).

    Raises
    ------
    AccountantFailure
        If the accountant cannot compute ε for this history (see :func:`run_accountant`
        for the non-raising form).

    Examples
    --------
    >>> segs = [Segment(1.0, 0.01, 100), Segment(2.0, 0.01, 100)]
    >>> round(epsilon_for_segments(segs, delta=1e-5), 3)
    1.227
    """
    return float(run_accountant(segments, delta=delta, method=method))


def epsilon_for(*, noise_multiplier: float, sample_rate: float, steps: int, delta: float,
                method: Method = "rdp") -> float:
    """ε of ``steps`` DP-SGD steps with multiplier σ and Poisson sample rate q, at ``delta``.

    ``sample_rate=1`` is full-batch training: plain composition of Gaussian mechanisms, whose
    RDP at order α is ``steps · α / (2σ²)``.

    Raises
    ------
    AccountantFailure
        If the accountant cannot compute ε for this setting.

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
        """ε spent so far at ``delta`` by accountant ``method`` (one of :data:`METHODS`).

        Raises :class:`AccountantFailure` if that accountant cannot compute it.
        """
        return epsilon_for_segments(self._segments, delta=delta, method=method)

    def result(self, *, delta: float, method: Method = "rdp") -> AccountantResult:
        """Like :meth:`epsilon`, but a failure is returned as a result with its reason."""
        return run_accountant(self._segments, delta=delta, method=method)

    def cross_check(self, *, delta: float) -> CrossCheck:
        """All four accountants on this history, side by side.

        Examples
        --------
        >>> acc = PartyAccountant()
        >>> acc.record(noise_multiplier=1.0, sample_rate=0.02, steps=500)
        >>> cc = acc.cross_check(delta=1e-5)
        >>> cc.pld.epsilon <= cc.rdp.epsilon and cc.rdp_vs_dp_accounting < 0.05
        True
        """
        delta = _check_delta(delta)
        return CrossCheck(delta, *(self.result(delta=delta, method=m) for m in METHODS))

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
