"""Chapter 1's lab: the institutions, the settings and the federated runs every section makes.

Serves the chapter's (``chapters/01_fmtl_dp_secagg.py``) section "The protocol" and every
experiment after it: :class:`Lab` holds the prepared institutions, the model seeds and the
secure-aggregation threshold t (the paper's §4.3), and runs the centralized MLP, FedAvg and
FMTL (eq. 1) with or without DP-SGD (eq. 2) and secure aggregation; :func:`make_lab` builds it,
and the helpers record metric rows in ``results.json`` and glue the numbers the prose quotes.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.std import tqdm

from fedlib.book.glue import glue
from fedlib.crypto.secagg import SecureAggregation
from fedlib.data.institutions import validation_view
from fedlib.fl.fmtl import institution_report, make_clients, run_federated, train_centralized
from fedlib.fl.models import MLP, predict_proba, set_flat_params
from fedlib.flower.secure_engine import engine_for
from fedlib.papers.p01_fmtl.rows import HeldOutRows, HeldOutScores
from fedlib.privacy.attacks import membership_inference

__all__ = [
    "glue_values",
    "Lab",
    "make_lab",
    "metric_setting",
    "record_rows",
    "secagg_threshold",
]


def secagg_threshold(n_inst: int, fraction: float) -> int:
    """Secure aggregation threshold t: ``fraction`` of the institutions, at least a majority.

    Parameters
    ----------
    n_inst
        Number of institutions.
    fraction
        Threshold as a share of the institutions.

    Returns
    -------
    int
        t >= 2 and 2t > n_inst.

    Examples
    --------
    >>> secagg_threshold(4, 0.75)
    3
    """
    threshold = max(2, math.floor(fraction * n_inst))
    if 2 * threshold <= n_inst:
        threshold = n_inst // 2 + 1
    return threshold


def metric_setting(setting: str, row, metric: str) -> str:
    """The results.json setting of a metric row; an undefined fairness metric says why."""
    value = getattr(row, metric)
    if metric in ("eod", "dir", "spd") and not np.isfinite(value):
        return f"{setting}; undefined: {row.fairness_note or 'not computed'}"
    return setting


@dataclass
class Lab:
    """Chapter 1's institutions and settings, with the runs every experiment makes.

    Parameters
    ----------
    P
        The chapter's validated parameters (``Chapter01Params``).
    parts
        Prepared institutions (``prepare_institutions``).
    threshold
        Secure aggregation threshold t.
    val_parts
        The institutions with their validation rows as test rows (``validation_view``).
    scores
        Where every compared model's test probabilities are kept for the claims' intervals.

    Attributes
    ----------
    seeds : list of int
        The model seeds ``seed, seed+1, ...`` (``n_seeds`` of them); the data split is fixed.
    engine : fedlib.fl.loop.Engine
        Who runs every federation (``fl_engine``: the local engine or Flower's, secure
        aggregation included: :func:`fedlib.flower.secure_engine.engine_for`).

    Notes
    -----
    ``federate`` is one run of :func:`fedlib.fl.fmtl.run_federated` (FedAvg or FMTL, with or
    without DP, secure aggregation and dropouts); ``central`` trains the pooled MLP;
    ``report`` evaluates models per institution on their test rows.
    """

    P: Any
    parts: list
    threshold: int
    n_features: int = field(init=False)
    names: list = field(init=False)
    val_parts: list | None = None
    scores: HeldOutScores | None = None
    seeds: list = field(init=False)
    pooled_X: np.ndarray = field(init=False)
    pooled_y: np.ndarray = field(init=False)
    engine: Any = field(init=False)

    def __post_init__(self):
        self.seeds = [self.P.seed + k for k in range(self.P.n_seeds)]
        self.engine = engine_for(self.P.fl_engine)
        self.n_features = self.parts[0].X_train.shape[1]
        self.names = [p.name for p in self.parts]
        self.pooled_X = np.concatenate([p.X_train for p in self.parts])
        self.pooled_y = np.concatenate([p.y_train for p in self.parts])

    def model_fn(self, seed_value: int | None = None) -> MLP:
        """A fresh MLP, seeded with ``seed_value`` (default: the data seed)."""
        seed_value = self.P.seed if seed_value is None else seed_value
        return MLP(self.n_features, tuple(self.P.hidden), seed=seed_value)

    def federate(self, mode, *, seed, lr, lam=0.0, eps=None, clip=1.0, batch=None, rounds=None,
                 secure=False, dropout=0.0, institutions=None, transcript=None, label=None,
                 algorithm=None):
        """One federated run; returns (run, clients)."""
        P = self.P
        institutions = self.parts if institutions is None else institutions
        batch = batch or P.batch_size
        rounds = rounds or P.rounds
        clients = make_clients(institutions, epsilon=eps, delta=P.delta, clip_norm=clip,
                               rounds=rounds, epochs=P.local_epochs, batch_size=batch)
        sa = SecureAggregation(threshold=self.threshold) if secure else None
        with tqdm(total=rounds, desc=label or mode, leave=False, file=sys.stderr) as bar:
            run = run_federated(clients, model_fn=lambda: self.model_fn(seed), mode=mode,
                                rounds=rounds, lam=lam, epochs=P.local_epochs, lr=lr,
                                batch_size=batch, seed=seed, secure_aggregation=sa,
                                dropout_rate=dropout, algorithm=algorithm or P.fmtl_algorithm,
                                transcript=transcript, on_round=lambda log, run: bar.update(),
                                noise_seed=seed, engine=self.engine)
        return run, clients

    def central(self, seed, lr):
        """The centralized MLP trained on the pooled training rows; returns its parameters."""
        P = self.P
        return train_centralized(self.model_fn(seed), self.pooled_X, self.pooled_y,
                                 epochs=P.rounds * P.local_epochs, lr=lr,
                                 batch_size=P.batch_size, seed=seed)

    def report(self, models, model_label, institutions=None):
        """Per-institution test metrics of ``models``, with a ``model`` column."""
        institutions = self.parts if institutions is None else institutions
        rep = institution_report(models, self.model_fn, institutions)
        rep.insert(0, "model", model_label)
        return rep

    def keep_scores(self, scores: HeldOutScores | None, models, rep: pd.DataFrame, *,
                    experiment: str, model: str, seed: int, epsilon: float = np.inf,
                    institutions=None) -> None:
        """Keep ``models``' test probabilities per institution in ``scores`` (if given).

        With the decision cuts of their report ``rep``, for the test-row bootstrap of the claims.
        """
        if scores is None:
            return
        institutions = self.parts if institutions is None else institutions
        mdl = self.model_fn()
        proba = []
        for p in institutions:
            set_flat_params(mdl, models[p.name])
            proba.append(predict_proba(mdl, p.X_test))
        scores.add(experiment=experiment, model=model, seed=seed, epsilon=epsilon, proba=proba,
                   cuts=rep.set_index("institution").threshold[[p.name for p in institutions]])

    def val_auc(self, models, label):
        """Mean validation ROC-AUC over the institutions."""
        return float(self.report(models, label, self.val_parts).roc_auc.mean())

    def evaluate_nodp(self, method, cfg, seed):
        """Validation AUC of one no-DP configuration (the tuning's score)."""
        if method == "Centralized MLP":
            w = self.central(seed, cfg["lr"])
            return self.val_auc({n: w for n in self.names}, method)
        mode = "fmtl" if method == "FMTL" else "fedavg"
        if (mode == "fmtl" and self.P.fmtl_algorithm == "alternating"
                and 2 * cfg["lam"] * cfg["lr"] >= 1):
            return float("nan")   # the alternating optimiser needs 2·λ·lr < 1: counted as worst
        run, _ = self.federate(mode, seed=seed, lr=cfg["lr"], lam=cfg.get("lam", 0.0),
                               label=f"tuning {method} {cfg}")
        return self.val_auc(run.models, method)

    def dp_run(self, mode, cfg_dp, eps, s, lam, **kw):
        """One DP run of ``mode`` with a DP configuration (lr, clip, (batch, rounds))."""
        batch, rounds_dp = cfg_dp["schedule"]
        return self.federate(mode, seed=s, lr=cfg_dp["lr"], lam=lam if mode == "fmtl" else 0.0,
                             eps=eps, clip=cfg_dp["clip"], batch=batch, rounds=rounds_dp,
                             label=f"{mode} ε={eps:g} {cfg_dp}", **kw)

    def attack(self, models, label, eps, s):
        """Membership-inference rows (one per institution) against ``models``."""
        out = []
        mdl = self.model_fn(s)
        for p in self.parts:
            set_flat_params(mdl, models[p.name])
            k = min(self.P.mia_rows, p.n_train, len(p.y_test))
            res = membership_inference(lambda X, mdl=mdl: predict_proba(mdl, X), p.X_train,
                                       p.y_train, p.X_test, p.y_test, n=k, seed=s)
            out.append({"model": label, "epsilon": eps, "seed": s, "institution": p.name,
                        "mia_auc": res["auc"], "mia_advantage": res["advantage"]})
        return out


def record_rows(results, frame: pd.DataFrame, *, experiment: str, metrics: Sequence[str],
                setting: Callable, round=None) -> None:
    """Record per-institution metric rows; ``setting(row)`` names each row's setting."""
    for r in frame.itertuples():
        for metric in metrics:
            results.add_metric(experiment=experiment, mode=r.model,
                               setting=metric_setting(setting(r), r, metric),
                               party=r.institution, round=round, metric=metric,
                               value=float(getattr(r, metric)))


def glue_values(**values: Any) -> None:
    """Glue each keyword's value under its name, for ``{glue:text}`` in the chapter's prose."""
    for key, value in values.items():
        glue(key, value, display=False)


def make_lab(P, parts: Sequence) -> Lab:
    """The chapter's :class:`Lab`: institutions, threshold t (§4.3), seeds and held-out rows.

    Parameters
    ----------
    P
        The chapter's parameters.
    parts
        Prepared institutions, with validation rows.

    Returns
    -------
    Lab
        With ``val_parts`` (hyper-parameters are scored there) and ``scores``, one bootstrap
        draw of the test rows shared by every model (``n_boot`` resamples, stratified by
        institution and label) in which every compared model's test probabilities are kept.
    """
    threshold = secagg_threshold(len(parts), P.threshold_fraction)
    lab = Lab(P, list(parts), threshold, val_parts=validation_view(parts),
              scores=HeldOutScores(HeldOutRows.of(parts, n_boot=P.n_boot, seed=P.seed)))
    glue_values(n_seeds=len(lab.seeds), threshold=threshold, n_inst=len(parts))
    return lab
