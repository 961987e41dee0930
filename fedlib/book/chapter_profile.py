"""Where a chapter's time goes: ``fedbook profile NN`` runs it under :mod:`cProfile`.

``fedbook run`` executes a chapter with papermill in a separate kernel, where a profiler in
this process sees nothing. Injecting cProfile into the kernel would profile the kernel's own
message loop too and leave the statistics in another process; so the profile runs the
chapter *in this process* instead: jupytext reads ``chapters/NN_*.py``, the parameters are
validated exactly as for ``fedbook run`` (:func:`~fedlib.book.runner.plan_run`) and assigned in
a cell after the one tagged ``parameters`` (what papermill injects), and every code cell is
compiled and executed in one namespace, with the profiler on only while a cell runs. The
chapter's printed output is discarded, its ``results.json`` goes to a temporary folder (the
book's outputs are untouched), ``display`` is IPython's. What this does not see: work in
other processes (``n_jobs`` > 1) and in native threads other than the main one (HEU, torch
and XGBoost threads count as the time the main thread waits for them), and the rendering of
figures by a kernel's display hook.

The statistics are reduced to two tables (:func:`summarize_profile`): the ``top`` fedlib
functions by cumulative time (their own time and calls beside), and the time spent *in* each
package (own time summed per fedlib subpackage or third-party library, C built-ins assigned
to the library they belong to), both as shares of the profiled time. The result is written
as ``bench/profiles/<chapter>.json`` (git-ignored), which the performance page renders as
"where the time goes".

Examples
--------
>>> import cProfile, pstats
>>> prof = cProfile.Profile()
>>> _ = prof.runcall(sorted, range(1000))
>>> doc = summarize_profile(pstats.Stats(prof), top=3)
>>> sorted(doc), doc["libraries"][0]["package"]
(['functions', 'libraries', 'profiled_s'], 'builtins')
"""

from __future__ import annotations

import ast
import contextlib
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import re
import sys
import sysconfig
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from fedlib.book.bench import machine_info
from fedlib.book.chapters import Chapter, repo_root
from fedlib.book.runner import ChapterRunError, load_notebook, plan_run

__all__ = ["PROFILES", "load_profiles", "owner_of", "profile_chapter", "summarize_profile",
           "write_profile"]

#: Where profiles are written, relative to the repository.
PROFILES = Path("bench") / "profiles"
_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
_FEDLIB = Path(__file__).resolve().parents[1]  # the fedlib package this module belongs to
_SITE = re.compile(r"[/\\](?:site|dist)-packages[/\\]([^/\\]+)")
_BUILTIN = re.compile(r"<built-in method ([\w.]+)>|<method '\w+' of '([\w.]+)' objects>")


def owner_of(filename: str, funcname: str) -> tuple[str, str]:
    """Which code a profiled function belongs to: ``(kind, package)``.

    ``kind`` is ``fedlib``, ``chapter`` (a chapter's cells), ``library`` (a third-party
    package, by its import name), ``stdlib`` or ``builtins``; a C built-in counts for the
    package its name shows (``numpy.…``, a method of ``heu.phe.…`` objects).

    >>> owner_of("/x/site-packages/numpy/core/fromnumeric.py", "sum")
    ('library', 'numpy')
    >>> owner_of("~", "<method 'encrypt' of 'heu.phe.Encryptor' objects>")
    ('library', 'heu')
    >>> owner_of(str(_FEDLIB / "vertical" / "secureboost.py"), "fit")
    ('fedlib', 'fedlib.vertical')
    """
    if filename.startswith("<chapter"):
        return "chapter", "chapter cells"
    if filename == "~":
        found = _BUILTIN.fullmatch(funcname)
        dotted = (found.group(1) or found.group(2)) if found else ""
        top = dotted.split(".")[0] if "." in dotted else "builtins"
        top = top.lstrip("_") if top.lstrip("_") in ("thread", "io", "json", "pickle") else top
        return ("builtins" if top == "builtins" else "library"), top
    path = Path(filename)
    with contextlib.suppress(ValueError, OSError):
        rel = path.resolve().relative_to(_FEDLIB.parent)
        if rel.parts and rel.parts[0] == "fedlib":
            return "fedlib", ".".join(rel.parts[:2]).removesuffix(".py")
    site = _SITE.search(filename)
    if site:
        return "library", site.group(1).removesuffix(".py").split("-")[0]
    with contextlib.suppress(ValueError, OSError):
        path.resolve().relative_to(_STDLIB)
        return "stdlib", "Python standard library"
    return "library", "other"


