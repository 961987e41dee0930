"""Chapter 1's sections (fedlib.papers.p01_fmtl), run end to end on tiny institutions.

The chapter calls one function per cell; here every one of them runs once, in the chapter's
order, on 150 rows per institution with one round, one seed, two ε and one configuration per
method, so that each function's records, glued numbers and tables can be
checked quickly. The last test checks that every number the chapter's prose quotes is glued
by a section or by the chapter itself.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from chapter_glue import collect_glue, unglued_quotes

from fedlib.book.results import ResultsWriter
from fedlib.data.institutions import (
    imbalance_institutions,
    load_institutions,
    prepare_institutions,
)
from fedlib.papers.p01_fmtl.data import describe_institutions, split_summary
from fedlib.papers.p01_fmtl.experiment import (
    compare_paradigms,
    imbalance_ablation,
    server_received,
    updates_in_clear,
)
from fedlib.papers.p01_fmtl.lab import make_lab
from fedlib.papers.p01_fmtl.params import Chapter01Params
from fedlib.papers.p01_fmtl.privacy import (
    accountant_table,
    dropout_noise,
    dropout_run,
    epsilon_study,
    one_dropout_too_many,
    privacy_sweep,
)
from fedlib.papers.p01_fmtl.report import score_claims, write_findings
from fedlib.papers.p01_fmtl.risk import fairness_tables, risk_matrix
from fedlib.papers.p01_fmtl.tuning import sweep_lambda, tune_models

CHAPTER = Path(__file__).parents[1] / "chapters" / "01_fmtl_dp_secagg.py"


@pytest.fixture(scope="module")
def chapter():
    """Every section of the chapter, run in order; glued values are collected, not displayed."""
    P = Chapter01Params(seed=3, n_seeds=1, max_real_rows=150, synthetic_sizes=[150, 150],
                        hidden=[4], rounds=1, batch_size=64, tune_budget=1, fmtl_lams=[1.0],
                        fmtl_lrs=[1.0], baseline_lrs=[1.0], lam_sweep=[0.0, 10.0],
                        epsilon=2.0, epsilons=[2.0, 5.0], dp_lrs=[1.0], dp_clip_norms=[1.0],
                        dp_schedules=[[256, 1]], mia_rows=20, n_boot=100)
    mp = pytest.MonkeyPatch()
    # the modules that call glue
    glued = collect_glue(mp, "fedlib.papers.p01_fmtl", ("lab", "privacy", "report", "risk"))
    try:
        results = ResultsWriter("01", "test", P.model_dump(), P.seed)
        data = load_institutions(seed=P.seed, source=P.source, synthetic_sizes=P.synthetic_sizes,
                                 max_real_rows=P.max_real_rows)
        out = {"P": P, "results": results, "glued": glued, "data": data}
        out["table1"] = describe_institutions(results, data, P.protected)
        parts = prepare_institutions(data, test_fraction=P.test_fraction, iqr_k=P.iqr_k,
                                     seed=P.seed, val_fraction=P.val_fraction)
        out["split"] = split_summary(parts, P)
        lab = out["lab"] = make_lab(P, parts)
        tuned = out["tuned"] = tune_models(lab, results)
        lam = out["lam"] = sweep_lambda(lab, results, tuned)
        t2 = out["t2"] = compare_paradigms(lab, results, tuned)
        out["view"] = server_received(lab, results, t2.transcript)
        private = out["private"] = privacy_sweep(lab, results, tuned, t2)
        out["acct"] = accountant_table(lab, results, private)
        curve = out["curve"] = epsilon_study(lab, results, t2, private)
        out["fair"] = fairness_tables(lab, results, t2, private)
        drop = out["drop"] = dropout_run(lab, results, tuned, private)
        out["noise"] = dropout_noise(lab, drop)
        out["abort"] = one_dropout_too_many(lab)
        out["risk"] = risk_matrix(lab, results, t2, private)
        skewed = imbalance_institutions(parts, ratio=P.imbalance_ratio, label_skew=P.label_skew,
                                        seed=P.seed)
        out["imb"] = imbalance_ablation(lab, results, tuned, skewed)
        out["claims"], out["records"] = score_claims(
            lab, results, data=data, table1=out["table1"], tuned=tuned, private=private,
            curve=curve)
        write_findings(lab, results, out["records"], tuned=tuned, lam=lam, table2=t2,
                       curve=curve)
    finally:
        mp.undo()
    return out


def rows(chapter, experiment):
    return [m for m in chapter["results"].metrics if m["experiment"] == experiment]


def test_table1_and_split_are_recorded_and_glued(chapter):
    table1, results = chapter["table1"], chapter["results"]
    assert list(table1.index) == ["Inst-A", "Inst-B", "Inst-C", "Inst-D"]
    assert results.dataset["rows"] == int(table1.rows.sum())
    assert {m["party"] for m in rows(chapter, "table1")} == set(table1.index)
    assert chapter["split"]["test rows"].gt(0).all()
    assert chapter["glued"]["n_features"] == chapter["lab"].n_features


def test_lab_holds_threshold_seeds_and_held_out_rows(chapter):
    lab = chapter["lab"]
    assert lab.threshold == 3 and lab.seeds == [3]          # t = 3 of 4 (§4.3); n_seeds = 1
    assert chapter["glued"]["threshold"] == 3 and chapter["glued"]["n_inst"] == 4
    assert lab.scores.rows.resamples.weights.shape[0] == 101  # full rows + n_boot resamples


def test_tuning_chooses_from_the_grids_and_records_every_configuration(chapter):
    tuned, P = chapter["tuned"], chapter["P"]
    assert tuned.lam in P.fmtl_lams and tuned.fmtl_lr in P.fmtl_lrs
    assert tuned.fedavg_lr in P.baseline_lrs and 0.0 <= tuned.fedavg_val <= 1.0
    assert len(rows(chapter, "tuning")) == len(tuned.result.sweep) == 3
    assert set(tuned.table.columns) == {"FMTL", "FedAvg", "Centralized MLP"}


def test_lambda_sweep_runs_both_optimisers_of_eq_1(chapter):
    table = chapter["lam"].table
    joint = table[table.optimiser == "joint (ours)"]
    assert joint["lambda"].tolist() == [0.0, 10.0]
    assert (table.optimiser == "alternating").any()         # 2λ·lr < 1 only: λ = 0, 0.3
    assert len(rows(chapter, "lambda_sweep")) == len(table)
    assert "meets_text" in chapter["glued"] and "alt_text" in chapter["glued"]


def test_table2_has_every_model_and_institution_and_the_paper_beside_it(chapter):
    t2 = chapter["t2"]
    assert len(t2.nodp) == 3 * 4                            # models × institutions × 1 seed
    assert set(t2.side.index.get_level_values(0)) == {"ours (mean over seeds)", "paper"}
    assert set(t2.no_dp_auc) == {"FedAvg", "FMTL"}
    assert len(rows(chapter, "table2")) == 12 * 5           # five metrics per row
    assert math.isclose(chapter["glued"]["t2_fmtl"], t2.table.loc["FMTL", "avg"])


def test_server_saw_only_masked_updates_and_its_cost_is_recorded(chapter):
    view = chapter["view"]
    assert updates_in_clear(view).empty and "masked" in set(view.kind)
    assert rows(chapter, "secagg")[0]["value"] == pytest.approx(
        chapter["glued"]["bytes_per_round"])


def test_dp_sweep_accountant_spends_the_target_epsilon(chapter):
    private, P = chapter["private"], chapter["P"]
    assert set(private.dp.model) == {"FedAvg", "FMTL"}
    assert list(private.chosen_table.index) == [(e, m) for e in (2.0, 5.0)
                                                for m in ("FMTL", "FedAvg")]
    eps = chapter["acct"]["epsilon (RDP)"]
    assert ((eps <= P.epsilon * 1.001) & (eps >= P.epsilon * 0.9)).all()
    assert np.isinf(private.mia_mean.epsilon).any()         # the no-DP models are attacked too


def test_epsilon_curve_fairness_and_risk_matrix(chapter):
    curve, risk = chapter["curve"], chapter["risk"]
    assert ("FMTL", 5.0) in curve.at.index and curve.e_min == 2.0
    assert set(curve.sens) == {"FMTL", "FedAvg"}
    assert set(chapter["fair"].means.index.get_level_values("setting")) == {"no DP", "ε = 2"}
    assert risk.table.loc[np.inf, "AUC loss vs no DP"] == 0.0
    assert len(rows(chapter, "risk_matrix")) == risk.table.size


def test_dropout_noise_grows_with_the_survivors_as_sqrt(chapter):
    noise, lab = chapter["noise"], chapter["lab"]
    assert list(noise.index) == list(range(4, lab.threshold - 1, -1))
    sums = noise["noise std of the sum"]
    assert sums[4] / sums[3] == pytest.approx(math.sqrt(4 / 3))
    assert "fewer than the threshold t=3" in chapter["abort"]
    assert rows(chapter, "dropout")[0]["metric"] == "avg_roc_auc"


def test_imbalance_claims_and_findings(chapter):
    imb = chapter["imb"]
    assert imb.sizes["train rows"].iloc[0] < imb.sizes["train rows"].iloc[-1]
    assert set(imb.means.index) == {"FedAvg", "FMTL"}
    assert len(chapter["records"]) == len(chapter["claims"]) > 10
    assert len(chapter["results"].findings) == 2
    assert {"finding_1", "finding_2", "finding_3", "scored_text"} <= set(chapter["glued"])


def test_every_number_the_prose_quotes_is_glued(chapter):
    assert unglued_quotes(CHAPTER, chapter["glued"]) == set()
