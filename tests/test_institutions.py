"""Tests of the four institutions of chapter 1 and the FICO HELOC loader (on a fixture)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedlib.data.dataset import DataSchemaError
from fedlib.data.heloc import HELOC_COLUMNS, HELOC_FEATURES, load_heloc, write_heloc_fixture
from fedlib.data.institutions import (
    PAPER_TABLE1,
    imbalance_institutions,
    load_institutions,
    measure_table1,
    prepare_institutions,
    validation_view,
)

_WEST_NE = set("AK AZ CA CO HI ID MT NM NV OR UT WA WY CT MA ME NH NJ NY PA RI VT".split())


@pytest.fixture(scope="module")
def data():
    return load_institutions(seed=3, synthetic_sizes=(600, 700), max_real_rows=700)


def test_four_institutions_share_one_schema(data):
    names = [i.name for i in data.institutions]
    assert names == ["Inst-A", "Inst-B", "Inst-C", "Inst-D"]
    cols = [*data.numeric, *data.categorical, "bad", "protected"]
    for inst in data.institutions:
        assert set(cols) <= set(inst.frame.columns)
        assert set(inst.frame["protected"].unique()) <= {0, 1}
        for col, levels in data.categorical.items():
            assert set(inst.frame[col].dropna()) <= set(levels)


def test_real_silos_are_split_by_region(data):
    a, b = data.institutions[0].frame, data.institutions[1].frame
    assert set(a.addr_state) <= _WEST_NE
    assert not set(b.addr_state) & _WEST_NE


def test_synthetic_institutions_match_table1(data):
    t1 = measure_table1(data)
    for name, n in (("Inst-C", 600), ("Inst-D", 700)):
        row, paper = t1.loc[name], PAPER_TABLE1.loc[name]
        assert row.rows == n
        assert abs(row.default_rate - paper.default_rate) <= 0.5 / n + 1e-12
        # Clipping negative values at the floor moves the moments only slightly.
        assert row.income_mean == pytest.approx(paper.income_mean, rel=0.03)
        assert row.income_sd == pytest.approx(paper.income_sd, rel=0.05)
        assert row.util_mean == pytest.approx(paper.util_mean, abs=0.02)
        assert row.util_sd == pytest.approx(paper.util_sd, abs=0.02)


def test_age_shift_makes_inst_c_younger_than_inst_d(data):
    t1 = measure_table1(data)
    assert t1.loc["Inst-C", "protected_share"] > t1.loc["Inst-D", "protected_share"] + 0.1


def test_synthetic_labels_depend_on_features(data):
    # The copula keeps the real dependence: defaulters have worse sub-grades on average.
    f = data.institutions[2].frame
    grade = pd.Categorical(f.sub_grade, categories=data.categorical["sub_grade"]).codes
    assert grade[f.bad == 1].mean() > grade[f.bad == 0].mean()


def test_same_seed_same_data():
    a = load_institutions(seed=5, synthetic_sizes=(200, 200), max_real_rows=300)
    b = load_institutions(seed=5, synthetic_sizes=(200, 200), max_real_rows=300)
    for x, y in zip(a.institutions, b.institutions, strict=True):
        pd.testing.assert_frame_equal(x.frame, y.frame)


def test_prepare_is_per_institution_and_minmax(data):
    parts = prepare_institutions(data, test_fraction=0.25, iqr_k=1.5, seed=0)
    widths = {p.X_train.shape[1] for p in parts}
    assert len(widths) == 1
    for p in parts:
        assert p.rows_filtered > 0
        assert p.X_train.min() >= 0.0 and p.X_train.max() <= 1.0
        n_num = len(data.numeric)
        col_max = p.X_train[:, :n_num].max(axis=0)
        assert np.all((col_max == 1.0) | (col_max == 0.0))   # fitted on its own train rows
        assert abs(p.y_train.mean() - p.y_test.mean()) < 0.05  # stratified split


def test_prepare_rejects_bad_test_fraction(data):
    with pytest.raises(ValueError, match="test_fraction"):
        prepare_institutions(data, test_fraction=0.9, iqr_k=None, seed=0)


def test_validation_split_is_carved_from_training_rows(data):
    plain = prepare_institutions(data, test_fraction=0.25, iqr_k=None, seed=0)
    parts = prepare_institutions(data, test_fraction=0.25, iqr_k=None, seed=0, val_fraction=0.2)
    for p, q in zip(plain, parts, strict=True):
        assert p.n_val == 0 and p.X_val.shape[0] == 0
        # Same test rows with or without a validation split; validation comes out of train.
        assert np.array_equal(p.y_test, q.y_test) and np.array_equal(p.a_test, q.a_test)
        assert q.n_train + q.n_val == p.n_train
        assert q.n_val == pytest.approx(0.2 * p.n_train, abs=2)
        assert abs(q.y_val.mean() - q.y_train.mean()) < 0.02        # stratified
        assert q.X_val.shape[1] == q.X_train.shape[1] and len(q.a_val) == q.n_val
        n_num = len(data.numeric)
        col_max = q.X_train[:, :n_num].max(axis=0)
        assert np.all((col_max == 1.0) | (col_max == 0.0))   # scaled on train rows only
    # Fitted without the validation rows, so some validation values fall outside [0, 1].
    assert any(((q.X_val < 0) | (q.X_val > 1)).any() for q in parts)
    again = prepare_institutions(data, test_fraction=0.25, iqr_k=None, seed=0, val_fraction=0.2)
    assert all(np.array_equal(a.X_val, b.X_val) for a, b in zip(parts, again, strict=True))
    other = prepare_institutions(data, test_fraction=0.25, iqr_k=None, seed=1, val_fraction=0.2)
    assert not np.array_equal(parts[0].y_val, other[0].y_val) or not np.array_equal(
        parts[0].X_val, other[0].X_val)


def test_iqr_filter_applies_to_validation_rows(data):
    parts = prepare_institutions(data, test_fraction=0.25, iqr_k=1.5, seed=0, val_fraction=0.2)
    plain = prepare_institutions(data, test_fraction=0.25, iqr_k=None, seed=0, val_fraction=0.2)
    assert sum(p.n_val for p in parts) < sum(p.n_val for p in plain)
    for p, q in zip(parts, plain, strict=True):
        assert p.n_train + p.n_val + len(p.y_test) + p.rows_filtered == (
            q.n_train + q.n_val + len(q.y_test))


def test_validation_view_swaps_in_validation_rows(data):
    parts = prepare_institutions(data, test_fraction=0.25, iqr_k=None, seed=0, val_fraction=0.2)
    view = validation_view(parts)
    for p, v in zip(parts, view, strict=True):
        assert v.X_test is p.X_val and v.y_test is p.y_val and v.a_test is p.a_val
        assert v.X_train is p.X_train
    with pytest.raises(ValueError, match="val_fraction"):
        validation_view(prepare_institutions(data, test_fraction=0.25, iqr_k=None, seed=0))
    with pytest.raises(ValueError, match="val_fraction"):
        prepare_institutions(data, test_fraction=0.25, iqr_k=None, seed=0, val_fraction=0.7)


def test_imbalance_spans_ratio_and_skews_labels(data):
    parts = prepare_institutions(data, test_fraction=0.25, iqr_k=None, seed=0, val_fraction=0.2)
    out = imbalance_institutions(parts, ratio=5.0, label_skew=2.0, seed=0)
    sizes = [p.n_train for p in out]
    assert sizes[-1] / sizes[0] == pytest.approx(5.0, rel=0.05)
    assert out[0].y_train.mean() > parts[0].y_train.mean()      # skew up
    assert out[1].y_train.mean() < parts[1].y_train.mean()      # skew down
    assert all(np.array_equal(o.y_test, p.y_test) for o, p in zip(out, parts, strict=True))
    assert all(np.array_equal(o.y_val, p.y_val) for o, p in zip(out, parts, strict=True))
    with pytest.raises(ValueError, match="ratio"):
        imbalance_institutions(parts, ratio=0.5, label_skew=1.0, seed=0)


def test_unknown_source_and_heloc_without_path():
    with pytest.raises(ValueError, match="source"):
        load_institutions(seed=0, source="nope")
    with pytest.raises(ValueError, match="path"):
        load_institutions(seed=0, source="heloc")


def test_heloc_fixture_has_exact_schema_and_codes(tmp_path):
    path = tmp_path / "heloc.csv"
    write_heloc_fixture(path, n_rows=200, seed=1)
    raw = pd.read_csv(path)
    assert list(raw.columns) == HELOC_COLUMNS and len(HELOC_FEATURES) == 23
    ds = load_heloc(path)
    assert len(ds.frame) == 199                     # the all -9 row (no credit file) is dropped
    assert ds.frame[HELOC_FEATURES].isna().any().any()     # -7/-8 became missing
    assert not (ds.frame[HELOC_FEATURES] < 0).any().any()
    assert ds.frame["bad"].tolist() == (raw["RiskPerformance"][:199] == "Bad").astype(int).tolist()


def test_heloc_schema_errors(tmp_path):
    path = tmp_path / "h.csv"
    write_heloc_fixture(path, n_rows=20, seed=0)
    raw = pd.read_csv(path)
    raw.drop(columns="NumInqLast6M").to_csv(tmp_path / "missing.csv", index=False)
    with pytest.raises(DataSchemaError, match="NumInqLast6M"):
        load_heloc(tmp_path / "missing.csv")
    raw.assign(RiskPerformance="Maybe").to_csv(tmp_path / "label.csv", index=False)
    with pytest.raises(DataSchemaError, match="Good/Bad"):
        load_heloc(tmp_path / "label.csv")
    with pytest.raises(FileNotFoundError):
        load_heloc(tmp_path / "absent.csv")


def test_institutions_from_heloc(tmp_path):
    path = tmp_path / "heloc.csv"
    write_heloc_fixture(path, n_rows=600, seed=2)
    data = load_institutions(seed=0, source="heloc", path=path, synthetic_sizes=(150, 150))
    t1 = measure_table1(data)
    assert t1.income_mean.isna().all()              # HELOC has no income column
    assert t1.loc["Inst-C", "util_mean"] == pytest.approx(0.61, abs=0.02)
    parts = prepare_institutions(data, test_fraction=0.25, iqr_k=1.5, seed=0)
    assert {p.X_train.shape[1] for p in parts} == {23}
    assert not any(np.isnan(p.X_train).any() for p in parts)   # imputed per institution
