"""Run a chapter: YAML + overrides -> validation -> jupytext -> papermill -> book/chapters/.

The order matters: parameters are validated against the chapter's schema *before* a kernel
starts, so a bad value costs nothing and touches nothing. The notebook is executed into a
temporary directory beside the destination and moved into place only when every cell ran and
the chapter wrote a valid ``results.json``; a failed run leaves the previous outputs untouched.

The kernel is the interpreter running this code (``sys.executable`` with ``ipykernel``), not
whatever a ``python3`` kernelspec in the user's Jupyter directories points to: a stale user-level
kernelspec would otherwise silently run the chapter in another environment.

References: ARCHITECTURE.md, "How a chapter is run"; papermill and jupytext documentation.

Examples
--------
>>> from fedlib.book.chapters import get_chapter
>>> try:
...     plan_run(get_chapter("02"), "nosuchset", root=Path("/nonexistent"))
... except ValueError as err:
...     print(str(err).split(";")[0])
chapter 02: no parameter set 'nosuchset' in /nonexistent/parameters/02_dp_vs_ckks
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import tempfile
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedlib.book.chapters import Chapter, repo_root
from fedlib.book.datacheck import check_chapter_data
from fedlib.book.params import ParameterError, load_yaml, parse_value, validate_params
from fedlib.book.results import ResultsFormatError, load_results
from fedlib.book.rundirs import (
    remove_stale_run_dirs,
    run_dir_prefix,
    signals_deferred,
    signals_raise,
)

__all__ = ["ChapterRunError", "RunPlan", "RunResult", "execute_plan", "load_notebook", "plan_run",
           "run_chapter"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _DropParserWarnings(logging.Filter):
    """Drop papermill's warnings about the parameters cell.

    Papermill's regex parser of the parameters cell misreads some lines (``x: str | None``,
    comments containing ``=``) and warns; the schema has already validated every key, so those
    warnings are only noise.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not msg.startswith(("Passed unknown parameter", "Unable to parse line"))


class ChapterRunError(RuntimeError):
    """A chapter failed while executing; the message shows the failing cell and traceback."""


@dataclass
class RunPlan:
    """A validated run, ready to execute."""

    chapter: Chapter
    root: Path
    parameter_set: str
    values: dict[str, Any]
    param_file: Path
    overrides: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class RunResult:
    """Where a successful run put its outputs and how long it took."""

    chapter: Chapter
    notebook: Path
    results: Path
    seconds: float
    parameter_set: str


def plan_run(
    chapter: Chapter,
    params: str = "default",
    overrides: Sequence[tuple[str, str]] = (),
    *,
    root: Path | None = None,
) -> RunPlan:
    """Load the parameter file, apply ``-p key value`` overrides and validate.

    Raises
    ------
    ChapterNotFound
        The parameter set or file does not exist.
    ParameterError
        A key is unknown, missing, mistyped or out of range (no kernel has been started).
    """
    root = Path(root or repo_root())
    pfile = chapter.parameter_file(params, root)
    rel = os.path.relpath(pfile, root) if pfile.is_relative_to(root) else str(pfile)
    values = load_yaml(pfile, source=rel) or {}
    if not isinstance(values, dict):
        raise ParameterError(f"{rel}: must be a mapping of key: value, got {values!r}")
    label = params if "/" not in params and not params.endswith((".yml", ".yaml")) else pfile.stem
    parsed = [(str(k), parse_value(v, key=str(k)) if isinstance(v, str) else v)
              for k, v in overrides]
    for key, value in parsed:
        values[key] = value
    if parsed:
        label += "+overrides"
    values["parameter_set"] = label
    values.setdefault("results_path", "results.json")
    source = rel + (" with -p " + ", ".join(f"{k}={v!r}" for k, v in parsed) if parsed else "")
    model = validate_params(chapter.load_schema(), values, source=source)
    dumped = model.model_dump(mode="json")
    # The data file is read by the kernel only after ~5 s of start-up; an empty, header-only,
    # wrongly delimited or non-UTF-8 file is cheap to recognise here, with the loader's words.
    check_chapter_data(chapter.id, dumped)
    return RunPlan(chapter, root, label, dumped, pfile, parsed)


