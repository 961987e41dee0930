"""Chapter 4's evidence: thresholds on an imbalanced label, single-class models never scored,
every claim an Estimate (inputs never scored), paired screening bootstraps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from fedlib.evaluate.scorecard import SCORED
from fedlib.evaluate.uncertainty import Estimate
from fedlib.fl.screening import rounds_to_target
from fedlib.papers.p04_secureboost.claims import BASELINES, chapter04_claims
from fedlib.vertical.baselines import (
    choose_threshold,
    credit_metrics,
    is_imbalanced,
    predicted_classes,
)
from fedlib.vertical.data import load_vertical_csvs


def _imbalanced_files(tmp_path, n=3000, rate=0.03, seed=0):
    """A bank file with 3 % defaults and an external file, in the chapter's CSV format."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    logit = 1.2 * X[:, 0] + 0.8 * X[:, 2] + np.log(rate / (1 - rate)) - 0.9
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    ids = np.arange(n).astype(str)
    pd.DataFrame({"id": ids, "x1": X[:, 0], "x2": X[:, 1], "default": y}).to_csv(
        tmp_path / "bank.csv", index=False)
    pd.DataFrame({"id": ids, "e1": X[:, 2], "e2": X[:, 3]}).to_csv(
        tmp_path / "utility.csv", index=False)
    return tmp_path / "bank.csv", tmp_path / "utility.csv"


def test_threshold_on_validation_rows_avoids_the_single_class_model(tmp_path):
    vd = load_vertical_csvs(*_imbalanced_files(tmp_path), id_column="id", target="default")
    df = vd.bank.merge(vd.external, on="id")
    X, y = df[["x1", "x2", "e1", "e2"]].to_numpy(), df["default"].to_numpy()
    assert 0.01 < y.mean() < 0.06 and is_imbalanced(y, min_rate=0.15)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    fit, val = train_test_split(np.arange(len(ytr)), test_size=0.25, stratify=ytr,
                                random_state=0)
    m = LogisticRegression().fit(Xtr[fit], ytr[fit])
    p = m.predict_proba(Xte)[:, 1]
    # At 0.5 the model predicts "no default" for every test row: recall 0, the issue-14 case.
    assert predicted_classes(p, 0.5) == 1
    assert credit_metrics(yte, p, threshold=0.5)["recall"] == 0.0
    thr = choose_threshold(ytr[val], m.predict_proba(Xtr[val])[:, 1])
    assert 0 < thr < 0.5
    assert predicted_classes(p, thr) == 2
    assert credit_metrics(yte, p, threshold=thr)["recall"] > 0.3


def test_balanced_label_is_not_imbalanced():
    assert not is_imbalanced([0] * 78 + [1] * 22, min_rate=0.15)   # the paper's 37 of 170
    assert choose_threshold([0, 0, 0], [0.1, 0.2, 0.3]) == 0.5      # one class: no choice


def _fake_inputs(single_pipeline: bool, dataset="credit_data"):
    b = Estimate.bootstrap(lambda a: a.mean(), np.linspace(0.5, 1.5, 50), n_boot=100)
    neg = Estimate.bootstrap(lambda a: -a.mean(), np.linspace(0.5, 1.5, 50), n_boot=100)
    pca = type("P", (), {"n_components": 2,
                         "table": pd.DataFrame({"cumulative": [0.6, 0.92]})})()
    elim = type("E", (), {"best_n": 3, "path": pd.DataFrame({"n_features": [4, 3]})})()
    single = {"pipe": single_pipeline, **{f"{m} [bank only]": False for m in BASELINES}}
    return dict(
        dataset=dataset, n_common=170, n_bad=37, pca=pca, paper_eigs=[1.6, 1.4, 1.0, 0.7],
        n_ext_features=14, elim=elim, table3_diffs={m: b for m in
                                                    ("accuracy", "precision", "f1", "ks")},
        table3_single=[], agreement={"same_structure": True, "difference_is_tie": False,
                                     "first_difference": None},
        auc_gap=Estimate.bootstrap(lambda a: a.mean() - 1.0, np.linspace(0.99, 1.01, 50),
                                   n_boot=100),
        vs_baselines={m: {"error": neg, "recall": b} for m in BASELINES},
        level_diffs={"error": neg, "recall": b}, single_class=single, pipeline="pipe",
        rho=b, acc_diff=Estimate.bootstrap(lambda a: a.mean(), np.zeros(20), n_boot=100),
        speed_diff=b, speed=pd.Series({"FedAvg": 5, "screened": 4}))


def test_claims_carry_estimates_and_inputs_are_never_scored():
    claims = chapter04_claims(**_fake_inputs(False, dataset="synthetic"))
    by_id = {c.id: c for c in claims}
    assert all(c.ours is None or isinstance(c.ours, Estimate) for c in claims)
    assert by_id["n_loans"].verdict == "by construction"
    assert not any(c.ours is not None and c.ours.basis == "input" and c.verdict in SCORED
                   for c in claims)
    assert by_id["recall_vs_lr"].verdict == "reproduced"
    assert by_id["error_vs_lr"].verdict == "reproduced"
    assert by_id["recall_level"].verdict == "different data"
    assert "{" not in by_id["fl_faster"].note          # the note is formatted, not literal
    assert "FedAvg 5, screened 4" in by_id["fl_faster"].note


def test_single_class_pipeline_scores_no_claim_on_it():
    claims = chapter04_claims(**_fake_inputs(True))
    hit = [c for c in claims if c.id.startswith(("error_", "recall_"))]
    assert len(hit) == 2 * len(BASELINES) + 2
    assert all(c.verdict == "not checkable" and "single class" in c.note for c in hit)


def test_rounds_to_target_from_test_correct():
    from fedlib.fl.reputation import ReputationParams
    from fedlib.fl.screening import run_screened_fedavg

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    parties = [type("Party", (), {"name": f"b{i}", "X": X[i * 100:(i + 1) * 100],
                                  "y": y[i * 100:(i + 1) * 100]})() for i in range(3)]
    run = run_screened_fedavg(parties, X[300:350], y[300:350], X[350:], y[350:], rounds=3,
                              local_epochs=1, lr=0.1, batch_size=32, seed=0,
                              screening=ReputationParams())
    assert run.test_correct.shape == (4, 50)
    acc = run.history[run.history.metric == "accuracy"].value.to_numpy()
    assert np.allclose(run.test_correct.mean(axis=1), acc)
    assert rounds_to_target(run.test_correct, 2.0) == 4     # never reached: rounds + 1
    with pytest.raises(TypeError, match="must be an Estimate"):   # a bare float is refused
        chapter04_claims(**{**_fake_inputs(False), "rho": 0.5})


def test_single_class_bank_only_baseline_scores_no_claim_on_it():
    from fedlib.papers.p04_secureboost.report import claim_single_class

    inputs = _fake_inputs(False)
    table_flags = {**inputs["single_class"], "LS-SVM [bank only]": True}
    inputs["single_class"] = claim_single_class(table_flags, pipeline="pipe",
                                                baselines=list(BASELINES))
    by_id = {c.id: c for c in chapter04_claims(**inputs)}
    for cid in ("error_vs_lssvm", "recall_vs_lssvm", "error_level", "recall_level"):
        assert by_id[cid].verdict == "not checkable" and "LS-SVM" in by_id[cid].note
    assert by_id["recall_vs_lr"].verdict == "reproduced"
