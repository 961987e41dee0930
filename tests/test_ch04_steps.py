"""Chapter 4's steps: the small pure helpers behave as the chapter's inline code did, and the
tuning wiring gives every compared model the same budget on validation rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedlib.evaluate.tuning import TuningResult
from fedlib.evaluate.uncertainty import Estimate
from fedlib.papers.p04_secureboost import (
    comparison,
    data,
    models,
    report,
    secureboost,
    selection,
    tuning,
)
from fedlib.vertical.audit import tree_agreement
from fedlib.vertical.baselines import credit_metrics
from fedlib.vertical.gbdt import HistGBDT
from fedlib.vertical.secureboost import SecureBoost


def test_at_threshold_matches_credit_metrics():
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.3).astype(int)
    p = np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)
    full = credit_metrics(y, p, threshold=0.5)
    for m in ("accuracy", "precision", "recall", "f1", "error_rate"):
        assert np.isclose(selection.at_threshold(m, y, p, 0.5), full[m])


def test_sample_rows_all_or_sorted_subset():
    assert np.array_equal(secureboost.sample_rows(5, None, seed=0), np.arange(5))
    rows = secureboost.sample_rows(100, 10, seed=1)
    assert len(rows) == 10 and np.all(np.diff(rows) > 0)


def test_says_and_ci_text():
    up = Estimate(value=2.0, interval=(0.5, 3.5))
    flat = Estimate(value=0.1, interval=(-1.0, 1.2))
    assert comparison.says(up).startswith("raised recall by 2.0")
    assert "no detectable effect" in comparison.says(flat)
    assert comparison.ci_text(up) == "+2.0 [+0.5, +3.5]"


def test_impute_uses_fit_rows_median():
    f = pd.DataFrame({"a": [1.0, 3.0, np.nan, 100.0], "b": [np.nan] * 4})
    out = data.impute(f, [0, 1, 2])
    assert out.loc[2, "a"] == 2.0 and (out.b == 0.0).all()


# --- the tuning wiring: every compared model tuned alike on validation rows ---------------

def _tiny_problem(seed=0, n=240):
    """A bank with 3 columns whose label is an XOR of two of them (depth 1 cannot fit it),
    an external party with 2 noise columns, split into training and test IDs."""
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    bank_X = pd.DataFrame(rng.normal(size=(n, 3)), index=ids, columns=["b0", "b1", "b2"])
    ext = pd.DataFrame(rng.normal(size=(n, 2)), index=ids, columns=["e0", "e1"])
    y = ((bank_X.b0 > 0) ^ (bank_X.b1 > 0)).to_numpy().astype(int)
    flip = rng.random(n) < 0.05
    y[flip] = 1 - y[flip]
    tr_ids, te_ids = train_test_split(ids, test_size=0.3, stratify=y, random_state=seed)
    return bank_X, ext, pd.Series(y, index=ids), tr_ids, te_ids


def _tiny_params(**over):
    from fedlib.papers.p04_secureboost.params import Chapter04Params

    # Depths 1 and 3: only depth >= 2 can fit an XOR, so the pipeline's choice is not the
    # grid's first point and a wiring that ignored the choice would be caught.
    values = dict(seed=3, n_estimators=4, max_bins=8, passive_min_node_size=0,
                  demo_keys=True, paillier_key_bits=512, psi_key_bits=512, tune_budget=2,
                  tune_learning_rates=[0.3], tune_max_depths=[1, 3], lssvm_max_rows=60,
                  scorecard_bins=3)
    return Chapter04Params(**{**values, **over})


def _tiny_specs(P, bank_X, ext, tr_ids, te_ids, *, nan_test=False):
    views = models.model_views(bank_X, ext, tr_ids, te_ids)
    Xa_tr, Xp_tr = bank_X.loc[tr_ids].to_numpy(), ext.loc[tr_ids].to_numpy()
    Xa_te, Xp_te = bank_X.loc[te_ids].to_numpy(), ext.loc[te_ids].to_numpy()
    pipe_X = (np.hstack([Xa_tr, Xp_tr]), np.hstack([Xa_te, Xp_te]))
    if nan_test:   # a model that touched a test row would score NaN and fail the AUC
        views = {v: (tr, np.full_like(te, np.nan)) for v, (tr, te) in views.items()}
        pipe_X = (pipe_X[0], np.full_like(pipe_X[1], np.nan))
    return models.model_specs(P, views, pipe_X, pipeline="pipe", gbdt_name="GBDT",
                              passive_columns=range(3, 5))


def test_tuning_gives_every_model_the_budget_on_validation_rows_only():
    P = _tiny_params()
    bank_X, ext, y, tr_ids, te_ids = _tiny_problem()
    y_tr = y.loc[tr_ids].to_numpy()
    specs = _tiny_specs(P, bank_X, ext, tr_ids, te_ids, nan_test=True)
    # Spy on every estimator: count fits per model and remember which rows each scored.
    fits, scored = {}, {}
    for i, s in enumerate(specs):
        def spy(cfg, build=s.build, key=s.key):
            est = build(cfg)
            fit, proba = est.fit, est.predict_proba
            est.fit = lambda X, yy, **kw: (fits.__setitem__(key, fits.get(key, 0) + 1),
                                          fit(X, yy, **kw))[1]
            est.predict_proba = lambda X: (scored.setdefault(key, len(X)), proba(X))[1]
            return est
        specs[i] = models.ModelSpec(**{**s.__dict__, "build": spy})
    fit_pos, val_pos = tuning.validation_split(y_tr, size=0.25, seed=P.seed)
    tuned = tuning.tune_models(specs, y_tr, fit_pos=fit_pos, val_pos=val_pos,
                               budget=P.tune_budget, seed=P.seed)
    keys = [s.key for s in specs]
    assert len(keys) == 11 and set(tuned.chosen) == set(keys)
    assert tuned.sweep.groupby("method").size().to_dict() == {k: P.tune_budget for k in keys}
    assert fits == {k: P.tune_budget for k in keys}
    assert set(scored.values()) == {len(val_pos)}
    # The validation rows are training rows: disjoint from the test IDs and the fitting rows.
    assert not set(tr_ids[val_pos]) & set(te_ids)
    assert not set(val_pos) & set(fit_pos)
    assert tuned.sweep.val_score.between(0, 1).all()
    with pytest.raises(ValueError, match="overlap"):
        tuning.tune_models(specs, y_tr, fit_pos=fit_pos, val_pos=fit_pos[:5], budget=2, seed=0)


def test_secureboost_is_fitted_with_the_twin_tuned_configuration():
    P = _tiny_params()
    bank_X, ext, y, tr_ids, te_ids = _tiny_problem()
    y_tr = y.loc[tr_ids].to_numpy()
    specs = _tiny_specs(P, bank_X, ext, tr_ids, te_ids)
    fit_pos, val_pos = tuning.validation_split(y_tr, size=0.25, seed=P.seed)
    tuned = tuning.tune_models(specs[:1], y_tr, fit_pos=fit_pos, val_pos=val_pos,
                               budget=P.tune_budget, seed=P.seed)
    chosen = tuned.chosen["pipe"]
    assert chosen == {"learning_rate": 0.3, "max_depth": 3}   # the XOR needs depth > 1
    sb_params = secureboost.secureboost_params(P, chosen)
    Xa, Xp = bank_X.loc[tr_ids].to_numpy(), ext.loc[tr_ids].to_numpy()
    sb = SecureBoost(**sb_params, key_bits=512, demo_keys=True, active_name="bank")
    sb.fit(Xa, y_tr, passive={"ext": Xp})
    assert (sb.params.max_depth, sb.params.learning_rate) == (3, 0.3)
    twin = HistGBDT(**models.boost_params(P, chosen)).fit(np.hstack([Xa, Xp]), y_tr,
                                                         passive_columns=[3, 4])
    assert tree_agreement(sb, twin, {"bank": 0, "ext": 3})["same_structure"]


def test_secureboost_params_cut_only_the_trees():
    P = _tiny_params(secureboost_trees=2)
    cfg = {"learning_rate": 0.3, "max_depth": 1}
    assert secureboost.secureboost_params(P, cfg) == {**models.boost_params(P, cfg),
                                                      "n_estimators": 2}


def test_tuning_text_flags_grid_edges():
    P = _tiny_params()
    bank_X, ext, y, tr_ids, te_ids = _tiny_problem()
    specs = _tiny_specs(P, bank_X, ext, tr_ids, te_ids)[:2]
    res = TuningResult(pd.DataFrame(), {"pipe": {"learning_rate": 0.3, "max_depth": 3},
                                        "LR [bank only]": {"C": 0.01}}, 2)
    text = tuning.tuning_text(res, specs)   # C has four values; depth two (always an edge)
    assert "LR [bank only]: C=0.01 (edge of its grid)" in text
    assert "max_depth=3" in text and "max_depth=3 (edge" not in text
    res.chosen["LR [bank only]"] = {"C": 0.1}
    assert "C=0.1 (edge" not in tuning.tuning_text(res, specs)


def test_source_verdict_follows_the_intervals():
    def e(lo, hi):
        return Estimate(value=(lo + hi) / 2, interval=(lo, hi))
    v = comparison.source_verdict
    assert v({"ext": e(5, 20), "xmp": e(-12, -2)}, "r").endswith("give part of it back")
    assert v({"ext": e(5, 20), "xmp": e(-3, 4)}, "r").endswith("not from XMP or SecureBoost")
    assert v({"ext": e(-1, 20), "xmp": e(2, 9)}, "r").startswith("XMP selection adds")
    assert v({"ext": e(-1, 20), "xmp": e(-3, 4)}, "r").startswith("the r party's data add no")
    assert "none detectably lower" in comparison.pooled_clause(0, 0, 5)
    assert comparison.pooled_clause(1, 2, 5).endswith(", 2 detectably lower")


def test_findings_count_recall_and_error_wins_separately():
    e = Estimate(value=1.0, interval=(0.5, 1.5))
    base = ["LR", "RF", "LS-SVM", "scorecard (WoE + LR)"]
    verdicts = {"recall_vs_lr": "reproduced", "recall_vs_rf": "reproduced",
                "recall_vs_lssvm": "reproduced", "recall_vs_scorecard": "reproduced",
                "error_vs_lr": "inconclusive", "error_vs_rf": "reproduced",
                "error_vs_lssvm": "inconclusive", "error_vs_scorecard": "inconclusive",
                "fl_faster": "inconclusive"}
    att = pd.DataFrame({"passive_min_node_size": [0, 64], "bins recovered": [5, 0],
                        "(row, feature) pairs": [10, 10]})
    agree = {"same_structure": True, "difference_is_tie": False}
    f = report.chapter_findings(
        verdicts=verdicts, baselines=base, n_test=100, level_diffs={"error": e, "recall": e},
        passive="registry", src={"ext": e, "xmp": Estimate(value=-1.0, interval=(-2, -0.5))},
        src_verdict="x", n_worse_pooled=1, n_below_pooled=0, agree=agree, att=att, lo_m=0,
        hi_m=64, acc_diff=e, speed_diff=e, budget=4)
    assert "4 configurations each" in f[0]
    assert "recall is reproduced against 4 of 4 and its lower error rate against 1 of 4" in f[0]
    assert "none detectably lower" in f[1]
