"""How a chapter's data frames look on the page: whole, readable, with no ``NaN``.

pandas' HTML repr cuts long text with "...", prints missing values as ``NaN``, flips small and
large numbers into scientific notation, and shows a meaningless 0, 1, 2 … index. A reader of a
results table needs none of that. :func:`use_book_tables` registers an HTML formatter for data
frames in the running kernel (every chapter calls it through ``start_chapter``), so a plain
``display(frame)`` shows every row, every column and every character, numbers through
:func:`~fedlib.evaluate.scorecard.fmt_number` (4 significant digits, thousands separated) and
missing values as "–". The frame itself is never modified.

Introduced for every chapter (issue 13: readable tables).

Examples
--------
>>> import pandas as pd
>>> html = frame_html(pd.DataFrame({"model": ["FMTL", "FedAvg"], "AUC": [0.74512, None]}))
>>> "NaN" in html, "0.7451" in html, "–" in html
(False, True, True)
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython import get_ipython

from fedlib.evaluate.scorecard import fmt_number

__all__ = ["frame_html", "use_book_tables"]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return fmt_number(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return "–"
    return str(value)


def frame_html(frame: pd.DataFrame) -> str:
    """The book's HTML for ``frame``: no truncation, no ``NaN``, readable numbers.

    The index is shown only when it carries labels (not a plain 0…n−1 range).
    """
    show_index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)
    shown = frame.map(_cell)
    if show_index and not isinstance(frame.index, pd.MultiIndex):
        shown.index = [_cell(v) for v in frame.index]
        shown.index.name = frame.index.name
    return shown.to_html(index=show_index, escape=True, na_rep="–", border=0,
                         classes="book-table", max_rows=None, max_cols=None,
                         notebook=False)


def use_book_tables() -> bool:
    """Register :func:`frame_html` as the HTML repr of data frames in the running IPython kernel.

    Returns ``False`` (and does nothing) outside IPython, e.g. in a plain script.
    """
    shell = get_ipython()
    if shell is None:
        return False
    shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, frame_html)
    return True
