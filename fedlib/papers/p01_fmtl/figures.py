"""Chapter 1's figures: the λ sweep, per-institution AUC, score densities and the ε curve.

Serves the chapter's (``chapters/01_fmtl_dp_secagg.py``) sections "Why λ matters", "Per-
institution AUC (the paper's Fig. 4) and score distributions (Fig. 2)" and the privacy budget
sweep (Fig. 3), drawn to the book's figure standard (:mod:`fedlib.evaluate.figures`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fedlib.evaluate.figures import (
    LINE_STYLES,
    book_theme,
    legend_below,
    new_figure,
    plot_epsilon_curve,
    tilt_crowded_ticks,
)
from fedlib.papers.p01_fmtl.experiment import ORDER, predicted_scores
from fedlib.papers.p01_fmtl.lab import Lab

__all__ = [
    "auc_bars_figure",
    "epsilon_figure",
    "lambda_figure",
    "score_density_figure",
    "score_kde_figure",
]


def lambda_figure(lam_table: pd.DataFrame, fedavg_val: float):
    """Figure: FMTL's validation AUC against λ for both optimisers, FedAvg dashed."""
    with book_theme():
        fig, ax = new_figure(3.4)
        for i, (opt, g) in enumerate(lam_table.groupby("optimiser")):
            x = np.maximum(g["lambda"].to_numpy(), 1e-3)
            ax.plot(x, g["val AUC"], marker="os"[i % 2], ls=LINE_STYLES[i % len(LINE_STYLES)],
                    label=f"FMTL, {opt} (lr {g.lr.iloc[0]:g})")
        ax.axhline(fedavg_val, ls="--", color="black", label="FedAvg (tuned)")
        ax.set_xscale("log")
        ax.set(xlabel="λ (0 drawn at 1e-3)", ylabel="mean validation AUC")
        legend_below(fig, ax)
    return fig


def auc_bars_figure(nodp: pd.DataFrame):
    """Figure: test AUC per institution and model (mean bars, min–max lines over seeds)."""
    import seaborn as sns

    bars = nodp.rename(columns={"roc_auc": "AUC"})
    with book_theme():
        fig, ax = new_figure(3.6)
        sns.barplot(data=bars, x="institution", y="AUC", hue="model", hue_order=ORDER,
                    errorbar=("pi", 100), ax=ax)
        ax.set_ylim(0.5, max(0.85, bars.AUC.max() + 0.03))
        ax.set(xlabel="institution", ylabel="test AUC")
        legend_below(fig, ax)
        tilt_crowded_ticks(fig, ax)
    return fig


def score_kde_figure(lab: Lab, fmtl_models: dict, seed: int):
    """Figure: densities of predicted default probability before training and after FMTL."""
    return score_density_figure(predicted_scores(lab, fmtl_models, seed))


def score_density_figure(score_frame: pd.DataFrame):
    """Two panels (before training, after FMTL) of score densities, one line per institution.

    Parameters
    ----------
    score_frame
        From :func:`predicted_scores`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    institutions = list(pd.unique(score_frame.institution))
    with book_theme():
        fig, axes = new_figure(3.4, ncols=2, sharey=False)
        for j, (ax, when) in enumerate(zip(axes, ["before training", "after FMTL"],
                                           strict=True)):
            sns.kdeplot(data=score_frame[score_frame.when == when],
                        x="predicted default probability", hue="institution",
                        hue_order=institutions, common_norm=False, ax=ax, warn_singular=False,
                        legend=j == 0)
            ax.set(title=when, ylabel="density")
        legend_below(fig, axes[0], ncols=4)
    return fig


def epsilon_figure(sweep: pd.DataFrame, no_dp_auc: Mapping[str, float]):
    """Average test AUC against ε per model, each model's no-DP AUC as a dotted line.

    Parameters
    ----------
    sweep
        Rows ``model``, ``epsilon``, ``avg_auc`` (one per seed).
    no_dp_auc
        Model name → its average AUC without DP.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = plot_epsilon_curve(sweep.rename(columns={"model": "mode"}), x="epsilon",
                             y="avg_auc", hue="mode", ylabel="average AUC over institutions")
    ax = fig.axes[0]
    # The reference line takes its model's colour, so the two stay apart.
    handles = dict(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    for label, auc in no_dp_auc.items():
        colour = handles[label].get_color() if label in handles else "grey"
        ax.axhline(float(auc), ls=":", lw=1.2, color=colour, label=f"{label}, no DP")
    with book_theme():
        legend_below(fig, ax)
    return fig
