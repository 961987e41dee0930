"""The performance page, generated from the chapters' ``results.json`` and the bench summaries.

The ``make bench`` summaries are ``bench/results/*.json`` (see :mod:`fedlib.book.bench`).

Wide tables: one row per chapter (run time, peak memory), and per chapter and experiment one
row per mode with one column per cost metric (readable name, unit in brackets). A chart of the
same numbers is drawn with seaborn when the book is built and included as an image.

Examples
--------
>>> is_cost("client_ms_per_epoch_median"), is_cost("bytes"), is_cost("roc_auc")
(True, True, False)
>>> to_ms(2.0, "psi_s"), to_ms(3.0, "server_ms_median"), to_ms(5.0, "bytes")
(2000.0, 3.0, None)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from fedlib.book.bench import BENCH_RESULTS, LONG_KEYS, is_long_form, load_bench_summaries
from fedlib.book.bench_figures import GROWTH_FIGURES
from fedlib.book.chapter_profile import PROFILES, load_profiles
from fedlib.book.chapters import Chapter
from fedlib.book.pagekit import (
    chapter_heading,
    chapter_results,
    md_table,
    readable_metric,
)
from fedlib.evaluate.figures import PALETTE, book_theme, column_figure

__all__ = ["cost_tables", "is_cost", "performance_figure", "profile_section",
           "render_performance", "summary_table", "to_ms", "write_performance_chart"]

#: Metric names that are costs (time, memory, bytes) rather than model quality.
_COST = re.compile(r"(seconds|_s$|\bs/|(^|_)ms(_|$)|bytes|\bkb\b|time|mib)", re.IGNORECASE)
_KEYS = ("experiment", "mode", "setting", "party", "round")


def is_cost(metric: str) -> bool:
    """Whether a metric name is a cost: seconds, ms, bytes, KB, time or MiB."""
    return bool(_COST.search(str(metric)))


def to_ms(value: float, metric: str) -> float | None:
    """A time metric in milliseconds (``*_s``/``seconds`` ×1000, ``*ms*`` as is), else None."""
    name = str(metric).lower()
    if re.search(r"(^|_)ms(_|$)", name):
        return float(value)
    if name == "seconds" or name.endswith("_s"):
        return float(value) * 1e3
    return None


def _row_keys(rows: list[dict]) -> list[str]:
    """The fewest of mode, setting, party, round that tell every (row, metric) value apart."""
    keys = ["mode"]
    for extra in _KEYS[2:]:
        if len({(*(str(m[k]) for k in keys), m["metric"]) for m in rows}) == len(rows):
            break
        if len({str(m[extra]) for m in rows}) > 1:
            keys.append(extra)
    return keys


def cost_tables(metrics: list[dict]) -> list[tuple[str, list[str], list[list]]]:
    """Per experiment, its cost metrics in wide form: (experiment, headers, rows).

    One row per mode (and setting, party or round where they vary), one column per metric.
    """
    out = []
    for exp in dict.fromkeys(m["experiment"] for m in metrics):
        rows = [m for m in metrics if m["experiment"] == exp]
        keys = _row_keys(rows)
        names = list(dict.fromkeys(m["metric"] for m in rows))
        table: dict[tuple, dict] = {}
        for m in rows:
            table.setdefault(tuple(m[k] for k in keys), {})[m["metric"]] = m["value"]
        body = [[*key, *(vals.get(n) for n in names)] for key, vals in table.items()]
        out.append((exp, [*keys, *(readable_metric(n) for n in names)], body))
    return out


def _run_costs(runs: list[tuple[Chapter, dict | None, Path]], root: Path) -> list[str]:
    rows = [[chapter_heading(ch, root, level=0).strip(), f"`{doc['parameter_set']}`",
             doc["timings"].get("total_s"), doc["timings"].get("peak_rss_mib")]
            for ch, doc, _ in runs if doc is not None]
    return md_table(["chapter", "parameter set", "run time (s)", "peak memory (MiB)"], rows)


def summary_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    """A bench summary's rows as one table.

    Long-form rows (``case, metric, value, unit``) are pivoted to one row per case and one
    column per metric; other rows stay as they are (one column per key, in first-seen order).
    """
    if is_long_form(rows):
        cases = list(dict.fromkeys(r["case"] for r in rows))
        metrics = list(dict.fromkeys((r["metric"], r["unit"]) for r in rows))
        values = {(r["case"], r["metric"]): r["value"] for r in rows}
        return (["case", *(f"{m} ({u})" if u else m for m, u in metrics)],
                [[c, *(values.get((c, m)) for m, _ in metrics)] for c in cases])
    keys = list(dict.fromkeys(k for r in rows for k in r if k not in LONG_KEYS or k == "case"))
    return ([k.replace("_", " ") for k in keys],
            [[_cell(r.get(k)) for k in keys] for r in rows])


def _cell(v):
    return ("yes" if v else "no") if isinstance(v, bool) else v


def _ran_on(s: dict) -> str:
    m = s.get("machine") or {}
    where = f" on {m['cores']} cores (load {m.get('load_average', '?')})" if m.get("cores") else ""
    return f"`{s.get('script') or 'bench/bench_' + s['bench'] + '.py'}`, run " \
           f"{str(s.get('written_at', '?'))[:16].replace('T', ' ')} UTC{where}."


def _bench_section(root: Path) -> list[str]:
    lines = ["## `make bench`", ""]
    summaries = load_bench_summaries(root)
    if not summaries:
        return [*lines, f"No benchmark summary in `{BENCH_RESULTS.as_posix()}/` for this build: "
                "run `make bench`, then rebuild the book.", ""]
    for s in summaries:
        headers, body = summary_table(s["rows"])
        lines += [f"### {s.get('title') or s['bench']}", "", _ran_on(s), "",
                  *md_table(headers, body)]
    return lines


def _growth_section(growth: dict[str, Path | str] | None) -> list[str]:
    """The cost-growth figures, or for each one the sentence saying why it is missing."""
    lines = ["## How cost grows", "",
             "Drawn from the sweeps of `make bench` (log–log axes: a line of slope k grows like "
             "size^k).", ""]
    for g in GROWTH_FIGURES:
        got = (growth or {}).get(g.name)
        if isinstance(got, Path):
            lines += [f"```{{figure}} _generated/{got.name}", f":name: fig-{g.name}",
                      ":width: 100%", f":alt: {g.alt}", "", g.caption, "```", ""]
        else:
            where = f"`{(BENCH_RESULTS / g.bench).as_posix()}.json`"
            lines += [got or f"No figure from {where} in this build: run `python {g.script}`, "
                      "then rebuild the book.", ""]
    return lines


def profile_section(root: Path, chapters: Iterable[Chapter]) -> list[str]:
    """Where the time goes, per chapter profiled with ``fedbook profile``.

    Its top fedlib functions by cumulative time and the time spent in each package.
    """
    lines = ["## Where the time goes", ""]
    profiles = load_profiles(root)
    shown = [(ch, profiles[ch.name]) for ch in chapters if ch.name in profiles]
    if not shown:
        return [*lines, f"No profile in `{PROFILES.as_posix()}/` for this build: "
                "`fedbook profile NN --params default` writes one per chapter.", ""]
    for ch, doc in shown:
        m = doc.get("machine") or {}
        lines += [chapter_heading(ch, root, level=3), "",
                  f"`fedbook profile {ch.id} --params {doc.get('parameter_set', '?')}`, run "
                  f"{str(doc.get('written_at', '?'))[:16].replace('T', ' ')} UTC on "
                  f"{m.get('cores', '?')} cores: {doc['profiled_s']:.0f} s under the profiler "
                  f"({doc.get('wall_s', 0):.0f} s wall). Cumulative time includes the "
                  "functions called, so nested rows overlap.", "",
                  *md_table(["fedlib function", "calls", "cumulative (s)", "share of the run",
                             "own (s)"],
                            [[f"`{f['function']}`", f["calls"], f["cumulative_s"],
                              f"{f['share']:.0%}", f["own_s"]] for f in doc["functions"]]),
                  *md_table(["package", "time in its own code (s)", "share of the run"],
                            [[lib["package"], lib["own_s"], f"{lib['share']:.0%}"]
                             for lib in doc["libraries"]])]
    return lines


def render_performance(root: Path, chapters: Iterable[Chapter],
                       chart: Path | None = None,
                       growth: dict[str, Path | str] | None = None) -> str:
    """The performance page's generated Markdown.

    The run cost of every chapter, the chart (if drawn), each chapter's cost metrics in wide
    tables, where each profiled chapter's time goes, how cost grows in the ``make bench``
    sweeps (``growth``: :func:`~fedlib.book.bench_figures.write_growth_figures`) and the
    ``make bench`` summaries.
    """
    chapters = list(chapters)
    runs = chapter_results(root, chapters)
    tail = [*profile_section(root, chapters), *_growth_section(growth), *_bench_section(root)]
    if not any(doc for _, doc, _ in runs):
        return "No chapter has run yet.\n\n" + "\n".join(tail) + "\n"
    lines = ["## Run cost per chapter", "", *_run_costs(runs, root)]
    if chart is not None:
        lines += [f"```{{figure}} _generated/{chart.name}",
                  ":width: 100%",
                  ":alt: Bar charts of each chapter's run time and peak memory, and of every time "
                  "its run measured, in milliseconds on a logarithmic axis.", "",
                  "Run time and peak memory of each chapter's run, and every time cost it "
                  "measured (milliseconds, logarithmic axis).", "```", ""]
    for ch, doc, _ in runs:
        costs = [m for m in doc["metrics"] if is_cost(m["metric"])] if doc else []
        if not costs:
            continue
        lines += [chapter_heading(ch, root), ""]
        for exp, headers, rows in cost_tables(costs):
            lines += [f"**{exp.replace('_', ' ')}**", "", *md_table(headers, rows)]
    lines += tail
    return "\n".join(lines) + "\n"


def _time_rows(runs: list[tuple[Chapter, dict | None, Path]]) -> list[dict]:
    rows = []
    for ch, doc, _ in runs:
        for m in doc["metrics"] if doc else []:
            ms = to_ms(m["value"], m["metric"]) if m["value"] is not None else None
            if ms is not None and ms > 0:
                rows.append({"what": f"{int(ch.id)} · {m['experiment']} · {m['mode']} · "
                                     f"{readable_metric(m['metric']).split(' (')[0]}",
                             "ms": ms, "chapter": f"chapter {int(ch.id)}"})
    return rows


def write_performance_chart(root: Path, chapters: Iterable[Chapter], path: Path) -> Path | None:
    """Draw the performance chart (seaborn) to ``path``; ``None`` if no chapter has run."""
    import pandas as pd

    runs = [r for r in chapter_results(root, chapters) if r[1] is not None]
    if not runs:
        return None
    cost = pd.DataFrame([{"chapter": f"chapter {int(ch.id)}",
                          "run time (s)": doc["timings"].get("total_s"),
                          "peak memory (MiB)": doc["timings"].get("peak_rss_mib")}
                         for ch, doc, _ in runs])
    fig = performance_figure(cost, pd.DataFrame(_time_rows(runs)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=200)
    return path


def performance_figure(cost, times):
    """Run time and peak memory per chapter, and each timed step, as horizontal bars.

    Parameters
    ----------
    cost : pandas.DataFrame
        One row per chapter: ``chapter``, ``run time (s)``, ``peak memory (MiB)``.
    times : pandas.DataFrame
        One row per timed step: ``what``, ``ms``, ``chapter`` (may be empty).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    colours = dict(zip(cost["chapter"], sns.color_palette(PALETTE, len(cost)), strict=True))
    top_in = 0.45 * len(cost) + 1.0
    bottom = 0.3 * len(times) + 0.7 if len(times) else 0.0
    with book_theme():
        fig = column_figure(top_in + bottom)
        top, low = fig.subfigures(2, 1, height_ratios=[top_in, max(bottom, 0.01)])
        for ax, col in zip(top.subplots(1, 2), ["run time (s)", "peak memory (MiB)"],
                           strict=True):
            sns.barplot(cost, x=col, y="chapter", hue="chapter", palette=colours, ax=ax,
                        legend=False)
            ax.set(xlabel=col, ylabel="chapter")
        if len(times):
            ax = low.subplots()
            sns.barplot(times, x="ms", y="what", hue="chapter", palette=colours, ax=ax,
                        dodge=False, legend=False)
            ax.set_xscale("log")
            ax.set(xlabel="time (ms, log scale)", ylabel="timed step")
    return fig
