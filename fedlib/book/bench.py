"""Machine-readable summaries of the ``make bench`` micro-benchmarks.

Each script in ``bench/`` prints its table for a reader and may also call
:func:`write_bench_summary`, which writes ``bench/results/<name>.json`` (git-ignored)::

    {"bench": "ckks", "title": "...", "written_at": "2025-01-01T12:00:00+00:00",
     "rows": [{"case": "13 params", "metric": "CKKS / plaintext time", "value": 310.2,
               "unit": "×"}, ...]}

The performance page (:mod:`fedlib.book.perf_page`) reads every such file when the book is
built; without one it says how to produce it.

Examples
--------
>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> path = write_bench_summary("toy", "Toy", [{"case": "a", "metric": "t", "value": 1.5,
...                                           "unit": "ms"}], root=root)
>>> [s["bench"] for s in load_bench_summaries(root)], path.name
(['toy'], 'toy.json')
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fedlib.book.chapters import repo_root

__all__ = ["BENCH_RESULTS", "load_bench_summaries", "peak_kib", "peak_kib_reset",
           "write_bench_summary"]

BENCH_RESULTS = Path("bench") / "results"
_ROW_KEYS = ("case", "metric", "value", "unit")


def write_bench_summary(name: str, title: str, rows: Iterable[Mapping[str, Any]],
                        root: Path | None = None) -> Path:
    """Write one benchmark's rows as ``bench/results/<name>.json`` under ``root`` (default:
    the repository) and return it.

    A row is either a measurement (``case``, ``metric``, ``value``, ``unit``) or a plain
    record of one configuration (any keys, every value a string, number, bool or None; e.g.
    ``bench_dpsgd.py``'s ``model, backend, batch, plain_us, dp_us, ratio``), written as given;
    a summary holds one kind, with the same keys in every record.

    >>> import tempfile
    >>> p = write_bench_summary("rec", "R", [{"model": "m", "batch": 16, "ratio": 1.5}],
    ...                         root=Path(tempfile.mkdtemp()))
    >>> json.loads(p.read_text())["rows"]
    [{'model': 'm', 'batch': 16, 'ratio': 1.5}]
    """
    rows = [dict(r) for r in rows]
    if rows and not set(_ROW_KEYS) <= set(rows[0]):
        clean = _records(rows)
    else:
        clean = []
        for row in rows:
            missing = set(_ROW_KEYS) - set(row)
            if missing:
                raise ValueError(f"bench row {dict(row)!r} lacks {sorted(missing)}")
            clean.append({"case": str(row["case"]), "metric": str(row["metric"]),
                          "value": float(row["value"]), "unit": str(row["unit"])})
    out = Path(root or repo_root()) / BENCH_RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"bench": name, "title": title,
                               "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "rows": clean}, indent=1))
    return out


def _records(rows: list[dict]) -> list[dict]:
    """Plain records, checked: the same keys in every row, JSON scalars only (numpy scalars
    become Python ones), so that readers can tabulate them without guessing."""
    keys = list(rows[0])
    out = []
    for row in rows:
        if list(row) != keys:
            raise ValueError(f"bench record {row!r} has keys {list(row)}, expected {keys}")
        clean = {}
        for k, v in row.items():
            v = v.item() if hasattr(v, "item") else v
            if v is not None and not isinstance(v, str | int | float | bool):
                raise ValueError(f"bench record {row!r}: {k}={v!r} is not a plain value")
            clean[k] = v
        out.append(clean)
    return out


def load_bench_summaries(root: Path) -> list[dict]:
    """Every ``bench/results/*.json`` under ``root``, sorted by name; unreadable files are
    skipped (a half-written file must not break the book)."""
    out = []
    for path in sorted((Path(root) / BENCH_RESULTS).glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("rows"), list):
            out.append(doc)
    return out


def peak_kib_reset() -> int | None:
    """Reset this process's peak resident memory to its current size (Linux
    ``/proc/self/clear_refs``) and return it in KiB, so that :func:`peak_kib` then measures
    the peak of one benchmark case; ``None`` where the kernel does not allow it."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        return None
    return peak_kib()


def peak_kib() -> int | None:
    """This process's peak resident memory since the last reset, in KiB (``None`` off Linux)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    return int(re.search(r"VmHWM:\s+(\d+)", status.read_text()).group(1))
