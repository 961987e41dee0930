"""The steps of chapter 4 that are bookkeeping rather than the paper's sentence.

Chapter 4 (``chapters/04_vertical_secureboost_xmp.py``) keeps in each cell the calls a reader
should see — fit SecureBoost, compare it with its plaintext twin, fit the bank's baselines —
and this module holds the loops that build their tables, the metric records and the glued
prose. Every function here computes exactly what the chapter's cells computed inline before;
nothing is tuned or changed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fedlib.book.glue import glue

__all__ = [
    "agreement_text",
    "backend_comparison",
    "baseline_specs",
    "fit_baselines",
    "party_matrices",
    "plaintext_twins",
    "record_secureboost",
    "single_class_note",
]


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


def backend_comparison(sb, sb_params: Mapping[str, Any], P, Xa, Xp, y, *, active: str,
                       passive: str, timings: dict) -> pd.DataFrame:
    """Seconds per tree of the run's scheme and of every other backend in ``P.he_compare``.

    Each other backend grows ``P.he_compare_trees`` trees on the same rows and is checked
    node by node against a plaintext :class:`~fedlib.vertical.HistGBDT`; its fit time goes
    into ``timings`` under ``secureboost_<backend>_s``.

    Parameters
    ----------
    sb
        The fitted :class:`~fedlib.vertical.SecureBoost` of the run's backend.
    sb_params
        Its booster settings.
    P
        The chapter's parameters.
    Xa, Xp, y
        Active features, passive features and labels of the SecureBoost rows.
    active, passive
        The two parties' names.
    timings
        The chapter's timing dict (updated in place).

    Returns
    -------
    pandas.DataFrame
        One row per backend; the run's own ``same trees as plaintext`` is left ``None``.
    """
    from fedlib.crypto.he import SCHEMES
    from fedlib.vertical import HistGBDT, SecureBoost
    from fedlib.vertical.audit import tree_agreement

    rows = [{"backend": P.he_backend, "scheme": SCHEMES[P.he_backend], "trees": len(sb.trees),
             "s per tree": sb.timings_["online_s"] / len(sb.trees),
             "bucket sums per decryption": sb.slots_, "same trees as plaintext": None}]
    for be in [b for b in dict.fromkeys(P.he_compare) if b != P.he_backend]:
        kt = min(P.he_compare_trees, sb_params["n_estimators"])
        sb_c = SecureBoost(**{**sb_params, "n_estimators": kt}, key_bits=P.paillier_key_bits,
                           demo_keys=P.demo_keys, n_jobs=P.n_jobs, active_name=active,
                           he_backend=be).fit(Xa, y, passive={passive: Xp})
        twin_c = HistGBDT(**{**sb_params, "n_estimators": kt}).fit(
            np.hstack([Xa, Xp]), y, passive_columns=range(Xa.shape[1], Xa.shape[1] + Xp.shape[1]))
        rows.append({"backend": be, "scheme": SCHEMES[be], "trees": kt,
                     "s per tree": sb_c.timings_["online_s"] / kt,
                     "bucket sums per decryption": sb_c.slots_, "same trees as plaintext":
                     tree_agreement(sb_c, twin_c, {active: 0, passive: Xa.shape[1]})
                     ["same_structure"]})
        timings[f"secureboost_{be}_s"] = sb_c.timings_["fit_s"]
    return pd.DataFrame(rows)


def plaintext_twins(sb, sb_params: Mapping[str, Any], P, Xa, Xp, y, Xa_te, Xp_te, y_te, *,
                    active: str, passive: str, timings: dict, bootstrap_seed: int):
    """SecureBoost beside the plaintext histogram GBDT and ``xgboost`` on the same rows.

    Parameters
    ----------
    sb
        The fitted SecureBoost.
    sb_params
        Its booster settings (the twins use the same).
    P
        The chapter's parameters.
    Xa, Xp, y
        Active features, passive features and labels of the SecureBoost rows.
    Xa_te, Xp_te, y_te
        The test rows.
    active, passive
        The two parties' names.
    timings
        The chapter's timing dict (``histgbdt_same_rows_s`` and ``xgboost_same_rows_s`` are
        added).
    bootstrap_seed
        Seed of the paired bootstrap of the AUC difference.

    Returns
    -------
    agree : dict
        :func:`~fedlib.vertical.audit.tree_agreement` plus ``max_test_margin_diff``.
    sb_table : pandas.DataFrame
        Seconds and test AUC of SecureBoost, the plaintext twin and ``xgboost``.
    auc_gap : Estimate
        Test AUC, SecureBoost minus ``xgboost``, paired bootstrap over test rows.
    """
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    from fedlib.crypto.he import SCHEMES
    from fedlib.evaluate.uncertainty import Estimate
    from fedlib.vertical import HistGBDT
    from fedlib.vertical.audit import tree_agreement

    t0 = time.perf_counter()
    passive_cols = range(Xa.shape[1], Xa.shape[1] + Xp.shape[1])
    twin = HistGBDT(**sb_params).fit(np.hstack([Xa, Xp]), y, passive_columns=passive_cols)
    timings["histgbdt_same_rows_s"] = time.perf_counter() - t0
    agree = tree_agreement(sb, twin, {active: 0, passive: Xa.shape[1]})
    m_sb = sb.predict_margin(Xa_te, passive={passive: Xp_te})
    m_twin = twin.predict_margin(np.hstack([Xa_te, Xp_te]))
    agree["max_test_margin_diff"] = float(np.max(np.abs(m_sb - m_twin)))

    t0 = time.perf_counter()
    xg = xgb.XGBClassifier(tree_method="hist", n_jobs=1, random_state=P.seed,
                           n_estimators=sb_params["n_estimators"], max_depth=P.max_depth,
                           learning_rate=P.learning_rate, reg_lambda=P.reg_lambda,
                           min_child_weight=P.min_child_weight, max_bin=P.max_bins,
                           ).fit(np.hstack([Xa, Xp]), y)
    timings["xgboost_same_rows_s"] = time.perf_counter() - t0
    auc_sb = roc_auc_score(y_te, m_sb)
    p_xgb = xg.predict_proba(np.hstack([Xa_te, Xp_te]))[:, 1]
    auc_gap = Estimate.bootstrap(lambda y, a, b: roc_auc_score(y, a) - roc_auc_score(y, b),
                                 y_te, m_sb, p_xgb, n_boot=P.bootstrap, seed=bootstrap_seed,
                                 strata=y_te)
    sb_table = pd.DataFrame([
        {"model": f"SecureBoost ({SCHEMES[P.he_backend]} {P.paillier_key_bits} bits)",
         "seconds": sb.timings_["fit_s"], "test AUC": auc_sb},
        {"model": "plaintext HistGBDT (same bins)", "seconds": timings["histgbdt_same_rows_s"],
         "test AUC": roc_auc_score(y_te, m_twin)},
        {"model": "xgboost hist", "seconds": timings["xgboost_same_rows_s"],
         "test AUC": roc_auc_score(y_te, p_xgb)},
    ])
    return agree, sb_table, auc_gap


def agreement_text(agree: Mapping[str, Any], passive: str) -> str:
    """The sentence that says whether SecureBoost grew the plaintext trees."""
    if agree["same_structure"]:
        return (f"identical to the plaintext histogram GBDT on the same rows and bins: all "
                f"{agree['n_splits']} splits ({agree['passive_splits']} owned by the {passive} "
                f"party) with the same feature and bin, leaf weights within "
                f"{agree['max_leaf_diff']:.1e}")
    k_, i_, what_ = agree["first_difference"]
    return (f"identical to the plaintext histogram GBDT for {agree['identical_trees']} "
            f"whole tree(s) and {agree['n_splits']} splits ({agree['passive_splits']} "
            f"owned by the {passive} party); at tree {k_ + 1}, node {i_} the two pick different "
            + ("splits whose gains are equal to 9 significant digits — an exact tie (rows "
               "with identical g, h make different partitions score the same), which the "
               "fixed-point sums of the passive party resolve the other way; from there "
               "on the two are different but equally valid boosters"
               if agree["difference_is_tie"] else f"{what_}: a real discrepancy"))


def record_secureboost(results, P, sb, sb_table: pd.DataFrame, agree: Mapping[str, Any], *,
                       n_rows: int, n_trees: int, passive: str, timings: Mapping[str, float]
                       ) -> None:
    """Record SecureBoost's timings, test AUCs and leaf agreement, and glue its prose values.

    Parameters
    ----------
    results
        The chapter's :class:`~fedlib.book.results.ChapterResults`.
    P
        The chapter's parameters.
    sb
        The fitted SecureBoost.
    sb_table
        From :func:`plaintext_twins`.
    agree
        From :func:`plaintext_twins`.
    n_rows, n_trees
        Training rows and trees of the encrypted run.
    passive
        The passive party's name.
    timings
        The chapter's timings (``histgbdt_same_rows_s`` is read).
    """
    from fedlib.crypto.he import SCHEMES, SECURITY

    setting = f"rows={n_rows}"
    for k, v in sb.timings_.items():
        results.add_metric(experiment="secureboost", mode="encrypted", setting=setting,
                           party="all", round=None, metric=k, value=float(v))
    for r in sb_table.itertuples():
        results.add_metric(experiment="secureboost", mode=r.model, setting=setting,
                           party="all", round=None, metric="test_auc", value=float(r._3))
    results.add_metric(experiment="secureboost", mode="encrypted", setting=setting,
                       party="all", round=None, metric="max_leaf_diff",
                       value=agree["max_leaf_diff"])
    glue("sb_scheme", f"{SCHEMES[P.he_backend]} ({P.he_backend})", display=False)
    glue("sb_security", SECURITY[P.he_backend], display=False)
    glue("sb_rows", n_rows, display=False)
    glue("sb_trees", n_trees, display=False)
    glue("sb_bits", P.paillier_key_bits, display=False)
    glue("sb_seconds", sb.timings_["fit_s"], display=False)
    glue("sb_offline", sb.timings_.get("precompute_s", 0.0), display=False)
    glue("sb_decrypt", sb.timings_["decrypt_s"], display=False)
    glue("sb_slots", sb.slots_, display=False)
    glue("sb_same", agreement_text(agree, passive), display=False)
    glue("sb_margin_diff", agree["max_test_margin_diff"], display=False)
    glue("sb_slowdown", sb.timings_["fit_s"] / max(timings["histgbdt_same_rows_s"], 1e-9),
         display=False)
    auc = sb_table.set_index("model")["test AUC"]
    glue("auc_gap_xgb", abs(auc.iloc[0] - auc["xgboost hist"]), display=False)


def baseline_specs(P, views: Mapping[str, tuple], pipeline: tuple, *, gbdt_name: str,
                   boost: Mapping[str, Any], fit_pos, lssvm_pos) -> list[tuple]:
    """The models of the paper's Fig. 3: the pipeline, then every baseline on every view.

    Parameters
    ----------
    P
        The chapter's parameters.
    views
        View name → (training matrix, test matrix).
    pipeline
        The pipeline's own spec, first in the list.
    gbdt_name
        Name of the plaintext GBDT with the pipeline's settings.
    boost
        The booster settings.
    fit_pos, lssvm_pos
        Training positions the models fit on (LS-SVM: a capped subset).

    Returns
    -------
    list of tuple
        ``(name, view, estimator, X_train, X_test, fit kwargs, scaled, fit positions)``.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from fedlib.vertical import HistGBDT
    from fedlib.vertical.baselines import LSSVMClassifier, WoEScorecard

    specs = [pipeline]
    for view, (Xtr, Xte) in views.items():
        specs += [
            ("LR", view, LogisticRegression(max_iter=5000), Xtr, Xte, {}, True, fit_pos),
            ("RF", view, RandomForestClassifier(n_estimators=300, random_state=P.seed, n_jobs=1),
             Xtr, Xte, {}, False, fit_pos),
            ("LS-SVM", view, LSSVMClassifier(gamma_reg=P.lssvm_gamma), Xtr, Xte, {}, True,
             lssvm_pos),
            ("scorecard (WoE + LR)", view, WoEScorecard(n_bins=P.scorecard_bins), Xtr, Xte, {},
             False, fit_pos),
            (gbdt_name, view, HistGBDT(**boost), Xtr, Xte, {}, False, fit_pos),
        ]
    return specs


