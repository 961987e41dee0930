"""One figure standard for the whole book: seaborn helpers and the checker that enforces it.

Figures reach the page as SVG at their own size (:mod:`fedlib.book.glue`), so a figure wider
than the text column is scaled down by the browser, and its fonts with it. Every figure is
therefore drawn at :data:`COLUMN_WIDTH_IN` with :func:`new_figure`, inside :func:`book_theme`
(fonts of at least :data:`MIN_FONT_PT`), and :func:`figure_problems` lists every way a figure
breaks the standard (issue 13 item 5): wider than the column, text below 10 pt, an axes with
data but no x or y label, fractional ticks on a rounds/epochs axis, overlapping tick labels,
two series in the same colour and line style. ``tests/test_figure_standard.py`` renders every
figure of the book and asserts the list is empty.

Every helper builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``): nothing is
shown, no global figure list grows across a long notebook, any backend works (Agg in tests and
papermill), and Jupyter still renders the returned figure inline. The theme is applied with
seaborn's context managers around figure creation, so importing or calling these helpers never
changes global ``rcParams``. Bands over seeds are standard deviations, never bootstrap
intervals, so the same data always gives the same picture; timings are skewed (a slow repeat
is common, a fast outlier is not), so timing bars show medians with interquartile whiskers,
which like the times themselves are never negative.

References: paper 001 Figs 6–9 (accuracy/loss per round, client time and server latency
bars), reliability curves and subgroup performance (§5); paper 000 Fig 3 (AUC vs ε).
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"round": [1, 2, 1, 2], "value": [0.8, 0.9, 0.7, 0.8],
...                    "mode": ["standard", "standard", "dp", "dp"]})
>>> fig = plot_rounds(df, y="value", hue="mode", ylabel="accuracy", title="Accuracy")
>>> len(fig.axes), len(data_lines(fig.axes[0]))
(1, 2)
>>> figure_problems(fig)
[]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

__all__ = [
    "COLUMN_WIDTH_IN",
    "MIN_FONT_PT",
    "PALETTE",
    "book_theme",
    "column_figure",
    "data_lines",
    "LINE_STYLES",
    "figure_problems",
    "legend_below",
    "new_figure",
    "plot_epsilon_curve",
    "plot_reliability",
    "plot_rounds",
    "plot_subgroups",
    "plot_timing_bars",
    "tilt_crowded_ticks",
]

#: Colour-blind-safe palette used by every figure of the book.
PALETTE = "colorblind"

#: Width of a figure in the book's text column, in inches. Measured in headless Chromium on
#: the built chapter pages at a 1280 px wide window: sphinx-book-theme's article content box is
#: 688 CSS px and a figure's image gets 672 px of it; at 96 CSS px per inch that is 7.0 in
#: (504 pt in the SVG, 72 pt per inch), so a figure this wide is shown at its own size.
COLUMN_WIDTH_IN = 672 / 96

#: Smallest font, in points at display size, that any text of a figure may use.
MIN_FONT_PT = 10.0

# Font sizes of the theme: at least MIN_FONT_PT everywhere, titles a little larger.
_FONT_RC = {"font.size": 10, "axes.labelsize": 10, "axes.titlesize": 11,
            "xtick.labelsize": 10, "ytick.labelsize": 10, "legend.fontsize": 10,
            "legend.title_fontsize": 10, "figure.titlesize": 11, "figure.labelsize": 10}

# An axis label naming rounds or epochs counts whole steps and needs integer ticks, unless the
# word follows "per" ("ms per local epoch" is a rate, not a count).
_COUNT_AXIS = re.compile(r"\b(round|epoch)s?\b", re.IGNORECASE)
_RATE_AXIS = re.compile(r"\bper\b[\w\s-]*\b(round|epoch)s?\b", re.IGNORECASE)


def _counts_steps(label: str) -> bool:
    """Whether an axis labelled ``label`` counts rounds or epochs.

    >>> _counts_steps("round"), _counts_steps("epochs over the data")
    (True, True)
    >>> _counts_steps("ms per local epoch"), _counts_steps("AUC")
    (False, False)
    """
    return bool(_COUNT_AXIS.search(label)) and not _RATE_AXIS.search(label)

# Line styles given to successive series, so overplotted series stay apart without colour.
LINE_STYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1))]


@contextmanager
def book_theme() -> Iterator[None]:
    """The book's seaborn style and font sizes, applied only inside the ``with`` block."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", rc=_FONT_RC):
        yield


