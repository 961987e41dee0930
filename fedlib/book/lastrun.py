"""One line per chapter for ``fedbook list``: when it last ran, with which parameters and data.

Everything comes from the chapter's ``results.json``: the parameter set, the dataset name and
rows, the user's data file(s) if any, the run time, and the date, which is the file's
modification time (the runner moves results.json into place when the run ends).

References: issue 14 item 9; ARCHITECTURE.md, "How a chapter is run".

Examples
--------
>>> import tempfile, pathlib
>>> describe_last_run(pathlib.Path(tempfile.mkdtemp()) / "02.results.json")
'not run'
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["DATA_FILE_KEYS", "describe_last_run"]

#: Parameters that name a user's data file (chapters 1-3: data_path; chapter 4: two CSVs).
DATA_FILE_KEYS = ("data_path", "bank_csv", "external_csv")


def _data(doc: dict[str, Any]) -> str:
    ds = doc.get("dataset") or {}
    params = doc.get("parameters") or {}
    name = ds.get("name") or params.get("dataset") or params.get("source") or "?"
    rows = ds.get("rows")
    text = f"{name}" + (f" ({rows:,} rows)" if isinstance(rows, int) else "")
    files = [os.path.basename(str(params[k])) for k in DATA_FILE_KEYS if params.get(k)]
    return text + (f" from {', '.join(files)}" if files else ", built-in data")


def describe_last_run(results: Path) -> str:
    """``"not run"``, or the date, parameter set, data and run time of the last run.

    Examples
    --------
    >>> import tempfile, pathlib, json, os
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "02.results.json"
    >>> _ = p.write_text(json.dumps({"parameter_set": "smoke", "timings": {"total_s": 12.3},
    ...     "parameters": {"dataset": "kaggle_loan_approval", "data_path": "/d/loans.csv"},
    ...     "dataset": {"name": "kaggle_loan_approval", "rows": 4269, "parties": []}}))
    >>> os.utime(p, (0, 1_700_000_000))
    >>> describe_last_run(p).split(", ", 1)[1]
    'parameters smoke, data kaggle_loan_approval (4,269 rows) from loans.csv, 12 s'
    """
    results = Path(results)
    if not results.is_file():
        return "not run"
    when = _dt.datetime.fromtimestamp(results.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    try:
        doc = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return f"run {when}, but {results.name} is unreadable ({err})"
    if not isinstance(doc, dict):
        return f"run {when}, but {results.name} is not a results document"
    total = (doc.get("timings") or {}).get("total_s")
    took = f", {total:.0f} s" if isinstance(total, (int, float)) else ""
    return f"run {when}, parameters {doc.get('parameter_set', '?')}, data {_data(doc)}{took}"