def _proba(est, X):
    """Positive-class probabilities of any of the chapter's estimators."""
    p = est.predict_proba(X)
    return p[:, 1] if np.ndim(p) == 2 else np.asarray(p)


def fit_baselines(specs: Sequence[tuple], y_tr, y_te, *, pipeline: str, val_pos,
                  choose_thr: bool, fixed_thr: float):
    """Fit every model of :func:`baseline_specs` and score it on the test rows.

    Parameters
    ----------
    specs
        From :func:`baseline_specs`.
    y_tr, y_te
        Training and test labels.
    pipeline
        The pipeline's name (its key has no view suffix).
    val_pos
        Training positions held out for choosing thresholds (``None`` with a fixed one).
    choose_thr
        Whether each model's cut-off is chosen on ``val_pos``.
    fixed_thr
        The cut-off otherwise.

    Returns
    -------
    table : pandas.DataFrame
        One row per model: threshold, predicted classes and
        :func:`~fedlib.vertical.baselines.credit_metrics`.
    probas, thresholds : dict
        ``"model [view]"`` (the pipeline: its name) → test probabilities and cut-off.
    """
    from sklearn.preprocessing import StandardScaler

    from fedlib.vertical.baselines import choose_threshold, credit_metrics, predicted_classes

    rows, probas, thresholds = [], {}, {}
    for name, view, est, Xtr, Xte, kw, scaled, fit_rows in specs:
        if scaled:
            sc = StandardScaler().fit(Xtr[fit_rows])
            Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
        est.fit(Xtr[fit_rows], y_tr[fit_rows], **kw)
        p = _proba(est, Xte)
        thr = (choose_threshold(y_tr[val_pos], _proba(est, Xtr[val_pos])) if choose_thr
               else fixed_thr)
        key = pipeline if name == pipeline else f"{name} [{view}]"
        probas[key], thresholds[key] = p, thr
        rows.append({"model": name, "features": view, "threshold": thr,
                     "predicted classes": predicted_classes(p, thr),
                     **credit_metrics(y_te, p, threshold=thr)})
    return pd.DataFrame(rows), probas, thresholds


