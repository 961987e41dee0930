"""What a loaded dataset is: the frame plus the schema facts the rest of the library needs.

A :class:`Dataset` bundles the frame with the binary target, the model features, which features
are categorical and their *public* level lists (so every party one-hot encodes into the same
feature space without seeing another party's rows), the protected attributes used for fairness
reports, the columns used to build non-IID partitions, and a short card (title, origin,
licence, rows, description). Loaders build one; :mod:`fedlib.data.registry` finds a loader by
name.

References: paper 001 (chapter 2), section "Dataset and experimental setup"; ARCHITECTURE.md,
"fedlib/data". Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import pandas as pd
>>> ds = Dataset("tiny", pd.DataFrame({"y": [0, 1, 1], "x": [1.0, 2.0, 3.0]}), target="y",
...              features=["x"])
>>> ds.numeric, round(ds.positive_rate, 3)
(['x'], 0.667)
>>> Dataset("bad", pd.DataFrame({"y": [0, 2]}), target="y", features=[])
Traceback (most recent call last):
...
fedlib.data.dataset.DataSchemaError: dataset 'bad': target 'y' must be 0/1 without missing values, found ['0', '2']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["DataSchemaError", "Dataset", "DatasetCard"]


class DataSchemaError(ValueError):
    """A data file or frame does not match the schema its loader expects."""


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