def column_figure(height_in: float) -> Figure:
    """An empty figure exactly the column wide, with constrained layout (for subfigures)."""
    return Figure(figsize=(COLUMN_WIDTH_IN, height_in), layout="constrained")


def new_figure(height_in: float, ncols: int = 1, nrows: int = 1, **subplots_kw):
    """A figure exactly the column wide, with constrained layout, and its axes.

    Call it inside :func:`book_theme`. ``subplots_kw`` go to :meth:`Figure.subplots`
    (``sharex``, ``sharey``, ``squeeze``, ...).

    Parameters
    ----------
    height_in
        Figure height in inches (the width is always :data:`COLUMN_WIDTH_IN`).
    ncols, nrows
        Grid of panels.

    Returns
    -------
    tuple
        ``(figure, axes)`` where ``axes`` is what :meth:`Figure.subplots` returns.
    """
    fig = column_figure(height_in)
    return fig, fig.subplots(nrows, ncols, **subplots_kw)


def data_lines(ax) -> list:
    """Lines of ``ax`` that carry data (seaborn adds empty lines as legend handles)."""
    return [line for line in ax.lines if len(line.get_xdata()) > 0]


# --- the checker -------------------------------------------------------------------------------

def _drawn_renderer(fig: Figure):
    """Draw ``fig`` and return the renderer, so text has its final size and place.

    A bare :class:`Figure` has a canvas that cannot draw; it gets an Agg canvas (saving to
    SVG later swaps in the SVG canvas by itself).
    """
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _shows_data(ax) -> bool:
    return bool(data_lines(ax) or ax.patches or ax.collections or ax.images)


def _sup_labels(ax) -> tuple[bool, bool]:
    """Whether a figure or subfigure holding ``ax`` has a shared x / y label."""
    has_x = has_y = False
    holder = ax.get_figure(root=False)
    while holder is not None:
        for attr, which in (("_supxlabel", "x"), ("_supylabel", "y")):
            label = getattr(holder, attr, None)
            if label is not None and label.get_visible() and label.get_text().strip():
                has_x, has_y = has_x or which == "x", has_y or which == "y"
        parent = getattr(holder, "_parent", None)
        holder = parent if parent is not holder else None
    return has_x, has_y


def _shown_tick_labels(axis) -> list:
    """Tick labels drawn on ``axis``: visible, non-empty and inside the view limits."""
    lo, hi = sorted(axis.get_view_interval())
    span = (hi - lo) * 1e-9
    return [tick.label1 for tick in axis.get_major_ticks()
            if tick.get_visible() and tick.label1.get_visible() and tick.label1.get_text()
            and lo - span <= tick.get_loc() <= hi + span]


def _is_integer_text(text: str) -> bool:
    try:
        value = float(text.replace("\u2212", "-").replace("−", "-"))
    except ValueError:
        return True  # a category name is not a fractional tick
    return value == int(value)


def _series_key(line) -> tuple:
    # get_linestyle() says "--" for every dash pattern; the pattern itself tells seaborn's
    # dashes apart (matplotlib keeps it only in a private attribute).
    dashes = getattr(line, "_unscaled_dash_pattern", None)
    return to_rgba(line.get_color()), str(line.get_linestyle()), str(dashes)


def _series(ax) -> list:
    """Data series of ``ax``: lines in data coordinates that run along x.

    Reference lines (``axhline``/``axvline``, drawn in axes coordinates) and seaborn's error
    bars (vertical segments at one x) are not series.
    """
    return [line for line in data_lines(ax)
            if line.get_visible() and line.get_transform() is ax.transData
            and len(np.unique(np.asarray(line.get_xdata(), dtype=float))) > 1]


