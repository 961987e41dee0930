"""Loader for the FICO HELOC file ("Explainable Machine Learning Challenge"), paper 000's data.

The FICO Home Equity Line of Credit file has one row per applicant, the target
``RiskPerformance`` (``"Bad"``: 90 or more days past due at least once within 24 months of
opening the account; ``"Good"`` otherwise) and 23 numeric features. Three negative codes stand
for missing values: ``-9`` (no bureau record or no investigation), ``-8`` (no usable or valid
trades or inquiries) and ``-7`` (condition not met, e.g. no delinquency). The loader maps them
to ``NaN`` so that each institution imputes them with its own median (paper 000 §5.1), and drops
rows whose every feature is ``-9`` (no credit file at all).

The file is distributed by FICO under its challenge terms and is not shipped with the book; the
loader takes a path and checks it against the schema below, naming the column and the bad value
when it does not match. :func:`write_heloc_fixture` writes a small synthetic file in the exact
schema (same header, same codes), which the tests use.

Note for chapter 1: about half of the HELOC rows are ``"Bad"``, so the paper's Table 1 default
rates of 12.3 % and 8.5 % for its two "real" institutions cannot be the HELOC file as
published; the chapter says so beside Table 1.

References: paper 000 (Nagaraj 2024) §5.1 "Datasets and Preprocessing"; FICO xML Challenge
data dictionary. Introduced in chapter 1 (``chapters/01_fmtl_dp_secagg.py``).

Examples
--------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "heloc.csv")
>>> write_heloc_fixture(path, n_rows=50, seed=0)
>>> ds = load_heloc(path)
>>> ds.target, len(ds.features), bool(ds.frame["bad"].isin([0, 1]).all())
('bad', 23, True)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fedlib.data.dataset import DataSchemaError, Dataset, DatasetCard
from fedlib.data.filecheck import check_csv_structure, data_row_line, not_utf8_message

__all__ = ["HELOC_COLUMNS", "HELOC_FEATURES", "HELOC_MISSING_CODES", "check_heloc", "load_heloc",
           "write_heloc_fixture"]

HELOC_FEATURES = [
    "ExternalRiskEstimate", "MSinceOldestTradeOpen", "MSinceMostRecentTradeOpen",
    "AverageMInFile", "NumSatisfactoryTrades", "NumTrades60Ever2DerogPubRec",
    "NumTrades90Ever2DerogPubRec", "PercentTradesNeverDelq", "MSinceMostRecentDelq",
    "MaxDelq2PublicRecLast12M", "MaxDelqEver", "NumTotalTrades", "NumTradesOpeninLast12M",
    "PercentInstallTrades", "MSinceMostRecentInqexcl7days", "NumInqLast6M",
    "NumInqLast6Mexcl7days", "NetFractionRevolvingBurden", "NetFractionInstallBurden",
    "NumRevolvingTradesWBalance", "NumInstallTradesWBalance",
    "NumBank2NatlTradesWHighUtilization", "PercentTradesWBalance",
]
HELOC_COLUMNS = ["RiskPerformance", *HELOC_FEATURES]
HELOC_MISSING_CODES = (-9, -8, -7)
_LABELS = {"Bad": 1, "Good": 0}


def load_heloc(path: str | Path) -> Dataset:
    """Read the FICO HELOC CSV at ``path``; target ``bad`` = 1 if ``RiskPerformance == "Bad"``.

    Raises
    ------
    DataSchemaError
        A column is missing, a label is not Good/Bad, or a feature is not numeric.
    FileNotFoundError
        ``path`` does not exist.
    """
    path = Path(path)
    check_heloc(path)
    try:
        # Raw text (no NA parsing) so a bad cell is reported exactly as the file holds it.
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except UnicodeDecodeError as e:  # a bad byte beyond the part check_heloc reads
        raise DataSchemaError(not_utf8_message("heloc", path, e.object, e)) from None
    raw.columns = [c.strip() for c in raw.columns]
    labels = raw["RiskPerformance"].astype(str).str.strip()
    bad = sorted(set(labels) - set(_LABELS))
    if bad:
        raise DataSchemaError(
            f"heloc: {path.name}: RiskPerformance must be Good/Bad, found {bad[:5]}")
    frame = pd.DataFrame({"bad": labels.map(_LABELS).astype(int)})
    for col in HELOC_FEATURES:
        text = raw[col].str.strip()
        values = pd.to_numeric(text, errors="coerce")
        if values.isna().any():
            rows = np.flatnonzero(values.isna().to_numpy())
            line = data_row_line(path, int(rows[0]))
            raise DataSchemaError(
                f"heloc: {path.name}: column {col!r} must be numeric, line {line} holds "
                f"{raw[col].iloc[rows[0]]!r} ({len(rows)} such cell(s) in the column); the "
                "file codes missing values as -9, -8 or -7, not as blanks or text")
        frame[col] = values.astype(float)
    feats = frame[HELOC_FEATURES]
    no_file = (feats == -9).all(axis=1)
    frame = frame[~no_file].reset_index(drop=True)
    frame[HELOC_FEATURES] = frame[HELOC_FEATURES].mask(
        frame[HELOC_FEATURES].isin(HELOC_MISSING_CODES))
    return Dataset(
        name="heloc", frame=frame, target="bad", features=list(HELOC_FEATURES),
        categorical=[], protected={},
        strata={"credit_mix": "PercentInstallTrades", "history": "MSinceOldestTradeOpen"},
        categories={},
        card=DatasetCard(
            title="FICO HELOC (Explainable Machine Learning Challenge)",
            origin="FICO xML Challenge; user-supplied file",
            licence="FICO challenge terms (not redistributable)",
            rows=len(frame),
            description=(f"{len(frame):,} HELOC applications with a credit file, 23 features, "
                         f"bad = 90+ days past due within 24 months ({frame['bad'].mean():.1%})."),
        ),
    )


def check_heloc(path: str | Path) -> None:
    r"""Check the file's shape and header without parsing it (what ``fedbook run`` calls).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    DataSchemaError
        The file is empty, header-only, not comma-separated or not UTF-8, or lacks columns.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "heloc.csv")
    >>> _ = open(path, "w").write(",".join(HELOC_COLUMNS) + "\n")
    >>> try:
    ...     check_heloc(path)
    ... except DataSchemaError as err:
    ...     print(err)
    heloc: heloc.csv has a header but no data rows
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no such file (the FICO HELOC CSV)")
    header = check_csv_structure(path, dataset="heloc", expected=HELOC_COLUMNS)
    missing = [c for c in HELOC_COLUMNS if c not in header]
    if missing:
        raise DataSchemaError(f"heloc: {path.name}: columns {missing} missing; expected "
                              f"{HELOC_COLUMNS}"
                              f" (found {header[:12]})")


