"""A registry of named datasets, so every chapter loads its data the same way.

A :class:`Dataset` bundles the frame with the schema facts the rest of the library needs: the
binary target, the model features, which features are categorical and their *public* level
lists (so every party one-hot encodes into the same feature space without seeing another
party's rows), the protected attributes used for fairness reports, the columns used to build
non-IID partitions, and a short card (title, origin, licence, rows, description).

Chapters 1, 3 and 4 add their datasets with :func:`register_dataset`; chapter 2 registers the
built-ins in :mod:`fedlib.data.loaders` (``loanapp``, ``kaggle_loan_approval``,
``lending_club``, ``credit_data``).

References: paper 001 (chapter 2), section "Dataset and experimental setup"; ARCHITECTURE.md,
"fedlib/data". Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> ds = load_dataset("loanapp")
>>> ds.target, len(ds.frame), len(ds.features)
('approve', 1989, 12)
>>> "kaggle_loan_approval" in list_datasets()
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = [
    "DataSchemaError",
    "Dataset",
    "DatasetCard",
    "UnknownDatasetError",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]


class DataSchemaError(ValueError):
    """A data file or frame does not match the schema its loader expects."""


class UnknownDatasetError(KeyError, ValueError):
    """No dataset is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class DatasetCard:
    """What a reader needs to know about a dataset before trusting results on it.

    The long version lives in ``data/<name>.md``; this is the short one carried with the data.
    """

    title: str
    origin: str
    licence: str
    rows: int
    description: str


@dataclass
class Dataset:
    """A loaded dataset plus the schema facts partitioners and preprocessors need.

    Parameters
    ----------
    name : str
        Registry name.
    frame : pandas.DataFrame
        One row per applicant; contains the target, the features, the protected and the
        strata columns. Missing values stay ``NaN``: each party imputes them itself.
    target : str
        Binary 0/1 integer column.
    features : list of str
        Model inputs (numeric and categorical).
    categorical : list of str
        The subset of ``features`` that is categorical.
    protected : dict
        Role -> column for fairness reports, e.g. ``{"gender": "male", "race": "race"}``. Not
        model features unless listed in ``features`` too.
    strata : dict
        Role -> column used for non-IID partitioning: ``"income"``, ``"assets"``, ``"area"``.
    categories : dict
        Column -> list of levels. Public schema information, so every party encodes into the
        same columns even when it lacks a level.
    card : DatasetCard
    """

    name: str
    frame: pd.DataFrame
    target: str
    features: list[str]
    categorical: list[str] = field(default_factory=list)
    protected: dict[str, str] = field(default_factory=dict)
    strata: dict[str, str] = field(default_factory=dict)
    categories: dict[str, list] = field(default_factory=dict)
    card: DatasetCard | None = None

    def __post_init__(self) -> None:
        cols = set(self.frame.columns)
        needed = [self.target, *self.features, *self.protected.values(), *self.strata.values()]
        missing = [c for c in needed if c not in cols]
        if missing:
            raise DataSchemaError(
                f"dataset {self.name!r}: columns {missing} are named in the schema but absent "
                f"from the frame (has {sorted(cols)})"
            )
        bad_cat = [c for c in self.categorical if c not in self.features]
        if bad_cat:
            raise DataSchemaError(f"dataset {self.name!r}: categorical {bad_cat} not in features")
        no_levels = [c for c in self.categorical if c not in self.categories]
        if no_levels:
            raise DataSchemaError(
                f"dataset {self.name!r}: categorical columns {no_levels} need public level lists "
                "in `categories`"
            )
        y = self.frame[self.target]
        if y.isna().any() or not set(pd.unique(y)) <= {0, 1}:
            raise DataSchemaError(
                f"dataset {self.name!r}: target {self.target!r} must be 0/1 without missing "
                f"values, found {sorted(map(str, pd.unique(y)))[:5]}"
            )

    @property
    def numeric(self) -> list[str]:
        """Features that are not categorical."""
        return [c for c in self.features if c not in self.categorical]

    @property
    def positive_rate(self) -> float:
        """Share of rows with target 1."""
        return float(self.frame[self.target].mean())

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, rows={len(self.frame)}, target={self.target!r}, "
            f"features={len(self.features)}, positive_rate={self.positive_rate:.3f})"
        )


Loader = Callable[..., Dataset]
_REGISTRY: dict[str, Loader] = {}


def register_dataset(name: str, loader: Loader, *, overwrite: bool = False) -> None:
    """Register ``loader(path=None, **kw) -> Dataset`` under ``name``.

    Examples
    --------
    >>> import pandas as pd
    >>> def tiny(path=None):
    ...     f = pd.DataFrame({"y": [0, 1], "x": [1.0, 2.0]})
    ...     return Dataset("tiny", f, target="y", features=["x"])
    >>> register_dataset("tiny_example", tiny, overwrite=True)
    >>> load_dataset("tiny_example").frame.shape
    (2, 2)
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(loader):
        raise TypeError(f"loader for {name!r} must be callable, got {type(loader).__name__}")
    _ensure_builtins()
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"dataset {name!r} is already registered; pass overwrite=True")
    _REGISTRY[name] = loader


def list_datasets() -> list[str]:
    """Names of all registered datasets, sorted."""
    _ensure_builtins()
    return sorted(_REGISTRY)


def load_dataset(name: str, *, path: str | Path | None = None, **kw) -> Dataset:
    """Load the dataset registered under ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    path : str or Path, optional
        A local file in the dataset's published schema (required for datasets that are not
        shipped offline, e.g. ``kaggle_loan_approval``).
    **kw
        Passed to the loader.

    Raises
    ------
    UnknownDatasetError
        If ``name`` is not registered; the message lists the known names.
    DataSchemaError
        If the file does not match the schema.
    """
    _ensure_builtins()
    if name not in _REGISTRY:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name](path=path, **kw)


def _ensure_builtins() -> None:
    # Deferred so importing fedlib.data does no work; the loaders module registers itself.
    if "loanapp" not in _REGISTRY:
        from fedlib.data import loaders

        loaders.register_builtins()
