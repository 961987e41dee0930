"""Reputation- and quality-screened aggregation: which local updates enter the global model.

Paper 003 §3.4: an aiding node checks every bank's local update on its own validation rows;
the central server keeps, per bank, a subjective-logic **reputation** (R-score) and a
**quality** (Q-score), both with freshness decay, and aggregates only updates whose final
score ``C = (1 − δ) T + δ Q`` (eq. 24) reaches a threshold.

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

:func:`run_screened_fedavg` runs horizontal FedAvg with logistic regression
(:mod:`fedlib.fl.models`, :func:`fedlib.privacy.dpsgd.train_local`) among several banks,
with or without screening, and with misbehaving banks (``noisy`` labels, ``label_flip``
poisoning, ``sign_flip`` model poisoning, ``free_rider``) to show what screening catches
and what it misses.

References: paper 003 (Xu et al.), §3.4 eqs. 16–24, Fig. 4; Kang et al. 2019, "Incentive
mechanism for reliable federated learning" (subjective-logic reputation); McMahan et al.
2017 (FedAvg). Introduced in chapter 4 (``chapters/04_vertical_secureboost_xmp.py``).

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fedlib.fl.models import LogisticRegression, get_flat_params, predict_proba, set_flat_params
from fedlib.privacy.dpsgd import train_local

__all__ = ["BEHAVIOURS", "ReputationLedger", "ReputationParams", "ScreenedRun",
           "rounds_to_target", "run_screened_fedavg"]

BEHAVIOURS = ("honest", "noisy", "label_flip", "sign_flip", "free_rider")


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
        """Add one time slot: the event, the validation accuracy, whether it arrived."""
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


@dataclass
class ScreenedRun:
    """Per-round test metrics (long format) and per-round, per-bank screening decisions.

    ``test_correct`` is a ``(rounds + 1, n_test)`` boolean array: whether the global model of
    each round (round 0 = the initial model) classifies each test row correctly at 0.5, so
    that accuracies and rounds-to-target can be bootstrapped over the test rows.
    """

    history: pd.DataFrame
    decisions: pd.DataFrame
    final_params: np.ndarray = field(repr=False)
    test_correct: np.ndarray | None = field(default=None, repr=False)


def _metrics(model, X, y) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    p = np.clip(predict_proba(model, X), 1e-7, 1 - 1e-7)
    return {"accuracy": float(((p >= 0.5) == y).mean()),
            "loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
            "auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")}


def _correct(model, X, y) -> np.ndarray:
    return (predict_proba(model, X) >= 0.5) == (np.asarray(y) >= 0.5)


def rounds_to_target(correct: np.ndarray, target: float) -> int:
    """First round whose test accuracy (mean of a ``test_correct`` row) reaches ``target``.

    Returns ``len(correct)`` (one past the last round) if no round does.

    >>> rounds_to_target(np.array([[0, 0], [1, 0], [1, 1]], bool), 0.5)
    1
    >>> rounds_to_target(np.array([[0, 0], [1, 0]], bool), 0.9)
    2
    """
    acc = np.asarray(correct).mean(axis=1)
    hit = np.flatnonzero(acc >= target)
    return int(hit[0]) if len(hit) else len(acc)


def run_screened_fedavg(parties: Sequence, X_val, y_val, X_test, y_test, *, rounds: int,
                        local_epochs: int, lr: float, batch_size: int | None, seed: int,
                        screening: ReputationParams | None,
                        behaviours: dict[str, str] | None = None, noise_rate: float = 0.3,
                        boost: float = 3.0) -> ScreenedRun:
    """FedAvg among banks, optionally aggregating only updates with ``C >= threshold``.

    Parameters
    ----------
    parties
        Objects with ``name``, ``X``, ``y`` (e.g. :class:`fedlib.fl.experiment.PartyData`).
    X_val, y_val
        The aiding node's verification rows (eq. 21's test set).
    X_test, y_test
        Held-out rows for the reported accuracy and loss per round.
    screening
        ``None`` for plain FedAvg (every update enters), else the screening parameters.
        Plain FedAvg still *computes* the scores so both runs can be compared.
    behaviours
        Party name → one of :data:`BEHAVIOURS` (default ``honest``). ``noisy`` flips a
        ``noise_rate`` share of its labels; ``label_flip`` flips all; ``sign_flip`` sends
        ``global − boost · (local − global)``; ``free_rider`` returns the global model plus
        tiny noise without training.
    """
    behaviours = dict(behaviours or {})
    bad = {k: v for k, v in behaviours.items() if v not in BEHAVIOURS}
    if bad:
        raise ValueError(f"unknown behaviour(s) {bad}; allowed: {BEHAVIOURS}")
    names = [p.name for p in parties]
    unknown = set(behaviours) - set(names)
    if unknown:
        raise ValueError(f"behaviours name unknown parties {sorted(unknown)}; parties: {names}")
    if rounds < 1 or local_epochs < 1:
        raise ValueError("rounds and local_epochs must be >= 1")
    rng = np.random.default_rng(seed)
    labels = {}
    for p in parties:
        y = np.asarray(p.y, dtype=np.float32).copy()
        kind = behaviours.get(p.name, "honest")
        if kind == "noisy":
            flip = rng.random(len(y)) < noise_rate
            y[flip] = 1 - y[flip]
        elif kind == "label_flip":
            y = 1 - y
        labels[p.name] = y
    n_features = parties[0].X.shape[1]
    y_val, y_test = np.asarray(y_val, float), np.asarray(y_test, float)
    model = LogisticRegression(n_features, seed=seed)
    glob = get_flat_params(model)
    ledger = ReputationLedger(screening or ReputationParams(), names)
    hist, dec, correct = [], [], []
    set_flat_params(model, glob)
    for metric, value in _metrics(model, X_test, y_test).items():
        hist.append({"round": 0, "metric": metric, "value": value})
    correct.append(_correct(model, X_test, y_test))
    for r in range(1, rounds + 1):
        set_flat_params(model, glob)
        acc_global = _metrics(model, X_val, y_val)["accuracy"]
        updates, weights = {}, {}
        for k, p in enumerate(parties):
            kind = behaviours.get(p.name, "honest")
            set_flat_params(model, glob)
            if kind == "free_rider":
                w = glob + 1e-4 * rng.normal(size=glob.shape)
            else:
                train_local(model, np.asarray(p.X, np.float32), labels[p.name],
                            epochs=local_epochs, lr=lr, batch_size=batch_size,
                            seed=seed + 1000 * r + k)
                w = get_flat_params(model)
                if kind == "sign_flip":
                    w = glob - boost * (w - glob)
            set_flat_params(model, w)
            q = _metrics(model, X_val, y_val)["accuracy"]
            positive = q >= acc_global - ledger.params.tolerance
            ledger.record(p.name, positive=positive, quality=q)
            c = ledger.score(p.name)
            chosen = screening is None or c >= screening.threshold
            dec.append({"round": r, "party": p.name, "behaviour": kind, "val_accuracy": q,
                        "positive": positive, "T": ledger.reputation(p.name),
                        "Q": ledger.quality(p.name), "C": c, "aggregated": chosen})
            if chosen:
                updates[p.name], weights[p.name] = w, len(p.y)
        if updates:
            tot = sum(weights.values())
            glob = sum(weights[n] / tot * updates[n] for n in updates)
        set_flat_params(model, glob)
        for metric, value in _metrics(model, X_test, y_test).items():
            hist.append({"round": r, "metric": metric, "value": value})
        correct.append(_correct(model, X_test, y_test))
    return ScreenedRun(pd.DataFrame(hist), pd.DataFrame(dec), glob, np.array(correct))