def write_heloc_fixture(path: str | Path, *, n_rows: int, seed: int) -> None:
    """Write ``n_rows`` synthetic rows in the exact schema of the FICO HELOC CSV.

    Values are plausible, not realistic: integer features in the published ranges, the
    special codes ``-9``/``-8``/``-7`` where the real file has them (one all-``-9`` row when
    ``n_rows >= 10``), and a label that depends on ``ExternalRiskEstimate``. For tests only.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows={n_rows}: must be >= 1")
    rng = np.random.default_rng(seed)
    risk = rng.integers(40, 95, n_rows)
    cols: dict[str, np.ndarray] = {}
    for col in HELOC_FEATURES:
        if col.startswith("Percent"):
            cols[col] = rng.integers(0, 101, n_rows)
        elif col.startswith(("MSince", "Average")):
            cols[col] = rng.integers(0, 400, n_rows)
        elif col.startswith("NetFraction"):
            cols[col] = rng.integers(0, 120, n_rows)
        elif col.startswith("MaxDelq"):
            cols[col] = rng.integers(1, 9, n_rows)
        else:
            cols[col] = rng.integers(0, 30, n_rows)
    cols["ExternalRiskEstimate"] = risk
    cols["MSinceMostRecentDelq"] = np.where(rng.random(n_rows) < 0.4, -7,
                                            cols["MSinceMostRecentDelq"])
    cols["NetFractionInstallBurden"] = np.where(rng.random(n_rows) < 0.3, -8,
                                                cols["NetFractionInstallBurden"])
    p_bad = 1.0 / (1.0 + np.exp((risk - 70) / 6.0))
    label = np.where(rng.random(n_rows) < p_bad, "Bad", "Good")
    frame = pd.DataFrame({"RiskPerformance": label, **cols})[HELOC_COLUMNS]
    if n_rows >= 10:
        frame.loc[n_rows - 1, HELOC_FEATURES] = -9
    frame.to_csv(path, index=False)