# Kernel managers of the runs in progress, so a signal can end their kernels at once.
_LIVE_KERNELS: weakref.WeakSet = weakref.WeakSet()


def _kill_kernels() -> None:
    """Kill the kernels of the runs in progress (called from a signal handler).

    The kernel runs in its own session, so Ctrl-C does not reach it; left alive, nbclient's
    graceful shutdown would wait for the running cell and the kernel would print a traceback
    about its closed sockets. Nothing in a killed kernel is needed: the run's outputs are
    discarded with its temporary folder.
    """
    for km in list(_LIVE_KERNELS):
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _kernel_manager_class():
    """An AsyncKernelManager that always starts ``sys.executable -m ipykernel_launcher``.

    Asynchronous, as nbclient expects: with a blocking client, a Ctrl-C during a long cell left
    the event loop blocked in a wait for that cell's reply, so the run hung until it ended.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class _ThisInterpreterKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            _LIVE_KERNELS.add(self)

        @default("kernel_spec_manager")
        def _default_ksm(self):
            # No kernel directories: "python3" resolves to ipykernel's built-in spec, whose
            # argv is this interpreter, whatever is registered in ~/.local/share/jupyter.
            return KernelSpecManager(kernel_dirs=[], parent=self)

        async def _async_interrupt_kernel(self):
            # jupyter_client interrupts the kernel before every shutdown, to stop a running
            # cell. Ours shut down between cells (a signal kills the kernel outright), and an
            # idle ipykernel hit by SIGINT prints "KeyboardInterrupt caught in kernel" on
            # stderr when it is slow to exit (seen on a loaded machine).
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

        @default("transport_encryption")
        def _default_encryption(self):
            # ipykernel warns "Kernel is running over TCP without encryption" on every start
            # unless the manager hands it CurveZMQ keys; its built-in spec declares support,
            # so "auto" provisions them. Without libsodium in pyzmq, stay unencrypted.
            import zmq

            return "auto" if zmq.has("curve") else "disabled"

    return _ThisInterpreterKernelManager


def load_notebook(source: Path):
    """The chapter's jupytext source as a notebook with the kernel of this interpreter.

    Raises :class:`ChapterRunError` if no cell is tagged ``parameters``.
    """
    import jupytext

    nb = jupytext.read(source, fmt="py:percent")
    if not any("parameters" in c.metadata.get("tags", []) for c in nb.cells):
        raise ChapterRunError(
            f"{source}: no cell is tagged 'parameters'; mark it with "
            '# %% tags=["parameters"] so papermill can inject the values'
        )
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


def _format_failure(chapter: Chapter, err: Any) -> str:
    tb = _ANSI.sub("", "\n".join(getattr(err, "traceback", []) or []))
    return (
        f"chapter {chapter.id} ({chapter.name}) failed in cell {err.cell_index} "
        f"(execution count {err.exec_count}): {err.ename}: {err.evalue}\n"
        f"--- cell source ---\n{err.source}\n--- traceback ---\n{tb}\n"
        "The previous outputs under book/chapters/ were left untouched."
    )


def _quiet_notebook(path: Path, replacements: Sequence[tuple[str, str]]) -> None:
    """Make the executed notebook fit for the page.

    Hide papermill's injected cell and replace the run's temporary paths.

    Papermill adds a cell tagged ``injected-parameters`` after the ``parameters`` cell; it repeats
    the parameter set with the run's temporary ``results_path``. The tag ``remove-cell`` makes
    MyST-NB (Jupyter Book) drop it from the page; the notebook keeps it, so the values actually
    used stay on record. Every occurrence of a temporary path (that cell, papermill's metadata) is
    replaced by where the file ends up, so no deleted folder is named anywhere.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)

    def fix(value):
        if isinstance(value, str):
            for old, new in replacements:
                value = value.replace(old, new)
            return value
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return type(value)((k, fix(v)) for k, v in value.items())
        return value

    nb = nbformat.from_dict(fix(nb))
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(nb, path)