def figure_problems(fig: Figure) -> list[str]:
    """Every way ``fig`` breaks the book's figure standard, as sentences (empty if none).

    Checks the width against :data:`COLUMN_WIDTH_IN` (the figure and its tight bounding box,
    which is what :mod:`fedlib.book.glue` saves), visible text below :data:`MIN_FONT_PT`, axes
    that show data without an x or y label (a ``supxlabel``/``supylabel`` counts), fractional
    tick labels on a rounds/epochs axis, overlapping tick labels and two series with the same
    colour and line style on one axes.

    Parameters
    ----------
    fig
        A drawn or undrawn figure; it is drawn here to measure text.

    Returns
    -------
    list of str
    """
    renderer = _drawn_renderer(fig)
    problems = []
    tol = 0.01
    if fig.get_figwidth() > COLUMN_WIDTH_IN + tol:
        problems.append(f"figure is {fig.get_figwidth():.2f} in wide, the column "
                        f"{COLUMN_WIDTH_IN:.2f} in")
    tight = fig.get_tightbbox(renderer).width
    if tight > COLUMN_WIDTH_IN + tol:
        problems.append(f"drawn content is {tight:.2f} in wide (tight bounding box), the "
                        f"column {COLUMN_WIDTH_IN:.2f} in")
    small = sorted({f"{t.get_text()!r} at {t.get_fontsize():g} pt"
                    for t in fig.findobj(lambda a: hasattr(a, "get_fontsize")
                                         and hasattr(a, "get_text"))
                    if t.get_visible() and t.get_text().strip()
                    and t.get_fontsize() < MIN_FONT_PT - 1e-6})
    problems += [f"text below {MIN_FONT_PT:g} pt: {s}" for s in small[:5]]
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        name = f"axes {i}" + (f" ({ax.get_title()!r})" if ax.get_title() else "")
        problems += _axes_problems(ax, name, renderer)
    return problems


def _axes_problems(ax, name: str, renderer) -> list[str]:
    problems = []
    if _shows_data(ax):
        sup_x, sup_y = _sup_labels(ax)
        if not (ax.get_xlabel().strip() or sup_x):
            problems.append(f"{name} shows data without an x label")
        if not (ax.get_ylabel().strip() or sup_y):
            problems.append(f"{name} shows data without a y label")
    for axis, label in ((ax.xaxis, ax.get_xlabel()), (ax.yaxis, ax.get_ylabel())):
        shown = _shown_tick_labels(axis)
        if _counts_steps(label):
            fractional = [t.get_text() for t in shown if not _is_integer_text(t.get_text())]
            if fractional:
                problems.append(f"{name}: axis {label!r} counts whole steps but has ticks "
                                f"{fractional}")
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in shown]
        clashes = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
                   if box_a.overlaps(box_b)]
        if clashes:
            problems.append(f"{name}: tick labels overlap: {clashes[:3]}")
    groups: dict[tuple, list[str]] = {}
    for line in _series(ax):
        groups.setdefault(_series_key(line), []).append(line.get_label())
    for same in groups.values():
        if len(same) > 1:
            problems.append(f"{name}: series {same} share one colour and line style")
    return problems


# --- the book's helpers ------------------------------------------------------------------------

