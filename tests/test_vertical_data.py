"""Vertical data: the paper-shaped generator, the credit_data split and the two-CSV loader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedlib.vertical.data import (
    GRID_FEATURES,
    VerticalDataError,
    load_vertical_csvs,
    make_msme_data,
    vertical_credit_data,
)


def test_msme_shape_matches_paper():
    vd = make_msme_data(seed=3)
    common = set(vd.bank.id) & set(vd.external.id)
    assert len(common) == 170
    bad_common = vd.bank.set_index("id").loc[sorted(common), "default"].sum()
    assert bad_common == 37
    assert vd.bank_features == [f"X{i}" for i in range(1, 76)]
    assert vd.external_features == list(GRID_FEATURES)
    # Partial overlap on both sides, and the grid never holds labels.
    assert len(vd.bank) > 170 and len(vd.external) > 170
    assert "default" not in vd.external.columns
    # Built-in redundancy: some bank indicator is a near-copy of another.
    corr = vd.bank[vd.bank_features].corr().abs().to_numpy().copy()
    np.fill_diagonal(corr, 0)
    assert corr.max() > 0.9


def test_msme_deterministic_and_sized():
    a, b = make_msme_data(seed=1), make_msme_data(seed=1)
    pd.testing.assert_frame_equal(a.bank, b.bank)
    c = make_msme_data(n_enterprises=400, seed=1)
    assert c.n_common == 400
    assert c.bank.set_index("id").loc[sorted(set(c.bank.id) & set(c.external.id)),
                                      "default"].sum() == round(400 * 37 / 170)
    with pytest.raises(ValueError, match="n_enterprises"):
        make_msme_data(n_enterprises=5, seed=0)


def test_credit_data_vertical_split():
    vd = vertical_credit_data(overlap=0.6, max_rows=300, seed=0)
    assert vd.n_common == 180
    assert vd.target in vd.bank.columns and vd.target not in vd.external.columns
    assert not set(vd.bank_features) & set(vd.external_features)
    assert len(vd.bank) == len(vd.external) == 180 + 60
    assert all(pd.api.types.is_numeric_dtype(vd.bank[c]) for c in vd.bank_features)


def _write(tmp_path, bank, ext):
    bp, ep = tmp_path / "bank.csv", tmp_path / "grid.csv"
    pd.DataFrame(bank).to_csv(bp, index=False)
    pd.DataFrame(ext).to_csv(ep, index=False)
    return bp, ep


GOOD_BANK = {"id": ["a", "b", "c"], "x1": [1.0, 2.0, 3.0], "y": [0, 1, 0]}
GOOD_EXT = {"id": ["b", "c", "d"], "e1": [0.1, 0.2, 0.3]}


def test_csv_loader_ok(tmp_path):
    vd = load_vertical_csvs(*_write(tmp_path, GOOD_BANK, GOOD_EXT), id_column="id", target="y")
    assert vd.n_common == 2 and vd.bank_features == ["x1"] and vd.external_features == ["e1"]


@pytest.mark.parametrize("bank, ext, match", [
    ({**GOOD_BANK, "id": ["a", "a", "c"]}, GOOD_EXT, "duplicated ID"),
    ({**GOOD_BANK, "id": ["a", None, "c"]}, GOOD_EXT, "no ID"),
    (GOOD_BANK, {**GOOD_EXT, "id": ["x", "y", "z"]}, "share no ID"),
    ({**GOOD_BANK, "x1": ["lo", "hi", "lo"]}, GOOD_EXT, "not numeric"),
    ({**GOOD_BANK, "y": [0, 2, 1]}, GOOD_EXT, "0/1"),
    (GOOD_BANK, {**GOOD_EXT, "y": [0, 1, 0]}, "must not have labels"),
    (GOOD_BANK, {"key": ["b"], "e1": [1.0]}, "ID column 'id' not found"),
    (GOOD_BANK, {"id": ["b"], "x1": [1.0]}, "disjoint"),
])
def test_csv_loader_errors(tmp_path, bank, ext, match):
    with pytest.raises(VerticalDataError, match=match):
        load_vertical_csvs(*_write(tmp_path, bank, ext), id_column="id", target="y")


def test_csv_loader_missing_file(tmp_path):
    with pytest.raises(VerticalDataError, match="does not exist"):
        load_vertical_csvs(tmp_path / "nope.csv", tmp_path / "nope2.csv", id_column="id",
                           target="y")
