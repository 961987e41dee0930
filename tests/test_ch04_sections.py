"""Chapter 4's section functions (the modules of ``fedlib.papers.p04_secureboost``) on small
paper-shaped data: each does what the chapter's cell did inline, records its rows and glues
its numbers, and the sections chain as the chapter calls them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedlib.book.results import ResultsWriter
from fedlib.core.transcript import Transcript
from fedlib.crypto.psi import rsa_blind_psi
from fedlib.papers.p04_secureboost import (
    comparison,
    data,
    leakage,
    models,
    report,
    screening,
    secureboost,
    selection,
    tuning,
)
from fedlib.papers.p04_secureboost.params import Chapter04Params


def _results() -> ResultsWriter:
    return ResultsWriter(chapter="04", parameter_set="test", parameters={}, seed=0)


def _params(**over) -> Chapter04Params:
    values = dict(dataset="synthetic", n_enterprises=160, n_bank_features=20, seed=1,
                  demo_keys=True, psi_key_bits=1024, paillier_key_bits=512, mrmr_k=4,
                  selection_n_estimators=8, selection_folds=2, n_estimators=4, max_bins=8,
                  tune_budget=1, tune_learning_rates=[0.3], tune_max_depths=[2],
                  tune_rf_min_leaf=[5], tune_rf_max_features=["sqrt"], tune_C=[1.0],
                  tune_lssvm_gammas=[1.0], tune_lssvm_widths=[4.0], lssvm_max_rows=60,
                  scorecard_bins=3, bootstrap=100, passive_min_node_size=0, table4_rows=6)
    return Chapter04Params(**{**values, **over})


def test_load_parties_names_the_external_party(tmp_path):
    vd = data.load_parties(_params(external_name="grid"))
    assert vd.external_name == "grid" and len(vd.bank_features) == 20
    vd.bank.to_csv(tmp_path / "bank.csv", index=False)
    vd.external.to_csv(tmp_path / "registry.csv", index=False)
    mine = data.load_parties(_params(dataset="csv", bank_csv=str(tmp_path / "bank.csv"),
                                     external_csv=str(tmp_path / "registry.csv"),
                                     id_column=vd.id_column, target=vd.target))
    assert mine.external_name == "registry" and mine.n_common == vd.n_common


@pytest.fixture(scope="module")
def aligned():
    P = _params()
    vd = data.load_parties(P)
    r = _results()
    parties = data.record_parties(r, vd, P)
    t = Transcript(keep_payloads=False)
    psi = rsa_blind_psi(vd.bank[vd.id_column].tolist(), vd.external[vd.id_column].tolist(),
                        key_holder=vd.bank_name, requester=vd.external_name, key_bits=1024,
                        demo=True, transcript=t)
    common = psi.intersection[vd.bank_name]
    psi_table = data.report_psi(r, psi, t, P, n_common=len(common), seconds=1.0)
    return P, vd, r, parties, psi_table, data.split_common(vd, common, P)


def test_parties_psi_and_split(aligned):
    P, vd, r, parties, psi_table, al = aligned
    assert r.dataset["rows"] == vd.n_common and parties["labels"].tolist() == ["yes", "no"]
    assert psi_table["what the receiver learns"].notna().all()
    assert {m["metric"] for m in r.metrics if m["experiment"] == "psi"} == {"seconds", "bytes"}
    assert len(al.tr_ids) + len(al.te_ids) == vd.n_common
    assert not set(al.tr_ids) & set(al.te_ids)
    assert abs(al.y_te.mean() - al.y_tr.mean()) < 0.05          # stratified
    assert not al.bank_X.isna().any().any() and not al.ext_all.isna().any().any()
    assert set(al.te_ids).isdisjoint(al.ext_fit_rows)           # PCA never sees a test row
    assert not al.choose_thr and al.fixed_thr == 0.5             # 22 % defaults: balanced


def test_threshold_policy_on_an_imbalanced_label(aligned):
    _, vd, _, _, _, al = aligned
    al2 = data.split_common(vd, al.common, _params(imbalance_rate=0.3))
    assert al2.choose_thr


def test_mrmr_refuses_to_select_nothing(aligned):
    P, vd, _, _, _, al = aligned
    with pytest.raises(ValueError, match="mrmr_k=20"):
        selection.bank_mrmr(al, vd, _params(mrmr_k=20))


def test_the_sections_chain_as_the_chapter_calls_them(aligned):
    P, vd, r, _, _, al = aligned
    pca, scores = selection.external_pca(al, vd, P)
    assert list(scores.columns) == pca.names and len(scores) == len(al.common)
    assert len(selection.report_pca(r, pca, vd, P)) >= pca.n_components
    selection.report_loadings(pca, party=vd.external_name)
    mrmr = selection.bank_mrmr(al, vd, P)
    cand_tr, cand_te = selection.candidates(al, mrmr, scores)
    assert list(cand_tr.columns) == mrmr.selected + pca.names
    elim = selection.backward_elimination(cand_tr, al.y_tr, P)
    gain = selection.report_elimination(r, elim, cand_tr.shape[1], mrmr, pca, P)
    assert gain.index.tolist() == ["average gain"]
    t3 = selection.rankings_table3(r, cand_tr, cand_te, al, k=elim.best_n, P=P)
    assert "features" not in t3.table and (t3.note is None) == (not t3.single)
    cmp = models.compared_models(al, scores, elim, mrmr, pca, P)
    assert cmp.sel_bank and cmp.sel_ext                # each side keeps at least one column
    tuned = tuning.tune_compared(r, cmp, al, P)
    assert set(tuned.chosen) == {s.key for s in cmp.specs}
    fit = comparison.fit_compared(r, cmp, tuned, al, P)
    assert models.PIPELINE in fit.probas and len(fit.table) == len(cmp.specs)
    diffs = comparison.compare_models(fit, cmp, al, vd, P)
    assert set(diffs.src) == {"ext", "xmp", "model"}
    assert 0 <= diffs.n_worse_pooled + diffs.n_below_pooled <= len(models.BASELINES) + 1
    table4, rho = comparison.credit_scores_table4(r, fit, al, P)
    assert len(table4) == 6 and table4.index[0] == "E1"
    assert table4["score (ours)"].is_monotonic_decreasing and -1 <= rho.value <= 1
    experiments = {m["experiment"] for m in r.metrics}
    assert {"xmp_pca", "xmp_elimination", "table3", "tuning", "fig3", "table4"} <= experiments


def test_screening_setup_splits_the_held_out_rows():
    class Fed:
        y_test = np.zeros(11)
        parties = [type("Bank", (), {"name": f"bank{i}"}) for i in range(6)]

    s = screening.screening_setup(Fed, _params(bad_banks=["noisy", "free_rider"]))
    assert s.mixed == {"bank4": "noisy", "bank5": "free_rider"}
    assert len(s.val_i) == 5 and len(s.test_i) == 6
    assert sorted(np.r_[s.val_i, s.test_i]) == list(range(11))


def test_findings_are_recorded_and_numbered(monkeypatch):
    r = _results()
    r.claims = [{"id": "x", "verdict": "reproduced"}]
    seen = {}

    def fake_findings(**kwargs):
        seen.update(kwargs)
        return ["First.", "Second."]

    monkeypatch.setattr(report, "chapter_findings", fake_findings)
    fit = comparison.Fitted(pd.DataFrame(), {}, {}, {"LR [bank only]": True, "RF": False})
    text = report.report_findings(r, fit=fit, n_test=10)
    assert text.startswith("1. First.\n2. Second.") and "LR [bank only]" in text
    assert r.findings == ["First.", "Second."] and seen["verdicts"] == {"x": "reproduced"}


def test_secureboost_sections_record_and_attack(aligned):
    """SecureBoost on the pipeline's columns grows its plaintext twin's trees; the transcript,
    the label attack and the bin attack are recorded."""
    from fedlib.vertical.secureboost import SecureBoost

    _, vd, _, _, _, al = aligned
    P = _params(he_backend="zpaillier", he_compare=[], attack_rows=60, attack_trees=1, attack_max_depth=3,
                attack_min_node_sizes=[0, 32])
    pca, scores = selection.external_pca(al, vd, P)
    mrmr = selection.bank_mrmr(al, vd, P)
    cand_tr, _ = selection.candidates(al, mrmr, scores)
    elim = selection.backward_elimination(cand_tr, al.y_tr, P)
    cmp = models.compared_models(al, scores, elim, mrmr, pca, P)
    rows = secureboost.sample_rows(len(al.y_tr), 80, seed=0)
    params = secureboost.secureboost_params(P, {"learning_rate": 0.3, "max_depth": 2})
    sb = SecureBoost(**params, key_bits=512, demo_keys=True, active_name=vd.bank_name,
                     he_backend=P.he_backend)
    sb.fit(cmp.Xa_tr[rows], al.y_tr[rows], passive={vd.external_name: cmp.Xp_tr[rows]})
    r, timings = _results(), {}
    agree, auc_gap, sb_table, he_cmp = secureboost.report_secureboost(r, sb, params, P, cmp, al,
                                                                      rows, vd, timings)
    assert he_cmp["same trees as plaintext"].iloc[0] == agree["same_structure"]
    assert "histgbdt_same_rows_s" in timings and auc_gap.value <= 1
    saw = leakage.report_transcript(r, sb, len(rows), P)
    assert len(saw) > 0
    leak = leakage.label_leakage(r, sb, al.y_tr[rows], P, passive=vd.external_name)
    assert 0 <= float(leak["auc"].iloc[0]) <= 1
    att = leakage.bin_attack(r, cmp, al, vd, P, learning_rate=0.3)
    assert att.passive_min_node_size.tolist() == [0, 32] and att["wrong"].sum() == 0
    assert {"secureboost", "leakage", "bin_recovery"} <= {m["experiment"] for m in r.metrics}


def test_screening_sections_on_three_banks():
    from fedlib.fl.prepare import prepare_horizontal

    P = _params(n_banks=3, rounds=2, local_epochs=1, bad_banks=["free_rider"])
    fed = prepare_horizontal("credit_data", n_parties=P.n_banks, skew=P.partition_skew,
                             scaling="federated", seed=P.seed)
    screen = screening.screening_setup(fed, P)
    runs = screening.screening_runs(fed, P, screen.rep, screen.mixed, screen.val_i, screen.test_i)
    r = _results()
    conv, target = screening.report_screening_rounds(r, runs, screen, P)
    assert set(conv.run) == set(runs) and 0 < target <= 1
    caught, speed, acc_diff, speed_diff = screening.report_screening_decisions(
        r, runs, conv, target, fed.y_test[screen.test_i], P)
    assert set(caught.behaviour) == {"honest", "free_rider"}
    assert acc_diff.interval is not None and set(speed.index) == set(runs)
    assert {m["metric"] for m in r.metrics} >= {"accuracy", "share_aggregated"}
