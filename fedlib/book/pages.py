"""Generated pages: scorecard, findings, run status, privacy audit, performance, contents.

The reproduction scorecard, the findings, the run status, the privacy audit, the performance
page and the effective table of contents.

All are derived from ``book/chapters/*.results.json`` and the chapter registry, written
under ``book/_generated/`` (git-ignored) and included by the hand-written pages
``book/scorecard.md``, ``book/status.md``, ``book/privacy_audit.md`` and
``book/performance.md``. The privacy audit is built by :mod:`fedlib.book.privacy_page`, the
performance page by :mod:`fedlib.book.perf_page`; the cells and headings they share by
:mod:`fedlib.book.pagekit`.

The committed ``_toc.yml`` names every planned chapter. The build uses a generated copy in which
a chapter whose source does not exist yet is dropped, and a chapter that exists but has never
been run points to a short placeholder page instead of a missing notebook: the book always
builds, and says plainly what is missing.

References: ARCHITECTURE.md, "How a chapter is run" (the scorecard reads results.json).

Examples
--------
>>> fmt_value(0.123456), fmt_value(None), fmt_value(14)
('0.1235', '–', '14')
"""

from __future__ import annotations

import copy
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import yaml

from fedlib.book.bench_figures import write_growth_figures
from fedlib.book.chapters import CHAPTERS, Chapter, repo_root
from fedlib.book.pagekit import (
    CHAPTER_DIR,
    chapter_heading,
    chapter_results,
    chapter_title,
    fmt_value,
    md_cell,
    md_table,
    note_cell,
    notes_block,
    readable_metric,
    run_time,
    shared_notes,
)
from fedlib.book.perf_page import render_performance, write_performance_chart
from fedlib.book.privacy_page import render_privacy_audit
from fedlib.book.verdict_chart import verdict_counts_frame, write_verdict_chart
from fedlib.evaluate.scorecard import (
    GROUPS,
    SCORED,
    UNSCORED,
    VERDICTS,
    claim_group,
    format_ours,
    format_paper,
    note_html,
    verdict_badge,
)

__all__ = [
    "build_commit",
    "fmt_value",
    "md_cell",
    "render_findings",
    "render_scorecard",
    "update_readme",
    "verdict_counts",
    "render_performance",
    "render_privacy_audit",
    "render_status",
    "write_generated",
    "write_toc",
]

GENERATED = Path("book") / "_generated"
_results = chapter_results


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


#: A sentence above a table that holds direction claims: what their "paper" cell means.
DIRECTION_NOTE = ("For a direction claim the paper column gives the side of 0 on which the "
                  "difference the claim names (A − B) must fall; *ours* is that difference.")


def _claims_table(claims: list[dict], notes: dict[str, str]) -> list[str]:
    """Rows grouped headline / supporting / descriptive (:func:`claim_group`)."""
    ordered = sorted(claims, key=lambda c: GROUPS.index(claim_group(c)))
    return md_table(["group", "claim", "paper", "ours", "verdict", "note"],
                    ([claim_group(c), c["claim"], format_paper(c), format_ours(c),
                      verdict_badge(c["verdict"]), note_html(note_cell(c["note"], notes))]
                     for c in ordered))


def _verdict_summary(runs: list[tuple[Chapter, dict | None, Path]]) -> list[str]:
    """One row per chapter: how many claims got each verdict (the chart's counts)."""
    counts = verdict_counts_frame(runs).astype(int)
    rows = [[f"{int(ch.id)}", *(counts.loc[f"chapter {int(ch.id)}"] if doc else ["–"] * len(VERDICTS))]
            for ch, doc, _ in runs]
    return md_table(["chapter", *VERDICTS], rows)


