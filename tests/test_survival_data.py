"""Survival datasets of chapter 3: semi-real truth, synthetic profiles, split, real-file loaders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedlib.survival.data import (
    PROFILES,
    SurvivalDataError,
    client_sizes,
    prepare_survival,
    semi_real_lendingclub,
    synthetic_survival,
)
from fedlib.survival.loaders import (
    BONDORA_LEAKAGE,
    LENDINGCLUB_LEAKAGE,
    SBA_LEAKAGE,
    load_bondora,
    load_lendingclub,
    load_sba,
)


@pytest.fixture(scope="module")
def semi():
    return semi_real_lendingclub(seed=3)


def test_semi_real_matches_table2_and_truth_is_consistent(semi):
    f = semi.frame
    assert f["client"].nunique() == 27                     # the paper's 27 state clients
    # Observed default rate near 12.8 % (calibrated in expectation; one draw of ~9k loans).
    assert abs(f["event"].mean() - 0.128) < 0.012
    assert f["duration"].between(0, 24).all()
    assert not f.loc[f["event"] == 1, "duration"].ge(24).any()
    # The true survival curves are proper and the expected observed rate is exactly 12.8 %.
    S = semi.truth.survival
    assert S.shape == (len(f), 24) and np.all(np.diff(S, axis=1) <= 1e-12)
    h = semi.truth.hazards
    assert np.all((h > 0) & (h < 1))
    # Leakage columns are gone, the lender's pricing included.
    for col in ("interest_rate", "grade", "sub_grade", "paid_total", "balance", "loan_status"):
        assert col not in f.columns
    # The OOT cohort has the documented shock: more defaults than the in-time cohort.
    oot = f["origination"] >= semi.oot_start
    assert f.loc[oot, "event"].mean() > f.loc[~oot, "event"].mean()


def test_truth_drives_outcomes(semi):
    # Loans the truth rates riskier default more often: checks the draw uses the hazard.
    risk = 1 - semi.truth.survival[:, -1]
    hi = risk > np.quantile(risk, 0.8)
    lo = risk < np.quantile(risk, 0.2)
    assert semi.frame["event"][hi].mean() > 2 * semi.frame["event"][lo].mean()


def test_prepare_split_and_scaling(semi):
    data = prepare_survival(semi, seed=0)
    assert len(data.clients) == 27
    X, t, e, _ = data.pooled("train")
    assert np.allclose(X.mean(0), 0, atol=1e-4)            # standardised on training rows
    Xo, to, eo, _ = data.pooled("oot")
    orig = semi.frame["origination"].to_numpy()
    assert (orig[data.pooled_index("oot")] >= semi.oot_start).all()
    assert (orig[data.pooled_index("train")] < semi.oot_start).all()
    n_in = len(t) + len(data.pooled("test")[1])
    assert abs(len(data.pooled("test")[1]) / n_in - 0.2) < 0.02
    idx = np.concatenate([data.pooled_index(s) for s in ("train", "test", "oot")])
    assert np.unique(idx).size == idx.size == len(semi.frame)   # disjoint and complete
    assert data.grid.tolist() == list(np.arange(25.0))


@pytest.mark.parametrize("kind", ["sba", "bondora"])
def test_synthetic_profiles(kind):
    prof = PROFILES[kind]
    ds = synthetic_survival(kind, scale=0.01, seed=1, keep_truth=False)
    assert ds.n_clients == prof.clients and ds.window == prof.window
    assert abs(ds.frame["event"].mean() - prof.default_rate) < 0.02
    assert len(ds.numeric_columns) == prof.features
    sizes = ds.frame["client"].value_counts()
    assert sizes.max() / sizes.min() > 3                     # Table 2's size spread


def test_client_sizes_and_errors():
    s = client_sizes(PROFILES["lendingclub"], scale=1.0)
    assert s.min() == 20_327 and s.max() == 229_389 and abs(s.mean() - 54_938) < 100
    with pytest.raises(SurvivalDataError, match="kind"):
        synthetic_survival("nope", scale=0.1, seed=0)
    with pytest.raises(SurvivalDataError, match="scale"):
        client_sizes(PROFILES["sba"], scale=0.0)


# ---------------------------------------------------------------------------------------------
# Loaders, on fixtures in the real files' schema
# ---------------------------------------------------------------------------------------------

def _lc_fixture(path):
    rows = [
        # issue, status, last payment, state, outcome we expect (duration, event)
        ("Jan-2015", "Charged Off", "Jun-2015", "CA"),        # default month 6 -> 5.5
        ("Jan-2015", "Fully Paid", "Jan-2016", "CA"),         # censored at 12
        ("Mar-2016", "Current", "Dec-2018", "NY"),            # censored at window 24
        ("Feb-2016", "Charged Off", None, "NY"),              # never paid -> 0.5
        ("Jan-2014", "Does not meet the credit policy. Status:Charged Off", "Jan-2017", "TX"),
        ("Jun-2017", "Late (31-120 days)", "Oct-2018", "TX"),  # OOT, censored at snapshot
    ]
    df = pd.DataFrame(rows, columns=["issue_d", "loan_status", "last_pymnt_d", "addr_state"])
    df["id"] = range(len(df))
    df["loan_amnt"] = [10000, 5000, 12000, 3000, 8000, 15000]
    df["funded_amnt"] = df["loan_amnt"]
    df["int_rate"] = [12.5, 8.0, 15.1, 20.0, 11.0, 9.9]
    df["grade"] = ["B", "A", "C", "E", "B", "A"]
    df["term"] = [" 36 months", " 60 months"] * 3
    df["dti"] = [10.0, 20.0, np.nan, 30.0, 5.0, 12.0]
    df["total_pymnt"] = [3000.0, 5500, 9000, 0, 8000, 4000]
    df.to_csv(path, index=False)


def test_load_lendingclub(tmp_path):
    p = tmp_path / "accepted_2007_to_2018Q4.csv"
    _lc_fixture(p)
    ds = load_lendingclub(str(p))
    f = ds.frame
    assert f["duration"].round(1).tolist()[:5] == [5.5, 12.0, 24.0, 0.5, 24.0]
    assert f["event"].tolist() == [1, 0, 0, 1, 0, 0]        # 36 months > window: censored
    assert f["client"].tolist() == ["CA", "CA", "NY", "NY", "TX", "TX"]
    assert (f["origination"] >= ds.oot_start).tolist() == [False] * 5 + [True]
    for col in LENDINGCLUB_LEAKAGE:
        assert col not in ds.numeric_columns + ds.categorical_columns
    assert "term" in ds.categorical_columns and "loan_amnt" in ds.numeric_columns
    prepare_survival(ds, seed=0, test_fraction=0.5)


def test_load_sba(tmp_path):
    df = pd.DataFrame({
        "LoanNr_ChkDgt": [1, 2, 3, 4], "Name": ["a", "b", "c", "d"], "City": ["x"] * 4,
        "State": ["OH", "OH", "IN", "IN"], "Zip": [1, 2, 3, 4], "Bank": ["B"] * 4,
        "BankState": ["OH"] * 4, "NAICS": [0, 451120, 0, 532220],
        "ApprovalDate": ["28-Feb-97", "15-Jun-68", "1-Jan-05", "3-Mar-08"],
        "ApprovalFY": [1997, 1968, 2005, 2008], "Term": [84, 60, 36, 120], "NoEmp": [4, 2, 7, 1],
        "NewExist": [2.0, 1.0, 1.0, 2.0], "CreateJob": [0, 0, 1, 0], "RetainedJob": [0, 0, 1, 0],
        "FranchiseCode": [1, 1, 0, 1], "UrbanRural": [0, 0, 1, 2], "RevLineCr": ["N", "0", "Y", "N"],
        "LowDoc": ["Y", "N", "N", "N"],
        "ChgOffDate": [None, None, "1-Jan-07", "3-Mar-15"],
        "DisbursementDate": ["28-Feb-99", "15-Jun-68", "1-Feb-05", "3-Apr-08"],
        "DisbursementGross": ["$60,000.00 ", "$40,000.00 ", "$287,000.00 ", "$35,000.00 "],
        "BalanceGross": ["$0.00 "] * 4, "MIS_Status": ["P I F", "P I F", "CHGOFF", "CHGOFF"],
        "ChgOffPrinGr": ["$0.00 ", "$0.00 ", "$208,959.00 ", "$20,000.00 "],
        "GrAppv": ["$60,000.00 ", "$40,000.00 ", "$287,000.00 ", "$35,000.00 "],
        "SBA_Appv": ["$48,000.00 ", "$32,000.00 ", "$215,250.00 ", "$28,000.00 "],
    })
    p = tmp_path / "SBAnational.csv"
    df.to_csv(p, index=False)
    ds = load_sba(str(p))
    f = ds.frame
    assert f["origination"].dt.year.tolist() == [1997, 1968, 2005, 2008]   # 68 -> 1968
    assert f["event"].tolist() == [0, 0, 1, 0]            # 2015 charge-off: after 48 months
    assert f["duration"].round(1).tolist() == [48.0, 48.0, 24.0, 48.0]
    assert (f["origination"] >= ds.oot_start).tolist() == [False, False, False, True]
    assert pd.api.types.is_numeric_dtype(f["DisbursementGross"])
    for col in SBA_LEAKAGE:
        assert col not in ds.numeric_columns + ds.categorical_columns


def test_load_bondora(tmp_path):
    df = pd.DataFrame({
        "LoanId": ["a", "b", "c", "d"], "LoanDate": ["2015-01-10", "2016-05-01", "2019-03-01",
                                                      "2017-01-01"],
        "Country": ["EE", "FI", "ES", "EE"], "Age": [30, 45, 28, 51],
        "Gender": [0.0, 1.0, 0.0, 1.0], "Amount": [1000.0, 2500, 500, 3000],
        "Interest": [25.0, 30.0, 40.0, 20.0], "Rating": ["A", "B", "F", "AA"],
        "DefaultDate": ["2015-11-10", None, None, None],
        "ActiveLateLastPaymentCategory": [None, "91-120", None, "1-7"],
        "Status": ["Late", "Late", "Repaid", "Current"],
        "ReportAsOfEOD": ["2022-09-01"] * 4,
        "ContractEndDate": [None, None, "2020-03-01", None],
        "PrincipalPaymentsMade": [100.0, 300, 500, 2000],
    })
    p = tmp_path / "LoanData.csv"
    df.to_csv(p, index=False)
    ds = load_bondora(str(p))
    f = ds.frame
    # a: default 10 months in; b: 90+ late, dated report-90d -> after the window -> censored;
    # c: repaid after 12 months; d: current, censored at the window.
    assert f["event"].tolist() == [1, 0, 0, 0]
    assert f["duration"].round(0).tolist() == [10.0, 24.0, 12.0, 24.0]
    assert (f["origination"] >= ds.oot_start).tolist() == [False, False, True, False]
    for col in ("Interest", "Rating", "PrincipalPaymentsMade", "DefaultDate"):
        assert col not in ds.numeric_columns + ds.categorical_columns
    assert set(BONDORA_LEAKAGE) & set(ds.numeric_columns) == set()


def test_loader_errors(tmp_path):
    p = tmp_path / "wrong.csv"
    pd.DataFrame({"a": [1]}).to_csv(p, index=False)
    with pytest.raises(SurvivalDataError, match="missing the columns"):
        load_lendingclub(str(p))
    with pytest.raises(SurvivalDataError, match="no such file"):
        load_sba(str(tmp_path / "none.csv"))


def test_sba_two_digit_years_in_every_date_column(tmp_path):
    # A 1968 approval charged off in 1970: "15-Jun-70" must not become 2070 (a censored loan).
    df = pd.DataFrame({
        "State": ["OH", "OH"], "ApprovalDate": ["15-Jun-68", "1-Jan-05"],
        "ChgOffDate": ["15-Jun-70", None], "DisbursementDate": ["1-Jul-68", "1-Feb-05"],
        "Term": [60, 36], "MIS_Status": ["CHGOFF", "P I F"], "NoEmp": [3, 4],
    })
    p = tmp_path / "SBAnational.csv"
    df.to_csv(p, index=False)
    f = load_sba(str(p)).frame
    assert f["event"].tolist() == [1, 0]
    assert f["duration"].round(0).tolist() == [24.0, 36.0]


def test_lendingclub_earliest_cr_line_is_history_length(tmp_path):
    p = tmp_path / "accepted_2007_to_2018Q4.csv"
    _lc_fixture(p)
    df = pd.read_csv(p)
    df["earliest_cr_line"] = ["Apr-2001", "Jan-2010", "Mar-1999", "Feb-2006", "Jan-2004",
                              "Jun-2012"]
    df.to_csv(p, index=False)
    ds = load_lendingclub(str(p))
    assert "credit_history_months" in ds.numeric_columns
    assert "earliest_cr_line" not in ds.numeric_columns + ds.categorical_columns
    assert round(float(ds.frame["credit_history_months"].iloc[0])) == 165   # Apr-2001 to Jan-2015
    data = prepare_survival(ds, seed=0, test_fraction=0.5)
    assert not any(n.startswith("earliest_cr_line=") for n in data.feature_names)


def test_federation_too_small_stops_with_sizes():
    from fedlib.survival.data import SurvivalDataError, check_federation

    with pytest.raises(SurvivalDataError, match=r"min_client_rows=250 .*CA=254.*at least 2"):
        check_federation({"CA": 254}, min_client_rows=250)
    with pytest.raises(SurvivalDataError, match=r"win rate needs at least 5"):
        check_federation({"a": 300, "b": 300, "c": 300}, min_client_rows=100)
    check_federation({"EE": 300, "FI": 200, "ES": 100}, min_client_rows=100, paper_clients=3)
