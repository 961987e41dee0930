"""Per-party preprocessing: imputation, one-hot encoding, scaling, IQR outlier filter.

Paper 001 encodes and scales "locally at each client prior to training to avoid structural
leakage"; paper 000 imputes (median / mode), one-hot encodes, min-max scales and filters
outliers by the IQR rule. A :class:`PartyPreprocessor` is fitted on ONE party's rows, so no
statistic ever mixes parties. One-hot columns come from the *public* level lists of the
dataset schema, so every party produces the same columns even when it lacks a level.

:func:`pool_preprocessors` is what a consortium could agree on from the parties' aggregates
alone (n, mean, variance, min, max, median, level counts): the pooled mean and variance are
exact, medians and quartiles are approximated. The book uses it to transform the global test
set, and optionally for "federated scaling" training, where every party scales with the same
pooled statistics.

Written by hand rather than with scikit-learn transformers because the pooled preprocessor
must be built from aggregates, and sklearn scalers have no public constructor from statistics.

References: paper 001, section "Dataset and experimental setup" (local encoding and scaling);
paper 000, section "Data preprocessing"; Chan, Golub and LeVeque (1979) for pooled variance.
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import pandas as pd
>>> a = pd.DataFrame({"inc": [1.0, 2.0, 3.0], "area": ["urban", "urban", None]})
>>> b = pd.DataFrame({"inc": [10.0, 20.0], "area": ["rural", "rural"]})
>>> levels = {"area": ["rural", "urban"]}
>>> pa = PartyPreprocessor(["inc"], levels).fit(a)
>>> pa.feature_names
['inc', 'area=rural', 'area=urban']
>>> pa.transform(a).astype(float).round(3).tolist()
[[-1.225, 0.0, 1.0], [0.0, 0.0, 1.0], [1.225, 0.0, 1.0]]
>>> pooled = pool_preprocessors([pa, PartyPreprocessor(["inc"], levels).fit(b)])
>>> float(pooled.stats.loc["inc", "mean"])
7.2
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["PartyPreprocessor", "pool_preprocessors"]

_STATS = ["n", "mean", "var", "min", "max", "median", "q1", "q3"]


class PartyPreprocessor:
    """Imputation, one-hot encoding, scaling and IQR filtering fitted on one party's rows.

    Parameters
    ----------
    numeric : list of str
        Numeric columns (scaled).
    categorical : dict
        Column -> public list of levels (one-hot, in this order).
    scaling : {"standard", "minmax"}
        Standardise with the party's mean and (population) standard deviation, or map the
        party's [min, max] to [0, 1].
    impute : bool
        Fill missing numeric values with the median and missing categories with the mode.
        If False, missing values at :meth:`transform` time raise ``ValueError``.
    iqr_filter : float or None
        If set (1.5 is Tukey's rule), :meth:`filter_outliers` drops rows with a numeric value
        outside ``[q1 - k*IQR, q3 + k*IQR]``, and :meth:`fit` computes its other statistics on
        the rows that survive the filter.

    Attributes
    ----------
    stats : pandas.DataFrame
        Per numeric column: n (non-missing), mean, var (ddof=0), min, max, median, q1, q3.
    counts : dict
        Column -> level counts (pandas Series indexed by the public levels).
    """

    def __init__(
        self,
        numeric: Sequence[str],
        categorical: dict[str, Sequence] | None = None,
        *,
        scaling: str = "standard",
        impute: bool = True,
        iqr_filter: float | None = None,
    ) -> None:
        if scaling not in ("standard", "minmax"):
            raise ValueError(f"scaling must be 'standard' or 'minmax', got {scaling!r}")
        if iqr_filter is not None and not (np.isfinite(iqr_filter) and iqr_filter >= 0):
            raise ValueError(f"iqr_filter must be None or a number >= 0, got {iqr_filter!r}")
        categorical = dict(categorical or {})
        for col, levels in categorical.items():
            if len(levels) == 0 or len(set(levels)) != len(levels):
                raise ValueError(f"levels for {col!r} must be non-empty and unique: {levels!r}")
        overlap = set(numeric) & set(categorical)
        if overlap:
            raise ValueError(f"columns {sorted(overlap)} are both numeric and categorical")
        self.numeric = list(numeric)
        self.categorical = {c: list(v) for c, v in categorical.items()}
        self.scaling = scaling
        self.impute = impute
        self.iqr_filter = iqr_filter
        self.stats: pd.DataFrame | None = None
        self.counts: dict[str, pd.Series] = {}

    @property
    def feature_names(self) -> list[str]:
        """Output column names: numeric columns, then ``col=level`` for each one-hot column."""
        return self.numeric + [f"{c}={v}" for c, lv in self.categorical.items() for v in lv]

    @property
    def n(self) -> int:
        """Rows the preprocessor was fitted on (after the IQR filter)."""
        self._check_fitted()
        return self._n_rows

    def _check_fitted(self) -> None:
        if self.stats is None:
            raise RuntimeError("PartyPreprocessor is not fitted; call fit(frame) first")

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [c for c in [*self.numeric, *self.categorical] if c not in frame.columns]
        if missing:
            raise ValueError(f"frame lacks columns {missing}")

    def _outlier_mask(self, frame: pd.DataFrame, q1: pd.Series, q3: pd.Series) -> np.ndarray:
        k = self.iqr_filter
        x = frame[self.numeric].astype(float)
        lo, hi = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
        # Missing values are not outliers: imputation handles them.
        ok = x.isna() | ((x >= lo) & (x <= hi))
        return ok.all(axis=1).to_numpy()

    def fit(self, frame: pd.DataFrame) -> PartyPreprocessor:
        """Compute this party's statistics from ``frame`` (its own rows only)."""
        self._check_columns(frame)
        if len(frame) == 0:
            raise ValueError("cannot fit a PartyPreprocessor on an empty frame")
        x = frame[self.numeric].astype(float)
        q1, q3 = x.quantile(0.25), x.quantile(0.75)
        if self.iqr_filter is not None:
            frame = frame[self._outlier_mask(frame, q1, q3)]
            x = frame[self.numeric].astype(float)
        self._n_rows = len(frame)
        self.stats = pd.DataFrame(
            {
                "n": x.count().astype(float),
                "mean": x.mean(),
                "var": x.var(ddof=0),
                "min": x.min(),
                "max": x.max(),
                "median": x.median(),
                "q1": q1,
                "q3": q3,
            },
            index=pd.Index(self.numeric),
        )[_STATS]
        self.counts = {}
        for col, levels in self.categorical.items():
            values = frame[col]
            unknown = set(values.dropna()) - set(levels)
            if unknown:
                raise ValueError(f"column {col!r} has levels {sorted(unknown)} not in {levels}")
            self.counts[col] = values.value_counts().reindex(levels, fill_value=0)
        return self

    def filter_outliers(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of ``frame`` within the fitted IQR fences (all rows if ``iqr_filter`` is None)."""
        self._check_fitted()
        if self.iqr_filter is None:
            return frame
        return frame[self._outlier_mask(frame, self.stats["q1"], self.stats["q3"])]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Impute, scale and one-hot encode ``frame`` with the fitted statistics (float32)."""
        self._check_fitted()
        self._check_columns(frame)
        s = self.stats
        x = frame[self.numeric].astype(float)
        if self.impute:
            x = x.fillna(s["median"])
        elif x.isna().any().any():
            raise ValueError(f"missing values in {list(x.columns[x.isna().any()])}, impute=False")
        if self.scaling == "standard":
            centre, scale = s["mean"], np.sqrt(s["var"])
        else:
            centre, scale = s["min"], s["max"] - s["min"]
        # A constant (or all-missing) column would divide by 0 or NaN: leave it unscaled.
        scale = scale.where(scale > 0, 1.0).fillna(1.0)
        num = ((x - centre.fillna(0.0)) / scale).to_numpy(dtype=np.float64)
        blocks = [num]
        for col, levels in self.categorical.items():
            values = frame[col]
            if values.isna().any():
                if not self.impute:
                    raise ValueError(f"missing values in {col!r}, impute=False")
                values = values.astype(object).fillna(self.counts[col].idxmax())
            unknown = set(values) - set(levels)
            if unknown:
                raise ValueError(f"column {col!r} has levels {sorted(unknown)} not in {levels}")
            codes = pd.Categorical(values, categories=levels).codes
            blocks.append(np.eye(len(levels))[codes])
        return np.hstack(blocks).astype(np.float32)

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        """``fit(frame)`` then ``transform(frame)``."""
        return self.fit(frame).transform(frame)

    def __repr__(self) -> str:
        state = "fitted" if self.stats is not None else "unfitted"
        return (
            f"PartyPreprocessor({len(self.numeric)} numeric, {len(self.categorical)} categorical, "
            f"scaling={self.scaling!r}, {state})"
        )


def pool_preprocessors(preps: Sequence[PartyPreprocessor]) -> PartyPreprocessor:
    """Combine fitted party preprocessors into one, from their aggregates only.

    Exact: counts, n-weighted mean, pooled variance ``sum n_k (var_k + (mean_k - mean)^2) / n``
    (ddof=0), min of mins, max of maxes, level counts (hence the mode). Approximate: medians
    and quartiles are the n-weighted means of the parties' values (a true pooled median needs
    the rows or a secure quantile protocol). Columns all-missing in a party (n = 0) carry no
    weight.

    Raises
    ------
    ValueError
        Empty list, unfitted preprocessors, or preprocessors with different schemas.
    """
    if len(preps) == 0:
        raise ValueError("pool_preprocessors needs at least one fitted PartyPreprocessor")
    first = preps[0]
    for k, p in enumerate(preps):
        if p.stats is None:
            raise ValueError(f"preprocessor {k} is not fitted")
        same = (p.numeric, p.categorical, p.scaling) == (
            first.numeric,
            first.categorical,
            first.scaling,
        )
        if not same:
            raise ValueError(f"preprocessor {k} has a different schema or scaling from 0")
    n = np.stack([p.stats["n"].to_numpy() for p in preps])  # parties × columns
    stat = {c: np.stack([p.stats[c].to_numpy() for p in preps]) for c in _STATS[1:]}
    total = n.sum(axis=0)
    w = np.divide(n, total, out=np.zeros_like(n), where=total > 0)

    def wmean(a: np.ndarray) -> np.ndarray:
        return np.where(total > 0, np.nansum(w * np.nan_to_num(a), axis=0), np.nan)

    mean = wmean(stat["mean"])
    var = wmean(stat["var"] + (np.nan_to_num(stat["mean"]) - mean) ** 2)
    pooled = PartyPreprocessor(
        first.numeric,
        first.categorical,
        scaling=first.scaling,
        impute=first.impute,
        iqr_filter=first.iqr_filter,
    )
    with warnings.catch_warnings():
        # A column missing in every party has no min/max; NaN is the honest answer.
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanmin(np.where(n > 0, stat["min"], np.nan), axis=0)
        hi = np.nanmax(np.where(n > 0, stat["max"], np.nan), axis=0)
    pooled.stats = pd.DataFrame(
        {
            "n": total,
            "mean": mean,
            "var": var,
            "min": lo,
            "max": hi,
            "median": wmean(stat["median"]),
            "q1": wmean(stat["q1"]),
            "q3": wmean(stat["q3"]),
        },
        index=pd.Index(first.numeric),
    )
    pooled.counts = {c: sum(p.counts[c] for p in preps) for c in first.categorical}
    pooled._n_rows = int(sum(p.n for p in preps))
    return pooled
