"""The models chapter 4 compares (paper 003's Fig. 3): the pipeline and the bank's usual models.

What each compared model is — its name, feature view, columns, builder and grid of
hyper-parameters (:class:`ModelSpec`) — and how one configuration is fitted; the pipeline's
columns on each side after XMP and the baselines' two feature views. Used by the sections
"Tuning every compared model alike", "Step 3 — SecureBoost" and "Step 4 — the full pipeline
against the usual credit models".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from fedlib.evaluate.tuning import grid
from fedlib.papers.p04_secureboost.data import Aligned
from fedlib.vertical.baselines import LSSVMClassifier, WoEScorecard
from fedlib.vertical.gbdt import HistGBDT

__all__ = ["BASELINES", "boost_params", "booster_grid", "Compared", "compared_models", "fit_model",
           "GBDT", "model_specs", "model_views", "ModelSpec", "party_matrices", "PIPELINE"]


#: The compared models' names (the paper's Fig. 3): the pipeline, the same booster as a
#: baseline, and the bank's usual credit models.
PIPELINE, GBDT = "XMP + SecureBoost (ours)", "GBDT (same grid)"
BASELINES = ["LR", "RF", "LS-SVM", "scorecard (WoE + LR)"]


@dataclass(frozen=True)
class ModelSpec:
    """One model of the comparison (the paper's Fig. 3): how to build it, its grid, its data.

    Attributes
    ----------
    name, view
        Model name (``"LR"``, …) and feature view (``"bank only"``, …).
    build
        ``build(config) -> unfitted estimator`` for one configuration of ``grid``.
    grid
        The candidate configurations :func:`tune_models` draws from.
    X_train, X_test
        The model's columns on the training and the test rows.
    fit_kw
        Extra keyword arguments of ``fit`` (the pipeline's ``passive_columns``).
    scaled
        Standardise the columns first (with the fitting rows' means and deviations).
    max_rows
        Fit on at most this many of the fitting rows (LS-SVM's solve is cubic in the rows).
    is_pipeline
        The pipeline's key is its name alone; every other key names its view.
    """

    name: str
    view: str
    build: Callable[[dict], Any]
    grid: list[dict[str, Any]]
    X_train: np.ndarray
    X_test: np.ndarray
    fit_kw: dict[str, Any] = field(default_factory=dict)
    scaled: bool = False
    max_rows: int | None = None
    is_pipeline: bool = False

    @property
    def key(self) -> str:
        """``"model [view]"``, or the pipeline's name: the key of every table and dict."""
        return self.name if self.is_pipeline else f"{self.name} [{self.view}]"


def booster_grid(P) -> list[dict[str, Any]]:
    """Learning rate × depth: the grid of the pipeline and of the GBDT baselines alike."""
    return grid(learning_rate=P.tune_learning_rates, max_depth=P.tune_max_depths)


def boost_params(P, config: Mapping[str, Any]) -> dict:
    """The booster settings of one configuration (learning rate, depth) of :func:`booster_grid`.

    Trees, bins, λ (eq. 13), the minimum child weight and the passive minimum node size come
    from the parameters and are not tuned.
    """
    return dict(n_estimators=P.n_estimators, max_depth=int(config["max_depth"]),
                learning_rate=float(config["learning_rate"]), reg_lambda=P.reg_lambda,
                gamma=0.0, min_child_weight=P.min_child_weight, max_bins=P.max_bins,
                passive_min_node_size=P.passive_min_node_size)


def model_specs(P, views: Mapping[str, tuple], pipeline_X: tuple, *, pipeline: str,
                gbdt_name: str, passive_columns: Sequence[int]) -> list[ModelSpec]:
    """The models of the paper's Fig. 3 with their grids.

    The pipeline first, then every baseline on every view.

    Every model gets a grid of its own hyper-parameters: the boosters (the pipeline's
    plaintext twin and the GBDT baselines) learning rate × depth (:func:`booster_grid`); the
    random forest minimum leaf size × features per split; logistic regression and the
    scorecard's logistic regression the inverse L2 strength ``C``; LS-SVM its ``γ`` × RBF
    width per feature. :func:`tune_models` gives each the same budget.

    Parameters
    ----------
    P
        The chapter's parameters (``tune_*`` grids, ``n_estimators``, ``scorecard_bins``,
        ``lssvm_max_rows``, ``seed``).
    views
        View name → (training matrix, test matrix).
    pipeline_X
        The pipeline's (training, test) matrices: the bank's then the external party's
        selected columns.
    pipeline, gbdt_name
        Names of the pipeline and of the GBDT baseline.
    passive_columns
        Column indices of the external party in ``pipeline_X``.

    Returns
    -------
    list of ModelSpec
    """
    boosters = booster_grid(P)
    rf_grid = grid(min_samples_leaf=P.tune_rf_min_leaf, max_features=P.tune_rf_max_features)
    c_grid = grid(C=P.tune_C)
    lssvm_grid = grid(gamma_reg=P.tune_lssvm_gammas, width_per_feature=P.tune_lssvm_widths)

    def booster(cfg):
        return HistGBDT(**boost_params(P, cfg))

    specs = [ModelSpec(pipeline, "XMP selection", booster, boosters, *pipeline_X,
                       fit_kw={"passive_columns": list(passive_columns)}, is_pipeline=True)]
    for view, (Xtr, Xte) in views.items():
        p = Xtr.shape[1]
        specs += [
            ModelSpec("LR", view, lambda c: LogisticRegression(C=c["C"], max_iter=5000),
                      c_grid, Xtr, Xte, scaled=True),
            ModelSpec("RF", view, lambda c: RandomForestClassifier(
                n_estimators=300, random_state=P.seed, n_jobs=1, **c), rf_grid, Xtr, Xte),
            # σ² scales with the number of standardised inputs, so one grid of widths per
            # feature means the same for both views.
            ModelSpec("LS-SVM", view, lambda c, p=p: LSSVMClassifier(
                gamma_reg=c["gamma_reg"], kernel_width=c["width_per_feature"] * p),
                lssvm_grid, Xtr, Xte, scaled=True, max_rows=P.lssvm_max_rows),
            ModelSpec("scorecard (WoE + LR)", view, lambda c: WoEScorecard(
                n_bins=P.scorecard_bins, C=c["C"]), c_grid, Xtr, Xte),
            ModelSpec(gbdt_name, view, booster, boosters, Xtr, Xte),
        ]
    return specs


def _capped(pos, max_rows: int | None, seed: int) -> np.ndarray:
    """At most ``max_rows`` of ``pos``, drawn with a seeded permutation (all when ``None``)."""
    return np.random.default_rng(seed).permutation(pos)[:max_rows]


def _proba(est, X):
    """Positive-class probabilities of any of the chapter's estimators."""
    p = est.predict_proba(X)
    return p[:, 1] if np.ndim(p) == 2 else np.asarray(p)


def fit_model(spec: ModelSpec, config: Mapping[str, Any], y_tr, rows, *, seed: int):
    """Fit one configuration of ``spec`` on the training positions ``rows``.

    Returns
    -------
    callable
        ``proba(X)``: positive-class probabilities of rows of ``spec``'s columns (scaled
        like the fitting rows when ``spec.scaled``).
    """
    rows = _capped(rows, spec.max_rows, seed)
    scaler = StandardScaler().fit(spec.X_train[rows]) if spec.scaled else None

    def prepare(X):
        return scaler.transform(X) if scaler is not None else X

    est = spec.build(dict(config))
    est.fit(prepare(spec.X_train[rows]), np.asarray(y_tr)[rows], **spec.fit_kw)
    return lambda X: _proba(est, prepare(X))


def party_matrices(bank_X: pd.DataFrame, ext_scores: pd.DataFrame, tr_ids, te_ids,
                   sel_bank: Sequence[str], sel_ext: Sequence[str], *, rank: Sequence[str],
                   bank_pool: Sequence[str], ext_pool: Sequence[str]):
    """Each party's selected columns on the training and test rows.

    SecureBoost needs columns on both sides, so a side that the selection left empty keeps the
    best-ranked feature of its own pool.

    Parameters
    ----------
    bank_X, ext_scores
        The bank's imputed features and the external party's component scores, indexed by ID.
    tr_ids, te_ids
        Training and test IDs.
    sel_bank, sel_ext
        The selected features of each party.
    rank
        All candidates, best first (the initial XGBoost average-gain ranking).
    bank_pool, ext_pool
        The candidates that belong to the bank and to the external party.

    Returns
    -------
    sel_bank, sel_ext : list of str
        The selections, with a fallback feature on an empty side.
    Xa_tr, Xa_te, Xp_tr, Xp_te : numpy.ndarray
        Active (bank) and passive (external) matrices on training and test rows.
    """
    sel_bank, sel_ext = list(sel_bank), list(sel_ext)
    if not sel_bank:
        sel_bank = [next(f for f in rank if f in bank_pool)]
    if not sel_ext:
        sel_ext = [next(f for f in rank if f in ext_pool)]
    return (sel_bank, sel_ext, bank_X.loc[tr_ids, sel_bank].to_numpy(),
            bank_X.loc[te_ids, sel_bank].to_numpy(), ext_scores.loc[tr_ids, sel_ext].to_numpy(),
            ext_scores.loc[te_ids, sel_ext].to_numpy())


def model_views(bank_X: pd.DataFrame, ext_raw: pd.DataFrame, tr_ids, te_ids) -> dict:
    """The baselines' two feature views: the bank's own columns, and both parties' pooled."""
    return {
        "bank only": (bank_X.loc[tr_ids].to_numpy(), bank_X.loc[te_ids].to_numpy()),
        "pooled (non-private)": (np.hstack([bank_X.loc[tr_ids], ext_raw.loc[tr_ids]]),
                                 np.hstack([bank_X.loc[te_ids], ext_raw.loc[te_ids]])),
    }


@dataclass
class Compared:
    """The data of the compared models: each party's selected columns and every model's spec.

    Attributes
    ----------
    sel_bank, sel_ext
        Each party's columns the pipeline uses (a side left empty keeps its best-ranked one).
    Xa_tr, Xa_te, Xp_tr, Xp_te
        The active (bank) and passive (external) columns on the training and test rows.
    views
        The baselines' feature views (:func:`model_views`).
    specs
        Every compared model (:func:`model_specs`).
    """

    sel_bank: list
    sel_ext: list
    Xa_tr: np.ndarray
    Xa_te: np.ndarray
    Xp_tr: np.ndarray
    Xp_te: np.ndarray
    views: dict
    specs: list


def compared_models(al: Aligned, ext_scores: pd.DataFrame, elim, mrmr, pca, P) -> Compared:
    """The pipeline (XMP's columns on both sides) and every baseline on each feature view.

    Returns
    -------
    Compared
    """
    sel_bank = [f for f in elim.best_features if f in mrmr.selected]
    sel_ext = [f for f in elim.best_features if f in pca.names]
    sel_bank, sel_ext, Xa_tr, Xa_te, Xp_tr, Xp_te = party_matrices(
        al.bank_X, ext_scores, al.tr_ids, al.te_ids, sel_bank, sel_ext,
        rank=list(elim.initial_gain.index), bank_pool=mrmr.selected, ext_pool=pca.names)
    passive_cols = range(Xa_tr.shape[1], Xa_tr.shape[1] + Xp_tr.shape[1])
    views = model_views(al.bank_X, al.ext_all.loc[al.common], al.tr_ids, al.te_ids)
    specs = model_specs(P, views, (np.hstack([Xa_tr, Xp_tr]), np.hstack([Xa_te, Xp_te])),
                        pipeline=PIPELINE, gbdt_name=GBDT, passive_columns=passive_cols)
    return Compared(sel_bank, sel_ext, Xa_tr, Xa_te, Xp_tr, Xp_te, views, specs)
