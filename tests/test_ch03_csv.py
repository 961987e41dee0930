"""Chapter 3 on a user's loan table (``dataset: csv``, issue 14 item 10).

The claims of a table without a paper profile: the paper's three datasets stay "not
checkable" (not run), the claims about the mechanisms are scored on the user's data, and a
table without out-of-time rows gives no OOT verdict. The parameters: ``dataset: csv`` needs
its columns (one line). The chapter itself runs end to end on a generated table of durations
and events with three lenders (marked ``chapter``: about 40 s).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fedlib.book.params import ParameterError, validate_params
from fedlib.papers.p03_fsl_bdp.claims import SCENARIOS, DatasetEvidence, chapter03_claims
from fedlib.papers.p03_fsl_bdp.params import Chapter03Params

_CI = {"Centralized (No DP)": 0.70, "Centralized (Classical DP)": 0.66,
       "Centralized (BDP)": 0.60, "Federated (No DP)": 0.69,
       "Federated (Classical DP)": 0.64, "Federated (BDP)": 0.62}


def _evidence(*, oot: bool, seeds=(1, 2, 3)) -> DatasetEvidence:
    """Three seeds with a clear ordering: DP beats BDP centralised *and* federated; BDP
    loses less out of time; federation helps small clients most."""
    rng = np.random.default_rng(0)
    rows = [{"seed": s, "scenario": sc, "test_ci": ci + rng.normal(0, 0.002),
             "test_ibs": 0.07, "oot_ci": ci - (0.01 if "BDP" in sc else 0.03) if oot else np.nan,
             "oot_ibs": 0.08 if oot else np.nan} for s in seeds for sc, ci in _CI.items()]
    clients = [f"bank{k}" for k in range(6)]
    pc = [{"seed": s, "scenario": sc, "client": c,
           "c_index": _CI[sc] + 0.01 * k - (0.005 * k if sc.startswith("Fed") else 0.0),
           "n_train": 100 + 50 * k, "fallback": False}
          for s in seeds for sc in SCENARIOS for k, c in enumerate(clients)]
    timing = pd.DataFrame({"seed": list(seeds), "early": [6.0, 6.5, 7.0],
                           "late": [14.0, 15.0, 14.5]})
    return DatasetEvidence(pd.DataFrame(rows), pd.DataFrame(pc), same_data=False,
                           note="mybank: 900 loans", timing=timing)


def _by_id(claims):
    return {c.id: c for c in claims}


def test_paper_datasets_not_run_on_a_users_table():
    claims = _by_id(chapter03_claims({"mybank": _evidence(oot=False)}))
    for ds in ("lendingclub", "sba", "bondora"):
        paper = [c for i, c in claims.items() if i.startswith(ds + "_")]
        assert len(paper) > 30
        assert {c.verdict for c in paper} == {"not checkable"}
        assert all("was not run" in c.note for c in paper)
    # no Table 2 or Table 3 level of the user's table is set against the paper
    assert not [i for i in claims if i.startswith("csv_table2") or i.startswith("csv_test_")]


def test_mechanism_claims_are_scored_on_a_users_table():
    claims = _by_id(chapter03_claims({"mybank": _evidence(oot=True)}))
    # centralised DP beats BDP: the paper's direction; federated BDP loses: against it
    assert claims["csv_reversal_central"].verdict == "reproduced"
    assert claims["csv_reversal_federated"].verdict == "contradicted"
    assert "mybank" in claims["csv_reversal_central"].claim
    assert claims["csv_oot_stability"].verdict == "reproduced"   # DP drops 0.03, BDP 0.01
    # six clients, BDP loses on every one: the majority claim is contradicted
    assert claims["win_majority_csv"].verdict == "contradicted"
    assert claims["win_rate_csv"].verdict == "different data"
    # across datasets: the user's table joins the federation gains and client-size claims
    # federation gains: BDP 0.60 -> 0.62 (+3.3 %), DP 0.66 -> 0.64 (-3.0 %)
    assert claims["fed_gain_ratio"].verdict == "reproduced"
    assert claims["smaller_clients_benefit"].verdict == "reproduced"
    assert "mybank" in claims["smaller_clients_benefit"].note
    assert claims["late_after_early"].verdict == "reproduced"
    assert claims["fed_gain_bdp"].verdict == "different data"


def test_no_oot_rows_give_no_oot_verdict():
    claims = _by_id(chapter03_claims({"mybank": _evidence(oot=False)}))
    c = claims["csv_oot_stability"]
    assert c.verdict == "not checkable" and "no out-of-time rows" in c.note


def test_one_users_table_at_most():
    with pytest.raises(ValueError, match="at most one dataset besides"):
        chapter03_claims({"a": _evidence(oot=False), "b": _evidence(oot=False)})


@pytest.mark.parametrize("extra", [
    {},                                                       # no columns at all
    {"party_column": "lender", "duration_column": "months"},  # durations without events
    {"party_column": "lender", "origination_column": "opened"},  # dates without defaults
    {"duration_column": "months", "event_column": "defaulted"},  # no party column
])
def test_csv_needs_its_columns(tmp_path, extra):
    path = tmp_path / "loans.csv"
    path.write_text("lender,months,defaulted\na,3,1\n")
    with pytest.raises(ParameterError) as err:
        validate_params(Chapter03Params, {"seed": 1, "dataset": "csv", "data_path": str(path), **extra},
                        source="test")
    msg = str(err.value)
    assert "\n" not in msg and "duration_column and event_column" in msg
    assert "origination_column and default_column" in msg


def test_csv_parameters_accept_dates(tmp_path):
    path = tmp_path / "loans.csv"
    path.write_text("lender,opened,defaulted\na,2020-01-01,\n")
    import datetime

    p = validate_params(Chapter03Params, {
        "seed": 1, "dataset": "csv", "data_path": str(path), "party_column": "lender",
        "origination_column": "opened", "default_column": "defaulted",
        "date_format": "%Y-%m-%d", "oot_start": datetime.date(2021, 1, 1)}, source="test")
    assert p.model_dump(mode="json")["oot_start"] == "2021-01-01"


def _loans(path, n_per=300, lenders=("north", "south", "west"), seed=0):
    """Durations in months (censored at a uniform time) and a 0/1 default, three lenders."""
    rng = np.random.default_rng(seed)
    n = n_per * len(lenders)
    income, dti = rng.normal(50, 15, n), rng.uniform(0, 40, n)
    purpose = rng.choice(["car", "home", "debt"], n)
    hazard = 0.006 * np.exp(-0.03 * (income - 50) + 0.04 * (dti - 20) + 0.5 * (purpose == "debt"))
    t, c = rng.exponential(1 / hazard), rng.uniform(1, 36, n)
    pd.DataFrame({"lender": np.repeat(lenders, n_per), "months": np.minimum(t, c).round(1),
                  "defaulted": (t <= c).astype(int), "income": income.round(1),
                  "dti": dti.round(1), "purpose": purpose}).to_csv(path, index=False)
    return path


@pytest.mark.chapter
def test_chapter3_runs_on_a_users_table(tmp_path):
    import nbformat

    from fedlib.book.chapters import get_chapter
    from fedlib.book.runner import run_chapter

    path = _loans(tmp_path / "mybank.csv")
    result = run_chapter(get_chapter("03"), "smoke", [
        ("dataset", "csv"), ("data_path", str(path)), ("party_column", "lender"),
        ("duration_column", "months"), ("event_column", "defaulted")],
        out_dir=tmp_path / "out", progress=False)
    doc = json.loads(result.results.read_text())
    assert doc["dataset"]["name"] == "mybank" and doc["dataset"]["rows"] == 900
    assert [p["name"] for p in doc["dataset"]["parties"]] == ["north", "south", "west"]
    claims = {c["id"]: c for c in doc["claims"]}
    paper = [c for i, c in claims.items() if i.split("_")[0] in ("lendingclub", "sba", "bondora")]
    assert paper and {c["verdict"] for c in paper} == {"not checkable"}
    assert all("was not run" in c["note"] for c in paper)
    assert "mybank" in claims["csv_reversal_central"]["claim"]
    assert "no out-of-time rows" in claims["csv_oot_stability"]["note"]
    # three clients: a win rate over fewer than five is not evidence
    assert "fewer than 5 clients" in claims["win_majority_csv"]["note"]
    nb = nbformat.read(result.notebook, as_version=4)
    shown = "\n".join(o.get("data", {}).get("text/markdown", "") + o.get("data", {}).get(
        "text/plain", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "your own table" in shown and "900 loans" in shown
    assert "There are no out-of-time loans" in shown
    assert "paper (" not in shown           # Table 2 has no paper column
    assert "oot_ci" not in shown            # no OOT column in Table 3
    assert "semi-real" not in shown and "true hazard is known" not in shown
