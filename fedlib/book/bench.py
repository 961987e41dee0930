"""Machine-readable summaries of the ``make bench`` micro-benchmarks.

Each script in ``bench/`` prints its table for a reader and calls :func:`write_bench_summary`,
which writes ``bench/results/<name>.json`` (git-ignored)::

    {"bench": "secagg", "title": "...", "script": "bench/bench_secagg.py",
     "written_at": "2025-01-01T12:00:00+00:00",
     "machine": {"cores": 2, "cpu": "...", "platform": "...", "python": "3.11.9",
                 "load_average": 1.2},
     "headline": {"metric": "secure / plaintext round time", "case": "50 clients",
                  "value": 310.2, "unit": "×"},
     "rows": [{"clients": 5, "dropouts": 0, "plain_ms": 0.1, "secagg_ms": 31.0}, ...]}

A row is a flat mapping of names to numbers, text, booleans or ``None``: either the long
form ``case, metric, value, unit`` or one column per quantity (a sweep: one row per point).
The machine and the date are recorded with every summary, because a benchmark's numbers are
only meaningful on the machine and at the load they were measured at.

The performance page (:mod:`fedlib.book.perf_page`) reads every such file when the book is
built and the README's bench block (:mod:`fedlib.book.bench_readme`) quotes each summary's
headline; without a file they say how to produce it.

Examples
--------
>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> path = write_bench_summary("toy", "Toy", [{"case": "a", "metric": "t", "value": 1.5,
...                                           "unit": "ms"}], root=root)
>>> [s["bench"] for s in load_bench_summaries(root)], path.name
(['toy'], 'toy.json')
>>> headline_of(load_bench_summaries(root)[0]) is None  # no ratio in it
True
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fedlib.book.chapters import repo_root

__all__ = ["BENCH_RESULTS", "LONG_KEYS", "headline_of", "is_long_form", "load_bench_summaries",
           "machine_info", "peak_kib", "peak_kib_reset", "write_bench_summary"]

BENCH_RESULTS = Path("bench") / "results"
#: The keys of a long-form row (one measured value per row).
LONG_KEYS = ("case", "metric", "value", "unit")
_HEADLINE_KEYS = ("metric", "value", "unit")


def _scalar(key: str, value: Any) -> Any:
    """A JSON scalar for one cell; numpy numbers become Python numbers, NaN becomes ``None``."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float) or hasattr(value, "item"):
        number = value.item() if hasattr(value, "item") else value
        if isinstance(number, bool):
            return number
        if isinstance(number, float) and not math.isfinite(number):
            return None
        return number
    raise ValueError(f"bench cell {key!r} = {value!r}: only numbers, text, booleans or None")


def _clean_row(row: Mapping[str, Any]) -> dict[str, Any]:
    if not row:
        raise ValueError("empty bench row")
    if {"metric", "value"} <= set(row) and not set(LONG_KEYS) <= set(row):
        missing = sorted(set(LONG_KEYS) - set(row))
        raise ValueError(f"bench row {dict(row)!r} lacks {missing}")
    out = {str(k): _scalar(str(k), v) for k, v in row.items()}
    if set(LONG_KEYS) <= set(out):
        out["case"], out["metric"], out["unit"] = (str(out["case"]), str(out["metric"]),
                                                   str(out["unit"]))
        out["value"] = None if out["value"] is None else float(out["value"])
    return out


def machine_info() -> dict[str, Any]:
    """Where a benchmark ran: cores, CPU model, platform, Python and the 1-minute load average.

    A shared machine's load explains a slow run.
    """
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cores": os.cpu_count(), "cpu": cpu, "platform": platform.platform(terse=True),
            "python": platform.python_version(),
            "load_average": None if load is None else round(load, 2)}


