"""Loaders for the paper's three real files, given a path: LendingClub, SBA, Bondora.

Each loader derives what FSL-BDP needs (sec. 4.1, Table 2): time to default in months from
origination, the event indicator within the observation window (24 / 48 / 24 months),
censoring, the natural client (state / state / country) and the origination date for the
out-of-time split, and removes identifier and leakage columns (everything observed after
origination and the lender's own risk pricing, e.g. ``funded_amnt`` and ``int_rate``).

* **LendingClub** (``accepted_2007_to_2018Q4.csv``): ``issue_d``, ``loan_status``,
  ``last_pymnt_d``, ``addr_state``. Default = status "Charged Off" / "Default" (also the "Does
  not meet the credit policy. Status:Charged Off" variant); default month = months from issue
  to the last payment + 1 (the first missed instalment; at mid-month, ``+ 0.5``), month 1 if
  nothing was ever paid. Censored loans: repaid ones at their last payment, the others at the
  file's snapshot (the latest ``last_pymnt_d``). Month-year feature columns become months
  before issue (``earliest_cr_line`` "Apr-2001" → ``credit_history_months``), not dummies.
* **SBA** (``SBAnational.csv``): ``ApprovalDate``, ``ChgOffDate``, ``Term``, ``State``,
  ``MIS_Status``. Default = ``MIS_Status == "CHGOFF"``, at the months from approval to
  ``ChgOffDate``; paid-in-full loans are censored at the end of their term (the file has no
  payoff date). Two-digit years are corrected in every date column: an approval after 2014 or
  any other date after 2018 is read as 19xx (a 1968 charge-off is never 2068).
* **Bondora** (``LoanData.csv``): ``LoanDate``, ``DefaultDate``,
  ``ActiveLateLastPaymentCategory``, ``Country``, ``ReportAsOfEOD``, ``ContractEndDate``,
  ``Status``. Default (90+ days past due) = a ``DefaultDate``, or a late category of 91 days
  or more, at the months from ``LoanDate`` to ``DefaultDate`` (else to ``ReportAsOfEOD`` minus
  90 days); repaid loans are censored at ``ContractEndDate``, the others at ``ReportAsOfEOD``.

An event after the window is censored at the window. The OOT start defaults to the paper's
(Table 2): 2017-01 for LendingClub, 2007-01 for SBA, 2019-01 for Bondora.

References: Amed, Sen & Banerjee (2026), FSL-BDP, sec. 4.1 and Table 2. Introduced in chapter
3 (``chapters/03_fsl_bdp_survival.py``); tested on fixtures in the files' exact schema in
``tests/test_survival_data.py``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from fedlib.data.filecheck import check_csv_structure, not_utf8_message
from fedlib.survival.data import PROFILES, SurvivalDataError, SurvivalDataset

__all__ = ["check_bondora", "check_lendingclub", "check_sba", "load_bondora", "load_lendingclub",
           "load_sba", "months_between"]

LENDINGCLUB_REQUIRED = ("issue_d", "loan_status", "last_pymnt_d", "addr_state")
SBA_REQUIRED = ("ApprovalDate", "ChgOffDate", "Term", "State", "MIS_Status")
BONDORA_REQUIRED = ("LoanDate", "DefaultDate", "ActiveLateLastPaymentCategory", "Country",
                    "ReportAsOfEOD", "ContractEndDate", "Status")

LENDINGCLUB_LEAKAGE = (
    "funded_amnt", "funded_amnt_inv", "int_rate", "installment", "grade", "sub_grade",
    "loan_status", "last_pymnt_d", "last_pymnt_amnt", "next_pymnt_d", "last_credit_pull_d",
    "total_pymnt", "total_pymnt_inv", "total_rec_prncp", "total_rec_int", "total_rec_late_fee",
    "recoveries", "collection_recovery_fee", "out_prncp", "out_prncp_inv",
    "last_fico_range_high", "last_fico_range_low", "pymnt_plan", "debt_settlement_flag",
    "hardship_flag", "settlement_status", "settlement_date", "settlement_amount",
    "id", "member_id", "url", "desc", "title", "emp_title", "zip_code", "policy_code",
    "addr_state", "issue_d",
)
SBA_LEAKAGE = ("ChgOffDate", "ChgOffPrinGr", "MIS_Status", "BalanceGross", "LoanNr_ChkDgt",
               "Name", "City", "Zip", "Bank", "State", "ApprovalDate", "DisbursementDate",
               "ApprovalFY")
BONDORA_LEAKAGE = (
    "DefaultDate", "ActiveLateLastPaymentCategory", "ActiveLateCategory", "WorseLateCategory",
    "Status", "ReportAsOfEOD", "ContractEndDate", "LastPaymentOn", "PrincipalPaymentsMade",
    "InterestAndPenaltyPaymentsMade", "PrincipalBalance", "InterestAndPenaltyBalance",
    "Interest", "Rating", "ProbabilityOfDefault", "ExpectedLoss", "LossGivenDefault",
    "ExpectedReturn", "EL_V0", "EL_V1", "EL_V2", "PrincipalRecovery", "InterestRecovery",
    "RecoveryStage", "StageActiveSince", "CurrentDebtDaysPrimary", "DebtOccuredOn",
    "CurrentDebtDaysSecondary", "DebtOccuredOnForSecondary", "PlannedPrincipalTillDate",
    "PrincipalOverdueBySchedule", "ReScheduledOn", "Restructured", "LoanId", "LoanNumber",
    "UserName", "Country", "LoanDate", "MaturityDate_Last", "FirstPaymentDate",
)


def months_between(start, end) -> np.ndarray:
    """Whole and fractional months from ``start`` to ``end`` (30.4375-day months).

    >>> months_between(pd.Series(pd.to_datetime(["2020-01-01"])),
    ...                pd.Series(pd.to_datetime(["2021-01-01"]))).round(2).tolist()
    [12.02]
    """
    return ((pd.to_datetime(end) - pd.to_datetime(start)).dt.days / 30.4375).to_numpy(float)


def _check(path, name: str, required) -> None:
    if path is None or not os.path.isfile(path):
        raise SurvivalDataError(f"{name}: path={path!r}: no such file")
    header = check_csv_structure(path, dataset=name, expected=required, error=SurvivalDataError)
    missing = [c for c in required if c not in header]
    if missing:
        raise SurvivalDataError(f"{name}: {path}: missing the columns {missing}; is it the right "
                                f"file? (found {header[:12]})")


def check_lendingclub(path) -> None:
    """Check a LendingClub file's shape and header without parsing it (``fedbook run``)."""
    _check(path, "LendingClub", LENDINGCLUB_REQUIRED)


