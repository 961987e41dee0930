"""Chapter 4's "Step 2 — XMP feature selection" (paper 003 §3.2, Table 2, Fig. 2, Table 3).

Each part of the section: PCA at the external party (eqs. 2–4, its eigenvalues beside the
paper's Table 2 and the loadings figure), mRMR at the bank (eqs. 5–7), XGBoost average-gain
backward elimination on both parties' candidates (eq. 8, Algorithm 2, Fig. 2), and XMP's
ranking against RF's and LR's (Table 3) with paired bootstrap differences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fedlib.book.glue import glue
from fedlib.evaluate.figures import book_theme, new_figure
from fedlib.evaluate.uncertainty import Estimate
from fedlib.papers.p04_secureboost.data import Aligned
from fedlib.vertical.baselines import ks_statistic
from fedlib.vertical.data import VerticalData
from fedlib.vertical.xmp import grid_pca, mrmr_select, ranking_comparison, xgb_backward_elimination

__all__ = ["at_threshold", "backward_elimination", "bank_mrmr", "candidates", "elimination_figure",
           "external_pca", "loadings_figure", "PAPER_EIGENVALUES", "Rankings", "rankings_table3",
           "report_elimination", "report_loadings", "report_pca", "selection_params",
           "table3_differences"]


#: The paper's Table 2: eigenvalues λ1..λ4 of the grid's 14 indicators (§3.2).
PAPER_EIGENVALUES = (1.6174, 1.3751, 0.9562, 0.6729)


def external_pca(al: Aligned, vd: VerticalData, P):
    r"""XMP at the external party: PCA on its own rows keeping ``pca_variance`` (eqs. 2–4).

    Fitted on every row it holds except the test enterprises (no labels involved).

    Returns
    -------
    tuple
        The :func:`~fedlib.vertical.xmp.grid_pca` result and the component scores
        :math:`F_1, F_2, \dots` of the common rows.
    """
    pca = grid_pca(al.ext_all.loc[al.ext_fit_rows].to_numpy(), vd.external_features,
                   variance=P.pca_variance)
    scores = pd.DataFrame(pca.transform(al.ext_all.loc[al.common].to_numpy()), index=al.common,
                          columns=pca.names)
    return pca, scores


def report_pca(results, pca, vd: VerticalData, P) -> pd.DataFrame:
    """Record the eigenvalues (``xmp_pca``), glue the kept share and the paper's Table 2 share.

    Glues ``pca_pct``, ``pca_k``, ``pca_cum``, ``pca_p`` and ``paper_pca_share`` (the share of
    14 standardised indicators' variance the paper's four eigenvalues explain).

    Returns
    -------
    pandas.DataFrame
        The first rows of the eigenvalue table.
    """
    glue("pca_pct", 100 * P.pca_variance, display=False)
    glue("pca_k", pca.n_components, display=False)
    glue("pca_cum", 100 * float(pca.table.cumulative.iloc[pca.n_components - 1]), display=False)
    glue("pca_p", len(vd.external_features), display=False)
    glue("paper_pca_share", 100 * sum(PAPER_EIGENVALUES) / 14, display=False)
    results.add_metrics(pca.table[["component", "eigenvalue"]]
                        .set_axis(["setting", "value"], axis=1),
                        experiment="xmp_pca", mode="pca", party=vd.external_name, round=None,
                        metric="eigenvalue")
    return pca.table.head(max(pca.n_components + 2, 6))


def loadings_figure(loadings: pd.DataFrame, party: str):
    """Heat map of the kept principal components' loadings on the external features.

    Parameters
    ----------
    loadings
        Features × components (``pca.loadings`` of :func:`~fedlib.vertical.xmp.pca_select`).
    party
        Name of the party that holds the features (for the axis label).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    with book_theme():
        fig, ax = new_figure(0.3 * len(loadings) + 1.4)
        sns.heatmap(loadings, annot=True, fmt=".2f", cmap="vlag", center=0, ax=ax, cbar=False)
        ax.set(title="Loadings of the kept components", xlabel="principal component",
               ylabel=f"feature of the {party} party")
    return fig


def report_loadings(pca, party: str) -> None:
    """Glue the loadings figure (``fig_04_loadings``) and each component's three largest."""
    fig = loadings_figure(pca.loadings, party=party)
    glue("fig_04_loadings", fig, display=False)
    plt.close(fig)
    glue("loading_lines", "; ".join(
        f"{c}: " + ", ".join(pca.loadings[c].abs().sort_values(ascending=False).index[:3])
        for c in pca.names), display=False)