def execute_plan(
    plan: RunPlan,
    *,
    out_dir: Path | None = None,
    progress: bool = True,
    start_timeout: int = 120,
) -> RunResult:
    """Execute a validated plan and install the notebook and results.json atomically.

    Parameters
    ----------
    plan
        From :func:`plan_run`.
    out_dir
        Where the notebook and results go (default ``book/chapters``).
    progress
        Show papermill's progress bar.
    start_timeout
        Seconds to wait for the kernel to start.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    chapter, root = plan.chapter, plan.root
    out_dir = Path(out_dir or root / "book" / "chapters")
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = load_notebook(chapter.source_path(root))
    for name in ("papermill", "papermill.translators"):
        pm_logger = logging.getLogger(name)
        if not any(isinstance(f, _DropParserWarnings) for f in pm_logger.filters):
            pm_logger.addFilter(_DropParserWarnings())
    # Folders left by runs that were SIGKILLed (their process is gone) go first.
    remove_stale_run_dirs(out_dir)
    t0 = time.perf_counter()
    # The temporary directory is beside the destination so the final moves are atomic renames;
    # its leading dot keeps it out of the book build; its name holds our pid (see rundirs).
    with signals_raise(before=_kill_kernels), tempfile.TemporaryDirectory(
        dir=out_dir, prefix=run_dir_prefix(chapter.id)
    ) as tmp:
        tmp = Path(tmp)
        values = dict(plan.values, results_path=str(tmp / "results.json"))
        try:
            papermill.execute_notebook(
                nb,
                str(tmp / f"{chapter.name}.ipynb"),
                parameters=values,
                kernel_name="python3",
                progress_bar=progress,
                cwd=str(root),
                start_timeout=start_timeout,
                kernel_manager_class=_kernel_manager_class(),
            )
        except PapermillExecutionError as err:
            raise ChapterRunError(_format_failure(chapter, err)) from None
        if not (tmp / "results.json").is_file():
            raise ChapterRunError(
                f"chapter {chapter.id} ran but wrote no results.json: it must call "
                "ResultsWriter(...).write(results_path). Previous outputs left untouched."
            )
        try:
            load_results(tmp / "results.json")
        except (ResultsFormatError, ValueError) as err:
            raise ChapterRunError(
                f"chapter {chapter.id} wrote an invalid results.json: {err}"
            ) from None
        seconds = time.perf_counter() - t0
        nb_dest = out_dir / f"{chapter.name}.ipynb"
        res_dest = out_dir / f"{chapter.name}.results.json"

        def shown(path: Path) -> str:
            return os.path.relpath(path, root) if path.is_relative_to(root) else str(path)

        _quiet_notebook(tmp / f"{chapter.name}.ipynb", [
            (str(tmp / "results.json"), shown(res_dest)),
            (str(tmp / f"{chapter.name}.ipynb"), shown(nb_dest)),
            (str(tmp), shown(out_dir)),
        ])
        with signals_deferred():
            os.replace(tmp / "results.json", res_dest)
            os.replace(tmp / f"{chapter.name}.ipynb", nb_dest)
    return RunResult(chapter, nb_dest, res_dest, seconds, plan.parameter_set)


def run_chapter(
    chapter: Chapter,
    params: str = "default",
    overrides: Sequence[tuple[str, str]] = (),
    *,
    root: Path | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
) -> RunResult:
    """Validate then execute one chapter (see :func:`plan_run` and :func:`execute_plan`).

    Parameters
    ----------
    chapter
        The chapter to run.
    params
        Parameter set name (``smoke``, ``default``, ``paper``) or a YAML file.
    overrides
        ``(key, value)`` pairs applied on top (the command line's ``-p key value``).
    root, out_dir, progress
        As :func:`plan_run` and :func:`execute_plan`.
    """
    plan = plan_run(chapter, params, overrides, root=root)
    return execute_plan(plan, out_dir=out_dir, progress=progress)