def render_scorecard(root: Path, chapters: Iterable[Chapter], *, chart: Path | None = None) -> str:
    """Markdown of the scorecard page: verdict counts, then each chapter's claims.

    A verdict count per chapter, then per chapter the scored claims (reproduced /
    contradicted / inconclusive) and, apart, the unscored ones (by construction, different
    data, not checkable). A note carried by three or more claims of a chapter is written once
    above its tables and the rows name it by label. ``chart``: the verdict chart
    (:mod:`fedlib.book.verdict_chart`) to show first, if drawn.
    """
    runs = _results(root, chapters)
    lines = ["## Verdicts per chapter", ""]
    if chart is not None:
        lines += [f"```{{figure}} _generated/{chart.name}", ":name: fig-verdicts",
                  ":alt: Stacked bars, one per chapter: its claims by verdict, the scored ones "
                  "(reproduced, contradicted, inconclusive) first, then the unscored ones.", "",
                  "Claims per chapter by verdict: the scored verdicts in colour, the unscored "
                  "(by construction, different data, not checkable) in grey.", "```", ""]
    lines += _verdict_summary(runs)
    for ch, doc, _ in runs:
        lines += [chapter_heading(ch, root), ""]
        if doc is None:
            lines += [f"Not run yet: `fedbook run {ch.id}`.", ""]
            continue
        scored, unscored = verdict_counts(doc["claims"])
        lines += [f"Parameter set `{doc['parameter_set']}`; {len(doc['claims'])} claims. "
                  f"Scored: {scored}. Not scored: {unscored}.", ""]
        if any(c["kind"] == "direction" for c in doc["claims"]):
            lines += [DIRECTION_NOTE, ""]
        notes = shared_notes(doc["claims"])
        lines += notes_block(notes, doc["claims"])
        for title, keep in (("Scored claims", SCORED), ("Not scored", UNSCORED)):
            rows = [c for c in doc["claims"] if c["verdict"] in keep]
            if rows:
                lines += [f"### {title}", "", *_claims_table(rows, notes)]
    return "\n".join(lines) + "\n"


def render_findings(root: Path, chapters: Iterable[Chapter], *, run_time: bool = False) -> str:
    """Markdown: one row per chapter with its findings in words and its verdicts.

    Its scored verdicts and the unscored ones, from the chapter's results.json (the intro page
    and the README show it); ``run_time`` adds how long the chapter's last run took (the
    intro's reading guide).
    """
    def name(ch: Chapter) -> str:
        return md_cell(chapter_heading(ch, root, level=0).strip())

    extra = " run time |" if run_time else ""
    lines = [f"| chapter | what it finds | scored verdicts | not scored |{extra}",
             "|---|---|---|---|" + ("---|" if run_time else "")]
    for ch, doc, _ in _results(root, chapters):
        if doc is None:
            lines.append(f"| {name(ch)} | not run yet | – | – |" + (" – |" if run_time else ""))
            continue
        scored, unscored = verdict_counts(doc["claims"])
        found = "<br>".join(md_cell(f) for f in doc["findings"]) or "–"
        took = f" {doc['timings'].get('total_s', 0) / 60:.1f} min |" if run_time else ""
        lines.append(f"| {name(ch)} (`{doc['parameter_set']}`) | {found} "
                     f"| {scored} | {unscored} |{took}")
    return "\n".join(lines) + "\n"


README_START = "<!-- generated by fedbook build from the default run: start -->"
README_END = "<!-- generated by fedbook build from the default run: end -->"


def update_readme(root: Path, chapters: Iterable[Chapter] = CHAPTERS) -> bool:
    """Rewrite the README's generated block; returns whether it was rewritten.

    The block (between :data:`README_START` and :data:`README_END`) gets the findings,
    verdict counts, run time and peak memory of every chapter, but only when every chapter's
    last run used the ``default`` parameters: the README describes the book as built by
    ``make book``.
    """
    root = Path(root)
    runs = _results(root, [c for c in chapters if c.exists(root)])
    if not runs or any(doc is None or doc["parameter_set"] != "default" for _, doc, _ in runs):
        return False
    readme = root / "README.md"
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    cost = ["", "| chapter | run time (s) | peak memory (MiB) |", "|---|---|---|"]
    cost += [f"| {int(ch.id)} | {doc['timings'].get('total_s', 0):.0f} "
             f"| {doc['timings'].get('peak_rss_mib', 0):.0f} |" for ch, doc, _ in runs]
    block = render_findings(root, [ch for ch, _, _ in runs]) + "\n".join(cost) + "\n"
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    new = f"{head}{README_START}\n{block}{README_END}{tail}"
    if new != text:
        readme.write_text(new)
    return True