def check_sba(path) -> None:
    """Check an SBA file's shape and header without parsing it (``fedbook run``)."""
    _check(path, "SBA", SBA_REQUIRED)


def check_bondora(path) -> None:
    """Check a Bondora file's shape and header without parsing it (``fedbook run``)."""
    _check(path, "Bondora", BONDORA_REQUIRED)


def _read(path, required, nrows, name: str) -> pd.DataFrame:
    _check(path, name, required)
    try:
        return pd.read_csv(path, nrows=nrows, low_memory=False)
    except UnicodeDecodeError as e:  # a bad byte beyond the part _check reads
        raise SurvivalDataError(not_utf8_message(name, path, e.object, e)) from None


def _finish(name, df, *, client, origination, duration, event, window, leakage,
            min_client_rows, oot_start, note) -> SurvivalDataset:
    duration = np.asarray(duration, float)
    event = np.asarray(event, bool)
    ok = np.isfinite(duration) & origination.notna().to_numpy() & client.notna().to_numpy()
    duration = np.clip(duration, 0.0, None)
    late = duration >= window
    event = event & ~late
    duration = np.where(late, float(window), duration)
    feats = df.drop(columns=[c for c in leakage if c in df.columns])
    feats = feats.loc[:, feats.notna().any()]
    cats = [c for c in feats.columns if not pd.api.types.is_numeric_dtype(feats[c])]
    nums = [c for c in feats.columns if c not in cats]
    out = feats.copy()
    out["duration"], out["event"] = duration, event.astype(np.int8)
    out["client"], out["origination"] = client.astype(str).to_numpy(), origination.to_numpy()
    out = out[ok].reset_index(drop=True)
    counts = out["client"].value_counts()
    out = out[out["client"].isin(counts[counts >= min_client_rows].index)].reset_index(drop=True)
    if out.empty:
        raise SurvivalDataError(f"no client has >= min_client_rows={min_client_rows} usable rows")
    key = {"LendingClub": "lendingclub", "SBA": "sba", "Bondora": "bondora"}[name]
    return SurvivalDataset(name, out, nums, cats, window, pd.Timestamp(oot_start),
                           PROFILES[key], None, note)


