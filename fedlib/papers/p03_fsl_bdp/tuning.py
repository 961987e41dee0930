"""Chapter 3's section "Tuning every method alike": no DP, classical DP and BDP tuned by one rule.

The paper trains every model with one fixed setting and does not say how it was chosen; the
chapter tunes the three methods alike (:func:`fedlib.survival.tuning.tune_survival`, the book's
one rule) and this module holds that sweep, its table, its figure of validation curves, its
recorded rows and the sentence that says what was chosen.

References: Amed, Sen & Banerjee (2026), FSL-BDP, Table 3's methods and their training settings.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import seaborn as sns
from tqdm.std import tqdm

from fedlib.book.glue import glue
from fedlib.evaluate.figures import LINE_STYLES, book_theme, legend_below, new_figure
from fedlib.evaluate.tuning import grid
from fedlib.papers.p03_fsl_bdp.figures import _glue_figure
from fedlib.survival.tuning import METHOD_MODES, SurvivalTuning, tune_survival

__all__ = ["plot_tuning_curves", "record_tuning", "report_tuning", "tune_methods", "tuning_table",
           "tuning_text"]


def tune_methods(data, P, *, init_hazard: float | None) -> SurvivalTuning:
    """Tune no DP, classical DP and BDP alike (:func:`fedlib.survival.tuning.tune_survival`).

    Every method gets ``P.tuning_budget`` configurations of ``lr_grid × batch_grid ×
    epoch_grid``, trained centrally on the pooled fitting rows for ``rounds × E`` epochs and
    scored by the validation C-index; the private ones are calibrated to ``target_epsilon``.

    Parameters
    ----------
    data
        The prepared dataset (only its training rows are used).
    P
        The chapter's parameters.
    init_hazard
        The main runs' initial hazard.

    Returns
    -------
    SurvivalTuning
    """
    candidates = grid(lr=P.lr_grid, batch_size=P.batch_grid, local_epochs=P.epoch_grid)
    with tqdm(total=len(METHOD_MODES) * P.tuning_budget, desc="tuning", file=sys.stderr) as bar:
        return tune_survival(data, grids=dict.fromkeys(METHOD_MODES, candidates),
                             budget=P.tuning_budget, seed=P.seed, rounds=P.rounds,
                             target_epsilon=P.target_epsilon, delta=P.delta,
                             clip_norm=P.clip_norm, n_neighbours=P.bdp_neighbours,
                             pilot_steps=P.bdp_pilot_steps, init_hazard=init_hazard,
                             validation_fraction=P.validation_fraction, noise_seed=P.seed,
                             progress=lambda line: bar.update())


def tuning_table(tuning: SurvivalTuning) -> pd.DataFrame:
    """The sweep as the chapter shows it: method, configuration, σ and ε, validation C-index.

    Parameters
    ----------
    tuning
        :func:`tune_methods`' result.

    Returns
    -------
    pandas.DataFrame
        One row per method and configuration tried, best first within a method.
    """
    t = tuning.sweep.rename(columns={"val_score": "validation C-index",
                                     "epsilon_planned": "ε calibrated",
                                     "epsilon": "ε reached (accountant)",
                                     "epochs": "centralised epochs"})
    order = {m: i for i, m in enumerate(METHOD_MODES)}
    t = t.assign(_o=t.method.map(order)).sort_values(["_o", "validation C-index"],
                                                     ascending=[True, False])
    return t[["method", "config", "centralised epochs", "sigma", "ε calibrated",
              "ε reached (accountant)", "validation C-index", "chosen"]].reset_index(drop=True)


def record_tuning(results, tuning: SurvivalTuning) -> None:
    """Record every configuration's validation C-index (and a private one's ε) in ``results``."""
    for r in tuning.sweep.itertuples():
        results.add_metric(experiment="tuning", mode=r.method, setting=r.config, party="central",
                           metric="val_c_index", value=float(r.val_score))
        if np.isfinite(r.epsilon):
            results.add_metric(experiment="tuning", mode=r.method, setting=r.config,
                               party="central", metric="epsilon", value=float(r.epsilon))


def tuning_text(tuning: SurvivalTuning, P) -> str:
    """The sentence that says what was chosen, on which rows, and what ε does not cover.

    Parameters
    ----------
    tuning
        :func:`tune_methods`' result.
    P
        The chapter's parameters.

    Returns
    -------
    str
        Markdown.
    """
    val = tuning.validation
    n_val = sum(len(c.t_test) for c in val.clients)
    n_fit = sum(c.n_train for c in val.clients)
    chosen = "; ".join(
        f"**{m}**: lr = {c.lr:g}, batch {c.batch_size}, E = {c.local_epochs} "
        f"({c.epochs(rounds=P.rounds)} centralised epochs; validation C-index "
        f"{tuning.chosen_row(m).val_score:.3f}"
        + (f", ε = {tuning.chosen_row(m).epsilon:.2f}" if mode != "none" else "") + ")"
        for m, mode in METHOD_MODES.items() for c in [tuning.settings[mode]])
    size = len(P.lr_grid) * len(P.batch_grid) * len(P.epoch_grid)
    tried = (f"all {size} configurations of the grid (the same ones)" if P.tuning_budget == size
             else f"{P.tuning_budget} of the {size} configurations of the grid (a seeded draw "
             "per method)")
    return (f"Each method tried {tried}, trained on {n_fit:,} pooled training loans and scored "
            f"on {n_val:,} validation loans held out of the training rows (stratified on the "
            f"event; no test or out-of-time loan). Chosen: {chosen}. The same values are used "
            "by the centralised and the federated runs below (E local epochs per round, R × E "
            "epochs centralised), and by the ε sweep and the synthetic runs. The final models "
            "are trained on all training rows, validation rows included. The tuning used the "
            "private rows without noise and without accounting: the chosen hyper-parameters "
            "are not covered by ε (only each training run is).")


def plot_tuning_curves(tuning: SurvivalTuning):
    """Validation C-index after every epoch of every configuration tried, one panel per method.

    Parameters
    ----------
    tuning
        :func:`tune_methods`' result.

    Returns
    -------
    matplotlib.figure.Figure
        The chosen configuration's curve has a thick grey outline.
    """
    methods = list(METHOD_MODES)
    chosen = set(zip(tuning.sweep.method[tuning.sweep.chosen],
                     tuning.sweep.config[tuning.sweep.chosen], strict=True))
    configs = list(dict.fromkeys(tuning.curves.config))      # the same grid for every method
    colours = sns.color_palette("colorblind", len(configs))
    with book_theme():
        fig, axes = new_figure(3.4, ncols=len(methods), sharey=True, squeeze=False)
        for ax, method in zip(axes[0], methods, strict=True):
            sub = tuning.curves[tuning.curves.method == method]
            for config, h in sub.groupby("config", sort=False):
                i = configs.index(config)
                ax.plot(h.epoch, h.val_ci, color=colours[i], ls=LINE_STYLES[i % len(LINE_STYLES)],
                        lw=1.2, label=config)
                if (method, config) in chosen:   # the chosen one: a thick black outline on top
                    ax.plot(h.epoch, h.val_ci, color="k", lw=2.8, zorder=1, alpha=0.35)
            ax.axhline(0.5, ls=":", color="grey")
            ax.set_title(method)
            ax.xaxis.get_major_locator().set_params(integer=True)
        fig.supylabel("validation C-index")
        fig.supxlabel("centralised epoch")
        legend_below(fig, axes[0][0], ncols=2)
    return fig


def report_tuning(results, tuning: SurvivalTuning, P) -> pd.DataFrame:
    """Record the tuning sweep, glue its figure (``fig_03_tuning``) and sentence (``tuning_txt``).

    Parameters
    ----------
    results
        The chapter's results writer.
    tuning
        :func:`tune_methods`' result.
    P
        The chapter's parameters.

    Returns
    -------
    pandas.DataFrame
        :func:`tuning_table`.
    """
    record_tuning(results, tuning)
    _glue_figure("fig_03_tuning", plot_tuning_curves(tuning))
    glue("tuning_txt", tuning_text(tuning, P), display=False)
    return tuning_table(tuning)