def build_commit(root: Path) -> str:
    """The git commit the pages are built from.

    For example ``abc1234`` or ``abc1234 (with uncommitted changes)``; ``unknown (not a git
    checkout)`` outside git.
    """
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{commit} (with uncommitted changes)" if dirty else f"{commit} (clean tree)"


def _is_memory(key: str) -> bool:
    return key.lower().endswith(("_mib", "_mb", "_bytes"))


def render_status(root: Path, chapters: Iterable[Chapter]) -> str:
    """Markdown of the status page: commit, runs, run times, peak memory and versions.

    The commit the pages were built from; what ran, when, with which parameter set and values;
    run times in seconds and peak memory in MiB apart; versions.
    """
    lines = [f"Built from git commit `{build_commit(root)}`.", "",
             "## Runs", ""]
    runs = _results(root, chapters)
    rows = []
    for ch, doc, path in runs:
        if doc is None:
            rows.append([f"{int(ch.id)}: {chapter_title(ch, root)}", "not run", "–", "–", "–"])
            continue
        when, source = run_time(doc, path)
        rows.append([f"{int(ch.id)}: {chapter_title(ch, root)}", f"`{doc['parameter_set']}`",
                     f"{when} ({source})", doc["timings"].get("total_s"),
                     doc["timings"].get("peak_rss_mib")])
    lines += md_table(["chapter", "parameter set", "run at (UTC)", "run time (s)",
                       "peak memory (MiB)"], rows)
    versions: dict[str, dict[str, str]] = {}
    for ch, doc, _ in runs:
        if doc is None:
            continue
        lines += [chapter_heading(ch, root), "", "### Parameters", "", "| parameter | value |",
                  "|---|---|"]
        lines += [f"| `{k}` | `{md_cell(v)}` |" for k, v in doc["parameters"].items()]
        seconds = {k: v for k, v in doc["timings"].items() if not _is_memory(k)}
        memory = {k: v for k, v in doc["timings"].items() if _is_memory(k)}
        lines += ["", "### Timings", "", *md_table(
            ["what", "seconds"], ([readable_metric(k).removesuffix(" (s)"), v]
                                  for k, v in seconds.items()))]
        if memory:
            lines += ["### Peak memory", "", *md_table(
                ["what", "MiB"], ([readable_metric(k).removesuffix(" (MiB)"), v]
                                  for k, v in memory.items()))]
        for pkg, ver in doc["versions"].items():
            versions.setdefault(pkg, {})[ch.id] = ver
    if versions:
        ids = sorted({i for v in versions.values() for i in v})
        lines += ["## Versions", "", *md_table(
            ["package", *(f"chapter {int(i)}" for i in ids)],
            ([pkg, *(per.get(i, "–") for i in ids)] for pkg, per in versions.items()))]
    return "\n".join(lines) + "\n"


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
    verdicts = write_verdict_chart(_results(root, present), gen / "verdicts.svg")
    (gen / "scorecard.md").write_text(render_scorecard(root, present, chart=verdicts))
    (gen / "findings.md").write_text(render_findings(root, present, run_time=True))
    (gen / "status.md").write_text(render_status(root, present))
    (gen / "privacy_audit.md").write_text(render_privacy_audit(root, present))
    chart = write_performance_chart(root, present, gen / "performance_costs.png")
    growth = write_growth_figures(root, gen)
    (gen / "performance.md").write_text(render_performance(root, present, chart=chart,
                                                           growth=growth))
    update_readme(root, chapters)
    return write_toc(root, chapters)
