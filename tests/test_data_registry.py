"""The one dataset registry (kinds, listing, errors, every chapter's data) and the per-party
protocol every chapter's party container satisfies."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedlib.core.party import PartyData, PartyRows, party_table
from fedlib.data import registry
from fedlib.data.dataset import DataSchemaError, Dataset
from fedlib.data.heloc import load_heloc
from fedlib.data.institutions import load_institutions, prepare_institutions
from fedlib.data.kaggle import fixture_path, load_kaggle_loan_approval
from fedlib.data.registry import (
    CONTAINERS,
    KINDS,
    UnknownDatasetError,
    dataset_entry,
    dataset_table,
    list_datasets,
    load_dataset,
    register_dataset,
    unregister_dataset,
)
from fedlib.fl.fmtl import FMTLClient
from fedlib.fl.prepare import prepare_horizontal
from fedlib.flower.deployment import save_party
from fedlib.papers.p01_fmtl.params import Chapter01Params
from fedlib.papers.p02_dp_vs_ckks.params import Chapter02Params
from fedlib.papers.p03_fsl_bdp.params import Chapter03Params
from fedlib.papers.p04_secureboost.params import Chapter04Params
from fedlib.survival.data import SurvivalDataset, prepare_survival, synthetic_survival
from fedlib.survival.loaders import load_lendingclub
from fedlib.vertical.data import VerticalData, VerticalParty, make_msme_data

ROOT = Path(__file__).resolve().parents[1]
HELOC_FIXTURE = ROOT / "data" / "fixtures" / "heloc_sample.csv"


def _choices(schema, field: str) -> tuple[str, ...]:
    return typing.get_args(schema.model_fields[field].annotation)


# --- kinds and listing -------------------------------------------------------------------------

def test_kinds_and_containers():
    assert KINDS == ("tabular", "survival", "vertical")
    assert set(CONTAINERS) == set(KINDS)
    table = dataset_table()
    assert set(table.kind) == set(KINDS)
    assert list(table.kind) == sorted(table.kind, key=KINDS.index)   # grouped in kind order


@pytest.mark.parametrize(("schema", "field", "kind"), [
    (Chapter01Params, "source", "tabular"),
    (Chapter02Params, "dataset", "tabular"),
    (Chapter03Params, "dataset", "survival"),
    (Chapter04Params, "dataset", "vertical"),
])
def test_every_chapters_dataset_parameter_names_a_registered_dataset(schema, field, kind):
    chapter = int(schema.__module__.split(".p0")[1][0])
    choices = _choices(schema, field)
    assert choices, f"{schema.__name__}.{field} is not a Literal"
    for value in choices:
        entry = dataset_entry(value, kind)
        assert entry.kind == kind and chapter in entry.chapters, (value, entry)


def test_listing_by_kind():
    assert list_datasets("vertical") == ["csv", "msme", "vertical_credit_data"]
    assert {"semi_real_lendingclub", "synthetic_sba", "sba_csv", "csv"} <= set(
        list_datasets("survival"))
    assert {"loanapp", "kaggle_loan_approval", "lending_club", "credit_data", "heloc",
            "csv"} <= set(list_datasets("tabular"))
    # Listing all kinds names a shared name once.
    assert list_datasets().count("csv") == 1
    assert set(list_datasets()) == {n for k in KINDS for n in list_datasets(k)}


def test_every_entry_resolves_and_has_its_card():
    for kind in KINDS:
        for name in list_datasets(kind):
            entry = dataset_entry(name, kind)
            assert callable(entry.resolve()), entry
            assert entry.card and entry.chapters, entry
            assert (ROOT / "data" / entry.card_file).is_file(), entry.card_file
            # A generator reads no file; a file dataset names the loader's file parameters.
            assert entry.embedded or entry.files, entry


def test_importing_the_registry_loads_no_loader():
    code = ("import sys, fedlib.data.registry; "
            "print(sorted(m for m in sys.modules if m.startswith(('fedlib.survival', "
            "'fedlib.vertical', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


# --- errors ------------------------------------------------------------------------------------

def test_unknown_kind_lists_the_kinds():
    with pytest.raises(UnknownDatasetError, match="kinds: tabular, survival, vertical"):
        list_datasets("graph")
    with pytest.raises(UnknownDatasetError, match="unknown dataset kind 'graph'"):
        load_dataset("loanapp", kind="graph")


def test_unknown_name_lists_the_names_of_its_kind():
    with pytest.raises(UnknownDatasetError, match="survival datasets: bondora_csv, csv") as e:
        load_dataset("loanapp_survival", kind="survival")
    assert isinstance(e.value, ValueError)
    with pytest.raises(UnknownDatasetError, match="'loanapp' is a tabular dataset"):
        dataset_entry("loanapp", "survival")
    with pytest.raises(UnknownDatasetError, match="vertical: csv, msme, vertical_credit_data"):
        load_dataset("nothing_like_it")


def test_shared_name_needs_a_kind_and_a_name_beats_an_alias():
    with pytest.raises(UnknownDatasetError, match="several kinds .*pass kind="):
        dataset_entry("csv")
    assert dataset_entry("csv", "survival").loader.endswith("load_survival_csv")
    assert dataset_entry("credit_data").kind == "tabular"
    assert dataset_entry("credit_data", "vertical").name == "vertical_credit_data"
    assert dataset_entry("synthetic", "vertical").name == "msme"


def test_file_arguments_are_checked():
    with pytest.raises(DataSchemaError, match="reads a file you provide.*path="):
        load_dataset("sba_csv")
    with pytest.raises(DataSchemaError, match=r"path=\.\.\. a pair"):
        load_dataset("csv", kind="vertical", id_column="id", target="y")
    with pytest.raises(DataSchemaError, match="reads 2 files"):
        load_dataset("csv", kind="vertical", path="one.csv", id_column="id", target="y")
    with pytest.raises(DataSchemaError, match="reads no file"):
        load_dataset("msme", path="x.csv", seed=0)


def test_a_loader_returning_the_wrong_container_is_refused(monkeypatch):
    # A private copy of the table, so the entry added here leaves the real one alone.
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register_dataset("wrong_kind", lambda: make_msme_data(seed=0), kind="tabular",
                     embedded=True, files=())
    with pytest.raises(TypeError, match="returned VerticalData, not Dataset"):
        load_dataset("wrong_kind")
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("wrong_kind", lambda: None, kind="tabular")


# --- every chapter's embedded data loads through the registry ----------------------------------

@pytest.mark.parametrize(("name", "rows"), [("loanapp", 1989), ("lending_club", 9857),
                                            ("credit_data", 4454)])
def test_embedded_tabular(name, rows):
    ds = load_dataset(name)
    assert isinstance(ds, Dataset) and len(ds.frame) == rows


def test_chapter1_institutions_come_through_the_registry():
    data = load_institutions(seed=0, synthetic_sizes=(200, 200), max_real_rows=300)
    assert data.source == "lending_club"
    assert [len(i.frame) for i in data.institutions] == [300, 300, 200, 200]
    with pytest.raises(ValueError, match="must be one of"):
        load_institutions(seed=0, source="loanapp")


def test_semi_real_lendingclub_default():
    P = Chapter03Params(seed=42)
    ds = load_dataset(P.dataset, kind="survival", seed=P.seed,
                      min_client_rows=P.min_client_rows)
    assert isinstance(ds, SurvivalDataset) and ds.truth is not None
    assert ds.n_clients == 17 and len(ds.frame) > 5000    # data/survival.md: 17 states at 200


@pytest.mark.parametrize("kind", ["lendingclub", "sba", "bondora"])
def test_synthetic_survival_is_the_generator(kind):
    ds = load_dataset(f"synthetic_{kind}", scale=0.002, seed=3)
    ref = synthetic_survival(kind, scale=0.002, seed=3)
    assert isinstance(ds, SurvivalDataset) and ds.window == ref.window
    pd.testing.assert_frame_equal(ds.frame, ref.frame)


def test_vertical_embedded():
    vd = load_dataset("msme", seed=0)
    ref = make_msme_data(seed=0)
    assert isinstance(vd, VerticalData)
    pd.testing.assert_frame_equal(vd.bank, ref.bank)
    vc = load_dataset("credit_data", kind="vertical", seed=0, max_rows=200)
    assert isinstance(vc, VerticalData) and vc.target == "bad" and vc.n_common == 160


# --- user files round-trip ---------------------------------------------------------------------

def test_tabular_user_files_from_the_data_fixtures():
    kaggle = load_dataset("kaggle_loan_approval", path=fixture_path("kaggle_loan_approval"))
    pd.testing.assert_frame_equal(
        kaggle.frame, load_kaggle_loan_approval(fixture_path("kaggle_loan_approval")).frame)
    heloc = load_dataset("heloc", path=HELOC_FIXTURE)
    pd.testing.assert_frame_equal(heloc.frame, load_heloc(HELOC_FIXTURE).frame)
    # The same file as "any table": its label read as the generic loader reads it.
    raw = pd.read_csv(HELOC_FIXTURE)
    table = load_dataset("csv", kind="tabular", path=HELOC_FIXTURE,
                         label_column="RiskPerformance", positive_label="Bad")
    assert len(table.frame) == len(raw)
    assert table.frame["RiskPerformance"].tolist() == (raw.RiskPerformance == "Bad").astype(
        int).tolist()


def test_heloc_institutions_from_the_data_fixture():
    data = load_institutions(seed=0, source="heloc", path=HELOC_FIXTURE,
                             synthetic_sizes=(100, 100))
    assert data.source == "heloc" and len(data.institutions) == 4


def test_survival_csv_round_trip(tmp_path):
    ref = synthetic_survival("bondora", scale=0.003, seed=1, keep_truth=False)
    path = tmp_path / "loans.csv"
    out = ref.frame.assign(origination=ref.frame.origination.dt.strftime("%Y-%m-%d"))
    out.to_csv(path, index=False)
    ds = load_dataset("csv", kind="survival", path=path, party_column="client",
                      duration_column="duration", event_column="event",
                      origination_column="origination", date_format="%Y-%m-%d",
                      oot_start=str(ref.oot_start.date()), min_client_rows=1)
    assert isinstance(ds, SurvivalDataset)
    np.testing.assert_allclose(ds.frame.duration, ref.frame.duration)
    assert ds.frame.event.tolist() == ref.frame.event.tolist()
    assert ds.frame.client.tolist() == ref.frame.client.tolist()
    assert sorted(ds.numeric_columns) == sorted(ref.numeric_columns)
    assert int((ds.frame.origination >= ds.oot_start).sum()) == int(
        (ref.frame.origination >= ref.oot_start).sum())


def test_paper_survival_file_through_the_registry(tmp_path):
    path = tmp_path / "accepted.csv"
    pd.DataFrame({"issue_d": ["Jan-2015", "Jan-2015", "Mar-2016", "Jun-2017"],
                  "loan_status": ["Charged Off", "Fully Paid", "Current", "Current"],
                  "last_pymnt_d": ["Jun-2015", "Jan-2016", "Dec-2018", "Oct-2018"],
                  "addr_state": ["CA", "CA", "NY", "NY"], "dti": [1.0, 2.0, 3.0, 4.0]}
                 ).to_csv(path, index=False)
    ds = load_dataset("lendingclub_csv", path=path)
    pd.testing.assert_frame_equal(ds.frame, load_lendingclub(path).frame)
    assert ds.frame.event.tolist() == [1, 0, 0, 0]


def test_vertical_csv_pair_round_trip(tmp_path):
    ref = make_msme_data(seed=2)
    bank, grid = tmp_path / "bank.csv", tmp_path / "grid.csv"
    ref.bank.to_csv(bank, index=False)
    ref.external.to_csv(grid, index=False)
    vd = load_dataset("csv", kind="vertical", path=(bank, grid), id_column="id",
                      target="default")
    assert vd.external_name == "grid" and vd.n_common == ref.n_common
    pd.testing.assert_frame_equal(vd.bank, ref.bank, check_dtype=False)
    pd.testing.assert_frame_equal(vd.external, ref.external, check_dtype=False)


# --- the per-party protocol --------------------------------------------------------------------

def _assert_party(p, *, labelled=True):
    assert isinstance(p, PartyData), type(p).__name__
    X = np.asarray(p.X)
    assert X.ndim == 2 and X.shape[0] == p.n_rows > 0
    if labelled:
        assert p.y is not None and len(p.y) == p.n_rows
        assert set(np.unique(p.y)) <= {0, 1}
    else:
        assert p.y is None


def test_chapter1_prepared_institution_is_party_data():
    data = load_institutions(seed=0, synthetic_sizes=(200, 200), max_real_rows=300)
    for p in prepare_institutions(data, test_fraction=0.25, iqr_k=None, seed=0):
        _assert_party(p)
        assert p.X is p.X_train and p.n_rows == p.n_train


def test_chapter2_client_is_party_data():
    fed = prepare_horizontal("loanapp", n_parties=3, skew=0.5, seed=0)
    for p in fed.parties:
        assert isinstance(p, PartyRows)
        _assert_party(p)
    table = party_table(fed.parties)
    assert table.party.tolist() == ["bank-1", "bank-2", "bank-3"]
    assert table.rows.tolist() == [len(p.y) for p in fed.parties]
    assert (table.features == fed.n_features).all()


def test_chapter3_client_is_party_data():
    data = prepare_survival(synthetic_survival("bondora", scale=0.004, seed=0), seed=0)
    for c in data.clients:
        _assert_party(c)
        assert c.y is c.e_train and c.n_rows == len(c.t_train)


def test_chapter4_parties_are_party_data():
    bank, grid = make_msme_data(seed=0).parties
    assert isinstance(bank, VerticalParty) and bank.name == "bank" and grid.name == "grid"
    _assert_party(bank)
    _assert_party(grid, labelled=False)
    assert bank.X.shape[1] == 75 and grid.X.shape[1] == 14
    table = party_table([bank, grid])
    assert table.labelled.tolist() == [True, False] and np.isnan(table.positive_rate[1])


def test_round_loop_clients_are_party_data_too():
    rng = np.random.default_rng(0)
    client = FMTLClient("bank", rng.random((20, 2)), (rng.random(20) > 0.5).astype(float))
    _assert_party(client)


def test_party_table_names_what_is_missing():
    with pytest.raises(TypeError, match=r"lacks \['n_rows', 'X', 'y'\]"):
        party_table([type("Named", (), {"name": "x"})()])
    with pytest.raises(ValueError, match="X has 3 rows, y 2"):
        PartyRows("x", np.zeros((3, 1)), np.zeros(2))


def test_flower_node_rows_from_any_chapters_party(tmp_path):
    client = prepare_survival(synthetic_survival("bondora", scale=0.004, seed=0),
                              seed=0).clients[0]
    bank, grid = make_msme_data(seed=0).parties
    for party in (client, bank):
        with np.load(save_party(tmp_path, party)) as rows:
            np.testing.assert_array_equal(rows["X"], party.X)
            np.testing.assert_array_equal(rows["y"], party.y)
    with pytest.raises(ValueError, match="'grid' holds no labels"):
        save_party(tmp_path, grid)


def test_a_registered_dataset_can_be_removed_but_a_built_in_cannot():
    register_dataset("scratch_entry", "fedlib.data.loaders:load_loanapp", embedded=True)
    assert "scratch_entry" in list_datasets("tabular")
    unregister_dataset("scratch_entry")
    assert "scratch_entry" not in list_datasets("tabular")
    with pytest.raises(ValueError, match="built in"):
        unregister_dataset("loanapp")
    with pytest.raises(UnknownDatasetError, match="scratch_entry"):
        unregister_dataset("scratch_entry")