def load_lendingclub(path, *, window: int = 24, min_client_rows: int = 1,
                     oot_start: str = "2017-01-01", nrows: int | None = None) -> SurvivalDataset:
    """LendingClub accepted-loans CSV → :class:`SurvivalDataset` (clients = ``addr_state``)."""
    df = _read(path, LENDINGCLUB_REQUIRED, nrows, "LendingClub")
    issue = pd.to_datetime(df["issue_d"], format="%b-%Y", errors="coerce")
    df = _lc_dates_to_months(df, issue)
    last = pd.to_datetime(df["last_pymnt_d"], format="%b-%Y", errors="coerce")
    status = df["loan_status"].astype(str)
    bad = status.str.contains("Charged Off") | (status == "Default")
    repaid = status.str.contains("Fully Paid")
    snapshot = last.max()
    m_last = np.nan_to_num(months_between(issue, last), nan=0.0)
    m_snap = months_between(issue, pd.Series(snapshot, index=df.index))
    duration = np.where(bad, np.floor(np.round(m_last)) + 0.5,
                        np.where(repaid, m_last, m_snap))
    return _finish("LendingClub", df, client=df["addr_state"], origination=issue,
                   duration=duration, event=bad.to_numpy(), window=window,
                   leakage=LENDINGCLUB_LEAKAGE, min_client_rows=min_client_rows,
                   oot_start=oot_start, note=f"LendingClub file {os.path.basename(path)}")


def _lc_dates_to_months(df: pd.DataFrame, issue: pd.Series) -> pd.DataFrame:
    """``df`` with its month-year text columns ("Apr-2001") as months before issue.

    Columns the loader reads itself are left alone. ``earliest_cr_line`` becomes
    ``credit_history_months`` (the length of the credit history at origination), not one
    dummy per month.

    >>> df = pd.DataFrame({"earliest_cr_line": ["Apr-2001", "Jan-2015"], "x": ["a", "b"]})
    >>> out = _lc_dates_to_months(df, pd.Series(pd.to_datetime(["2016-04-01", "2016-01-01"])))
    >>> out["credit_history_months"].round().tolist(), "earliest_cr_line" in out
    ([180.0, 12.0], False)
    """
    out = df.copy()
    skip = {"issue_d", "last_pymnt_d", "next_pymnt_d", "last_credit_pull_d"}
    for col in out.columns:
        if col in skip or pd.api.types.is_numeric_dtype(out[col]):
            continue
        vals = out[col].dropna().astype(str)
        if vals.empty:
            continue
        parsed = pd.to_datetime(out[col], format="%b-%Y", errors="coerce")
        if parsed.notna().sum() < 0.9 * len(vals):
            continue
        name = ("credit_history_months" if col == "earliest_cr_line" else
                f"{col.removesuffix('_d')}_months_before_issue")
        out[name] = months_between(parsed, issue)
        out = out.drop(columns=col)
    return out