def write_bench_summary(name: str, title: str, rows: Iterable[Mapping[str, Any]],
                        root: Path | None = None, *, headline: Mapping[str, Any] | None = None,
                        script: str | None = None) -> Path:
    """Write one benchmark's rows as ``bench/results/<name>.json`` and return the path.

    Parameters
    ----------
    name
        File name and key of the summary (``[a-z0-9_]+``).
    title
        What was measured, in words (the performance page's heading).
    rows
        Flat mappings: long form (``case, metric, value, unit``) or one column per quantity.
    root
        Repository root (default: this repository).
    headline
        The one number the README quotes: ``metric``, ``value``, ``unit`` and optionally
        ``case``; without it :func:`headline_of` derives one from a ``ratio`` column.
    script
        The benchmark that wrote it (default ``bench/bench_<name>.py``).

    Returns
    -------
    pathlib.Path
    """
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"bench name {name!r}: use lower-case letters, digits and _")
    clean = [_clean_row(row) for row in rows]
    doc: dict[str, Any] = {"bench": name, "title": title,
                           "script": script or f"bench/bench_{name}.py",
                           "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           "machine": machine_info()}
    if headline is not None:
        missing = set(_HEADLINE_KEYS) - set(headline)
        if missing:
            raise ValueError(f"headline {dict(headline)!r} lacks {sorted(missing)}")
        doc["headline"] = {str(k): _scalar(str(k), v) for k, v in headline.items()}
    doc["rows"] = clean
    out = Path(root or repo_root()) / BENCH_RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(out)  # a reader (the book build) never sees half a file
    return out


def load_bench_summaries(root: Path) -> list[dict]:
    """Every ``bench/results/*.json`` under ``root``, sorted by name.

    Unreadable files are skipped: a half-written file must not break the book.
    """
    out = []
    for path in sorted((Path(root) / BENCH_RESULTS).glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("rows"), list) \
                and all(isinstance(r, dict) for r in doc["rows"]):
            doc.setdefault("bench", path.stem)
            out.append(doc)
    return out


def is_long_form(rows: list[dict]) -> bool:
    """Whether every row is a long-form row (``case, metric, value, unit``)."""
    return bool(rows) and all(set(LONG_KEYS) <= set(r) for r in rows)


def headline_of(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The summary's headline: the one it stores, else the range of its ratios.

    A ratio is a ``ratio`` column (one row per point of a sweep) or a long-form row whose
    unit is ``×``; several give ``value`` (the largest) and ``low`` (the smallest) over
    ``n`` cases. ``None`` when the summary has neither.

    >>> headline_of({"rows": [{"batch": 64, "ratio": 2.0}, {"batch": 256, "ratio": 5.0}]})
    {'metric': 'ratio', 'value': 5.0, 'unit': '×', 'low': 2.0, 'n': 2}
    """
    if isinstance(summary.get("headline"), Mapping):
        return dict(summary["headline"])
    rows = summary.get("rows") or []
    ratios = [r["ratio"] for r in rows if isinstance(r.get("ratio"), int | float)
              and not isinstance(r.get("ratio"), bool)]
    metric = "ratio"
    if not ratios and is_long_form(rows):
        long = [r for r in rows if r["unit"] == "×" and r["value"] is not None]
        ratios = [r["value"] for r in long]
        metric = long[0]["metric"] if long and len({r["metric"] for r in long}) == 1 else "ratio"
    if not ratios:
        return None
    return {"metric": metric, "value": float(max(ratios)), "unit": "×",
            "low": float(min(ratios)), "n": len(ratios)}


def peak_kib_reset() -> int | None:
    """Reset this process's peak resident memory to its current size and return it in KiB.

    Through Linux's ``/proc/self/clear_refs``, so that :func:`peak_kib` then measures the peak
    of one benchmark case; ``None`` where the kernel does not allow it.
    """
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        return None
    return peak_kib()


def peak_kib() -> int | None:
    """The process's peak resident memory since the last reset, in KiB (``None`` off Linux)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    return int(re.search(r"VmHWM:\s+(\d+)", status.read_text()).group(1))
