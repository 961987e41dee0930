"""Chapter 3's figures of the trained models: convergence (Fig. 8), timing (Fig. 9), calibration (Fig. 11).

Serves the chapter's sections "Convergence (the paper's Fig. 8)", "Early and late defaulters
(the paper's Fig. 9)" and "Calibration: predicted vs Kaplan–Meier per client, and vs the true
hazard (Fig. 11)": each figure, the numbers behind it, and the section call that records them
and glues the figure for the page.

References: Amed, Sen & Banerjee (2026), FSL-BDP, Figs. 8, 9 and 11.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from fedlib.book.glue import glue
from fedlib.evaluate.figures import LINE_STYLES, book_theme, legend_below, new_figure
from fedlib.survival.experiment import TrainingConfig, expected_default_month
from fedlib.survival.metrics import kaplan_meier
from fedlib.survival.model import predict_survival
from fedlib.survival.tuning import METHOD_MODES

__all__ = ["convergence_curves", "km_calibration", "plot_convergence", "plot_timing",
           "report_calibration", "report_timing", "timing_table", "true_hazard_calibration"]


def _glue_figure(name: str, fig) -> None:
    """Glue a figure for ``{glue:figure}`` and close it (the page shows the glued copy)."""
    glue(name, fig, display=False)
    plt.close(fig)


def convergence_curves(runs: Mapping[str, Any], sweep_rows: list[pd.DataFrame], *,
                       settings: Mapping[str, TrainingConfig], epsilon: float,
                       seeds: Sequence[int]) -> pd.DataFrame:
    """The training histories of the main runs and the first seed's sweep runs, in one frame.

    Parameters
    ----------
    runs
        The main run's models by scenario (each with a ``history``).
    sweep_rows
        The sweep's histories (:func:`epsilon_sweep`).
    settings
        Each mode's training settings: its E puts federated rounds on the epoch axis.
    epsilon
        The main run's ε.
    seeds
        The seeds; the main runs are labelled with the first.

    Returns
    -------
    pandas.DataFrame
        With ``step, scenario, epsilon, seed, paradigm, privacy, label``.
    """
    curves = []
    for sc, run in runs.items():
        h = run.history.copy()
        mode = METHOD_MODES[sc.split(" (")[1].rstrip(")")]
        h["step"] = h["epoch"] if "epoch" in h else h["round"] * settings[mode].local_epochs
        h["scenario"], h["epsilon"], h["seed"] = sc, epsilon, seeds[0]
        curves.append(h)
    curves += [h for h in sweep_rows if h["seed"].iloc[0] == seeds[0]]
    curves = pd.concat(curves, ignore_index=True)
    curves["paradigm"] = curves.scenario.str.split(" ").str[0]
    curves["privacy"] = curves.scenario.str.extract(r"\((.*)\)")[0]
    curves["label"] = curves.privacy + np.where(curves.privacy == "No DP", "",
                                                " ε=" + curves.epsilon.map("{:g}".format))
    return curves


def plot_convergence(curves: pd.DataFrame):
    """Fig. 8: training loss and test C-index per epoch, centralised and federated.

    Parameters
    ----------
    curves
        :func:`convergence_curves`.

    Returns
    -------
    matplotlib.figure.Figure
        A 2 × 2 grid (loss, C-index) × (centralised, federated).
    """
    labels = list(pd.unique(curves.label))
    privacies = list(pd.unique(curves.privacy))
    with book_theme():
        fig8, axes = new_figure(5.6, ncols=2, nrows=2, sharex="col")
        for j, paradigm in enumerate(("Centralized", "Federated")):
            sub = curves[curves.paradigm == paradigm]
            for i, (col, ylab) in enumerate((("train_loss", "training loss (eq. 1)"),
                                             ("test_ci", "test C-index"))):
                # Colour per run, line style and marker per privacy kind: runs that
                # coincide stay apart.
                sns.lineplot(data=sub, x="step", y=col, hue="label", hue_order=labels,
                             style="privacy", style_order=privacies, markers=True,
                             ax=axes[i, j], legend=(i == 0 and j == 0))
                axes[i, j].set_ylabel(ylab)
                axes[i, j].set_xlabel("")
                axes[i, j].xaxis.set_major_locator(MaxNLocator(integer=True))
                axes[i, j].set_title(f"{paradigm}" if i == 0 else "")
        fig8.supxlabel("epochs over the data")
        legend_below(fig8, axes[0, 0])
    return fig8


def timing_table(runs: Mapping[str, Any], ds, data) -> pd.DataFrame:
    """Fig. 9's numbers: mean predicted default month of early, late and non-defaulters.

    Parameters
    ----------
    runs
        The main run's models by scenario (the federated no-DP and BDP ones are used).
    ds, data
        The dataset (its true hazard, if any) and its prepared form.

    Returns
    -------
    pandas.DataFrame
        One row per model, plus the true hazard (generated data) and the observed month.
    """
    Xte, tte, ete, _ = data.pooled("test")
    early, late = (ete == 1) & (tte < ds.window / 2), (ete == 1) & (tte >= ds.window / 2)

    def row(label, S):
        m = expected_default_month(S)
        return {"model": label, "early defaulters": np.nanmean(m[early]),
                "late defaulters": np.nanmean(m[late]), "non-defaulters": np.nanmean(m[ete == 0])}

    rows = [row(label, predict_survival(runs[label].model, Xte))
            for label in ("Federated (No DP)", "Federated (BDP)")]
    if ds.truth is not None:
        rows.append(row("true hazard", ds.truth.survival[data.pooled_index("test")]))
    timing = pd.DataFrame(rows).set_index("model")
    timing.loc["observed default month"] = [tte[early].mean() + 0.5, tte[late].mean() + 0.5, np.nan]
    return timing


def plot_timing(model, data, window: int):
    """Fig. 9: mean predicted survival of early, late and non-defaulters of the test set.

    Parameters
    ----------
    model
        The survival network drawn.
    data
        The prepared dataset (its pooled test rows).
    window
        Observation window in months; defaulters before its half are "early".

    Returns
    -------
    matplotlib.figure.Figure
    """
    Xte, tte, ete, _ = data.pooled("test")
    early, late = (ete == 1) & (tte < window / 2), (ete == 1) & (tte >= window / 2)
    S = predict_survival(model, Xte)
    with book_theme():
        fig9, ax = new_figure(3.6)
        months = np.arange(0, window + 1)
        groups = ((early, "early defaulters"), (late, "late defaulters"),
                  (ete == 0, "non-defaulters"))
        for i, (mask, name) in enumerate(groups):
            if mask.any():
                ax.plot(months, np.r_[1.0, S[mask].mean(0)], ls=LINE_STYLES[i],
                        label=f"{name} (n={int(mask.sum())})")
        ax.set_xlabel("months since origination")
        ax.set_ylabel("mean predicted survival probability")
        ax.legend()
    return fig9


def report_timing(results, main: dict, timing_rows: list, ds, data) -> pd.DataFrame:
    """Fig. 9: when the models predict default, for early, late and non-defaulters.

    Records :func:`timing_table` (``timing``), glues the federated BDP model's mean over seeds
    (``early_month``, ``late_month``) and the figure ``fig_03_timing``.

    Returns
    -------
    pandas.DataFrame
        :func:`timing_table` (the first seed).
    """
    timing = timing_table(main.runs, ds, data)
    seeds = pd.DataFrame(timing_rows)
    glue("early_month", float(seeds["early"].mean()), display=False)
    glue("late_month", float(seeds["late"].mean()), display=False)
    for model_name, r in timing.iterrows():
        for col, v in r.items():
            results.add_metric(experiment="timing", mode=model_name, setting=col,
                               metric="mean_predicted_default_month", value=float(v))
    _glue_figure("fig_03_timing", plot_timing(main.runs["Federated (No DP)"].model, data,
                                              ds.window))
    return timing


def km_calibration(model, ds, data, n_clients: int = 9):
    """Fig. 11: predicted survival against each large client's Kaplan–Meier band.

    Parameters
    ----------
    model
        The model whose mean predicted survival is drawn.
    ds, data
        The dataset (its true hazard, if any, is drawn too) and its prepared form.
    n_clients
        How many of the largest clients to draw (a 3 × 3 grid).

    Returns
    -------
    tuple
        The figure and, per client, the share of months the prediction lies inside the band.
    """
    months = np.arange(0, ds.window + 1)
    order = sorted(data.clients, key=lambda c: -c.n_train)[:n_clients]
    inside = []
    with book_theme():
        fig11, axes = new_figure(7.0, ncols=3, nrows=3, sharex=True, sharey=True)
        for ax, c in zip(axes.ravel(), order, strict=False):
            t, s, lo, hi = kaplan_meier(c.t_test, c.e_test)
            ax.step(np.r_[0, t], np.r_[1, s], where="post", color="k", label="Kaplan–Meier")
            ax.fill_between(np.r_[0, t], np.r_[1, lo], np.r_[1, hi], step="post", color="k",
                            alpha=0.15)
            pred = np.r_[1.0, predict_survival(model, c.X_test).mean(0)]
            ax.plot(months, pred, color="C1", ls="--", label="predicted (federated BDP)")
            if ds.truth is not None:
                ax.plot(months, np.r_[1.0, ds.truth.survival[c.idx_test].mean(0)], ":",
                        color="C2", label="true hazard")
            lo_at = np.r_[1, lo][np.searchsorted(t, months[1:], side="right")]
            hi_at = np.r_[1, hi][np.searchsorted(t, months[1:], side="right")]
            inside.append({"client": c.name, "share of months inside the KM band":
                           float(np.mean((pred[1:] >= lo_at) & (pred[1:] <= hi_at)))})
            ax.set_title(f"{c.name} (n test = {len(c.t_test)})", fontsize=10)
        for ax in axes.ravel()[len(order):]:
            ax.set_visible(False)
        fig11.supxlabel("months since origination")
        fig11.supylabel("survival probability")
        legend_below(fig11, axes[0, 0])
    return fig11, pd.DataFrame(inside)


def true_hazard_calibration(runs: Mapping[str, Any], ds, data) -> pd.DataFrame:
    """Each federated model's mean absolute survival error against the true hazard.

    Parameters
    ----------
    runs
        The main run's models by scenario.
    ds, data
        The dataset (``ds.truth`` holds the true survival, None for a real file) and its
        prepared form.

    Returns
    -------
    pandas.DataFrame
        One row per federated model with the mean |Ŝ − S| and the portfolio's predicted and
        true survival at the window's end; empty without a true hazard.
    """
    cal_rows = []
    if ds.truth is not None:
        Xte = data.pooled("test")[0]
        S_true = ds.truth.survival[data.pooled_index("test")]
        for sc in ("Federated (No DP)", "Federated (Classical DP)", "Federated (BDP)"):
            S_hat = predict_survival(runs[sc].model, Xte)
            cal_rows.append({"model": sc,
                             "mean |S_hat - S_true|": float(np.abs(S_hat - S_true).mean()),
                             "portfolio S(24) predicted": float(S_hat[:, -1].mean()),
                             "portfolio S(24) true": float(S_true[:, -1].mean())})
    return pd.DataFrame(cal_rows)


def report_calibration(results, main: dict, ds, data) -> pd.DataFrame:
    """Fig. 11 and calibration against the true hazard: the KM band coverage per client.

    Draws :func:`km_calibration` for the federated BDP model (glued ``fig_03_km``), glues the
    mean share of months inside the band (``km_inside``) and ``cal_text``, and records
    :func:`true_hazard_calibration` (``calibration``).

    Returns
    -------
    pandas.DataFrame
        :func:`true_hazard_calibration` (empty for a real file).
    """
    fig11, inside = km_calibration(main.runs["Federated (BDP)"].model, ds, data)
    _glue_figure("fig_03_km", fig11)
    glue("km_inside", float(inside.iloc[:, 1].mean()), display=False)
    calibration = true_hazard_calibration(main.runs, ds, data)
    for r in calibration.itertuples(index=False):
        results.add_metric(experiment="calibration", mode=r.model, setting="vs true hazard",
                           metric="mean_abs_survival_error", value=r[1])
    glue("cal_text", "Because the true hazard is known for these generated default times, the "
         "table measures calibration directly against it, borrower by borrower, instead of "
         "against a Kaplan–Meier band that is wide for small clients." if ds.truth is not None
         else "On a real file the true hazard is unknown, so the Kaplan–Meier bands are the "
         "only calibration check.", display=False)
    return calibration
