"""Registry and loaders: offline real data, the Kaggle schema checks, the committed fixture."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedlib.data import (
    KAGGLE_COLUMNS,
    DataSchemaError,
    Dataset,
    UnknownDatasetError,
    fixture_path,
    list_datasets,
    load_dataset,
    register_dataset,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = fixture_path("kaggle_loan_approval")


def test_builtins_registered():
    assert {"loanapp", "kaggle_loan_approval", "lending_club", "credit_data"} <= set(
        list_datasets()
    )


def test_unknown_name_lists_known():
    with pytest.raises(UnknownDatasetError, match="loanapp") as e:
        load_dataset("no_such_data")
    assert isinstance(e.value, ValueError)
    assert "no_such_data" in str(e.value)


def test_register_refuses_silent_overwrite():
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("loanapp", lambda path=None: None)


def test_loanapp_offline_schema(monkeypatch):
    import socket

    def no_network(*a, **k):
        raise AssertionError("loader tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    ds = load_dataset("loanapp")
    assert len(ds.frame) == 1989
    assert len(ds.features) == 12
    assert ds.frame[ds.target].dtype.kind == "i"
    assert abs(ds.positive_rate - 0.8773) < 1e-3
    assert set(ds.frame["race"].unique()) <= set(ds.categories["race"])
    assert set(ds.frame["area"].unique()) == set(ds.categories["area"])
    # Sentinel codes became missing values; genuine missing values stay missing.
    assert ds.frame["term"].max() < 1000 and ds.frame["term"].isna().sum() == 4
    assert ds.frame["liq"].max() < 999_999
    assert ds.frame["male"].isna().sum() == 15
    assert all(c in ds.frame for c in ds.protected.values())


@pytest.mark.parametrize(("name", "rows"), [("lending_club", 9857), ("credit_data", 4454)])
def test_other_builtins(name, rows):
    ds = load_dataset(name)
    assert len(ds.frame) == rows
    assert set(ds.frame[ds.target].unique()) == {0, 1}
    for c in ds.categorical:
        assert set(ds.frame[c].dropna().unique()) <= set(ds.categories[c])


def test_dataset_rejects_non_binary_target():
    f = pd.DataFrame({"y": [0, 2], "x": [1.0, 2.0]})
    with pytest.raises(DataSchemaError, match="0/1"):
        Dataset("bad", f, target="y", features=["x"])


def test_fixture_checksums():
    """Every committed fixture matches data/CHECKSUMS.sha256, and every fixture is listed."""
    listed = dict(reversed(line.split()) for line in
                  (ROOT / "data" / "CHECKSUMS.sha256").read_text().splitlines() if line)
    on_disk = {f"fixtures/{p.name}" for p in (ROOT / "data" / "fixtures").glob("*.csv")}
    assert set(listed) == on_disk and "fixtures/kaggle_loan_approval_sample.csv" in listed
    for name, digest in listed.items():
        assert hashlib.sha256((ROOT / "data" / name).read_bytes()).hexdigest() == digest, name


def test_fixture_loads_with_dtypes_and_label_rate():
    ds = load_dataset("kaggle_loan_approval", path=FIXTURE)
    f = ds.frame
    assert len(f) == 60
    raw = FIXTURE.read_text().splitlines()
    assert raw[0].startswith("loan_id, no_of_dependents")  # published layout, leading spaces
    n_approved = sum(line.endswith(" Approved") for line in raw[1:])
    assert f[ds.target].sum() == n_approved
    assert ds.positive_rate == pytest.approx(n_approved / 60)
    assert f[ds.target].dtype == np.int64
    for c in ds.numeric:
        assert f[c].dtype == np.float64, c
    assert set(f["education"]) == {"Graduate", "Not Graduate"}  # stripped
    assert set(f["self_employed"]) <= {"Yes", "No"}
    assert f["loan_id"].dtype == np.int64
    assets = f[["residential_assets_value", "commercial_assets_value", "luxury_assets_value",
                "bank_asset_value"]].sum(axis=1)  # fmt: skip
    assert np.allclose(f["total_assets"], assets)
    assert ds.protected == {} and "area" not in ds.strata


@pytest.fixture
def rows():
    return FIXTURE.read_text().splitlines()


def _write(tmp_path, lines):
    p = tmp_path / "loans.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_kaggle_requires_path():
    with pytest.raises(DataSchemaError, match="path"):
        load_dataset("kaggle_loan_approval")


def test_kaggle_missing_file(tmp_path):
    with pytest.raises(DataSchemaError, match="not found"):
        load_dataset("kaggle_loan_approval", path=tmp_path / "nope.csv")


def test_kaggle_directory(tmp_path):
    with pytest.raises(DataSchemaError, match="not a regular file"):
        load_dataset("kaggle_loan_approval", path=tmp_path)


def test_kaggle_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(DataSchemaError, match="empty"):
        load_dataset("kaggle_loan_approval", path=p)


def test_kaggle_header_only(tmp_path, rows):
    with pytest.raises(DataSchemaError, match="no data rows"):
        load_dataset("kaggle_loan_approval", path=_write(tmp_path, rows[:1]))


def test_kaggle_binary_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b"\xff\xfe\x00\x81" * 100)
    with pytest.raises(DataSchemaError):
        load_dataset("kaggle_loan_approval", path=p)


def test_kaggle_wrong_delimiter(tmp_path, rows):
    lines = [r.replace(", ", ";") for r in rows]
    with pytest.raises(DataSchemaError, match="';'-delimited"):
        load_dataset("kaggle_loan_approval", path=_write(tmp_path, lines))


def test_kaggle_missing_column_named(tmp_path, rows):
    lines = [", ".join(r.split(", ")[:7] + r.split(", ")[8:]) for r in rows]  # drop cibil_score
    with pytest.raises(DataSchemaError, match=r"lacks columns \['cibil_score'\]") as e:
        load_dataset("kaggle_loan_approval", path=_write(tmp_path, lines))
    assert "expected columns" in str(e.value) and "loan_status" in str(e.value)


@pytest.mark.parametrize("col", ["income_annum", "cibil_score", "bank_asset_value"])
def test_kaggle_non_numeric_named(tmp_path, rows, col):
    j = KAGGLE_COLUMNS.index(col)
    cells = rows[3].split(", ")
    cells[j] = "12k"
    lines = [*rows[:3], ", ".join(cells), *rows[4:]]
    with pytest.raises(DataSchemaError, match=rf"column '{col}' must be numeric; found '12k'"):
        load_dataset("kaggle_loan_approval", path=_write(tmp_path, lines))


def test_kaggle_unknown_label(tmp_path, rows):
    lines = [rows[0], rows[1].replace("Approved", "Maybe").replace("Rejected", "Maybe"), *rows[2:]]
    with pytest.raises(DataSchemaError, match=r"'loan_status' has unknown labels \['Maybe'\]"):
        load_dataset("kaggle_loan_approval", path=_write(tmp_path, lines))


def test_kaggle_unknown_category(tmp_path, rows):
    lines = [rows[0], rows[1].replace("Graduate", "PhD", 1), *rows[2:]]
    with pytest.raises(DataSchemaError, match="'education' has unknown values"):
        load_dataset("kaggle_loan_approval", path=_write(tmp_path, lines))


def test_kaggle_blank_numeric_is_missing_not_error(tmp_path, rows):
    j = KAGGLE_COLUMNS.index("loan_term")
    cells = rows[2].split(", ")
    cells[j] = ""
    lines = [rows[0], rows[1], ", ".join(cells), *rows[3:]]
    ds = load_dataset("kaggle_loan_approval", path=_write(tmp_path, lines))
    assert ds.frame["loan_term"].isna().sum() == 1


# --- early checks with the loaders' messages (issue 14 items 6 and 7) ---

def _bad_file(tmp_path: Path, kind: str, header: list[str], row: list[str],
              name: str = "data.csv") -> Path:
    """A file in a dataset's real header with one of the common mistakes."""
    p = tmp_path / name
    if kind == "empty":
        p.write_text("")
    elif kind == "header_only":
        p.write_text(",".join(header) + "\n")
    elif kind == "semicolon":
        p.write_text(";".join(header) + "\n" + ";".join(row) + "\n")
    elif kind == "latin1":
        p.write_bytes((",".join(header) + "\n" + ",".join(row) + "\n").encode("utf-8")
                      + ",".join(["Caf\xe9"] * len(header)).encode("latin-1") + b"\n")
    return p


