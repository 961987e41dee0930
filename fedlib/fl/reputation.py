"""The reputation ledger of screened aggregation: R-, Q- and final scores per party.

Paper 003 §3.4: an aiding node checks every bank's local update on its own validation rows;
the central server keeps, per bank, a subjective-logic **reputation** (R-score) and a
**quality** (Q-score), both with freshness decay, and aggregates only updates whose final
score ``C = (1 − δ) T + δ Q`` (eq. 24) reaches a threshold
(:class:`fedlib.fl.strategies.ReputationScreen` applies it in the round loop;
:func:`fedlib.fl.screening.run_screened_fedavg` runs it with misbehaving banks).

* Interaction events: an update is *positive* when its validation accuracy is at least the
  current global model's minus ``tolerance`` (it does not make things worse), else
  *negative*. (The paper's wording, "positive if the accuracy falls under the threshold", is
  inverted; we take the reading that makes the mechanism work.)
* Opinion (eqs. 16, 18, 19): with freshness weights ``w_y = F^(Y − y)`` over the last
  ``window`` time slots, ``u`` = weighted mean of ``1 − p_y`` (``p_y`` = probability the
  update arrived: ``p_success`` if delivered, 0 if not), ``b = (1 − u) Σ w μ α / Σ w (μ α +
  θ β)`` and ``d = (1 − u) Σ w θ β / Σ w (μ α + θ β)``, ``α_y, β_y`` the slot's positive /
  negative events, ``μ > θ``, ``μ + θ = 1``. Eq. 19 as printed multiplies by the quality
  inside the sums and is not a valid opinion (``b + d + u ≠ 1``); we use the standard
  weighted form of Kang et al. 2019, which the paper cites.
* R-score (eqs. 17, 20): ``T = b + γ u``. Q-score (eqs. 21–23): freshness-weighted mean
  of the validation accuracies. Final score: eq. 24.

References: paper 003 (Xu et al.), §3.4 eqs. 16–24, Fig. 4; Kang et al. 2019, "Incentive
mechanism for reliable federated learning" (subjective-logic reputation). Introduced in
chapter 4 (``chapters/04_vertical_secureboost_xmp.py``).

Examples
--------
>>> led = ReputationLedger(ReputationParams(), ["a", "b"])
>>> for _ in range(3):
...     led.record("a", positive=True, quality=0.8); led.record("b", positive=False, quality=0.3)
>>> led.score("a") > 0.8 > 0.3 > led.score("b")
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ReputationLedger", "ReputationParams"]


@dataclass(frozen=True)
class ReputationParams:
    """Weights of eqs. 16–24 and the screening rule (checked on creation)."""

    mu: float = 0.7            # weight of positive interactions (μ > θ, μ + θ = 1)
    gamma_u: float = 0.5       # weight of uncertainty in T = b + γ u (eq. 17)
    freshness: float = 0.8     # F in (0, 1): weight F^(Y−y) of slot y (eq. 19)
    delta: float = 0.5         # weight of the Q-score in C (eq. 24)
    threshold: float = 0.6     # C needed to enter aggregation
    tolerance: float = 0.02    # positive if val. accuracy >= global's − tolerance
    p_success: float = 0.95    # probability an update arrives (u = 1 − p)
    window: int = 10           # time slots remembered

    @property
    def theta(self) -> float:
        """Weight θ = 1 − μ of negative interactions."""
        return 1.0 - self.mu

    def __post_init__(self):
        checks = {"mu": 0.5 < self.mu < 1, "gamma_u": 0 <= self.gamma_u <= 1,
                  "freshness": 0 < self.freshness < 1, "delta": 0 <= self.delta <= 1,
                  "threshold": 0 <= self.threshold <= 1, "tolerance": self.tolerance >= 0,
                  "p_success": 0 < self.p_success <= 1, "window": self.window >= 1}
        rule = {"mu": "in (0.5, 1) so that mu > theta = 1 - mu", "gamma_u": "in [0, 1]",
                "freshness": "in (0, 1)", "delta": "in [0, 1]", "threshold": "in [0, 1]",
                "tolerance": ">= 0", "p_success": "in (0, 1]", "window": ">= 1"}
        for k, ok in checks.items():
            if not ok:
                raise ValueError(f"{k}={getattr(self, k)!r} is not allowed: must be {rule[k]}")


class ReputationLedger:
    """Per-party interaction history and the R-, Q- and final scores (eqs. 16–24)."""

    def __init__(self, params: ReputationParams, parties: Sequence[str]):
        self.params = params
        self.history: dict[str, list[tuple[float, float, float, float]]] = {
            p: [] for p in parties}

    def record(self, party: str, *, positive: bool, quality: float,
               delivered: bool = True) -> None:
        """Add one time slot: the event, the validation accuracy, whether it arrived.

        Parameters
        ----------
        party
            One of the ledger's parties.
        positive
            Whether the interaction was positive (in screening: the update's validation
            accuracy is at least the global model's minus the tolerance).
        quality
            The update's validation accuracy (the Q-score of eq. 24).
        delivered
            Whether the update arrived; an undelivered slot counts as uncertainty only.
        """
        if party not in self.history:
            raise KeyError(f"unknown party {party!r}; known: {sorted(self.history)}")
        u = 1.0 - (self.params.p_success if delivered else 0.0)
        a, b = (float(positive), float(not positive)) if delivered else (0.0, 0.0)
        self.history[party].append((a, b, u, float(quality)))
        del self.history[party][: -self.params.window]

    def _weights(self, party: str) -> np.ndarray:
        n = len(self.history[party])
        return self.params.freshness ** np.arange(n - 1, -1, -1, dtype=float)

    def opinion(self, party: str) -> tuple[float, float, float]:
        """``(b, d, u)`` of eq. 19 (``(0, 0, 1)`` before any interaction)."""
        h = np.array(self.history[party], dtype=float).reshape(-1, 4)
        if len(h) == 0:
            return 0.0, 0.0, 1.0
        w, mu, th = self._weights(party), self.params.mu, self.params.theta
        u = float(np.sum(w * h[:, 2]) / w.sum())
        den = float(np.sum(w * (mu * h[:, 0] + th * h[:, 1])))
        if den == 0:
            return 0.0, 0.0, 1.0
        b = (1 - u) * float(np.sum(w * mu * h[:, 0])) / den
        return b, (1 - u) - b, u

    def reputation(self, party: str) -> float:
        """R-score ``T = b + γ u`` (eqs. 17, 20)."""
        b, _, u = self.opinion(party)
        return b + self.params.gamma_u * u

    def quality(self, party: str) -> float:
        """Q-score: freshness-weighted mean validation accuracy (eqs. 21–23); 0 if none."""
        h = np.array(self.history[party], dtype=float).reshape(-1, 4)
        if len(h) == 0:
            return 0.0
        w = self._weights(party)
        return float(np.sum(w * h[:, 3]) / w.sum())

    def score(self, party: str) -> float:
        """Final score ``C = (1 − δ) T + δ Q`` (eq. 24)."""
        d = self.params.delta
        return (1 - d) * self.reputation(party) + d * self.quality(party)