def single_class_note(single_list: Sequence[str]) -> str:
    """The warning shown under the model table when some model predicts one class."""
    return ("**Single-class models:** " + "; ".join(single_list) + " predicted one class for "
            "every test row at its threshold (precision, recall and F1 then say nothing about "
            "ranking). No claim is scored on such a model.")


def models_figure(table: pd.DataFrame, views: Sequence[str], *, pipeline: str,
                  baselines: Sequence[str], gbdt_name: str):
    """Bar chart of every model's test metrics (the paper's Fig. 3 with our baselines).

    Parameters
    ----------
    table
        From :func:`fit_baselines`.
    views
        The feature views, in the order of the legend.
    pipeline, baselines, gbdt_name
        Model names: the pipeline, the bank's usual models, the plaintext GBDT.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns
    from matplotlib.figure import Figure

    from fedlib.evaluate.figures import book_theme

    base = list(baselines)
    long = table.melt(id_vars=["model", "features"],
                      value_vars=["error_rate", "recall", "precision", "f1", "ks", "auc"],
                      var_name="metric")
    long["model"] = np.where(long.model == pipeline, pipeline,
                             long.model + " [" + long.features + "]")
    with book_theme():
        fig = Figure(figsize=(11, 4.2), layout="constrained")
        ax = fig.subplots()
        order = [pipeline] + [f"{m} [{v}]" for v in views for m in base + [gbdt_name]]
        pal = (["black"] + sns.color_palette("Blues", len(base) + 1)
               + sns.color_palette("Oranges", len(base) + 1))
        sns.barplot(data=long, x="metric", y="value", hue="model", hue_order=order,
                    palette=pal, ax=ax)
        ax.set_ylabel("test set")
        ax.legend(fontsize=7, ncols=3)
    return fig


def ci_text(e) -> str:
    """``+1.2 [-0.3, +2.7]``: an estimate in points with its 95 % interval."""
    return f"{e.value:+.1f} [{e.interval[0]:+.1f}, {e.interval[1]:+.1f}]"


def paired_diff(yhat: Mapping[str, np.ndarray], y_te, *, n_boot: int, seed: int):
    """A function ``diff(a, b, what)``: model ``a`` minus ``b`` in points of error or recall.

    Each difference is a paired bootstrap over the test rows: one resample (stratified by
    label, so that recall is defined in every resample) scores both models.

    Parameters
    ----------
    yhat
        Model key → predicted classes on the test rows.
    y_te
        Test labels.
    n_boot, seed
        Bootstrap resamples and seed (the same seed for every difference).

    Returns
    -------
    callable
        ``diff(a, b, what)`` with ``what`` in ``{"error", "recall"}``, returning an
        :class:`~fedlib.evaluate.uncertainty.Estimate`.
    """
    from fedlib.evaluate.uncertainty import Estimate

    def diff(a, b, what):
        def stat(y, u, v):
            if what == "error":
                return 100 * (np.mean(u != (y == 1)) - np.mean(v != (y == 1)))
            return 100 * (u[y == 1].mean() - v[y == 1].mean())
        return Estimate.bootstrap(stat, y_te, yhat[a], yhat[b], n_boot=n_boot, seed=seed,
                                  strata=y_te)
    return diff


def comparison_table(diff, views: Sequence[str], *, pipeline: str, baselines: Sequence[str],
                     gbdt_name: str):
    """The pipeline against every other model: Δ error and Δ recall with 95 % intervals.

    Parameters
    ----------
    diff
        From :func:`paired_diff`.
    views
        The feature views.
    pipeline, baselines, gbdt_name
        Model names.

    Returns
    -------
    table : pandas.DataFrame
        One row per model and view.
    vs_baselines : dict
        Bank-only baseline → ``{"error": Estimate, "recall": Estimate}`` (for the claims).
    """
    rows, vs_baselines = [], {}
    for view in views:
        for m in list(baselines) + [gbdt_name]:
            key = f"{m} [{view}]"
            d = {w: diff(pipeline, key, w) for w in ("error", "recall")}
            if view == "bank only" and m in baselines:
                vs_baselines[m] = d
            rows.append({"against": m, "features": view,
                         "Δ error rate, points [95 %]": ci_text(d["error"]),
                         "Δ recall, points [95 %]": ci_text(d["recall"])})
    return pd.DataFrame(rows), vs_baselines


def mean_diffs(yhat: Mapping[str, np.ndarray], y_te, pipeline: str, keys: Sequence[str], *,
               n_boot: int, seed: int) -> dict:
    """The pipeline minus the average of ``keys``, in points of error and of recall.

    Parameters
    ----------
    yhat
        Model key → predicted classes on the test rows.
    y_te
        Test labels.
    pipeline
        The pipeline's key.
    keys
        The models averaged (the bank-only baselines: the paper's −6.22 and +11.03).
    n_boot, seed
        Bootstrap resamples and seed.

    Returns
    -------
    dict
        ``{"error": Estimate, "recall": Estimate}``.
    """
    from fedlib.evaluate.uncertainty import Estimate

    def mean_diff(what):
        def stat(y, u, *vs):
            ok = y == 1
            if what == "error":
                return 100 * (np.mean(u != ok) - np.mean([np.mean(v != ok) for v in vs]))
            return 100 * (u[ok].mean() - np.mean([v[ok].mean() for v in vs]))
        return Estimate.bootstrap(stat, y_te, yhat[pipeline], *(yhat[k] for k in keys),
                                  n_boot=n_boot, seed=seed, strata=y_te)
    return {w: mean_diff(w) for w in ("error", "recall")}
