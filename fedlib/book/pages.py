"""Generated pages: the reproduction scorecard, the run status and the effective table of contents.

All three are derived from ``book/chapters/*.results.json`` and the chapter registry, written
under ``book/_generated/`` (git-ignored) and included by the hand-written pages
``book/scorecard.md`` and ``book/status.md``.

The committed ``_toc.yml`` names every planned chapter. The build uses a generated copy in which
a chapter whose source does not exist yet is dropped, and a chapter that exists but has never
been run points to a short placeholder page instead of a missing notebook: the book always
builds, and says plainly what is missing.

References: DESIGN.md, "How a chapter is run" (the scorecard reads results.json).

Examples
--------
>>> md_cell("a|b")
'a\\\\|b'
>>> fmt_value(0.123456), fmt_value(None), fmt_value(14)
('0.1235', '–', '14')
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from fedlib.book.chapters import CHAPTERS, Chapter, repo_root
from fedlib.book.results import load_results
from fedlib.evaluate.scorecard import SCORED, UNSCORED, format_ours

__all__ = [
    "fmt_value",
    "md_cell",
    "render_scorecard",
    "verdict_counts",
    "render_performance",
    "render_privacy_audit",
    "render_status",
    "write_generated",
    "write_toc",
]

GENERATED = Path("book") / "_generated"
CHAPTER_DIR = Path("book") / "chapters"


def md_cell(text: Any) -> str:
    """Escape a value for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def fmt_value(v: Any) -> str:
    """Format a number for a table: 4 significant digits, '–' for missing."""
    if v is None:
        return "–"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return md_cell(v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.4g}"


