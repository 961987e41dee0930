"""The registry of the book's chapters: adding a chapter is adding one :class:`Chapter` entry.

A chapter is runnable (and listed in the table of contents) only once its jupytext source
``chapters/<name>.py`` exists, so the registry can name chapters that are still being written.

References: ARCHITECTURE.md, "Layout" and "How a chapter is run".

Examples
--------
>>> get_chapter("02").name
'02_dp_vs_ckks'
>>> get_chapter("02_dp_vs_ckks").parameter_dir(Path("/r")).as_posix()
'/r/parameters/02_dp_vs_ckks'
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHAPTERS",
    "PARAMETER_SETS",
    "Chapter",
    "ChapterNotFound",
    "available_chapters",
    "get_chapter",
    "repo_root",
]

PARAMETER_SETS = ("smoke", "default", "paper")


class ChapterNotFound(ValueError):
    """No chapter, source file or parameter file matches what was asked for."""


def repo_root() -> Path:
    """The project root: the directory holding ``_config.yml`` above this package, else cwd.

    The package is installed in editable mode from the repository, so the source tree is two
    levels above ``fedlib/book``; a non-editable install falls back to the working directory.
    """
    here = Path(__file__).resolve().parents[2]
    if (here / "_config.yml").is_file() and (here / "pyproject.toml").is_file():
        return here
    return Path.cwd()


@dataclass(frozen=True)
class Chapter:
    """One chapter of the book.

    Parameters
    ----------
    id : str
        Two-digit id used on the command line (``fedbook run 02``).
    name : str
        File stem shared by the source, the parameter directory and the outputs.
    title : str
        Human title (the page title itself comes from the notebook's first heading).
    schema : str or type
        ``"module:Class"`` import path of the chapter's :class:`~fedlib.book.params.ChapterParams`
        subclass, or the class itself (used by tests).
    source, parameters : str or Path, optional
        Source file and parameter directory; relative paths are relative to the repository
        root. Default ``chapters/<name>.py`` and ``parameters/<name>/``.
    """

    id: str
    name: str
    title: str
    schema: str | type
    source: str | Path | None = None
    parameters: str | Path | None = None

    def source_path(self, root: Path | None = None) -> Path:
        """Path of the jupytext ``py:percent`` source."""
        return (root or repo_root()) / (self.source or f"chapters/{self.name}.py")

    def parameter_dir(self, root: Path | None = None) -> Path:
        """Directory holding ``smoke.yml``, ``default.yml`` and ``paper.yml``."""
        return (root or repo_root()) / (self.parameters or f"parameters/{self.name}")

    def exists(self, root: Path | None = None) -> bool:
        """Whether the chapter's source has been written (only then is it runnable)."""
        return self.source_path(root).is_file()

    def parameter_file(self, which: str, root: Path | None = None) -> Path:
        """Resolve a parameter-set name (``smoke``) or a path to a YAML file."""
        pdir = self.parameter_dir(root)
        named = pdir / f"{which}.yml"
        if "/" not in which and not which.endswith((".yml", ".yaml")):
            if named.is_file():
                return named
            sets = sorted(p.stem for p in pdir.glob("*.yml"))
            raise ChapterNotFound(
                f"chapter {self.id}: no parameter set '{which}' in {pdir}; "
                f"available: {', '.join(sets) or 'none'} (or give the path of a .yml file)"
            )
        path = Path(which).expanduser()
        if not path.is_file():
            raise ChapterNotFound(f"chapter {self.id}: parameter file '{which}' does not exist")
        return path.resolve()

    def load_schema(self) -> type:
        """Import the parameter schema class."""
        if isinstance(self.schema, type):
            return self.schema
        module, _, attr = self.schema.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ChapterNotFound(
                f"chapter {self.id}: cannot import its parameter schema {self.schema}: {exc}"
            ) from exc


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "01", "01_fmtl_dp_secagg",
        "Federated multi-task learning with DP and secure aggregation",
        "fedlib.papers.p01_fmtl.params:Chapter01Params",
    ),
    Chapter(
        "02", "02_dp_vs_ckks",
        "Differential privacy versus homomorphic encryption",
        "fedlib.papers.p02_dp_vs_ckks.params:Chapter02Params",
    ),
    Chapter(
        "03", "03_fsl_bdp_survival",
        "Federated survival learning with Bayesian differential privacy",
        "fedlib.papers.p03_fsl_bdp.params:Chapter03Params",
    ),
    Chapter(
        "04", "04_vertical_secureboost_xmp",
        "Vertical federated SecureBoost with XMP feature selection",
        "fedlib.papers.p04_secureboost.params:Chapter04Params",
    ),
)


def get_chapter(key: str, registry: Iterable[Chapter] = CHAPTERS) -> Chapter:
    """Find a chapter by id (``"02"``, ``"2"``) or name (``"02_dp_vs_ckks"``)."""
    registry = tuple(registry)
    wanted = key.zfill(2) if key.isdigit() else key
    for ch in registry:
        if wanted in (ch.id, ch.name):
            return ch
    known = ", ".join(f"{c.id} ({c.name})" for c in registry)
    raise ChapterNotFound(f"no chapter '{key}'; chapters: {known}")


def available_chapters(
    root: Path | None = None, registry: Iterable[Chapter] = CHAPTERS
) -> list[Chapter]:
    """Chapters whose source file exists, in book order."""
    return [c for c in registry if c.exists(root)]