@cache
def _functions(path: str) -> list[tuple[int, int, int, str]]:
    """The functions of a source file: (first line, def line, last line, qualified name).

    The first line is the first decorator's, which is the line cProfile reports.
    """
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return []
    out = []

    def walk(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                    out.append((first, child.lineno, child.end_lineno or child.lineno, name))
                walk(child, f"{name}.")
            else:
                walk(child, prefix)

    walk(tree, "")
    return out


def _fedlib_name(filename: str, line: int, funcname: str) -> str:
    """``module.Class.method`` of a profiled function.

    A comprehension or lambda (``<listcomp>``) is named inside the innermost function that
    holds its line.
    """
    rel = Path(filename).resolve().relative_to(_FEDLIB.parent)
    module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
    funcs = _functions(str(filename))
    exact = [name for first, def_line, _, name in funcs if line in (first, def_line)]
    if exact and not funcname.startswith("<"):
        return f"{module}.{exact[0]}"
    around = [(first, name) for first, _, last, name in funcs if first <= line <= last]
    if around and funcname.startswith("<"):
        return f"{module}.{max(around)[1]}.{funcname}"
    return f"{module}.{funcname}"


def summarize_profile(stats: pstats.Stats, *, top: int = 10) -> dict[str, Any]:
    """Reduce cProfile statistics to where the time goes.

    Parameters
    ----------
    stats
        The statistics of the profiled run.
    top
        Rows kept in each table.

    Returns
    -------
    dict
        ``profiled_s`` (the total time cProfile measured), ``functions`` (the ``top`` fedlib
        functions by cumulative time: ``function``, ``calls``, ``cumulative_s``, ``own_s``,
        ``share``) and ``libraries`` (own time per package, largest first: ``package``,
        ``kind``, ``own_s``, ``share``).
    """
    raw = stats.stats  # {(file, line, name): (primitive calls, calls, own, cumulative, callers)}
    total = sum(v[2] for v in raw.values()) or 1e-12
    funcs, own = [], defaultdict(float)
    for (filename, line, name), (_, calls, tt, ct, _) in raw.items():
        kind, package = owner_of(filename, name)
        own[(kind, package)] += tt
        if kind == "fedlib":
            funcs.append({"function": _fedlib_name(filename, line, name), "calls": calls,
                          "cumulative_s": ct, "own_s": tt, "share": ct / total})
    funcs.sort(key=lambda f: -f["cumulative_s"])
    libs = [{"package": p, "kind": k, "own_s": s, "share": s / total}
            for (k, p), s in sorted(own.items(), key=lambda kv: -kv[1])]
    return {"profiled_s": total, "functions": funcs[:top], "libraries": libs[:top]}


def _injected_cell(values: dict[str, Any]) -> str:
    # repr of JSON-dumped values (numbers, text, booleans, None, lists, dicts) is Python.
    return "\n".join(f"{k} = {v!r}" for k, v in values.items())


def _run_cells(cells: Sequence[str], chapter: Chapter, prof: cProfile.Profile,
               root: Path) -> float:
    """Execute the cells in one namespace with the profiler on during each; return seconds."""
    from IPython.display import display  # the chapters call display() as in a kernel

    namespace: dict[str, Any] = {"__name__": "__main__", "display": display}
    sink = io.StringIO()
    cwd, i, source = Path.cwd(), -1, ""
    t0 = time.perf_counter()
    os.environ.setdefault("MPLBACKEND", "Agg")  # no window, as in papermill's kernel
    try:
        # As papermill's kernel: started in the repository with the working directory first on
        # sys.path, so a chapter may import a module beside it (the test fixture chapter does).
        os.chdir(root)
        sys.path.insert(0, str(root))
        for i, source in enumerate(cells):
            code = compile(source, f"<chapter {chapter.id} cell {i}>", "exec")
            with contextlib.redirect_stdout(sink):
                try:
                    prof.enable()
                    exec(code, namespace)  # noqa: S102 - the chapter is this repository's code
                finally:
                    prof.disable()
    except Exception as err:
        tail = "".join(traceback.format_exception(err)[-6:])
        raise ChapterRunError(f"chapter {chapter.id} failed in code cell {i} under the "
                              f"profiler:\n--- cell source ---\n{source}\n--- traceback "
                              f"---\n{tail}") from None
    finally:
        os.chdir(cwd)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(root))
    return time.perf_counter() - t0


def profile_chapter(chapter: Chapter, params: str = "default",
                    overrides: Sequence[tuple[str, str]] = (), *, root: Path | None = None,
                    top: int = 10) -> dict[str, Any]:
    """Run one chapter in this process under cProfile and summarise where its time went.

    Parameters
    ----------
    chapter
        The chapter (from :data:`fedlib.book.chapters.CHAPTERS`).
    params, overrides
        The parameter set and ``-p key value`` overrides, validated as by ``fedbook run``.
    root
        The repository (default: this one).
    top
        Rows of each table (:func:`summarize_profile`).

    Returns
    -------
    dict
        The profile document :func:`write_profile` writes: chapter, parameter set, date,
        machine, ``wall_s``, ``cpu_s`` (this process, all its threads), the tables of
        :func:`summarize_profile` and ``chapter_timings`` (the chapter's own step timings
        from its results.json, measured under the profiler).
    """
    root = Path(root or repo_root())
    plan = plan_run(chapter, params, overrides, root=root)
    nb = load_notebook(chapter.source_path(root))
    with tempfile.TemporaryDirectory(prefix=f"profile-{chapter.id}-") as tmp:
        values = dict(plan.values, results_path=str(Path(tmp) / "results.json"))
        cells = []
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cells.append(cell.source)
            if "parameters" in cell.metadata.get("tags", []):
                cells.append(_injected_cell(values))
        prof = cProfile.Profile()
        cpu0 = time.process_time()
        wall = _run_cells(cells, chapter, prof, root)
        cpu = time.process_time() - cpu0
        # The chapter's own step timings (results.json), measured under the profiler.
        written = Path(tmp) / "results.json"
        steps = json.loads(written.read_text()).get("timings", {}) if written.is_file() else {}
    summary = summarize_profile(pstats.Stats(prof), top=top)
    return {"chapter": chapter.id, "name": chapter.name, "parameter_set": plan.parameter_set,
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine_info(), "python": sys.version.split()[0], "wall_s": wall,
            "cpu_s": cpu, **summary, "chapter_timings": steps}


def write_profile(doc: dict[str, Any], root: Path | None = None) -> Path:
    """Write a profile document as ``bench/profiles/<chapter name>.json`` and return it."""
    out = Path(root or repo_root()) / PROFILES / f"{doc['name']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    return out


def load_profiles(root: Path) -> dict[str, dict]:
    """Every readable ``bench/profiles/*.json`` under ``root``, by chapter name."""
    out = {}
    for path in sorted((Path(root) / PROFILES).glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and {"name", "functions", "libraries"} <= set(doc):
            out[doc["name"]] = doc
    return out
