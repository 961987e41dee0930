"""Chapter 2's sections (fedlib.papers.p02_dp_vs_ckks), run end to end, small.

The chapter calls one function per cell; here every one of them runs once, in the chapter's
order, on the embedded loanapp data with one round of two local epochs, two seeds and one
configuration per mode, so that each function's records, glued numbers and tables can be
checked quickly. The last test checks that every number the chapter's prose quotes is glued
by a section or by the chapter itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from chapter_glue import collect_glue, unglued_quotes

from fedlib.book.results import ResultsWriter
from fedlib.fl.prepare import prepare_horizontal
from fedlib.papers.p02_dp_vs_ckks.data import describe_data
from fedlib.papers.p02_dp_vs_ckks.experiment import (
    ablation_table,
    calibration_and_subgroups,
    measure_cost,
    mixed_federation,
    one_mode_per_federation,
)
from fedlib.papers.p02_dp_vs_ckks.figures import round_figures
from fedlib.papers.p02_dp_vs_ckks.params import Chapter02Params
from fedlib.papers.p02_dp_vs_ckks.privacy import (
    audit_privacy_claims,
    ckks_security,
    collusion_attack,
    gradient_inversion,
    membership_attack,
)
from fedlib.papers.p02_dp_vs_ckks.report import score_claims, write_report
from fedlib.papers.p02_dp_vs_ckks.training import ckks_protection, make_trainer, privacy_modes
from fedlib.papers.p02_dp_vs_ckks.tuning import tune_modes, tuning_table

CHAPTER = Path(__file__).parents[1] / "chapters" / "02_dp_vs_ckks.py"


@pytest.fixture(scope="module")
def chapter():
    """Every section of the chapter, run in order; glued values are collected, not displayed."""
    P = Chapter02Params(seed=1, rounds=1, local_epochs=2, noise_multipliers=[1.2, 2.0],
                        n_seeds=2, tune_budget=1, tune_learning_rates=[0.1],
                        tune_dp_learning_rates=[0.1], tune_clip_norms=[1.0], timing_epochs=1,
                        timing_repeats=2, mia_max_rows=20, audit_epochs=5, audit_rounds=2,
                        audit_full_batch_noise_multipliers=[1.2], audit_noise_multipliers=[1.0])
    mp = pytest.MonkeyPatch()
    # the two modules that call glue
    glued = collect_glue(mp, "fedlib.papers.p02_dp_vs_ckks", ("training", "privacy"))

    def prepare(seed):
        return prepare_horizontal(P.dataset, n_parties=P.n_clients, skew=P.partition_skew,
                                  scaling=P.scaling, seed=seed)

    try:
        results = ResultsWriter("02", "test", P.model_dump(), P.seed)
        fed = prepare(P.seed)
        out = {"P": P, "results": results, "glued": glued, "fed": fed}
        out["card"] = describe_data(results, fed)
        ckks = out["ckks"] = ckks_protection(P, vector_length=fed.n_features + 1)
        modes = out["modes"] = privacy_modes(P.noise_multipliers)
        train = make_trainer(P, ckks)
        tuning = out["tuning"] = tune_modes(P, results, fed, modes, train)
        whole = out["whole"] = one_mode_per_federation(P, results, fed, modes, tuning,
                                                       train, prepare=prepare)
        out["figures"] = round_figures(whole.runs.history)
        cost = out["cost"] = measure_cost(P, results, fed, modes, ckks)
        out["sub"] = calibration_and_subgroups(P, results, fed, whole.runs.first)
        mixed = out["mixed"] = mixed_federation(P, results, fed, train, ckks)
        collusion = out["collusion"] = collusion_attack(P, fed, whole.runs.first, ckks)
        security = out["security"] = ckks_security(P)
        out["ablation"] = ablation_table(P, results, whole.runs.ablations)
        audit = out["audit"] = audit_privacy_claims(P, results)
        out["mia"] = membership_attack(P, results, fed, whole, modes)
        out["inversion"] = gradient_inversion(P, fed, whole, ckks)
        claims = out["claims"] = score_claims(
            P, results, fed_data=fed, whole=whole, cost=cost, audit=audit, security=security,
            mixed=mixed, collusion=collusion)
        out["report"] = write_report(P, results, claims, fed_data=fed, whole=whole,
                                     audit=audit, security=security, mixed=mixed,
                                     collusion=collusion)
    finally:
        mp.undo()
    return out


def rows(chapter, experiment):
    return [m for m in chapter["results"].metrics if m["experiment"] == experiment]


def test_data_is_described_and_recorded(chapter):
    fed, results = chapter["fed"], chapter["results"]
    assert len(results.dataset["parties"]) == chapter["P"].n_clients
    assert chapter["glued"]["n_test"] == len(fed.y_test)
    assert "model inputs" in chapter["card"].data


def test_ckks_uses_the_papers_parameters_and_the_modes_follow_the_paper(chapter):
    params = chapter["ckks"].key_holder.params
    assert params.poly_modulus_degree == 8192 and tuple(params.coeff_mod_bit_sizes) == (
        60, 40, 40, 60)
    assert list(chapter["modes"]) == ["standard", "dp sigma=1.2", "dp sigma=2", "he (ckks)"]


def test_every_mode_is_tuned_with_the_same_budget(chapter):
    sweep = chapter["tuning"].sweep
    assert sweep.groupby("method").size().eq(1).all()
    assert len(rows(chapter, "tuning")) == len(sweep) == 4
    assert "validation ROC-AUC" in tuning_table(chapter["tuning"]).columns


def test_one_mode_per_federation_runs_every_seed_setting_and_mode(chapter):
    whole = chapter["whole"]
    assert len(whole.runs.per_seed) == 2 * 2 * 4            # seeds × settings × modes
    assert set(whole.summary.index.get_level_values("setting")) == {"paper", "tuned"}
    assert set(whole.runs.dp_epsilon) == {"dp sigma=1.2", "dp sigma=2"}
    assert whole.runs.dp_epsilon["dp sigma=1.2"] > whole.runs.dp_epsilon["dp sigma=2"]
    smallest = min(len(d.y) for d in chapter["fed"].parties)
    assert chapter["glued"]["dp_noise_on_mean"] == pytest.approx(2.0 * 1.0 / smallest)
    assert len([m for m in rows(chapter, "main") if m["metric"] == "epsilon_rdp"]) == 2
    assert len(chapter["figures"]) == 2


def test_cost_subgroups_and_mixed_run(chapter):
    cost = chapter["cost"]
    assert list(cost.table.index) == list(chapter["modes"])
    assert len(cost.timing) == 2 * 4                        # repeats × modes
    assert len(rows(chapter, "subgroups")) == len(chapter["sub"].table)
    mixed = chapter["mixed"]
    assert mixed.table["what the server receives"].iloc[-1] == "ciphertext"
    assert mixed.subtraction_error < 1e-3                    # the HE bank is given away


def test_collusion_reads_bank_2_and_security_follows_the_standard(chapter):
    assert chapter["collusion"].relative_error < 1e-3
    assert chapter["glued"]["ciphertext_kb"] > 100
    assert chapter["security"]["classical"] >= 128
    assert chapter["glued"]["ckks_n"] == 8192


def test_ablation_audit_attacks_claims_and_report(chapter):
    assert {m["metric"] for m in rows(chapter, "ablation")} == {"max_param_diff",
                                                                "accuracy_diff"}
    assert chapter["glued"]["ablation_max_param_diff"] < 1e-3
    assert len(rows(chapter, "privacy_audit")) == len(chapter["audit"].results)
    assert list(chapter["mia"]["mode"]) == list(chapter["modes"])
    assert chapter["glued"]["inversion_plain_error"] < 1e-6  # x = ∇w / ∇b, exact in the clear
    assert np.isnan(chapter["inversion"]["relative error"].iloc[1])  # nothing to divide
    assert len(chapter["results"].claims) == len(chapter["claims"]) > 10
    assert len(chapter["results"].findings) == 3
    assert "**Scored:**" in chapter["report"].data


def test_every_number_the_prose_quotes_is_glued(chapter):
    assert unglued_quotes(CHAPTER, chapter["glued"]) == set()
