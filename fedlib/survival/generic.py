r"""Any loan table with times to default as chapter 3's :class:`SurvivalDataset`.

Two ways to give the time to default, one row per loan, and a party column naming the
loan's client (its lender, state or country):

* **durations**: ``duration_column`` (time from origination to default or censoring, in
  ``duration_unit``: months by default) and ``event_column`` (1 = default observed; two
  values, mapped like a label: 0/1, true/false, yes/no, or ``event_value`` names the default
  value). ``origination_column`` (dates) is optional and only needed for an out-of-time
  window.
* **dates**: ``origination_column`` and ``default_column`` (empty for loans that did not
  default), read with ``date_format`` (a :func:`~datetime.datetime.strptime` format such as
  ``%Y-%m-%d``), and optionally ``end_column`` (the date a loan was repaid or closed: it is
  censored there). The time to default is the months from origination to default; other loans
  are censored at their end date or at ``observation_end`` (the date the data were extracted;
  default: the latest date in the file, stated in the dataset's note). A default before its
  origination or after ``observation_end`` is an error (a two-digit year read in the wrong
  century shows up this way).

Every time is in months (30.4375-day months). A default after ``window`` months is censored at
the window, as in the paper's loaders. Clients with fewer than ``min_client_rows`` loans are
dropped; fewer than two clients left is an error naming the client sizes. Loans originated on
or after ``oot_start`` form the out-of-time window (dates needed); without it every loan is
in-time. Features are every other column (``drop_columns`` removed): text columns are
categorical, numbers numeric, as in :mod:`fedlib.data.generic`.

:func:`check_survival_csv` is what ``fedbook run`` calls before a kernel starts.

References: issue 14 item 10; FSL-BDP sec. 4.1 (time to default, censoring, window, clients,
OOT); dataset card ``data/csv.md``. Used by chapter 3.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "loans.csv"
>>> rows = [f"{'ab'[i % 2]},{1 + i % 30},{int(i % 4 == 0)},{i % 7}" for i in range(80)]
>>> _ = p.write_text("lender,months,defaulted,inquiries\n" + "\n".join(rows) + "\n")
>>> ds = load_survival_csv(p, party_column="lender", duration_column="months",
...                        event_column="defaulted")
>>> ds.n_clients, ds.window, ds.numeric_columns, int(ds.frame["event"].sum())
(2, 24, ['inquiries'], 17)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fedlib.data.csvread import (
    as_list,
    as_text,
    binary_label,
    read_csv_frame,
    reject_stray_text,
    require_file,
)
from fedlib.data.dataset import DataSchemaError
from fedlib.data.filecheck import check_csv_structure, data_row_line
from fedlib.survival.data import SurvivalDataError, SurvivalDataset
from fedlib.survival.loaders import months_between

__all__ = ["SURVIVAL_OPTIONS", "check_survival_csv", "load_survival_csv"]

NAME = "csv"
#: Keyword options of the survival loader, as chapter 3's parameters name them.
SURVIVAL_OPTIONS = ("party_column", "duration_column", "event_column", "event_value",
                    "duration_unit", "origination_column", "default_column", "end_column",
                    "date_format", "observation_end", "window", "oot_start",
                    "categorical_columns", "drop_columns", "max_levels", "min_client_rows")
_MONTHS_PER = {"months": 1.0, "days": 1 / 30.4375, "weeks": 7 / 30.4375, "years": 12.0}


def _mode(duration_column, event_column, origination_column, default_column) -> str:
    if duration_column and event_column and not default_column:
        return "durations"
    if origination_column and default_column and not (duration_column or event_column):
        return "dates"
    raise SurvivalDataError(
        f"{NAME}: give either duration_column and event_column, or origination_column and "
        f"default_column (got duration_column={duration_column!r}, event_column="
        f"{event_column!r}, origination_column={origination_column!r}, default_column="
        f"{default_column!r})")


def _dates(values: pd.Series, column: str, fmt: str | None, path: Path) -> pd.Series:
    """Parse with ``fmt``; a non-empty cell that does not parse is an error with its line."""
    text = as_text(values)
    if fmt is None:
        raise SurvivalDataError(f"{NAME}: date column {column!r} needs date_format (e.g. "
                                "'%Y-%m-%d' or '%b-%Y'), so dates are never guessed")
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = parsed.isna() & text.notna() & (text != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SurvivalDataError(
            f"{NAME}: column {column!r} has {int(bad.sum())} values that are not dates in "
            f"date_format {fmt!r} (first {text.iloc[row]!r} on line {data_row_line(path, row)} "
            f"of {path.name})")
    return parsed


def _timestamp(value, option: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(str(value))
    except ValueError:
        raise SurvivalDataError(f"{NAME}: {option}={value!r} is not a date (write it as "
                                "YYYY-MM-DD)") from None


def _outcomes(frame: pd.DataFrame, path: Path, *, mode: str, duration_column, event_column,
              event_value, duration_unit, origination_column, default_column, end_column,
              date_format, observation_end, window) -> tuple[np.ndarray, np.ndarray, pd.Series,
                                                             str]:
    """Duration in months (censored at the window), event 0/1, origination dates, a note."""
    origination = (_dates(frame[origination_column], origination_column, date_format, path)
                   if origination_column else pd.Series(pd.NaT, index=frame.index))
    if origination_column and origination.isna().any():
        row = int(np.flatnonzero(origination.isna().to_numpy())[0])
        raise SurvivalDataError(f"{NAME}: origination column {origination_column!r} is empty on "
                                f"line {data_row_line(path, row)} of {path.name}; every loan "
                                "needs its origination date")
    if mode == "durations":
        if duration_unit not in _MONTHS_PER:
            raise SurvivalDataError(f"{NAME}: duration_unit={duration_unit!r}: allowed values "
                                    f"are {list(_MONTHS_PER)}")
        raw = as_text(frame[duration_column])
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise SurvivalDataError(
                f"{NAME}: duration column {duration_column!r} must hold numbers >= 0; found "
                f"{raw.iloc[row]!r} on line {data_row_line(path, row)} of {path.name} "
                f"({int(bad.sum())} such rows)")
        try:
            event, pos = binary_label(frame[event_column], column=event_column,
                                      positive_label=event_value, path=path, dataset=NAME)
        except DataSchemaError as err:
            raise SurvivalDataError(str(err).replace("label column", "event column")
                                    .replace("positive_label", "event_value")) from None
        duration = values.to_numpy(float) * _MONTHS_PER[duration_unit]
        note = (f"durations from {duration_column!r} ({duration_unit}), default = "
                f"{event_column!r} {pos!r}")
    else:
        default = _dates(frame[default_column], default_column, date_format, path)
        end = (_dates(frame[end_column], end_column, date_format, path) if end_column
               else pd.Series(pd.NaT, index=frame.index))
        latest = max(d.max() for d in (origination, default, end) if d.notna().any())
        stated = _timestamp(observation_end, "observation_end")
        obs_end = latest if stated is None else stated
        for col, d in ((default_column, default), (end_column, end)):
            early = d.notna() & (d < origination)
            if early.any():
                row = int(np.flatnonzero(early.to_numpy())[0])
                raise SurvivalDataError(
                    f"{NAME}: {col!r} is before the origination date on line "
                    f"{data_row_line(path, row)} of {path.name} ({d.iloc[row]:%Y-%m-%d} < "
                    f"{origination.iloc[row]:%Y-%m-%d}); check the column and date_format")
        late = default.notna() & (default > obs_end)
        if late.any():
            row = int(np.flatnonzero(late.to_numpy())[0])
            raise SurvivalDataError(
                f"{NAME}: default date {default.iloc[row]:%Y-%m-%d} on line "
                f"{data_row_line(path, row)} of {path.name} is after observation_end "
                f"{obs_end:%Y-%m-%d}; check date_format (%y reads 00-68 as 2000-2068)")
        event = default.notna().to_numpy(int)
        stop = end.where(end.notna() & (end < obs_end), obs_end)
        duration = np.where(event == 1, months_between(origination, default),
                            months_between(origination, stop))
        note = (f"default dates {default_column!r} from origination {origination_column!r} "
                f"({date_format}); censored at " + (f"{end_column!r} or " if end_column else "")
                + f"observation_end {obs_end:%Y-%m-%d}"
                + (" (the latest date in the file)" if stated is None else ""))
    after = duration >= window
    event = np.where(after, 0, event)
    duration = np.where(after, float(window), duration)
    return duration, event, origination, note


def _clients(party: pd.Series, column: str, min_client_rows: int, path: Path) -> pd.Series:
    """Client names; rows of clients below ``min_client_rows`` become NaN (dropped)."""
    text = as_text(party)
    empty = text.isna() | (text == "")
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise SurvivalDataError(f"{NAME}: party column {column!r} is empty on line "
                                f"{data_row_line(path, row)} of {path.name}; every loan needs "
                                "its client")
    sizes = text.value_counts()
    kept = sizes[sizes >= min_client_rows]
    if len(kept) < 2:
        raise SurvivalDataError(
            f"{NAME}: min_client_rows={min_client_rows} leaves {len(kept)} client(s) of "
            f"{len(sizes)} (client sizes: {sizes.head(10).to_dict()}); a federation needs at "
            "least 2: lower min_client_rows or merge clients")
    return text.where(text.isin(kept.index))


def _check(path, *, party_column, duration_column, event_column, event_value, duration_unit,
           origination_column, default_column, end_column, date_format, observation_end,
           window, oot_start, categorical_columns, drop_columns, min_client_rows):
    path = require_file(path, NAME) if path is not None else None
    if path is None:
        raise SurvivalDataError(f"{NAME}: data_path is not set; give the path of your CSV file")
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise SurvivalDataError(f"{NAME}: window={window!r}: the observation window must be a "
                                "whole number of months >= 1")
    if isinstance(min_client_rows, bool) or not isinstance(min_client_rows, int) \
            or min_client_rows < 1:
        raise SurvivalDataError(f"{NAME}: min_client_rows={min_client_rows!r}: must be an "
                                "integer >= 1")
    mode = _mode(duration_column, event_column, origination_column, default_column)
    if oot_start is not None and not origination_column:
        raise SurvivalDataError(f"{NAME}: oot_start={oot_start!r} needs origination_column (the "
                                "out-of-time window is defined by origination dates)")
    _timestamp(oot_start, "oot_start")
    header = check_csv_structure(path, dataset=NAME, error=SurvivalDataError)
    if not party_column:
        raise SurvivalDataError(f"{NAME}: party_column is not set; name the column holding each "
                                f"loan's client (columns found: {header})")
    named = {"party_column": [party_column], "duration_column": [duration_column],
             "event_column": [event_column], "origination_column": [origination_column],
             "default_column": [default_column], "end_column": [end_column],
             "categorical_columns": as_list(categorical_columns, "categorical_columns", NAME),
             "drop_columns": as_list(drop_columns, "drop_columns", NAME)}
    for option, cols in named.items():
        for col in cols:
            if col is not None and col not in header:
                raise SurvivalDataError(f"{NAME}: {path.name} has no column for {option} "
                                        f"{col!r}; columns found: {header}")
    return path, mode, header


#: The options that describe a survival CSV (both public functions take them by keyword).
_FILE_OPTIONS = ("party_column", "duration_column", "event_column", "event_value",
                 "duration_unit", "origination_column", "default_column", "end_column",
                 "date_format", "observation_end", "window", "oot_start", "categorical_columns",
                 "drop_columns", "min_client_rows")
#: Those that say how durations and events are read (:func:`_outcomes`).
_OUTCOME_OPTIONS = ("duration_column", "event_column", "event_value", "duration_unit",
                    "origination_column", "default_column", "end_column", "date_format",
                    "observation_end", "window")


def check_survival_csv(path, *, party_column: str | None = None,
                       duration_column: str | None = None, event_column: str | None = None,
                       event_value=None, duration_unit: str = "months",
                       origination_column: str | None = None,
                       default_column: str | None = None, end_column: str | None = None,
                       date_format: str | None = None, observation_end=None, window: int = 24,
                       oot_start=None, categorical_columns=None, drop_columns=None,
                       max_levels: int = 50, min_client_rows: int = 1, **_ignored) -> None:
    r"""Check a survival CSV before any computation (``fedbook run``).

    Reads the header and only the outcome, date and party columns: the file's shape, every
    named column present, durations that are numbers >= 0, an event with two values, dates
    in ``date_format``, defaults between origination and ``observation_end``, and at least
    two clients of ``min_client_rows`` loans. Options of other chapters are ignored.

    Raises
    ------
    SurvivalDataError
        One line naming what is wrong and what is allowed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = p.write_text("bank,t,d\na,3,1\nb,4,0\n")
    >>> try:
    ...     check_survival_csv(p, party_column="bank", duration_column="t", event_column="e")
    ... except SurvivalDataError as err:
    ...     print(err)
    csv: x.csv has no column for event_column 'e'; columns found: ['bank', 't', 'd']
    """
    given = locals()
    opts = {k: given[k] for k in _FILE_OPTIONS}
    path, mode, _ = _check(path, **opts)
    used = [c for c in (party_column, duration_column, event_column, origination_column,
                        default_column, end_column) if c]
    frame = read_csv_frame(path, NAME, usecols=used)
    _outcomes(frame, path, mode=mode, **{k: opts[k] for k in _OUTCOME_OPTIONS})
    _clients(frame[party_column], party_column, min_client_rows, path)


def load_survival_csv(path, *, party_column: str | None = None,
                      duration_column: str | None = None, event_column: str | None = None,
                      event_value=None, duration_unit: str = "months",
                      origination_column: str | None = None, default_column: str | None = None,
                      end_column: str | None = None, date_format: str | None = None,
                      observation_end=None, window: int = 24, oot_start=None,
                      categorical_columns=None, drop_columns=None, max_levels: int = 50,
                      min_client_rows: int = 1, **_ignored) -> SurvivalDataset:
    """Load a loan table as chapter 3's :class:`SurvivalDataset` (see the module docstring).

    The dataset has no paper profile (``profile=None``) and no ground truth; its ``note``
    says how the times were read. Without origination dates ``origination`` is NaT and
    ``oot_start`` is NaT: every loan is in-time.

    Raises
    ------
    SurvivalDataError
        One line naming the file, the column and what is allowed.
    """
    given = locals()
    opts = {k: given[k] for k in _FILE_OPTIONS}
    check_survival_csv(path, max_levels=max_levels, **opts)
    path, mode, _ = _check(path, **opts)
    raw = read_csv_frame(path, NAME)
    duration, event, origination, note = _outcomes(
        raw, path, mode=mode, **{k: opts[k] for k in _OUTCOME_OPTIONS})
    client = _clients(raw[party_column], party_column, min_client_rows, path)
    used = {party_column, duration_column, event_column, origination_column, default_column,
            end_column, *as_list(drop_columns, "drop_columns", NAME), "rownames", "Unnamed: 0"}
    named_cat = as_list(categorical_columns, "categorical_columns", NAME)
    out = pd.DataFrame(index=raw.index)
    nums, cats = [], []
    for col in raw.columns:
        if col in used:
            continue
        values = raw[col]
        if col not in named_cat and pd.api.types.is_numeric_dtype(values) \
                and not pd.api.types.is_bool_dtype(values):
            out[col] = values.astype(float)
            nums.append(col)
            continue
        if col not in named_cat:
            try:
                reject_stray_text(values, col, path, NAME)
            except DataSchemaError as err:
                raise SurvivalDataError(str(err)) from None
        text = as_text(values)
        n_levels = text.nunique()
        if n_levels > max_levels:
            raise SurvivalDataError(
                f"{NAME}: column {col!r} is text with {n_levels} distinct values, more than "
                f"max_levels={max_levels} for one-hot encoding (an id or free text?); add it "
                "to drop_columns")
        out[col] = text  # NaN stays: prepare_survival encodes it as the level "missing"
        cats.append(col)
    if not nums and not cats:
        raise SurvivalDataError(f"{NAME}: {path.name} has no feature column besides the "
                                f"outcome and party columns; columns found: {list(raw.columns)}")
    out["duration"], out["event"] = duration, event.astype(np.int8)
    out["client"], out["origination"] = client.to_numpy(), origination.to_numpy()
    dropped = int(client.isna().sum())
    out = out[client.notna().to_numpy()].reset_index(drop=True)
    if dropped:
        note += f"; {dropped} loans of clients under min_client_rows={min_client_rows} dropped"
    oot = _timestamp(oot_start, "oot_start")
    return SurvivalDataset(NAME, out, nums, cats, window, oot if oot is not None else pd.NaT,
                           None, None, f"your file {path.name}: {note}")
