"""Small seaborn figure helpers with one theme for the whole book.

Every helper builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``): nothing is
shown, no global figure list grows across a long notebook, any backend works (Agg in tests and
papermill), and Jupyter still renders the returned figure inline. The theme is applied with
seaborn's context managers around figure creation, so importing or calling these helpers never
changes global ``rcParams``. Error bars are standard deviations, never bootstrap intervals, so
the same data always gives the same picture.

References: paper 001 Figs 6–9 (accuracy/loss per round, client time and server latency
bars), reliability curves and subgroup performance (§5); paper 000 Fig 3 (AUC vs ε).
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"round": [1, 2, 1, 2], "value": [0.8, 0.9, 0.7, 0.8],
...                    "mode": ["standard", "standard", "dp", "dp"]})
>>> fig = plot_rounds(df, y="value", hue="mode", title="Accuracy")
>>> len(fig.axes), len(data_lines(fig.axes[0]))
(1, 2)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

__all__ = [
    "PALETTE",
    "book_theme",
    "data_lines",
    "plot_epsilon_curve",
    "plot_reliability",
    "plot_rounds",
    "plot_subgroups",
    "plot_timing_bars",
]

#: Colour-blind-safe palette used by every figure of the book.
PALETTE = "colorblind"


@contextmanager
def book_theme() -> Iterator[None]:
    """The book's seaborn style, applied only inside the ``with`` block."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        yield


def data_lines(ax) -> list:
    """Lines of ``ax`` that carry data (seaborn adds empty lines as legend handles)."""
    return [line for line in ax.lines if len(line.get_xdata()) > 0]


def _figure(ncols: int = 1, figsize: tuple[float, float] | None = None) -> tuple[Figure, list]:
    fig = Figure(figsize=figsize or (5.5 * ncols, 3.8), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _need(df: pd.DataFrame, *cols: str | None) -> None:
    missing = [c for c in cols if c is not None and c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the frame (has {list(df.columns)})")


def plot_rounds(df: pd.DataFrame, *, x: str = "round", y: str = "value", hue: str | None = None,
                style: str | None = None, col: str | None = None, title: str | None = None,
                ylabel: str | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """Metric per round from a long-format frame, one line per ``hue`` (paper 001 Figs 6–7).

    ``col`` draws one panel per value (e.g. ``col="metric"`` for accuracy and loss side by
    side); repeated rows per (x, hue) are averaged with a ±1 sd band.
    """
    _need(df, x, y, hue, style, col)
    panels = [None] if col is None else list(pd.unique(df[col]))
    with book_theme():
        fig, axes = _figure(len(panels), figsize)
        for ax, panel in zip(axes, panels, strict=True):
            data = df if panel is None else df[df[col] == panel]
            sns.lineplot(data=data, x=x, y=y, hue=hue, style=style, marker="o", errorbar="sd",
                         palette=PALETTE if hue else None, ax=ax)
            ax.set_ylabel(ylabel or (str(panel) if panel is not None else y))
            if panel is not None:
                ax.set_title(str(panel))
        if title:
            fig.suptitle(title)
    return fig


def plot_reliability(curves: Mapping[str, pd.DataFrame], *, title: str | None = "Reliability",
                     figsize: tuple[float, float] | None = None) -> Figure:
    """Reliability curves (observed rate vs mean prediction) with the diagonal of perfection.

    ``curves`` maps a name to a :func:`fedlib.evaluate.reliability_curve` frame; the figure has
    one line per curve plus the dashed diagonal.
    """
    with book_theme():
        fig, (ax,) = _figure(1, figsize or (4.8, 4.4))
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
        colours = sns.color_palette(PALETTE, max(len(curves), 1))
        for colour, (name, table) in zip(colours, curves.items(), strict=False):
            _need(table, "mean_predicted", "observed_rate")
            ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", color=colour,
                    label=str(name))
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability",
               ylabel="observed positive rate", title=title)
        ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_timing_bars(df: pd.DataFrame, *, x: str, y: str, hue: str | None = None,
                     title: str | None = None, ylabel: str | None = "seconds",
                     log: bool = False, figsize: tuple[float, float] | None = None) -> Figure:
    """Bars of a time (or any cost) per configuration, ±1 sd over repeats (paper 001 Figs 8–9)."""
    _need(df, x, y, hue)
    with book_theme():
        fig, (ax,) = _figure(1, figsize)
        # Without a hue, colour by x (seaborn deprecates a palette with no hue).
        sns.barplot(data=df, x=x, y=y, hue=hue or x, legend=hue is not None, errorbar="sd",
                    palette=PALETTE, ax=ax)
        ax.set(title=title, ylabel=ylabel)
        if log:
            ax.set_yscale("log")
    return fig


def plot_subgroups(df: pd.DataFrame, *, group: str, metric: str = "accuracy",
                   hue: str | None = None, title: str | None = None,
                   figsize: tuple[float, float] | None = None) -> Figure:
    """Bars of one metric per subgroup (e.g. a :func:`subgroup_metrics` frame per mode)."""
    _need(df, group, metric, hue)
    with book_theme():
        fig, (ax,) = _figure(1, figsize)
        sns.barplot(data=df, x=group, y=metric, hue=hue or group, legend=hue is not None,
                    errorbar="sd", palette=PALETTE, ax=ax)
        ax.set(title=title, ylabel=metric)
        if df[metric].between(0, 1).all():
            ax.set_ylim(0, 1)
    return fig


def plot_epsilon_curve(df: pd.DataFrame, *, x: str = "epsilon", y: str = "roc_auc",
                       hue: str | None = None, logx: bool = True, title: str | None = None,
                       figsize: tuple[float, float] | None = None) -> Figure:
    """A metric against the privacy budget ε, one line per ``hue`` (paper 000 Fig 3)."""
    _need(df, x, y, hue)
    if logx and (np.asarray(df[x], dtype=float) <= 0).any():
        raise ValueError(f"logx=True needs {x} > 0; pass logx=False")
    with book_theme():
        fig, (ax,) = _figure(1, figsize)
        sns.lineplot(data=df, x=x, y=y, hue=hue, marker="o", errorbar="sd",
                     palette=PALETTE if hue else None, ax=ax)
        if logx:
            ax.set_xscale("log")
        ax.set(title=title, xlabel="ε" if x == "epsilon" else x, ylabel=y)
    return fig
