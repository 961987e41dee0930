"""``fedbook``: run chapters, build the book, list chapters.

::

    fedbook list
    fedbook run 02 [--params smoke|default|paper|path.yml] [-p key value ...]
    fedbook run all [--params smoke]
    fedbook build [--params default] [--no-run]
    fedbook check-html [--browser] [--screenshots DIR]
    fedbook profile 04 [--params default] [-p key value ...] [--top 10]
    fedbook bench-readme

Exit codes: 0 success, 1 a chapter, the book build or a page check failed, 2 bad usage or bad parameters
(reported before any kernel starts, nothing written).

References: ARCHITECTURE.md, "How a chapter is run"; the page ``book/rerun.md``.

Examples
--------
>>> build_parser().parse_args(["run", "02", "-p", "epsilon", "2"]).p
[['epsilon', '2']]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from fedlib.book.bench_readme import BENCH_START, update_bench_readme
from fedlib.book.browsercheck import BrowserUnavailable, check_in_browser
from fedlib.book.chapter_profile import profile_chapter, write_profile
from fedlib.book.chapters import (
    CHAPTERS,
    Chapter,
    ChapterNotFound,
    available_chapters,
    get_chapter,
    repo_root,
)
from fedlib.book.htmlcheck import check_site, html_pages
from fedlib.book.lastrun import describe_last_run
from fedlib.book.pages import write_generated
from fedlib.book.params import ParameterError
from fedlib.book.runner import ChapterRunError, execute_plan, plan_run

__all__ = ["build_html", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fedbook``."""
    ap = argparse.ArgumentParser(prog="fedbook", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the chapters and their last run: parameter set, data, date")
    run = sub.add_parser("run", help="execute one chapter (or all) with a parameter set")
    run.add_argument("chapter", help="chapter id or name (02, 02_dp_vs_ckks) or 'all'")
    build = sub.add_parser("build", help="run every chapter, then build the HTML book")
    build.add_argument("--no-run", action="store_true", help="only render what has been run")
    check = sub.add_parser("check-html", help="check the built pages as a reader sees them")
    check.add_argument("--browser", action="store_true",
                       help="also open every page offline in headless Chromium")
    check.add_argument("--screenshots", type=Path, default=None, metavar="DIR",
                       help="with --browser: save each chapter page as a JPEG in DIR")
    prof = sub.add_parser("profile", help="run one chapter in this process under cProfile and "
                          "write where its time goes to bench/profiles/<chapter>.json")
    prof.add_argument("chapter", help="chapter id or name (03, 04_vertical_secureboost_xmp)")
    prof.add_argument("--top", type=int, default=10, help="rows of each table (default 10)")
    sub.add_parser("bench-readme", help="rewrite the README's bench block from "
                   "bench/results/*.json (make bench runs it after the benchmarks)")
    for p in (run, build, prof):
        p.add_argument(
            "--params", default="default",
            help="parameter set (smoke, default, paper) or a path to a .yml file",
        )
        p.add_argument(
            "-p", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
            help="override one parameter; VALUE is parsed as YAML (2, 1e-5, true, [1, 2])",
        )
    for p in (run, build):
        p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return ap


def _list(root: Path, registry: Sequence[Chapter] = CHAPTERS) -> int:
    for ch in registry:
        if not ch.exists(root):
            state = "not written yet"
        else:
            state = describe_last_run(root / "book" / "chapters" / f"{ch.name}.results.json")
        print(f"{ch.id}  {ch.name:<30} {ch.title}\n      {state}")
    return 0


def _select(which: str, root: Path, registry: Sequence[Chapter] = CHAPTERS) -> list[Chapter]:
    if which == "all":
        chapters = available_chapters(root, registry)
        if not chapters:
            raise ChapterNotFound("no chapter source exists yet under chapters/")
        return chapters
    ch = get_chapter(which, registry)
    if not ch.exists(root):
        raise ChapterNotFound(f"chapter {ch.id}: source {ch.source_path(root)} does not exist yet")
    return [ch]


def _run(chapters: list[Chapter], args: argparse.Namespace, root: Path) -> int:
    # Validate every chapter before starting any kernel: a typo in chapter 4's overrides
    # should not surface after chapter 1 has run for an hour.
    plans = [plan_run(ch, args.params, [tuple(kv) for kv in args.p], root=root) for ch in chapters]
    done, failed = [], []
    for plan in plans:
        print(f"== chapter {plan.chapter.id} ({plan.chapter.name}), "
              f"parameters {plan.parameter_set}", flush=True)
        try:
            done.append(execute_plan(plan, progress=not args.no_progress))
        except ChapterRunError as err:
            print(err, file=sys.stderr)
            failed.append(plan.chapter)
    print("\nSummary:")
    for r in done:
        print(f"  {r.chapter.id} {r.chapter.name}: {r.seconds:.1f} s -> {r.notebook}, {r.results}")
    for ch in failed:
        print(f"  {ch.id} {ch.name}: FAILED (previous outputs kept)")
    return 1 if failed else 0


def _build(args: argparse.Namespace, root: Path) -> int:
    if not args.no_run:
        status = _run(_select("all", root), args, root)
        if status:
            print("not building the book: a chapter failed", file=sys.stderr)
            return status
    toc = write_generated(root)
    return build_html(root, toc)


def _profile(args: argparse.Namespace, root: Path, registry: Sequence[Chapter]) -> int:
    (chapter,) = _select(args.chapter, root, registry)
    print(f"== profiling chapter {chapter.id} ({chapter.name}), parameters {args.params}",
          flush=True)
    try:
        doc = profile_chapter(chapter, args.params, [tuple(kv) for kv in args.p], root=root,
                              top=args.top)
    except ChapterRunError as err:
        print(err, file=sys.stderr)
        return 1
    path = write_profile(doc, root)
    print(f"{doc['wall_s']:.1f} s wall, {doc['cpu_s']:.1f} s CPU, {doc['profiled_s']:.1f} s "
          f"profiled\n"
          f"{'cumulative s':>12} {'own s':>8} {'calls':>9}  fedlib function")
    for f in doc["functions"]:
        print(f"{f['cumulative_s']:12.2f} {f['own_s']:8.2f} {f['calls']:9,}  {f['function']}")
    print(f"{'own s':>12} {'share':>8}  package")
    for lib in doc["libraries"]:
        print(f"{lib['own_s']:12.2f} {lib['share']:8.1%}  {lib['package']}")
    print(f"-> {path}")
    return 0


def _bench_readme(root: Path) -> int:
    if update_bench_readme(root):
        print("README.md: bench block rewritten from bench/results/*.json")
        return 0
    print(f"fedbook: README.md has no block {BENCH_START} ... end", file=sys.stderr)
    return 1


def _check_html(args: argparse.Namespace, root: Path) -> int:
    html_root = root / "book" / "_build" / "html"
    problems = check_site(html_root)
    pages = len(html_pages(html_root))
    print(f"static checks: {pages} pages, {len(problems)} problems")
    if args.browser:
        try:
            reports = check_in_browser(html_root, screenshots=args.screenshots)
        except BrowserUnavailable as err:
            print(f"fedbook: {err}", file=sys.stderr)
            return 2
        browser_problems = [p for r in reports for p in r.problems]
        typeset = sum(max(r.typeset, 0) for r in reports)
        print(f"browser checks: {len(reports)} pages, {typeset} equations typeset by MathJax, "
              f"{len(browser_problems)} problems")
        problems += browser_problems
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


def build_html(root: Path, toc: Path, *, quiet: bool = False) -> int:
    """Render the book with ``jupyter-book build`` (execution off; warnings are errors).

    ``-W -n --keep-going``: every warning, including an unresolved reference, fails the build,
    but only after all of them have been reported. The HTML lands in ``book/_build/html``.
    """
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(root),
           "--path-output", str(root / "book"), "--toc", str(toc), "-W", "-n", "--keep-going"]
    if quiet:
        cmd.append("-q")
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=root, check=False)
    index = root / "book" / "_build" / "html" / "index.html"
    if proc.returncode != 0:
        print(f"jupyter-book build failed (exit {proc.returncode})", file=sys.stderr)
        return 1
    print(f"\nThe book is at {index}")
    return 0


