r"""Building blocks of the generated pages.

Markdown cells and tables, chapter headings, the chapters' results, readable metric names and
notes shared by many claims.

Every number that reaches a page goes through :func:`fmt_value` (fixed-point, thousands
separated, never ``1.661e+06``); every chapter is headed by :func:`chapter_heading` (the same
"Chapter 1: <title>" on every generated page, with the title the table of contents shows).

Examples
--------
>>> md_cell("a|b")
'a\\|b'
>>> fmt_value(0.123456), fmt_value(None), fmt_value(14), fmt_value(1660791.0)
('0.1235', '–', '14', '1,660,791')
>>> readable_metric("client_ms_per_epoch_median"), readable_metric("peak_rss_mib")
('client time per epoch, median (ms)', 'peak memory (MiB)')
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fedlib.book.chapters import Chapter
from fedlib.book.results import load_results
from fedlib.evaluate.scorecard import fmt_number

__all__ = [
    "CHAPTER_DIR",
    "chapter_heading",
    "chapter_results",
    "chapter_title",
    "fmt_value",
    "md_cell",
    "md_table",
    "readable_metric",
    "run_time",
    "shared_notes",
]

CHAPTER_DIR = Path("book") / "chapters"


def md_cell(text: Any) -> str:
    """Escape a value for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def fmt_value(v: Any) -> str:
    """A table cell: a formatted number, '–' for missing, or escaped text.

    Numbers go through :func:`~fedlib.evaluate.scorecard.fmt_number` (4 significant digits, no
    scientific notation for ordinary magnitudes).
    """
    if v is None:
        return "–"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return md_cell(v)
    if isinstance(v, int):
        return f"{v:,}"
    return fmt_number(v)


def md_table(headers: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    """A Markdown table: numbers through :func:`fmt_value`, text through :func:`md_cell`.

    >>> md_table(["a", "b"], [["x", 12345.0]])
    ['| a | b |', '|---|---|', '| x | 12,345 |', '']
    """
    def cell(v: Any) -> str:
        return md_cell(v) if isinstance(v, str) else fmt_value(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def chapter_title(ch: Chapter, root: Path) -> str:
    """The chapter's title as the table of contents shows it.

    The first level-1 heading of its jupytext source (``# # Title``), else the registry's title.
    """
    path = ch.source_path(root)
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.startswith("# # "):
                return line.removeprefix("# # ").strip()
    return ch.title


def chapter_heading(ch: Chapter, root: Path, level: int = 2) -> str:
    """``## Chapter 1: <title>``: the one form of a chapter's name on every generated page."""
    return f"{'#' * level} Chapter {int(ch.id)}: {chapter_title(ch, root)}"


def chapter_results(root: Path,
                    chapters: Iterable[Chapter]) -> list[tuple[Chapter, dict | None, Path]]:
    """Each chapter with its loaded ``results.json`` (``None`` if it has not run) and path."""
    out = []
    for ch in chapters:
        path = root / CHAPTER_DIR / f"{ch.name}.results.json"
        out.append((ch, load_results(path) if path.is_file() else None, path))
    return out


def run_time(doc: dict, path: Path) -> tuple[str, str]:
    """When a chapter ran (UTC) and where that date comes from.

    The document's ``run_at`` or ``timestamp`` if it has one, else the results file's
    modification time.
    """
    for key in ("run_at", "timestamp", "written_at"):
        if doc.get(key):
            return str(doc[key]).replace("T", " ")[:16], "results.json"
    when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M"), "file time"


_UNITS = {"s": "s", "seconds": "s", "sec": "s", "ms": "ms", "us": "µs", "bytes": "bytes",
          "b": "bytes", "kb": "KB", "mb": "MB", "mib": "MiB"}
_STATS = {"median", "mean", "p95"}
_WORDS = {"rss": "memory", "psi": "PSI", "ckks": "CKKS", "he": "HE", "dp": "DP", "auc": "AUC"}


def readable_metric(name: str) -> str:
    """A snake_case metric or timing key in words with its unit in brackets."""
    tokens = [t for t in re.split(r"[_\s]+", str(name)) if t]
    unit = next((_UNITS[t.lower()] for t in tokens if t.lower() in _UNITS), None)
    stats = [t for t in tokens if t.lower() in _STATS]
    words = [_WORDS.get(t.lower(), t) for t in tokens
             if t.lower() not in _UNITS and t.lower() not in _STATS]
    if unit in ("s", "ms", "µs") and "time" not in words:
        words.insert(1 if words and words[0] != "per" else 0, "time")
    if not words:
        words = ["time"] if unit in ("s", "ms", "µs") else [unit or str(name)]
        unit = None if words == [unit] else unit
    text = " ".join(words)
    if stats:
        text += ", " + " ".join(stats)
    return f"{text} ({unit})" if unit and unit not in words else text


def shared_notes(claims: list[dict], min_rows: int = 3) -> dict[str, str]:
    """Notes carried by at least ``min_rows`` claims, each with a label (``a``, ``b``, …).

    A page states such a note once above its table and the rows name its label.

    >>> shared_notes([{"note": "same"}] * 3 + [{"note": "own"}])
    {'same': 'a'}
    """
    counts = Counter(c["note"] for c in claims if c.get("note"))
    common = [n for n, k in counts.most_common() if k >= min_rows]
    return {note: string.ascii_lowercase[i % 26] for i, note in enumerate(common)}


def notes_block(notes: dict[str, str], claims: list[dict]) -> list[str]:
    """The sentences above a table that its rows refer to by label."""
    if not notes:
        return []
    counts = Counter(c["note"] for c in claims)
    lines = ["Notes shared by several claims (the note column names them):", ""]
    lines += [f"- ({label}) {md_cell(note)} ({counts[note]} claims)"
              for note, label in notes.items()]
    return [*lines, ""]


def note_cell(note: str, notes: dict[str, str]) -> str:
    """A row's note: its own text, or the label of the shared note it carries."""
    return f"see note ({notes[note]})" if note in notes else (note or "–")