BAD_KINDS = {
    "empty": "is empty (no header, no rows)",
    "header_only": "has a header but no data rows",
    "semicolon": "has a single column (the header looks ';'-delimited); expected a "
                 "comma-separated file",
    "latin1": "is not UTF-8 text (byte 0xe9 on line 3); save it as UTF-8",
}


def _loaders():
    from fedlib.data.heloc import HELOC_COLUMNS, check_heloc, load_heloc
    from fedlib.data.kaggle import check_kaggle_loan_approval, load_kaggle_loan_approval
    from fedlib.survival.loaders import SBA_REQUIRED, check_sba, load_sba
    from fedlib.vertical.data import check_vertical_csvs, load_vertical_csvs

    def vertical(check):
        def run(path):
            other = path.with_name("external.csv")
            other.write_text("id,e1\n1,0.5\n")
            if check:
                return check_vertical_csvs(path, other, id_column="id", target="default")
            return load_vertical_csvs(path, other, id_column="id", target="default")
        return run

    return {
        "heloc": (HELOC_COLUMNS, check_heloc, load_heloc),
        "kaggle_loan_approval": (KAGGLE_COLUMNS, check_kaggle_loan_approval,
                                 load_kaggle_loan_approval),
        "SBA": (list(SBA_REQUIRED), check_sba, load_sba),
        "vertical": (["id", "x1", "default"], vertical(True), vertical(False)),
    }


