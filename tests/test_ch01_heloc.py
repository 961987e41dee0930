"""Chapter 1 on a valid HELOC file where one fairness group is absent (issue 14, item 1).

Every applicant's credit file is younger than ten years (``MSinceOldestTradeOpen < 120``), so
the youth-proxy group is the whole file: the fairness metrics cannot be computed. They must
be NaN with the reason, left out of the claims (not scored), and nothing may crash.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedlib.data.heloc import write_heloc_fixture
from fedlib.data.institutions import load_institutions, measure_table1, prepare_institutions
from fedlib.evaluate.fairness import fairness_report
from fedlib.fl.fmtl import institution_report, make_clients, run_federated
from fedlib.fl.models import MLP
from fedlib.papers.p01_fmtl.claims import chapter01_claims


@pytest.fixture(scope="module")
def young_heloc(tmp_path_factory):
    path = tmp_path_factory.mktemp("heloc") / "heloc_young.csv"
    write_heloc_fixture(path, n_rows=1200, seed=5)
    frame = pd.read_csv(path)
    real = frame["MSinceOldestTradeOpen"] >= 0           # keep the -9/-8/-7 codes as they are
    frame.loc[real, "MSinceOldestTradeOpen"] %= 120
    frame.to_csv(path, index=False)
    return path


def test_fairness_report_missing_group_is_nan_with_reason():
    out = fairness_report([0, 1, 0], [0.2, 0.8, 0.4], [1, 1, 1], privileged=0,
                          missing_group="nan", with_note=True)
    assert np.isnan(out["eod"]) and np.isnan(out["dir"]) and np.isnan(out["spd"])
    assert "only one group" in out["note"]
    with pytest.raises(ValueError, match="does not occur"):
        fairness_report([0, 1, 0], [0.2, 0.8, 0.4], [1, 1, 1], privileged=0)


def test_dir_nan_always_has_a_reason():
    # Nobody in the privileged group (a = 0) is approved (favourable = 0: p < threshold).
    out = fairness_report([0, 0, 0, 0], [0.9, 0.9, 0.1, 0.1], [0, 0, 1, 1], privileged=0,
                          threshold=0.5, favorable=0, with_note=True)
    assert np.isnan(out["dir"]) and "DIR is undefined" in out["note"]


def test_chapter1_pipeline_on_heloc_with_one_group(young_heloc):
    data = load_institutions(seed=0, source="heloc", path=young_heloc,
                             synthetic_sizes=(300, 300))
    table1 = measure_table1(data)
    real = table1[table1.kind == "real"]
    assert (real.protected_share == 1.0).all()           # the quirk: one group only
    assert real.income_mean.isna().all()                 # HELOC has no income column
    parts = prepare_institutions(data, test_fraction=0.25, iqr_k=1.5, seed=0, val_fraction=0.2)
    n_features = parts[0].X_train.shape[1]

    def model_fn():
        return MLP(n_features, (4,), seed=0)

    rows = []
    for mode in ("fedavg", "fmtl"):
        clients = make_clients(parts, epsilon=None, delta=None, clip_norm=None, rounds=2,
                               epochs=1, batch_size=64)
        run = run_federated(clients, model_fn=model_fn, mode=mode, rounds=2, lam=1.0, epochs=1,
                            lr=1.0, batch_size=64, seed=0)
        rep = institution_report(run.models, model_fn, parts)   # must not raise
        rows.append(rep.assign(model={"fedavg": "FedAvg", "fmtl": "FMTL"}[mode]))
    rep = pd.concat(rows)
    a_b = rep[rep.institution.isin(["Inst-A", "Inst-B"])]
    assert a_b[["eod", "dir", "spd"]].isna().all().all()
    assert a_b.fairness_note.str.contains("only one group").all()
    # Every NaN fairness value carries its reason.
    nan_rows = rep[rep[["eod", "dir", "spd"]].isna().any(axis=1)]
    assert (nan_rows.fairness_note != "").all()

    # The claims: fairness claims without both groups anywhere are not scored, none crash.
    nodp = pd.concat([rep.assign(seed=s) for s in (1, 2)])
    nodp = pd.concat([nodp, nodp[nodp.model == "FedAvg"].assign(model="Centralized MLP")])
    nodp = nodp.assign(eod=np.nan, dir=np.nan, spd=np.nan)          # no group anywhere
    dp = pd.concat([nodp[nodp.model != "Centralized MLP"].assign(epsilon=e) for e in (0.5, 5.0)])
    mia = pd.DataFrame([{"seed": s, "model": m, "epsilon": e, "mia_auc": 0.5}
                        for s in (1, 2) for m in ("FedAvg", "FMTL")
                        for e in (0.5, 5.0, np.inf)])
    imb = pd.DataFrame([{"seed": s, "model": m, "auc_std": 0.02 + 0.01 * s}
                        for s in (1, 2) for m in ("FedAvg", "FMTL")])
    claims = chapter01_claims(source="heloc", table1=table1, nodp=nodp, dp=dp, mia=mia,
                              imbalance=imb, epsilon_main=0.5, features_read=23)
    by_id = {c.id: c for c in claims}
    for cid in ("fairness_eod_fedavg", "fairness_spd_central", "fairness_dir_fedavg",
                "fairness_dp_eod", "fairness_dp_dir"):
        assert by_id[cid].verdict == "not checkable", cid
        assert by_id[cid].note
    assert by_id["heloc_features"].verdict == "reproduced"
    assert by_id["t1_income_mean_insta"].verdict == "not checkable"
    assert by_id["t1_default_instc"].verdict == "by construction"
    # On HELOC the real silos' Table 1 levels are the paper's data: scored, and HELOC's
    # ~half 'Bad' rows cannot give the paper's 12.3 %.
    assert by_id["t1_default_insta"].scored