def main(
    argv: Sequence[str] | None = None,
    *,
    root: Path | None = None,
    registry: Sequence[Chapter] = CHAPTERS,
) -> int:
    """Entry point of the ``fedbook`` console script; returns the exit code.

    ``root`` and ``registry`` default to the repository and the book's chapters (tests pass a
    throw-away project). Ctrl-C, SIGTERM and SIGHUP end with one line and exit code 128 + the
    signal number; the outputs of the chapter that was running are those of its previous run.
    """
    args = build_parser().parse_args(argv)
    root = Path(root or repo_root())
    try:
        if args.command == "list":
            return _list(root, registry)
        if args.command == "run":
            return _run(_select(args.chapter, root, registry), args, root)
        if args.command == "check-html":
            return _check_html(args, root)
        if args.command == "profile":
            return _profile(args, root, registry)
        if args.command == "bench-readme":
            return _bench_readme(root)
        return _build(args, root)
    except (ParameterError, ChapterNotFound) as err:
        print(f"fedbook: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        signum = getattr(err, "signum", signal.SIGINT)
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(f"\nfedbook: stopped by {name}; the chapter's previous notebook and results.json "
              "under book/chapters/ are unchanged", file=sys.stderr)
        return 128 + int(signum)


if __name__ == "__main__":
    sys.exit(main())