def _table(headers: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    """A Markdown table: numbers through :func:`fmt_value`, text through :func:`md_cell`."""
    def cell(v: Any) -> str:
        return md_cell(v) if isinstance(v, str) else fmt_value(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _section(ch: Chapter, doc: dict) -> list[str]:
    return [f"## Chapter {ch.id}: {ch.title}", "", f"Parameter set `{doc['parameter_set']}`.", ""]


def _results(root: Path, chapters: Iterable[Chapter]) -> list[tuple[Chapter, dict | None, Path]]:
    out = []
    for ch in chapters:
        path = root / CHAPTER_DIR / f"{ch.name}.results.json"
        out.append((ch, load_results(path) if path.is_file() else None, path))
    return out


def verdict_counts(claims: list[dict]) -> tuple[str, str]:
    """Two phrases: the scored verdicts and the unscored ones, e.g. for a chapter's summary.

    >>> verdict_counts([{"verdict": "reproduced"}, {"verdict": "by construction"}])
    ('1 reproduced of 1 scored', '1 by construction')
    """
    counts = Counter(c["verdict"] for c in claims)
    n_scored = sum(counts[v] for v in SCORED)
    scored = ", ".join(f"{counts[v]} {v}" for v in SCORED if counts[v])
    scored = f"{scored} of {n_scored} scored" if n_scored else "none scored"
    unscored = ", ".join(f"{counts[v]} {v}" for v in UNSCORED if counts[v]) or "none"
    return scored, unscored


def _claims_table(claims: list[dict]) -> list[str]:
    return _table(["claim", "paper", "ours", "verdict", "note"],
                  ([c["claim"], _paper_text(c["paper"]), format_ours(c), c["verdict"],
                    c["note"]] for c in claims))


def _paper_text(paper: Any) -> str:
    if isinstance(paper, list):
        return f"{fmt_value(paper[0])}–{fmt_value(paper[1])}"
    return {">": "A > B", "<": "A < B"}.get(paper, fmt_value(paper)) if paper is not None else "–"


def render_scorecard(root: Path, chapters: Iterable[Chapter]) -> str:
    """Markdown: per chapter, the scored claims (reproduced / contradicted / inconclusive) and,
    apart, the unscored ones (by construction, different data, not checkable)."""
    lines = []
    for ch, doc, _ in _results(root, chapters):
        lines += [f"## Chapter {ch.id}: {ch.title}", ""]
        if doc is None:
            lines += [f"Not run yet: `fedbook run {ch.id}`.", ""]
            continue
        scored, unscored = verdict_counts(doc["claims"])
        lines += [f"Parameter set `{doc['parameter_set']}`; {len(doc['claims'])} claims. "
                  f"Scored: {scored}. Not scored: {unscored}.", ""]
        for title, keep in (("Scored claims", SCORED), ("Not scored", UNSCORED)):
            rows = [c for c in doc["claims"] if c["verdict"] in keep]
            if rows:
                lines += [f"### {title}", "", *_claims_table(rows)]
    return "\n".join(lines) + "\n"


def render_status(root: Path, chapters: Iterable[Chapter]) -> str:
    """Markdown: what ran, when, with which parameter set and values, timings and versions."""
    lines = [
        "| chapter | parameter set | run at (UTC) | total seconds |",
        "|---|---|---|---|",
    ]
    runs = _results(root, chapters)
    for ch, doc, path in runs:
        if doc is None:
            lines.append(f"| {ch.id} {md_cell(ch.title)} | not run | – | – |")
            continue
        when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).strftime("%Y-%m-%d %H:%M")
        lines.append(
            f"| {ch.id} {md_cell(ch.title)} | `{doc['parameter_set']}` | {when} "
            f"| {fmt_value(doc['timings'].get('total_s'))} |"
        )
    lines.append("")
    versions: dict[str, dict[str, str]] = {}
    for ch, doc, _ in runs:
        if doc is None:
            continue
        lines += [f"## Chapter {ch.id}", "", "| parameter | value |", "|---|---|"]
        lines += [f"| `{k}` | `{md_cell(v)}` |" for k, v in doc["parameters"].items()]
        lines += ["", "| timing | seconds |", "|---|---|"]
        lines += [f"| {md_cell(k)} | {fmt_value(v)} |" for k, v in doc["timings"].items()]
        lines.append("")
        for pkg, ver in doc["versions"].items():
            versions.setdefault(pkg, {})[ch.id] = ver
    if versions:
        ids = sorted({i for v in versions.values() for i in v})
        lines += ["## Versions", "", "| package | " + " | ".join(ids) + " |"]
        lines.append("|---|" + "---|" * len(ids))
        for pkg, per in versions.items():
            lines.append(f"| {pkg} | " + " | ".join(per.get(i, "–") for i in ids) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def render_privacy_audit(root: Path, chapters: Iterable[Chapter]) -> str:
    """Markdown: per chapter, the privacy claims (claim ids starting ``eps``) and the ε its runs
    spent (metrics whose name starts with ``epsilon``), as the accountants computed them."""
    lines = []
    for ch, doc, _ in _results(root, chapters):
        if doc is None:
            continue
        claims = [c for c in doc["claims"] if c["id"].startswith("eps")]
        spent = [m for m in doc["metrics"] if str(m["metric"]).startswith("epsilon")]
        if not claims and not spent:
            continue
        lines += _section(ch, doc)
        if claims:
            lines += _table(["claim", "paper ε", "our ε", "verdict", "note"],
                            ([c["claim"], c["paper"], c["ours"], c["verdict"], c["note"]]
                             for c in claims))
        if spent:
            # Name the accountant of every ε (metric ``epsilon_<method>``); a None value is an
            # accountant that failed (the chapter prints why), never another's number.
            lines += _table(["experiment", "mode", "setting", "party", "accountant", "ε"],
                            ([m["experiment"], m["mode"], m["setting"], m["party"],
                              _accountant(m["metric"]),
                              "failed" if m["value"] is None else m["value"]]
                             for m in spent))
    return "\n".join(lines or ["No chapter with privacy claims has run yet.", ""]) + "\n"


def _accountant(metric: str) -> str:
    """Display name of the accountant behind an ``epsilon_<method>`` metric."""
    from fedlib.privacy.accountants import METHOD_NAMES

    method = str(metric).removeprefix("epsilon").lstrip("_")
    return METHOD_NAMES.get(method, method or "unnamed")


#: Metric names that are costs (time, memory, bytes) rather than model quality.
_COST = re.compile(r"(seconds|_s$|\bs/|\bms\b|bytes|\bkb\b|time|mib)", re.IGNORECASE)


def render_performance(root: Path, chapters: Iterable[Chapter]) -> str:
    """Markdown: per chapter, its timings and peak memory, and every cost metric it recorded
    (names with seconds, ms, bytes, KB, time or MiB), as measured by this build's run."""
    lines = []
    for ch, doc, _ in _results(root, chapters):
        if doc is None:
            continue
        lines += _section(ch, doc)
        lines += _table(["measured", "value"], doc["timings"].items())
        costs = [m for m in doc["metrics"] if _COST.search(str(m["metric"]))]
        if costs:
            lines += _table(["experiment", "mode", "setting", "metric", "value"],
                            ([m["experiment"], m["mode"], m["setting"], m["metric"], m["value"]]
                             for m in costs))
    return "\n".join(lines or ["No chapter has run yet.", ""]) + "\n"


def _placeholder(ch: Chapter) -> str:
    return (
        f"# Chapter {ch.id}: {ch.title}\n\n"
        "```{warning}\n"
        f"This chapter has not been run yet, so there is nothing to show. Run it with\n"
        f"`fedbook run {ch.id} --params smoke` (seconds) or `--params default`, then rebuild.\n"
        "```\n"
    )


def write_toc(root: Path, chapters: Iterable[Chapter] = CHAPTERS) -> Path:
    """Write ``book/_generated/_toc.yml`` from ``_toc.yml`` for the chapters that exist."""
    root = Path(root)
    by_doc = {f"book/chapters/{c.name}": c for c in chapters}
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    gen = root / GENERATED
    (gen / "missing").mkdir(parents=True, exist_ok=True)
    for stale in (gen / "missing").glob("*.md"):
        stale.unlink()

    def fix(entries: list[dict]) -> list[dict]:
        kept = []
        for entry in entries:
            entry = copy.deepcopy(entry)
            ch = by_doc.get(str(entry.get("file", "")).removesuffix(".ipynb"))
            if ch is not None:
                if not ch.exists(root):
                    continue
                if not (root / CHAPTER_DIR / f"{ch.name}.ipynb").is_file():
                    (gen / "missing" / f"{ch.name}.md").write_text(_placeholder(ch))
                    entry["file"] = f"{GENERATED.as_posix()}/missing/{ch.name}"
            for key in ("chapters", "sections"):
                if key in entry:
                    entry[key] = fix(entry[key])
                    if not entry[key]:
                        del entry[key]
            if "file" in entry or entry.get("chapters") or entry.get("sections"):
                kept.append(entry)
        return kept

    for key in ("parts", "chapters"):
        if key in toc:
            toc[key] = fix(toc[key])
    out = gen / "_toc.yml"
    out.write_text(
        "# generated by fedbook build from _toc.yml; do not edit\n"
        + yaml.safe_dump(toc, sort_keys=False)
    )
    return out


def write_generated(root: Path | None = None, chapters: Iterable[Chapter] = CHAPTERS) -> Path:
    """Write scorecard.md, status.md and _toc.yml under ``book/_generated``; return the toc."""
    root = Path(root or repo_root())
    present = [c for c in chapters if c.exists(root)]
    gen = root / GENERATED
    gen.mkdir(parents=True, exist_ok=True)
    (gen / "scorecard.md").write_text(render_scorecard(root, present))
    (gen / "status.md").write_text(render_status(root, present))
    (gen / "privacy_audit.md").write_text(render_privacy_audit(root, present))
    (gen / "performance.md").write_text(render_performance(root, present))
    return write_toc(root, chapters)