def bank_mrmr(al: Aligned, vd: VerticalData, P):
    """XMP at the bank: mRMR on its own labelled training rows (eqs. 5–7).

    Refuses ``mrmr_k`` not below the bank's feature count (mRMR would select nothing). Glues
    ``mrmr_k`` and ``mrmr_p``.

    Returns
    -------
    The :func:`~fedlib.vertical.xmp.mrmr_select` result.
    """
    p = len(vd.bank_features)
    if P.mrmr_k >= p:
        raise ValueError(f"mrmr_k={P.mrmr_k} is not below the {vd.bank_name} party's "
                         f"{p} features: mRMR would keep all of them and select "
                         f"nothing; pass -p mrmr_k N with N < {p}")
    mrmr = mrmr_select(al.bank_X.loc[al.tr_ids].to_numpy(), al.y_tr, vd.bank_features,
                       k=P.mrmr_k, n_bins=P.mrmr_bins)
    glue("mrmr_k", len(mrmr.selected), display=False)
    glue("mrmr_p", p, display=False)
    return mrmr


def candidates(al: Aligned, mrmr, ext_scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """XMP's candidate columns: the bank's mRMR features and the external components (train, test)."""
    return tuple(pd.concat([al.bank_X.loc[ids, mrmr.selected], ext_scores.loc[ids]], axis=1)
                 for ids in (al.tr_ids, al.te_ids))


def selection_params(P) -> dict:
    """The XGBoost settings of the selection (the paper's depth 6, 142 trees, rate 0.2)."""
    return dict(n_estimators=P.selection_n_estimators, max_depth=P.selection_max_depth,
                learning_rate=P.selection_learning_rate)


def backward_elimination(cand_tr: pd.DataFrame, y_tr, P):
    """XGBoost average-gain backward elimination (eq. 8, Algorithm 2) with CV at every size."""
    return xgb_backward_elimination(cand_tr.to_numpy(), y_tr, list(cand_tr.columns),
                                    params=selection_params(P), n_folds=P.selection_folds,
                                    criterion=P.selection_criterion, seed=P.seed)


def elimination_figure(path: pd.DataFrame, best_n: int, folds: int):
    """CV AUC and log-loss against the number of features (the paper's Fig. 2).

    Parameters
    ----------
    path
        ``elim.path`` of :func:`~fedlib.vertical.xmp.xgb_backward_elimination`.
    best_n
        The size kept (a dashed line).
    folds
        Number of cross-validation folds (for the axis label).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    with book_theme():
        fig, (ax1, ax2) = new_figure(3.4, ncols=2)
        sns.lineplot(data=path, x="n_features", y="cv_auc", marker="o", ax=ax1)
        sns.lineplot(data=path, x="n_features", y="cv_logloss", marker="o", ax=ax2,
                     color="C1")
        for ax in (ax1, ax2):
            ax.axvline(best_n, ls="--", color="grey")
            ax.set_xlabel("number of features")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax1.set_ylabel(f"{folds}-fold CV AUC")
        ax2.set_ylabel(f"{folds}-fold CV log-loss (nats)")
    return fig


def report_elimination(results, elim, n_candidates: int, mrmr, pca, P) -> pd.DataFrame:
    """Record the elimination curve (``xmp_elimination``) and glue Fig. 2 and what was kept.

    Glues ``fig_04_elimination``, ``folds``, ``best_n``, ``n_cand``, ``best_auc``,
    ``sel_bank`` and ``sel_ext``.

    Returns
    -------
    pandas.DataFrame
        The first candidates' average gain (eq. 8), one row.
    """
    sel_bank = [f for f in elim.best_features if f in mrmr.selected]
    sel_ext = [f for f in elim.best_features if f in pca.names]
    results.add_metrics(elim.path.assign(setting="n_features=" + elim.path.n_features.astype(str))
                        .melt(id_vars="setting", value_vars=["cv_auc", "cv_logloss"],
                              var_name="metric"),
                        experiment="xmp_elimination", mode="xgboost", party="all", round=None)
    fig = elimination_figure(elim.path, elim.best_n, P.selection_folds)
    glue("fig_04_elimination", fig, display=False)
    plt.close(fig)
    glue("folds", P.selection_folds, display=False)
    glue("best_n", elim.best_n, display=False)
    glue("n_cand", n_candidates, display=False)
    glue("best_auc", float(elim.path.cv_auc.max()), display=False)
    glue("sel_bank", ", ".join(sel_bank) or "none", display=False)
    glue("sel_ext", ", ".join(sel_ext) or "none", display=False)
    return elim.initial_gain.head(15).rename("average gain").to_frame().T


def at_threshold(metric: str, y, p, thr: float) -> float:
    """One threshold metric (or KS) of probabilities ``p`` on labels ``y``.

    Fast enough to bootstrap.
    """
    if metric == "ks":
        return ks_statistic(y, p)
    yhat = p >= thr
    tp, fp, fn = np.sum(yhat & (y == 1)), np.sum(yhat & (y == 0)), np.sum(~yhat & (y == 1))
    return {"accuracy": np.mean(yhat == (y == 1)), "error_rate": np.mean(yhat != (y == 1)),
            "precision": tp / (tp + fp) if tp + fp else 0.0,
            "recall": tp / (tp + fn) if tp + fn else 0.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0}[metric]


def table3_differences(table3: pd.DataFrame, t3_proba: Mapping, y_te, *, n_boot: int,
                       seed: int):
    """XMP's metric minus the better of RF's and LR's, each ranking with its own model.

    Parameters
    ----------
    table3, t3_proba
        From :func:`~fedlib.vertical.xmp.ranking_comparison` (``return_proba=True``).
    y_te
        Test labels.
    n_boot, seed
        Paired bootstrap over the test rows (one resample for the three models).

    Returns
    -------
    diffs : dict
        Metric (accuracy, precision, f1, ks) → :class:`~fedlib.evaluate.uncertainty.Estimate`.
    single : list of str
        ``"<ranking> ranking"`` for each model that predicts a single class on the test rows.
    ci : pandas.DataFrame
        The differences as text with their intervals, one row.
    """
    own = table3[table3.ranking == table3["evaluated with"]].set_index("ranking")
    single = [f"{r} ranking" for r in own.index if own.loc[r, "predicted classes"] < 2]
    t3 = {r: (t3_proba[(r, r)], float(own.loc[r, "threshold"])) for r in own.index}
    diffs = {
        m: Estimate.bootstrap(
            lambda y, a, b, c, m=m: at_threshold(m, y, a, t3["XGBoost (XMP)"][1])
            - max(at_threshold(m, y, b, t3["RF"][1]), at_threshold(m, y, c, t3["LR"][1])),
            y_te, t3["XGBoost (XMP)"][0], t3["RF"][0], t3["LR"][0], n_boot=n_boot,
            seed=seed, strata=y_te)
        for m in ("accuracy", "precision", "f1", "ks")}
    ci = pd.DataFrame({m: [f"{e.value:+.3f} [{e.interval[0]:+.3f}, {e.interval[1]:+.3f}]"]
                       for m, e in diffs.items()}, index=["XMP − better of RF, LR"])
    return diffs, single, ci


@dataclass
class Rankings:
    """Table 3: XMP's ranking against RF's and LR's, with the paired differences.

    Attributes
    ----------
    table
        One row per ranking and model it is evaluated with.
    diffs, single
        :func:`table3_differences`' estimates and the rankings predicting a single class.
    ci
        The differences as the chapter shows them.
    """

    table: pd.DataFrame
    diffs: dict
    single: list
    ci: pd.DataFrame

    @property
    def note(self) -> str | None:
        """What to say when a model predicts a single class (None when none does)."""
        if not self.single:
            return None
        return (f"**{', '.join(self.single)}: the model predicts a single class on the test "
                "rows** at its threshold; its accuracy, precision and F1 comparisons are not "
                "scored.")


def rankings_table3(results, cand_tr: pd.DataFrame, cand_te: pd.DataFrame, al: Aligned, *,
                    k: int, P) -> Rankings:
    """Table 3: the top ``k`` of each ranking (XMP, RF, LR), with XMP's differences.

    Each ranking is evaluated with its own model and with XGBoost (recorded as ``table3``);
    XMP minus the better of RF and LR gets a paired bootstrap interval over the test rows.

    Returns
    -------
    Rankings
    """
    table3, proba = ranking_comparison(
        cand_tr.to_numpy(), al.y_tr, cand_te.to_numpy(), al.y_te, list(cand_tr.columns), k=k,
        xgb_params=selection_params(P), seed=P.seed,
        threshold="validation" if al.choose_thr else al.fixed_thr,
        validation_size=P.validation_size, return_proba=True)
    results.add_metrics(table3.rename(columns={"ranking": "mode", "evaluated with": "setting"})
                        .melt(id_vars=["mode", "setting"], var_name="metric",
                              value_vars=["accuracy", "precision", "recall", "f1", "ks", "auc"]),
                        experiment="table3", party="all", round=None)
    diffs, single, ci = table3_differences(table3, proba, al.y_te, n_boot=P.bootstrap,
                                           seed=P.seed + 3)
    return Rankings(table3.drop(columns=["features", "error_rate"]), diffs, single, ci)
