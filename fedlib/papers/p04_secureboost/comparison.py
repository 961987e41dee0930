"""Chapter 4's "Step 4 — the full pipeline against the usual credit models" and "Credit scores".

Every compared model fitted with its chosen configuration and scored on the test rows (paper
003's Fig. 3), the pipeline's error rate and recall against each model with paired bootstrap
intervals, where its recall comes from (the external party's data, XMP with SecureBoost, or the
model class), and the credit scores of Table 4 against the bank's scorecard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from fedlib.book.glue import glue
from fedlib.evaluate.figures import book_theme, legend_below, new_figure
from fedlib.evaluate.tuning import TuningResult
from fedlib.evaluate.uncertainty import Estimate
from fedlib.papers.p04_secureboost.data import Aligned
from fedlib.papers.p04_secureboost.models import (
    BASELINES,
    GBDT,
    PIPELINE,
    Compared,
    ModelSpec,
    fit_model,
)
from fedlib.papers.p04_secureboost.tuning import fit_rows
from fedlib.vertical.baselines import choose_threshold, credit_metrics, points, predicted_classes
from fedlib.vertical.data import VerticalData

__all__ = ["ci_text", "compare_models", "comparison_table", "credit_scores_table4", "Differences",
           "fit_baselines", "fit_compared", "Fitted", "mean_diffs", "models_figure", "paired_diff",
           "pooled_clause", "says", "single_class_note", "source_verdict"]


def fit_baselines(specs: Sequence[ModelSpec], chosen: Mapping[str, Mapping[str, Any]], y_tr,
                  y_te, *, fit_pos, val_pos, choose_thr: bool, fixed_thr: float, seed: int):
    """Fit every model of :func:`model_specs` with its chosen configuration; score the test rows.

    Parameters
    ----------
    specs
        From :func:`model_specs`.
    chosen
        :attr:`TuningResult.chosen` of :func:`tune_models`.
    y_tr, y_te
        Training and test labels.
    fit_pos
        Training positions the models fit on (LS-SVM: at most its ``max_rows`` of them).
    val_pos
        Training positions held out for choosing thresholds (``None`` with a fixed one).
    choose_thr
        Whether each model's cut-off is chosen on ``val_pos``.
    fixed_thr
        The cut-off otherwise.
    seed
        Seed of LS-SVM's row subset.

    Returns
    -------
    table : pandas.DataFrame
        One row per model: threshold, predicted classes and
        :func:`~fedlib.vertical.baselines.credit_metrics`.
    probas, thresholds : dict
        :attr:`ModelSpec.key` → test probabilities and cut-off.
    """
    rows, probas, thresholds = [], {}, {}
    for spec in specs:
        proba = fit_model(spec, chosen[spec.key], y_tr, fit_pos, seed=seed)
        p = proba(spec.X_test)
        thr = (choose_threshold(y_tr[val_pos], proba(spec.X_train[val_pos])) if choose_thr
               else fixed_thr)
        probas[spec.key], thresholds[spec.key] = p, thr
        rows.append({"model": spec.name, "features": spec.view, "threshold": thr,
                     "predicted classes": predicted_classes(p, thr),
                     **credit_metrics(y_te, p, threshold=thr)})
    return pd.DataFrame(rows), probas, thresholds


@dataclass
class Fitted:
    """Every compared model fitted with its chosen configuration (the paper's Fig. 3).

    Attributes
    ----------
    table
        One row per model: its metrics on the test rows.
    probas, thresholds
        Each model's test probabilities and decision threshold.
    single_class
        Whether a model predicts a single class on the test rows.
    """

    table: pd.DataFrame
    probas: dict
    thresholds: dict
    single_class: dict

    @property
    def single_list(self) -> list[str]:
        """The models predicting a single class."""
        return [k for k, v in self.single_class.items() if v]


def fit_compared(results, cmp: Compared, tuned: TuningResult, al: Aligned, P) -> Fitted:
    """Fit every compared model with its chosen configuration, score it on the test rows.

    Records the metrics (``fig3``) and glues ``n_estimators_used``.

    Returns
    -------
    Fitted
    """
    fit_pos, val_pos = fit_rows(P, al.y_tr, al.choose_thr)
    fig3, probas, thresholds = fit_baselines(cmp.specs, tuned.chosen, al.y_tr, al.y_te,
                                             fit_pos=fit_pos, val_pos=val_pos,
                                             choose_thr=al.choose_thr, fixed_thr=al.fixed_thr,
                                             seed=P.seed)
    glue("n_estimators_used", P.n_estimators, display=False)
    results.add_metrics(fig3.rename(columns={"model": "mode", "features": "setting"})
                        .melt(id_vars=["mode", "setting"], var_name="metric", value_vars=[
                            "error_rate", "accuracy", "precision", "recall", "f1", "ks", "auc"]),
                        experiment="fig3", party="test", round=None)
    single = {k: bool(c < 2) for k, c in zip(probas, fig3["predicted classes"], strict=True)}
    return Fitted(fig3, probas, thresholds, single)


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

    base = list(baselines)
    long = table.melt(id_vars=["model", "features"],
                      value_vars=["error_rate", "recall", "precision", "f1", "ks", "auc"],
                      var_name="metric")
    long["model"] = np.where(long.model == pipeline, pipeline,
                             long.model + " [" + long.features + "]")
    with book_theme():
        fig, ax = new_figure(4.2)
        order = [pipeline] + [f"{m} [{v}]" for v in views for m in base + [gbdt_name]]
        pal = (["black"] + sns.color_palette("Blues", len(base) + 1)
               + sns.color_palette("Oranges", len(base) + 1))
        sns.barplot(data=long, x="metric", y="value", hue="model", hue_order=order,
                    palette=pal, ax=ax)
        ax.set(xlabel="test metric", ylabel="value on the test set (a rate, KS or AUC)")
        legend_below(fig, ax, ncols=2)
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
    def mean_diff(what):
        def stat(y, u, *vs):
            ok = y == 1
            if what == "error":
                return 100 * (np.mean(u != ok) - np.mean([np.mean(v != ok) for v in vs]))
            return 100 * (u[ok].mean() - np.mean([v[ok].mean() for v in vs]))
        return Estimate.bootstrap(stat, y_te, yhat[pipeline], *(yhat[k] for k in keys),
                                  n_boot=n_boot, seed=seed, strata=y_te)
    return {w: mean_diff(w) for w in ("error", "recall")}


def says(e) -> str:
    """How a recall difference reads in prose: raised, lowered, or no detectable effect."""
    lo, hi = e.interval
    if lo > 0:
        return f"raised recall by {e.value:.1f} points (95 % interval [{lo:+.1f}, {hi:+.1f}])"
    if hi < 0:
        return f"lowered recall by {-e.value:.1f} points (95 % interval [{lo:+.1f}, {hi:+.1f}])"
    return (f"changed recall by {e.value:+.1f} points, an interval [{lo:+.1f}, {hi:+.1f}] "
            "that covers 0: no detectable effect")


def source_verdict(src: Mapping[str, Any], passive: str) -> str:
    """Where the pipeline's recall comes from, from the ``ext`` and ``xmp`` differences.

    ``ext`` is the pooled booster minus the bank-only booster, ``xmp`` the pipeline minus the
    pooled booster (recall points, with intervals); each reading follows their signs.

    >>> from fedlib.evaluate.uncertainty import Estimate
    >>> src = {"ext": Estimate(value=20.0, interval=(13.0, 26.0)),
    ...        "xmp": Estimate(value=-7.0, interval=(-12.0, -2.0))}
    >>> source_verdict(src, "registry")  # doctest: +NORMALIZE_WHITESPACE
    "the gain comes from the registry party's data, not from XMP or SecureBoost, which
    together give part of it back"
    """
    ext_lo = src["ext"].interval[0]
    xmp_lo, xmp_hi = src["xmp"].interval
    if xmp_lo > 0:
        return f"XMP selection adds recall beyond pooling the {passive} party's raw columns"
    if ext_lo <= 0:
        return f"the {passive} party's data add no detectable recall on these rows"
    return (f"the gain comes from the {passive} party's data, not from XMP or SecureBoost"
            + (", which together give part of it back" if xmp_hi < 0 else ""))


def pooled_clause(n_worse: int, n_below: int, n_pooled: int) -> str:
    """How the pooled non-private models' recall compares with the pipeline's, in words.

    >>> pooled_clause(1, 0, 5)
    '1 of 5 pooled non-private models have detectably higher recall than the pipeline and none detectably lower: pooling the raw columns in the clear matches or beats it'
    """
    tail = (" and none detectably lower: pooling the raw columns in the clear matches or "
            "beats it" if n_below == 0 else f", {n_below} detectably lower")
    return (f"{n_worse} of {n_pooled} pooled non-private models have detectably higher recall "
            f"than the pipeline{tail}")


@dataclass
class Differences:
    """The pipeline against every model, with paired bootstrap intervals over the test rows.

    Attributes
    ----------
    table
        The pipeline's error rate and recall minus each model's (:func:`comparison_table`).
    vs_baselines
        Those differences against the bank-only baselines.
    level_diffs
        Against the baselines' average (:func:`mean_diffs`).
    src
        Where a recall gain comes from: ``ext`` (the external columns), ``xmp`` (selection
        with SecureBoost) and ``model`` (the model class).
    src_verdict
        :func:`source_verdict` in words.
    n_worse_pooled, n_below_pooled
        Pooled models with detectably higher, and detectably lower, recall than the pipeline.
    """

    table: pd.DataFrame
    vs_baselines: dict
    level_diffs: dict
    src: dict
    src_verdict: str
    n_worse_pooled: int
    n_below_pooled: int


def compare_models(fit: Fitted, cmp: Compared, al: Aligned, vd: VerticalData, P) -> Differences:
    """The pipeline against the usual credit models (Fig. 3), and where its recall comes from.

    Paired bootstrap over the test rows (stratified by label so that recall is defined in
    every resample): each resample scores both models of a difference on the same rows. Glues
    the figure ``fig_04_models``, the average differences (``lvl_<metric>``) and the source
    analysis (``src_ext``, ``src_xmp``, ``src_model``, ``best_pooled``, ``src_best_pooled``,
    ``n_beat``, ``n_beat_err``, ``n_worse_pooled``, ``pooled_clause``, ``src_verdict``).

    Returns
    -------
    Differences
    """
    fig = models_figure(fit.table, cmp.views, pipeline=PIPELINE, baselines=BASELINES,
                        gbdt_name=GBDT)
    glue("fig_04_models", fig, display=False)
    plt.close(fig)
    yhat = {k: fit.probas[k] >= fit.thresholds[k] for k in fit.probas}
    diff = paired_diff(yhat, al.y_te, n_boot=P.bootstrap, seed=P.seed + 7)
    table, vs_baselines = comparison_table(diff, cmp.views, pipeline=PIPELINE,
                                           baselines=BASELINES, gbdt_name=GBDT)
    level_diffs = mean_diffs(yhat, al.y_te, PIPELINE, [f"{m} [bank only]" for m in BASELINES],
                             n_boot=P.bootstrap, seed=P.seed + 7)
    # The same booster with and without the external party's columns, and the pipeline
    # against that pooled booster.
    best_bank = max((f"{m} [bank only]" for m in BASELINES),
                    key=dict(zip(fit.probas, fit.table.recall, strict=True)).get)
    src = {"ext": diff(f"{GBDT} [pooled (non-private)]", f"{GBDT} [bank only]", "recall"),
           "xmp": diff(PIPELINE, f"{GBDT} [pooled (non-private)]", "recall"),
           "model": diff(f"{GBDT} [bank only]", best_bank, "recall")}
    for k, e in level_diffs.items():
        glue(f"lvl_{k}", ci_text(e), display=False)
    pooled = fit.table[fit.table.features == "pooled (non-private)"].set_index("model")
    best_pooled = pooled.recall.idxmax()
    d_pooled = [diff(PIPELINE, f"{m} [pooled (non-private)]", "recall")
                for m in BASELINES + [GBDT]]
    n_worse = sum(d.interval[1] < 0 for d in d_pooled)
    n_below = sum(d.interval[0] > 0 for d in d_pooled)
    glue("src_ext", says(src["ext"]), display=False)
    glue("src_xmp", says(src["xmp"]), display=False)
    glue("src_model", says(src["model"]), display=False)
    glue("best_pooled", best_pooled, display=False)
    glue("src_best_pooled", says(diff(PIPELINE, f"{best_pooled} [pooled (non-private)]",
                                      "recall")), display=False)
    glue("n_beat", sum(e["recall"].interval[0] > 0 for e in vs_baselines.values()),
         display=False)
    glue("n_beat_err", sum(e["error"].interval[1] < 0 for e in vs_baselines.values()),
         display=False)
    glue("n_worse_pooled", n_worse, display=False)
    glue("pooled_clause", pooled_clause(n_worse, n_below, len(BASELINES) + 1), display=False)
    verdict = source_verdict(src, vd.external_name)
    glue("src_verdict", verdict, display=False)
    return Differences(table, vs_baselines, level_diffs, src, verdict, n_worse, n_below)


def credit_scores_table4(results, fit: Fitted, al: Aligned, P) -> tuple[pd.DataFrame, Estimate]:
    """Table 4: the pipeline's credit scores against the bank-only scorecard's.

    Both default probabilities become points (600 at odds 50:1, 20 points to double the
    odds); the test enterprises are ranked by each, and the rankings' Spearman correlation
    gets a stratified bootstrap interval (recorded as ``table4``). Glues ``rho``, ``rho_ci``
    and the defaulters' mean relative rank (``bad_rank_ours``, ``bad_rank_card``).

    Returns
    -------
    tuple
        ``table4_rows`` enterprises (a third of them defaulters, when there are) and ρ.
    """
    p_pipeline, card = fit.probas[PIPELINE], fit.probas["scorecard (WoE + LR) [bank only]"]
    tab4 = pd.DataFrame({"enterprise": al.te_ids, "default": al.y_te,
                         "score (ours)": points(p_pipeline).round(0),
                         "score (bank scorecard)": points(card).round(0)})
    tab4["rank (ours)"] = tab4["score (ours)"].rank(ascending=False, method="min").astype(int)
    tab4["rank (scorecard)"] = tab4["score (bank scorecard)"].rank(ascending=False,
                                                                   method="min").astype(int)
    rho = Estimate.bootstrap(lambda a, b: float(spearmanr(a, b).statistic), p_pipeline, card,
                             n_boot=P.bootstrap, seed=P.seed + 9, strata=al.y_te)
    show = pd.concat([tab4[tab4.default == 1].head(P.table4_rows // 3),
                      tab4[tab4.default == 0]]).head(P.table4_rows)
    show = show.sort_values("score (ours)", ascending=False).reset_index(drop=True)
    show.index = [f"E{i + 1}" for i in range(len(show))]
    glue("rho", rho.value, display=False)
    glue("rho_ci", f"[{rho.interval[0]:.2f}, {rho.interval[1]:.2f}]", display=False)
    for c, name in (("rank (ours)", "bad_rank_ours"), ("rank (scorecard)", "bad_rank_card")):
        glue(name, 100 * float(tab4.loc[tab4.default == 1, c].mean() / len(tab4)),
             display=False)
    results.add_metric(experiment="table4", mode="ours vs scorecard", setting="test",
                       party="test", round=None, metric="spearman", value=rho.value)
    return show, rho
