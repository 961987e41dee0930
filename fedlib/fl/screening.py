"""Screened FedAvg among banks, some of which misbehave (paper 003 §3.4, Fig. 4).

:func:`run_screened_fedavg` runs horizontal FedAvg with logistic regression on the one round
loop (:mod:`fedlib.fl.loop`), with or without the reputation screen
(:class:`~fedlib.fl.strategies.ReputationScreen`, scores of :mod:`fedlib.fl.reputation`),
and with misbehaving banks (:class:`BankClient`: ``noisy`` labels, ``label_flip`` poisoning,
``sign_flip`` model poisoning, ``free_rider``) to show what screening catches and what it
misses. The aiding node's validation rows score every update; held-out test rows measure
the global model after every round.

References: paper 003 (Xu et al.), §3.4 eqs. 16–24, Fig. 4; McMahan et al. 2017 (FedAvg).
Introduced in chapter 4 (``chapters/04_vertical_secureboost_xmp.py``).

Examples
--------
>>> rounds_to_target(np.array([[0, 0], [1, 0], [1, 1]], bool), 0.5)
1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from torch import nn

from fedlib.core.transcript import Transcript
from fedlib.fl.loop import RoundLoop
from fedlib.fl.models import LogisticRegression, get_flat_params, predict_proba, set_flat_params
from fedlib.fl.reputation import ReputationParams
from fedlib.fl.strategies import FedAvg, FitResult, ReputationScreen
from fedlib.privacy.dpsgd import train_local

__all__ = ["BEHAVIOURS", "BankClient", "ScreenedRun", "rounds_to_target",
           "run_screened_fedavg"]

BEHAVIOURS = ("honest", "noisy", "label_flip", "sign_flip", "free_rider")


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


def _metrics(model: nn.Module, X, y) -> dict[str, float]:
    p = np.clip(predict_proba(model, X), 1e-7, 1 - 1e-7)
    return {"accuracy": float(((p >= 0.5) == y).mean()),
            "loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
            "auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")}


def _correct(model: nn.Module, X, y) -> np.ndarray:
    return (predict_proba(model, X) >= 0.5) == (np.asarray(y) >= 0.5)


def rounds_to_target(correct: np.ndarray, target: float) -> int:
    """First round whose test accuracy (mean of a ``test_correct`` row) reaches ``target``.

    Returns ``len(correct)`` (one past the last round) if no round does.

    >>> rounds_to_target(np.array([[0, 0], [1, 0]], bool), 0.9)
    2
    """
    acc = np.asarray(correct).mean(axis=1)
    hit = np.flatnonzero(acc >= target)
    return int(hit[0]) if len(hit) else len(acc)


class BankClient:
    """A bank of the screening experiment: local SGD on its rows, or one of the misbehaviours.

    ``noisy`` and ``label_flip`` are in the labels the bank is built with; ``sign_flip``
    sends ``global − boost · (local − global)``; ``free_rider`` skips training and returns the
    global model plus N(0, 10⁻⁸) noise drawn from ``rng`` (the simulation's generator).
    """

    private = False

    def __init__(self, name: str, X: np.ndarray, y: np.ndarray, *, model: nn.Module,
                 behaviour: str, epochs: int, lr: float, batch_size: int | None,
                 boost: float, rng: np.random.Generator) -> None:
        self.name, self.X, self.y = name, np.asarray(X, np.float32), y
        self.num_examples = len(y)
        self.model, self.behaviour, self.rng = model, behaviour, rng
        self.epochs, self.lr, self.batch_size, self.boost = epochs, lr, batch_size, boost

    def fit(self, parameters: np.ndarray, config: dict) -> FitResult:
        """One round of local training, or the bank's misbehaviour, from the global model."""
        if self.behaviour == "free_rider":
            return FitResult(parameters + 1e-4 * self.rng.normal(size=parameters.shape),
                             self.num_examples, {})
        set_flat_params(self.model, parameters)
        stats = train_local(self.model, self.X, self.y, epochs=self.epochs, lr=self.lr,
                            batch_size=self.batch_size, seed=config["seed"])
        w = get_flat_params(self.model)
        if self.behaviour == "sign_flip":
            w = parameters - self.boost * (w - parameters)
        return FitResult(w, self.num_examples, {"loss": stats.final_loss})

    def evaluate(self, parameters: np.ndarray, config: dict) -> dict[str, float]:
        """Accuracy, log-loss and ROC-AUC of ``parameters`` on the bank's own rows."""
        set_flat_params(self.model, parameters)
        return _metrics(self.model, self.X, self.y)


def _labels(y, behaviour: str, noise_rate: float, rng: np.random.Generator) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32).copy()
    if behaviour == "noisy":
        flip = rng.random(len(y)) < noise_rate
        y[flip] = 1 - y[flip]
    elif behaviour == "label_flip":
        y = 1 - y
    return y


def run_screened_fedavg(parties: Sequence, X_val, y_val, X_test, y_test, *, rounds: int,
                        local_epochs: int, lr: float, batch_size: int | None, seed: int,
                        screening: ReputationParams | None,
                        behaviours: dict[str, str] | None = None, noise_rate: float = 0.3,
                        boost: float = 3.0) -> ScreenedRun:
    """FedAvg among banks, optionally aggregating only updates with ``C >= threshold``.

    Parameters
    ----------
    parties
        Objects with ``name``, ``X``, ``y`` (any :class:`fedlib.core.party.PartyData`).
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

    Bank k trains in round r with seed ``seed + 1000 r + k``; label noise and free-rider
    noise come from one generator seeded by ``seed``.
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
    labels = {p.name: _labels(p.y, behaviours.get(p.name, "honest"), noise_rate, rng)
              for p in parties}
    y_val, y_test = np.asarray(y_val, float), np.asarray(y_test, float)
    model = LogisticRegression(parties[0].X.shape[1], seed=seed)
    banks = [BankClient(p.name, p.X, labels[p.name], model=model,
                        behaviour=behaviours.get(p.name, "honest"), epochs=local_epochs, lr=lr,
                        batch_size=batch_size, boost=boost, rng=rng) for p in parties]
    scratch = LogisticRegression(parties[0].X.shape[1], seed=seed)

    def score(params, X, y) -> dict[str, float]:
        set_flat_params(scratch, params)
        return _metrics(scratch, X, y)

    def correct(params) -> np.ndarray:
        set_flat_params(scratch, params)
        return _correct(scratch, X_test, y_test)

    screen = ReputationScreen(screening or ReputationParams(), names,
                              validation_accuracy=lambda w: score(w, X_val, y_val)["accuracy"],
                              enforce=screening is not None)
    strategy = FedAvg(get_flat_params(model), seed_fn=lambda r, k: seed + 1000 * r + k,
                      evaluate_fn=lambda w: score(w, X_test, y_test), screen=screen)
    loop = RoundLoop(strategy, banks, seed=seed, transcript=Transcript(keep_payloads=False))
    initial = loop.parameters
    loop.run(rounds)
    metrics = [(0, loop.initial_metrics)] + [(o.round, o.metrics) for o in loop.history]
    hist = [{"round": r, "metric": k, "value": v} for r, m in metrics for k, v in m.items()]
    decisions = pd.DataFrame(screen.decisions)
    decisions.insert(2, "behaviour", [behaviours.get(n, "honest") for n in decisions.party])
    test_correct = np.array([correct(initial)] + [correct(o.parameters) for o in loop.history])
    return ScreenedRun(pd.DataFrame(hist), decisions, loop.parameters, test_correct)
