"""Reading a user's CSV: the column and value checks every generic loader shares.

The tabular loaders of chapters 1 and 2 (:mod:`fedlib.data.generic`) and chapter 3's survival
loader (:mod:`fedlib.survival.generic`) read a user's table the same way: the file must exist
(:func:`require_file`), be read with the header names stripped (:func:`read_csv_frame`), name
only columns the file has (:func:`need_columns`), take a column option as one name or a list
(:func:`as_list`), compare values as stripped text (:func:`as_text`), map a two-valued column
to 0/1 (:func:`binary_label`) and refuse a numeric column with a few stray texts
(:func:`reject_stray_text`). Each failure is one :class:`~fedlib.data.dataset.DataSchemaError`
line naming the file, the column and what is allowed.

References: issue 14 item 10; dataset card ``data/csv.md``. Used by chapters 1, 2 and 3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fedlib.data.dataset import DataSchemaError
from fedlib.data.filecheck import data_row_line, not_utf8_message

__all__ = ["as_list", "as_text", "binary_label", "need_columns", "read_csv_frame",
           "reject_stray_text", "require_file"]

_TRUE = ("1", "true", "yes", "y")
_FALSE = ("0", "false", "no", "n")


def as_text(values: pd.Series) -> pd.Series:
    """Values as stripped text; whole floats without ``.0`` (a label read as 1.0 is ``"1"``).

    >>> as_text(pd.Series([1.0, " yes ", None])).tolist()
    ['1', 'yes', nan]
    """
    def one(v):
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()
    return values.map(one, na_action="ignore")


def require_file(path, dataset: str) -> Path:
    """``path`` as a :class:`~pathlib.Path` of an existing regular file, else one error line.

    >>> try:
    ...     require_file(None, "csv")
    ... except DataSchemaError as err:
    ...     print(err)
    csv: data_path is not set; give the path of your CSV file
    """
    if path is None:
        raise DataSchemaError(f"{dataset}: data_path is not set; give the path of your CSV file")
    path = Path(path)
    if not path.exists():
        raise DataSchemaError(f"{dataset}: file not found: {path}")
    if not path.is_file():
        raise DataSchemaError(f"{dataset}: {path} is not a regular file")
    return path


def read_csv_frame(path: Path, dataset: str, usecols=None) -> pd.DataFrame:
    """Read a checked CSV (all columns, or the names in ``usecols``), header names stripped.

    A parser or encoding failure becomes a :class:`DataSchemaError` naming the file.
    """
    try:
        frame = pd.read_csv(path, skipinitialspace=True, low_memory=False,
                            usecols=(lambda c: c.strip() in usecols) if usecols else None)
    except UnicodeDecodeError as e:  # a bad byte beyond the part check_csv_structure reads
        raise DataSchemaError(not_utf8_message(dataset, path, e.object, e)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataSchemaError(f"{dataset}: cannot read {path.name} as CSV: {first}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def need_columns(header: Sequence[str], wanted: Mapping[str, Sequence[str]], name: str,
                  dataset: str) -> None:
    """One error for the first option naming absent columns, listing the columns found."""
    for option, cols in wanted.items():
        missing = [c for c in cols if c not in header]
        if missing:
            what = f"{option} {missing[0]!r}" if len(missing) == 1 else f"{option} {missing}"
            raise DataSchemaError(f"{dataset}: {name} has no column for {what}; "
                                  f"columns found: {list(header)}")


def as_list(value, option: str, dataset: str) -> list[str]:
    """A column option as a list: None → ``[]``, a name → ``[name]``, a list of names as is.

    >>> as_list("age", "drop_columns", "csv"), as_list(None, "drop_columns", "csv")
    (['age'], [])
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise DataSchemaError(f"{dataset}: {option} must be a column name or a list of "
                              f"column names, got {value!r}")
    return list(value)


def binary_label(values: pd.Series, *, column: str, positive_label=None, path: Path,
                 dataset: str = "csv") -> tuple[np.ndarray, str]:
    """Map a two-valued label column to 0/1; returns the labels and the value read as 1.

    Examples
    --------
    >>> y, pos = binary_label(pd.Series(["no", "yes", "yes"]), column="card", path=Path("x"))
    >>> y.tolist(), pos
    ([0, 1, 1], 'yes')
    """
    text = as_text(values)
    empty = text.isna() | (text == "")
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise DataSchemaError(
            f"{dataset}: label column {column!r} is empty in {int(empty.sum())} rows (first on "
            f"line {data_row_line(path, row)} of {path.name}); every row needs a label")
    levels = sorted(text.unique())
    if len(levels) != 2:
        shown = levels[:6] + (["..."] if len(levels) > 6 else [])
        raise DataSchemaError(
            f"{dataset}: label column {column!r} must have exactly two values, found "
            f"{len(levels)}: {shown}")
    if isinstance(positive_label, bool):
        # YAML reads an unquoted yes/no/true/false as a boolean: match it to the file's word.
        words = _TRUE if positive_label else _FALSE
        positive_label = next((v for v in levels if v.lower() in words), positive_label)
    if positive_label is not None:
        pos = as_text(pd.Series([positive_label])).iloc[0]
        if pos not in levels:
            raise DataSchemaError(f"{dataset}: positive_label {positive_label!r} is not a value "
                                  f"of label column {column!r}; its values are {levels}")
    else:
        low = {v.lower(): v for v in levels}
        pair = next(((t, f) for t, f in zip(_TRUE, _FALSE, strict=True)
                     if set(low) == {t, f}), None)
        if pair is None:
            raise DataSchemaError(
                f"{dataset}: label column {column!r} has values {levels}; say which one is 1 "
                f"with positive_label (e.g. positive_label: {levels[1]!r})")
        pos = low[pair[0]]
    return (text == pos).to_numpy(int), pos


def reject_stray_text(raw: pd.Series, column: str, path: Path, dataset: str) -> pd.Series | None:
    """Stop on a column that is numbers but for a few stray texts (at most 5 %).

    The error names the first text and its line; a column that is genuinely text
    (categorical) passes and None is returned.
    """
    text = as_text(raw)
    values = pd.to_numeric(text, errors="coerce")
    present = text.notna() & (text != "")
    bad = present & values.isna()
    if present.sum() and bad.sum() <= 0.05 * present.sum():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataSchemaError(
            f"{dataset}: column {column!r} is numeric but has {int(bad.sum())} non-numeric "
            f"values (first {text.iloc[row]!r} on line {data_row_line(path, row)} of "
            f"{path.name}); leave such cells empty, or name the column in categorical_columns")
    return None
