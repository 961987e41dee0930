r"""Cheap checks of a user's CSV file, shared by the loaders and by ``fedbook run``.

Four mistakes are common with one's own copy of a paper's file: an empty file, a header
without rows, a file saved with ``;`` or tabs (a spreadsheet's "CSV" in many locales), and a
file that is not UTF-8 (saved as Latin-1 or Windows-1252). Each loader calls
:func:`check_csv_structure` before parsing, and ``fedbook run`` calls the same dataset checks
before a kernel starts, so the reader gets the same one-line message within a second instead
of a pandas traceback from inside the notebook.

Only the first MiB is read: enough for the header and the first rows of any file, and
fast on the 1.6 GB LendingClub file. A bad byte further down is reported by the
loader's full read, with the same wording (:func:`not_utf8_message`).

References: issue 14 items 6-7; ARCHITECTURE.md, "Conventions" (errors before computation).

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
>>> _ = p.write_text("a;b;c\n1;2;3\n")
>>> try:
...     check_csv_structure(p, dataset="demo", expected=["a", "b", "c"])
... except ValueError as err:
...     print(str(err).split("; ")[0])
demo: x.csv has a single column (the header looks ';'-delimited)
>>> _ = p.write_text("a,b\n1,2\n")
>>> check_csv_structure(p, dataset="demo")
['a', 'b']
"""

from __future__ import annotations

import codecs
import csv
import os
from collections.abc import Sequence
from pathlib import Path

from fedlib.data.dataset import DataSchemaError

__all__ = ["check_csv_structure", "data_row_line", "not_utf8_message"]

_HEAD_BYTES = 1024 * 1024
_OTHER_DELIMITERS = (";", "\t", "|")


def not_utf8_message(dataset: str, path: str | os.PathLike, data: bytes,
                     err: UnicodeDecodeError) -> str:
    r"""The message for a file that is not UTF-8: the bad byte, its line, and the remedy.

    ``data`` is the byte string that was being decoded (``err.start`` indexes into it).

    Examples
    --------
    >>> raw = "a,b\ncafé,1\n".encode("latin-1")
    >>> try:
    ...     raw.decode("utf-8")
    ... except UnicodeDecodeError as e:
    ...     print(not_utf8_message("demo", "x.csv", raw, e))
    demo: x.csv is not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 x.csv)
    """
    name = Path(path).name
    line = data[: err.start].count(b"\n") + 1
    return (f"{dataset}: {name} is not UTF-8 text (byte {data[err.start]:#04x} on line {line}); "
            f"save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 {name})")


def _head(path: Path) -> tuple[bytes, bool]:
    with open(path, "rb") as fh:
        data = fh.read(_HEAD_BYTES + 1)
    return data[:_HEAD_BYTES], len(data) > _HEAD_BYTES


def check_csv_structure(
    path: str | os.PathLike,
    *,
    dataset: str,
    expected: Sequence[str] = (),
    error: type[Exception] = DataSchemaError,
) -> list[str]:
    """Check that ``path`` is a non-empty, UTF-8, comma-separated file with data rows.

    Parameters
    ----------
    path : str or Path
        An existing file (existence is the caller's check, in its own words).
    dataset : str
        Name used as the prefix of every message (``"heloc"``, ``"kaggle_loan_approval"``).
    expected : sequence of str, optional
        The columns the file should have, quoted in the wrong-delimiter message.
    error : exception class
        The loader's own error class (:class:`DataSchemaError` by default).

    Returns
    -------
    list of str
        The header's column names, stripped of surrounding spaces.

    Raises
    ------
    error
        The file is empty, not UTF-8, has a single column although its header contains
        ``;``, a tab or ``|``, or has a header but no data rows.
    """
    path = Path(path)
    name = path.name
    data, truncated = _head(path)
    try:
        # final=False: a multi-byte character cut at the 1 MiB boundary is not an error.
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(data, final=not truncated)
    except UnicodeDecodeError as err:
        raise error(not_utf8_message(dataset, path, data, err)) from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise error(f"{dataset}: {name} is empty (no header, no rows)")
    header = [c.strip() for c in next(csv.reader([lines[0]]))]
    if len(header) == 1:
        found = [d for d in _OTHER_DELIMITERS if d in lines[0]]
        if found:
            want = f"columns {list(expected)}" if expected else "a header row"
            raise error(
                f"{dataset}: {name} has a single column (the header looks {found[0]!r}-delimited)"
                f"; expected a comma-separated file with {want}"
            )
    if len(lines) < 2 and not truncated:
        raise error(f"{dataset}: {name} has a header but no data rows")
    return header


def data_row_line(path: str | os.PathLike, row: int) -> int:
    r"""The 1-based line of ``path`` holding 0-based data row ``row`` (as pandas counts rows).

    pandas skips blank lines, so the line is found by counting non-blank lines after the
    header rather than assumed to be ``row + 2``. (A quoted field spanning lines would shift
    the count; none of the paper's files has one.)

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = p.write_text("a,b\n1,2\n\n3,4\n")
    >>> data_row_line(p, 1)
    4
    """
    seen = -1  # the header is the first non-blank line
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                if seen == row:
                    return number
                seen += 1
    return row + 2
