"""The temporary ``.run-*`` folders a chapter run executes in, and what happens on a signal.

A run executes its notebook in ``book/chapters/.run-<id>-<pid>-<random>/`` and moves the
outputs into place only at the end, so a failed run keeps the previous outputs. Two things can
still leave such a folder behind, and both are handled here:

* **SIGTERM / SIGHUP** (a ``kill``, a closed terminal, a CI timeout) would end the process
  without running any ``finally``; :func:`signals_raise` turns them into
  :class:`RunInterrupted`, which unwinds like Ctrl-C, so the folder is removed and the kernel
  shut down.
* **SIGKILL** or a power cut cannot be caught; the folder name carries the process id, so the
  next run removes every folder whose process is gone (:func:`remove_stale_run_dirs`).

References: ARCHITECTURE.md, "How a chapter is run".

Examples
--------
>>> import tempfile
>>> out = Path(tempfile.mkdtemp())
>>> (out / ".run-02-999999999-abc").mkdir()
>>> [p.name for p in remove_stale_run_dirs(out)]
['.run-02-999999999-abc']
>>> run_dir_prefix("02") == f".run-02-{os.getpid()}-"
True
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["RunInterrupted", "remove_stale_run_dirs", "run_dir_prefix", "signals_deferred",
           "signals_raise"]

_NAME = re.compile(r"\.run-[^-]+-(?P<pid>\d+)-.*")
# Folders named before the process id was part of the name: removed once this old, since a
# run of that older version can no longer be in progress after an upgrade of the checkout.
_LEGACY_AGE_S = 3600.0
_CAUGHT = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
                if s is not None)


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal (Ctrl-C, SIGTERM or SIGHUP); ``signum`` says which.

    A subclass of :class:`KeyboardInterrupt` so it unwinds through the same ``finally``
    blocks (papermill's kernel shutdown, the temporary folder's removal) as Ctrl-C does.
    """

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def run_dir_prefix(chapter_id: str) -> str:
    """Prefix of this process's temporary run folder for ``chapter_id``."""
    return f".run-{chapter_id}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except PermissionError:
        return True  # it exists but belongs to another user
    except (ProcessLookupError, OverflowError, OSError):
        return False
    return True


def remove_stale_run_dirs(out_dir: Path, *, now: float | None = None) -> list[Path]:
    """Remove the ``.run-*`` folders under ``out_dir`` whose run has ended; return them.

    A folder is stale when the process id in its name is not running, or, for a folder named
    without a process id, when it has not changed for an hour. Folders of live runs (another
    ``fedbook`` working on the same book) are kept.
    """
    now = time.time() if now is None else now
    removed = []
    for folder in sorted(Path(out_dir).glob(".run-*")):
        if not folder.is_dir():
            continue
        m = _NAME.fullmatch(folder.name)
        if m is not None:
            stale = not _alive(int(m["pid"]))
        else:
            try:
                stale = now - folder.stat().st_mtime > _LEGACY_AGE_S
            except OSError:
                continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def signals_raise(before: Callable[[], None] | None = None) -> Iterator[None]:
    """Within the block, Ctrl-C, SIGTERM and SIGHUP raise :class:`RunInterrupted`.

    ``before`` runs first, inside the handler: the runner passes a function that kills the
    chapter's kernel, so the clean-up that the exception triggers does not wait for the
    running cell (which may take an hour) and the kernel prints nothing on the way out.
    Only the main thread can install handlers; elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        if before is not None:
            before()
        raise RunInterrupted(signum)

    previous = {s: signal.signal(s, _raise) for s in (signal.SIGINT, *_CAUGHT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block ends (for the two final renames).

    A signal between moving results.json and moving the notebook would leave a new results
    file beside an old notebook; held back, it is acted on just after both are in place.
    """
    sigs = {signal.SIGINT, *_CAUGHT}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