@pytest.mark.parametrize("kind", sorted(BAD_KINDS))
@pytest.mark.parametrize("dataset", ["heloc", "kaggle_loan_approval", "SBA", "vertical"])
def test_bad_file_is_caught_by_the_check_with_the_loaders_message(tmp_path, dataset, kind):
    header, check, load = _loaders()[dataset]
    path = _bad_file(tmp_path, kind, header, ["1"] * len(header))
    with pytest.raises(ValueError) as checked:
        check(path)
    with pytest.raises(ValueError) as loaded:
        load(path)
    msg = str(checked.value)
    assert msg == str(loaded.value) and "\n" not in msg
    assert BAD_KINDS[kind] in msg and "data.csv" in msg


def test_heloc_blank_or_text_cell_reported_by_file_line_and_raw_text(tmp_path):
    from fedlib.data.heloc import load_heloc, write_heloc_fixture

    path = tmp_path / "heloc_dataset_v1.csv"
    write_heloc_fixture(path, n_rows=30, seed=0)
    lines = path.read_text().splitlines()
    for text in ("", "n/a", " N/A "):
        cells = lines[6].split(",")
        cells[4] = text  # line 7 of the file, column AverageMInFile
        edited = [*lines[:6], ",".join(cells), *lines[7:]]
        path.write_text("\n".join(edited) + "\n")
        with pytest.raises(DataSchemaError) as info:
            load_heloc(path)
        assert str(info.value) == (
            f"heloc: heloc_dataset_v1.csv: column 'AverageMInFile' must be numeric, line 7 "
            f"holds {text!r} (1 such cell(s) in the column); the file codes missing values "
            "as -9, -8 or -7, not as blanks or text")


def test_vertical_label_column_missing_lists_columns_and_party_named_from_file(tmp_path):
    from fedlib.vertical.data import VerticalDataError, load_vertical_csvs

    bank, ext = tmp_path / "bank.csv", tmp_path / "tax_registry.csv"
    bank.write_text("id,x1,is_bad\n1,0.5,0\n2,0.7,1\n")
    ext.write_text("id,e1\n1,3.0\n2,4.0\n")
    with pytest.raises(VerticalDataError) as info:
        load_vertical_csvs(bank, ext, id_column="id", target="default")
    assert str(info.value) == ("labelled file 'bank.csv': label column 'default' not found; "
                               "columns are ['id', 'x1', 'is_bad']")
    vd = load_vertical_csvs(bank, ext, id_column="id", target="is_bad")
    assert vd.external_name == "tax_registry"
    assert load_vertical_csvs(bank, ext, id_column="id", target="is_bad",
                              external_name="grid").external_name == "grid"