#: SBA dates are day-month-two-digit-year ("28-Feb-97"). ``%y`` maps 00-68 to 20xx; the file
#: (Li, Mickel & Taylor 2018) holds approvals from 1962 to 2014 and was published in 2018.
SBA_DATE_COLUMNS = ("ApprovalDate", "ChgOffDate", "DisbursementDate")


def _sba_date(s: pd.Series, *, approval: bool) -> pd.Series:
    """Parse an SBA date column; a year the file cannot hold is moved back a century.

    Approvals after 2014 and any other date after 2018 (charge-off, disbursement) are read as
    19xx: "15-Jun-68" is 1968, never 2068, in every date column.

    >>> _sba_date(pd.Series(["15-Jun-68", "3-Mar-15"]), approval=False).dt.year.tolist()
    [1968, 2015]
    >>> _sba_date(pd.Series(["15-Jun-68", "3-Mar-15"]), approval=True).dt.year.tolist()
    [1968, 1915]
    """
    d = pd.to_datetime(s, format="%d-%b-%y", errors="coerce")
    last = 2014 if approval else 2018
    return d.where(~(d.dt.year > last), d - pd.DateOffset(years=100))


def load_sba(path, *, window: int = 48, min_client_rows: int = 1,
             oot_start: str = "2007-01-01", nrows: int | None = None) -> SurvivalDataset:
    """SBA national CSV → :class:`SurvivalDataset` (clients = ``State``)."""
    df = _read(path, SBA_REQUIRED, nrows, "SBA").copy()
    for col in SBA_DATE_COLUMNS:
        if col in df.columns:
            df[col] = _sba_date(df[col], approval=col == "ApprovalDate")
    approval, chgoff = df["ApprovalDate"], df["ChgOffDate"]
    bad = (df["MIS_Status"].astype(str).str.strip() == "CHGOFF") & chgoff.notna()
    term = pd.to_numeric(df["Term"], errors="coerce").to_numpy(float)
    duration = np.where(bad, months_between(approval, chgoff), term)
    for money in ("DisbursementGross", "GrAppv", "SBA_Appv"):
        if money in df.columns and not pd.api.types.is_numeric_dtype(df[money]):
            df[money] = pd.to_numeric(df[money].str.replace(r"[$,\s]", "", regex=True),
                                      errors="coerce")
    return _finish("SBA", df, client=df["State"], origination=approval, duration=duration,
                   event=bad.to_numpy(), window=window, leakage=SBA_LEAKAGE,
                   min_client_rows=min_client_rows, oot_start=oot_start,
                   note=f"SBA file {os.path.basename(path)}")


_LATE_90 = ("91-120", "121-150", "151-180", "180+")


def load_bondora(path, *, window: int = 24, min_client_rows: int = 1,
                 oot_start: str = "2019-01-01", nrows: int | None = None) -> SurvivalDataset:
    """Bondora LoanData CSV → :class:`SurvivalDataset` (clients = ``Country``)."""
    df = _read(path, BONDORA_REQUIRED, nrows, "Bondora")
    loan = pd.to_datetime(df["LoanDate"], errors="coerce")
    default = pd.to_datetime(df["DefaultDate"], errors="coerce")
    report = pd.to_datetime(df["ReportAsOfEOD"], errors="coerce")
    end = pd.to_datetime(df["ContractEndDate"], errors="coerce")
    late90 = df["ActiveLateLastPaymentCategory"].astype(str).isin(_LATE_90)
    bad = default.notna() | late90
    when = default.where(default.notna(), report - pd.Timedelta(days=90))
    repaid = df["Status"].astype(str) == "Repaid"
    cens = end.where(repaid & end.notna(), report)
    duration = np.where(bad, months_between(loan, when), months_between(loan, cens))
    return _finish("Bondora", df, client=df["Country"], origination=loan, duration=duration,
                   event=bad.to_numpy(), window=window, leakage=BONDORA_LEAKAGE,
                   min_client_rows=min_client_rows, oot_start=oot_start,
                   note=f"Bondora file {os.path.basename(path)}")