def _need(df: pd.DataFrame, *cols: str | None) -> None:
    missing = [c for c in cols if c is not None and c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the frame (has {list(df.columns)})")


def legend_below(fig: Figure, ax, ncols: int = 3) -> None:
    """Move ``ax``'s legend out of the panels (under them), so no series is hidden behind it.

    Call it after any ``supxlabel``: with a shared x label the legend goes above the panels.
    """
    handles, labels = ax.get_legend_handles_labels()
    for each in fig.axes:
        if each.get_legend() is not None:
            each.get_legend().remove()
    # A shared x label already sits under the panels; constrained layout would stack the
    # legend on top of it, so the legend goes above the panels instead.
    below = fig._supxlabel is None  # matplotlib has no public getter for the sup label
    if handles:
        fig.legend(handles, labels, loc="outside lower center" if below else "outside upper center",
                   ncols=max(1, min(ncols, len(labels))), frameon=False)


def tilt_crowded_ticks(fig: Figure, ax) -> None:
    """Tilt the x tick labels of ``ax`` by 30° if, drawn flat, any two of them overlap."""
    renderer = _drawn_renderer(fig)
    boxes = [t.get_window_extent(renderer) for t in _shown_tick_labels(ax.xaxis)]
    if any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2)):
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def plot_rounds(df: pd.DataFrame, *, ylabel: str | Mapping[str, str], x: str = "round",
                y: str = "value", hue: str | None = None, col: str | None = None,
                title: str | None = None, xlabel: str | None = None,
                height_in: float = 3.4) -> Figure:
    """Metric per round from a long-format frame, one line per ``hue`` (paper 001 Figs 6–7).

    Each ``hue`` level has its own colour, line style and marker, so series that coincide
    (standard FL and CKKS are nearly identical) stay visible; the legend sits under the panels.
    ``col`` draws one panel per value (e.g. ``col="metric"`` for accuracy and loss side by
    side); repeated rows per (x, hue) are averaged with a ±1 sd band. Round ticks are integers.

    Parameters
    ----------
    df
        Long-format rows.
    ylabel
        The y axis label with its unit, or one label per ``col`` value.
    x, y, hue, col
        Columns of ``df``.
    title, xlabel
        Figure title; x label (default: the ``x`` column's name).
    height_in
        Figure height in inches (the width is the column's).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(df, x, y, hue, col)
    panels = [None] if col is None else list(pd.unique(df[col]))
    levels = list(pd.unique(df[hue])) if hue else None
    with book_theme():
        fig, axes = new_figure(height_in, ncols=len(panels), squeeze=False)
        for j, (ax, panel) in enumerate(zip(axes[0], panels, strict=True)):
            data = df if panel is None else df[df[col] == panel]
            sns.lineplot(data=data, x=x, y=y, hue=hue, hue_order=levels, style=hue,
                         style_order=levels, markers=bool(hue), dashes=True, errorbar="sd",
                         palette=PALETTE if hue else None, legend=j == 0 and bool(hue), ax=ax,
                         **({} if hue else {"marker": "o"}))
            label = ylabel.get(panel, str(panel)) if isinstance(ylabel, Mapping) else ylabel
            ax.set(xlabel=xlabel or x, ylabel=label)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if panel is not None:
                ax.set_title(str(panel))
        if hue:
            legend_below(fig, axes[0][0])
        if title:
            fig.suptitle(title)
    return fig


def plot_reliability(curves: Mapping[str, pd.DataFrame], *, title: str | None = "Reliability",
                     height_in: float = 4.2) -> Figure:
    """Reliability curves (observed rate vs mean prediction) with the diagonal of perfection.

    ``curves`` maps a name to a :func:`fedlib.evaluate.reliability_curve` frame; the figure has
    one line per curve (own colour, line style and marker) plus the grey dashed diagonal.
    """
    with book_theme():
        fig, ax = new_figure(height_in)
        ax.plot([0, 1], [0, 1], ls=(0, (2, 2)), color="grey", lw=1, label="perfectly calibrated")
        colours = sns.color_palette(PALETTE, max(len(curves), 1))
        markers = itertools.cycle("osD^v")
        for i, (colour, (name, table)) in enumerate(zip(colours, curves.items(), strict=False)):
            _need(table, "mean_predicted", "observed_rate")
            ax.plot(table["mean_predicted"], table["observed_rate"], marker=next(markers),
                    color=colour, ls=LINE_STYLES[i % len(LINE_STYLES)], label=str(name))
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability",
               ylabel="observed positive rate", title=title)
        ax.set_aspect("equal")
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return fig


def plot_timing_bars(df: pd.DataFrame, *, x: str, y: str, ylabel: str, hue: str | None = None,
                     title: str | None = None, xlabel: str | None = None, log: bool = False,
                     height_in: float = 3.2) -> Figure:
    """Median time per configuration with interquartile whiskers (paper 001 Figs 8–9).

    ``df`` holds one row per repeat (never pre-averaged): a bar is the median of its repeats
    and its whisker runs from the 25th to the 75th percentile, so a skewed timing never draws
    a negative time the way mean ± sd does.

    Parameters
    ----------
    df
        One row per repeat and configuration.
    x, y, hue
        Columns: configuration, time (or another non-negative cost), optional grouping.
    ylabel
        The y axis label with its unit (e.g. ``"ms per local epoch"``).
    title, xlabel
        Figure title; x label (default: the ``x`` column's name).
    log
        Log-scale y axis.
    height_in
        Figure height in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(df, x, y, hue)
    if (np.asarray(df[y], dtype=float) < 0).any():
        raise ValueError(f"column {y!r} has negative values; a time cannot be negative")
    with book_theme():
        fig, ax = new_figure(height_in)
        # Without a hue, colour by x (seaborn deprecates a palette with no hue).
        sns.barplot(data=df, x=x, y=y, hue=hue or x, legend=hue is not None,
                    estimator="median", errorbar=("pi", 50), palette=PALETTE, ax=ax)
        ax.set(title=title, xlabel=xlabel or x, ylabel=ylabel)
        if log:
            ax.set_yscale("log")
        tilt_crowded_ticks(fig, ax)
    return fig


def plot_subgroups(df: pd.DataFrame, *, group: str, metric: str = "accuracy",
                   hue: str | None = None, title: str | None = None,
                   xlabel: str | None = None, ylabel: str = "subgroup") -> Figure:
    """Horizontal bars of one metric per subgroup (e.g. a :func:`subgroup_metrics` frame).

    Subgroups run down the y axis so long names ("attribute: value") stay readable; the
    height grows with the number of bars. Whiskers are ±1 sd over repeated rows.

    Parameters
    ----------
    df
        One row per subgroup (and repeat).
    group, metric, hue
        Columns of ``df``: the subgroup's name, the bar's length, and an optional split of
        each subgroup into coloured bars.
    title, xlabel, ylabel
        Figure title and axis labels (``xlabel`` defaults to ``metric``).
    """
    _need(df, group, metric, hue)
    n_bars = df[group].nunique() * (df[hue].nunique() if hue else 1)
    with book_theme():
        fig, ax = new_figure(1.6 + 0.22 * n_bars)
        sns.barplot(data=df, y=group, x=metric, hue=hue or group, legend=hue is not None,
                    errorbar="sd", palette=PALETTE, orient="h", ax=ax)
        ax.set(title=title, xlabel=xlabel or metric, ylabel=ylabel)
        if df[metric].between(0, 1).all():
            ax.set_xlim(0, 1)
        if hue:
            legend_below(fig, ax)
    return fig


def plot_epsilon_curve(df: pd.DataFrame, *, x: str = "epsilon", y: str = "roc_auc",
                       ylabel: str | None = None, hue: str | None = None, logx: bool = True,
                       title: str | None = None, height_in: float = 3.4) -> Figure:
    """A metric against the privacy budget ε, one line per ``hue`` (paper 000 Fig 3).

    Each ``hue`` level has its own colour, line style and marker; bands are ±1 sd.

    Parameters
    ----------
    df
        Long-format rows.
    x, y, hue
        Columns of ``df``: the budget ε, the metric, the series.
    ylabel
        The y axis label with its unit (default: the ``y`` column's name).
    logx
        Log-scale ε axis (needs every ε > 0).
    title, height_in
        Figure title; figure height in inches (the width is the column's).
    """
    _need(df, x, y, hue)
    if logx and (np.asarray(df[x], dtype=float) <= 0).any():
        raise ValueError(f"logx=True needs {x} > 0; pass logx=False")
    with book_theme():
        fig, ax = new_figure(height_in)
        sns.lineplot(data=df, x=x, y=y, hue=hue, style=hue, markers=bool(hue), dashes=True,
                     errorbar="sd", palette=PALETTE if hue else None, ax=ax,
                     **({} if hue else {"marker": "o"}))
        if logx:
            ax.set_xscale("log")
            # Ticks at the budgets swept, written plainly (0.5, 1, 8), not as 5 × 10⁻¹.
            budgets = np.unique(np.asarray(df[x], dtype=float))
            ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set(title=title, xlabel="privacy budget ε" if x == "epsilon" else x,
               ylabel=ylabel or y)
    return fig
