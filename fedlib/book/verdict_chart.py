"""The scorecard's opening chart: every chapter's claims by verdict, in one glance.

One horizontal stacked bar per chapter: the scored verdicts (reproduced, contradicted,
inconclusive) first, in the colours of the claims tables' badges but saturated enough to read as
bars, then the unscored ones in greys, so the eye reads first what counts. Drawn to the book's
figure standard (:mod:`fedlib.evaluate.figures`) and written as SVG beside the generated pages.

Introduced for issue 13 (a compact per-chapter verdict summary at the top of the scorecard).

Examples
--------
>>> import pandas as pd
>>> counts = pd.DataFrame({"reproduced": [4, 7], "contradicted": [0, 1],
...                        "inconclusive": [22, 9], "by construction": [12, 0],
...                        "different data": [33, 3], "not checkable": [1, 5]},
...                       index=["chapter 1", "chapter 4"])
>>> from fedlib.evaluate.figures import figure_problems
>>> figure_problems(verdict_figure(counts))
[]
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from fedlib.evaluate.figures import book_theme, legend_below, new_figure
from fedlib.evaluate.scorecard import VERDICTS

__all__ = ["BAR_COLOURS", "verdict_counts_frame", "verdict_figure", "write_verdict_chart"]

#: Bar colours: green / red / amber for the scored verdicts, three greys for the unscored.
BAR_COLOURS = {"reproduced": "#4c9a5b", "contradicted": "#c8453c", "inconclusive": "#e0a526",
               "by construction": "#9a9a9a", "different data": "#bdbdbd",
               "not checkable": "#dedede"}


def verdict_counts_frame(runs) -> pd.DataFrame:
    """Claims per verdict (columns) per chapter that has run (rows).

    Columns in :data:`VERDICTS` order, rows ``chapter N``, from ``(chapter, results document,
    path)`` triples.
    """
    rows = {f"chapter {int(ch.id)}": Counter(c["verdict"] for c in doc["claims"])
            for ch, doc, _ in runs if doc is not None}
    return pd.DataFrame.from_dict(rows, orient="index").reindex(columns=list(VERDICTS)).fillna(0)


def verdict_figure(counts: pd.DataFrame) -> Figure:
    """The stacked bars of ``counts`` (rows: chapters; columns: verdicts)."""
    with book_theme():
        fig, ax = new_figure(0.45 * len(counts) + 1.6)
        left = pd.Series(0.0, index=counts.index)
        for verdict in counts.columns:
            ax.barh(counts.index, counts[verdict], left=left, color=BAR_COLOURS[verdict],
                    edgecolor="white", linewidth=0.5, label=verdict)
            left += counts[verdict]
        ax.invert_yaxis()                                   # chapter 1 on top
        ax.set(xlabel="claims", ylabel="chapter")
        ax.grid(axis="y", visible=False)
        legend_below(fig, ax, ncols=3)
    return fig


def write_verdict_chart(runs, path: Path) -> Path | None:
    """Draw the chart for ``runs`` to ``path`` (SVG); ``None`` when no chapter has run."""
    counts = verdict_counts_frame(runs)
    if counts.empty:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    verdict_figure(counts).savefig(path, format="svg", bbox_inches="tight", pad_inches=0)
    return path
