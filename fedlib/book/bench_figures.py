"""How cost grows: the performance page's figures drawn from the ``make bench`` sweeps.

Three sweeps, one figure each, drawn with seaborn to the book's figure standard
(:mod:`fedlib.evaluate.figures`), both axes logarithmic because costs span orders of
magnitude and a straight line of slope ``k`` then reads as growth like ``size^k``:

* SecureBoost fit time against training rows, one line per homomorphic backend with
  plaintext boosting beside it (``bench/results/secureboost.json``, ``bench_vertical.py``);
* the secure-aggregation round time against clients, with and without dropouts, beside the
  plaintext sum (``secagg.json``, ``bench_secagg.py``; Bonawitz et al. 2017, §6: a client's
  work grows with ``n``, the server's with ``n²``);
* the DP-SGD step time against batch size beside the plain step (``dpsgd.json``,
  ``bench_dpsgd.py``; rows ``model, backend, batch, plain_us, dp_us, ratio``).

Each ``*_frame`` function turns a summary's rows into the long frame its figure draws and
raises ``ValueError`` naming the missing columns; :data:`GROWTH_FIGURES` lists, per figure,
the summary it reads and the sentence that stands in for it when that summary is missing.

Examples
--------
>>> rows = [{"clients": n, "dropouts": d, "plain_ms": 0.1, "secagg_ms": n * n * 0.1}
...         for n in (5, 10) for d in (0, 1)]
>>> secagg_frame(rows)["series"].unique().tolist()
['plaintext sum', 'plaintext sum, with dropouts', 'secure aggregation', 'secure aggregation, with dropouts']
>>> from fedlib.evaluate.figures import figure_problems
>>> figure_problems(secagg_clients_figure(secagg_frame(rows)))
[]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from fedlib.book.bench import BENCH_RESULTS, load_bench_summaries
from fedlib.evaluate.figures import PALETTE, book_theme, legend_below, new_figure

__all__ = ["GROWTH_FIGURES", "GrowthFigure", "dpsgd_batch_figure", "dpsgd_frame",
           "secagg_clients_figure", "secagg_frame", "secureboost_frame",
           "secureboost_rows_figure", "write_growth_figures"]


def _need(rows: Iterable[Mapping[str, Any]], cols: tuple[str, ...], what: str) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    missing = [c for c in cols if c not in frame.columns]
    if frame.empty or missing:
        raise ValueError(f"{what}: rows lack {missing or list(cols)}")
    return frame


def secureboost_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """``rows, model, fit_s`` rows (``bench_vertical.py``) as ``x, seconds, series``."""
    f = _need(rows, ("rows", "model", "fit_s"), "secureboost summary")
    return pd.DataFrame({"x": f["rows"].astype(int), "y": f["fit_s"].astype(float),
                         "series": f["model"].astype(str)})


def secagg_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """``bench_secagg.py``'s rows as one row per protocol and point.

    Input rows hold ``clients, dropouts, plain_ms, secagg_ms``; output rows ``x`` clients,
    ``y`` milliseconds, ``series`` protocol (and whether clients dropped).
    """
    f = _need(rows, ("clients", "dropouts", "plain_ms", "secagg_ms"), "secagg summary")
    out = []
    for _, r in f.iterrows():
        tail = ", with dropouts" if r["dropouts"] else ""
        out += [{"x": int(r["clients"]), "y": float(r["plain_ms"]),
                 "series": f"plaintext sum{tail}"},
                {"x": int(r["clients"]), "y": float(r["secagg_ms"]),
                 "series": f"secure aggregation{tail}"}]
    return pd.DataFrame(out).sort_values(["series", "x"], kind="stable").reset_index(drop=True)


def dpsgd_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """``bench_dpsgd.py``'s rows as one row per step kind and point.

    Input rows hold ``model, backend, batch, plain_us, dp_us``; output rows ``x`` batch, ``y``
    microseconds per step, ``series`` model, backend and step.
    """
    f = _need(rows, ("model", "backend", "batch", "plain_us", "dp_us"), "dpsgd summary")
    out = []
    for _, r in f.iterrows():
        name = f"{r['model']} ({r['backend']})"
        out += [{"x": int(r["batch"]), "y": float(r["plain_us"]), "series": f"{name}, plain"},
                {"x": int(r["batch"]), "y": float(r["dp_us"]), "series": f"{name}, DP-SGD"}]
    return pd.DataFrame(out).sort_values(["series", "x"], kind="stable").reset_index(drop=True)


def _growth(frame: pd.DataFrame, *, xlabel: str, ylabel: str,
            height_in: float = 3.8) -> Figure:
    """One line per series on log–log axes, ticks at the measured sizes.

    Each series has its own colour, dashes and marker; the legend sits under the panel.
    """
    levels = list(dict.fromkeys(frame["series"]))
    with book_theme():
        fig, ax = new_figure(height_in)
        sns.lineplot(data=frame, x="x", y="y", hue="series", hue_order=levels, style="series",
                     style_order=levels, markers=True, dashes=True, palette=PALETTE,
                     errorbar=None, ax=ax)
        ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
        sizes = sorted(frame["x"].unique())
        ax.xaxis.set_major_locator(FixedLocator(sizes))  # the sizes measured, nothing between
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        legend_below(fig, ax, ncols=2)
    return fig


def secureboost_rows_figure(frame: pd.DataFrame) -> Figure:
    """SecureBoost fit time against rows per backend, plaintext HistGBDT and XGBoost beside.

    Paper 003 §3.3: the encryptions grow with rows, the decryptions with nodes and bins.
    """
    return _growth(frame, xlabel="training rows", ylabel="fit time (s, log scale)")


def secagg_clients_figure(frame: pd.DataFrame) -> Figure:
    """Round time against clients for secure aggregation and the plaintext sum.

    With and without dropouts (Bonawitz et al. 2017, §6).
    """
    return _growth(frame, xlabel="clients", ylabel="round time (ms, log scale)")


def dpsgd_batch_figure(frame: pd.DataFrame) -> Figure:
    """DP-SGD step time against batch size beside the plain step.

    Per-example gradients make a DP step grow with the batch faster than a plain one.
    """
    return _growth(frame, xlabel="batch size (examples)", ylabel="time per step (µs, log scale)")


@dataclass(frozen=True)
class GrowthFigure:
    """One cost-growth figure of the performance page: the summary it reads and its words."""

    name: str            # file stem of the figure
    bench: str           # the summary it reads, bench/results/<bench>.json
    script: str          # the benchmark that writes it
    frame: Callable[[list], pd.DataFrame]
    draw: Callable[[pd.DataFrame], Figure]
    caption: str
    alt: str


GROWTH_FIGURES = (
    GrowthFigure("growth_secureboost", "secureboost", "bench/bench_vertical.py",
                 secureboost_frame, secureboost_rows_figure,
                 "SecureBoost fit time against training rows, per homomorphic backend, with "
                 "plaintext histogram boosting and XGBoost on the same rows (log–log axes).",
                 "Line chart of fit time in seconds against training rows on log-log axes: "
                 "one line per SecureBoost backend and per plaintext booster."),
    GrowthFigure("growth_secagg", "secagg", "bench/bench_secagg.py", secagg_frame,
                 secagg_clients_figure,
                 "Time of one aggregation round against the number of clients: the book's "
                 "secure aggregation and a plaintext sum, without and with dropouts (log–log "
                 "axes).",
                 "Line chart of round time in milliseconds against clients on log-log axes "
                 "for secure aggregation and a plaintext sum, with and without dropouts."),
    GrowthFigure("growth_dpsgd", "dpsgd", "bench/bench_dpsgd.py", dpsgd_frame,
                 dpsgd_batch_figure,
                 "Time of one training step against batch size, DP-SGD beside the plain step, "
                 "per model and backend (log–log axes).",
                 "Line chart of time per step in microseconds against batch size on log-log "
                 "axes, one DP-SGD and one plain line per model and backend."),
)


def write_growth_figures(root: Path, out_dir: Path) -> dict[str, Path | str]:
    """Draw each figure of :data:`GROWTH_FIGURES` whose summary exists, as ``out_dir/<name>.svg``.

    Returns
    -------
    dict
        Per figure name, the SVG written, or the sentence the page shows instead: the
        summary is missing (and which script writes it) or lacks the columns it needs. A
        missing or malformed summary never stops the book build.
    """
    summaries = {s["bench"]: s for s in load_bench_summaries(root)}
    out: dict[str, Path | str] = {}
    for g in GROWTH_FIGURES:
        where = f"`{(BENCH_RESULTS / g.bench).as_posix()}.json`"
        if g.bench not in summaries:
            out[g.name] = (f"No {where} in this build, so no figure: run `python {g.script}` "
                           "(or `make bench`), then rebuild the book.")
            continue
        try:
            frame = g.frame(summaries[g.bench]["rows"])
        except (ValueError, TypeError) as err:
            out[g.name] = f"{where} cannot be drawn ({err}): rerun `python {g.script}`."
            continue
        fig = g.draw(frame)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{g.name}.svg"
        fig.savefig(path, format="svg")
        out[g.name] = path
    return out
