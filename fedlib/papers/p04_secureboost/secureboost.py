"""Chapter 4's "Step 3 — SecureBoost" (paper 003 §3.3, eqs. 9–15): the encrypted run checked.

SecureBoost's settings (the twin-tuned configuration), its rows, and the comparisons that
show it lossless: the same trees as the plaintext histogram GBDT node by node, its test AUC
beside ``xgboost`` on the same rows, and the seconds per tree of every homomorphic scheme of
``he_compare``; recorded and glued for the prose.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fedlib.book.glue import glue
from fedlib.crypto.he import SCHEMES, SECURITY
from fedlib.evaluate.uncertainty import Estimate
from fedlib.papers.p04_secureboost.data import Aligned
from fedlib.papers.p04_secureboost.models import Compared, boost_params
from fedlib.vertical.audit import tree_agreement
from fedlib.vertical.data import VerticalData
from fedlib.vertical.gbdt import HistGBDT
from fedlib.vertical.secureboost import SecureBoost

__all__ = ["agreement_text", "backend_comparison", "plaintext_twins", "record_secureboost",
           "report_secureboost", "sample_rows", "secureboost_params"]


def sample_rows(n: int, size: int | None, seed: int) -> np.ndarray:
    """``size`` of ``n`` training positions drawn without replacement (all when ``None``), sorted."""
    k = n if size is None else min(size, n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def secureboost_params(P, config: Mapping[str, Any]) -> dict:
    """SecureBoost's settings: the twin-tuned ``config`` with ``P.secureboost_trees`` trees.

    SecureBoost grows the trees of its plaintext twin (eqs. 9–15 on the same bins; the chapter
    checks it node by node), so the configuration the twin won on validation rows is the one
    the encrypted run uses; only the number of trees may be cut to bound the encrypted run.
    """
    params = boost_params(P, config)
    params["n_estimators"] = min(P.secureboost_trees or P.n_estimators, P.n_estimators)
    return params


def backend_comparison(sb, sb_params: Mapping[str, Any], P, Xa, Xp, y, *, active: str,
                       passive: str, timings: dict) -> pd.DataFrame:
    """Seconds per tree of the run's scheme and of every other backend in ``P.he_compare``.

    Each other backend grows ``P.he_compare_trees`` trees on the same rows and is checked
    node by node against a plaintext :class:`~fedlib.vertical.gbdt.HistGBDT`; its fit time goes
    into ``timings`` under ``secureboost_<backend>_s``.

    Parameters
    ----------
    sb
        The fitted :class:`~fedlib.vertical.secureboost.SecureBoost` of the run's backend.
    sb_params
        Its booster settings.
    P
        The chapter's parameters.
    Xa, Xp, y
        Active features, passive features and labels of the SecureBoost rows.
    active, passive
        The two parties' names.
    timings
        The chapter's timing dict (updated in place).

    Returns
    -------
    pandas.DataFrame
        One row per backend; the run's own ``same trees as plaintext`` is left ``None``.
    """
    rows = [{"backend": P.he_backend, "scheme": SCHEMES[P.he_backend], "trees": len(sb.trees),
             "s per tree": sb.timings_["online_s"] / len(sb.trees),
             "bucket sums per decryption": sb.slots_, "same trees as plaintext": None}]
    for be in [b for b in dict.fromkeys(P.he_compare) if b != P.he_backend]:
        kt = min(P.he_compare_trees, sb_params["n_estimators"])
        sb_c = SecureBoost(**{**sb_params, "n_estimators": kt}, key_bits=P.paillier_key_bits,
                           demo_keys=P.demo_keys, n_jobs=P.n_jobs, active_name=active,
                           he_backend=be).fit(Xa, y, passive={passive: Xp})
        twin_c = HistGBDT(**{**sb_params, "n_estimators": kt}).fit(
            np.hstack([Xa, Xp]), y, passive_columns=range(Xa.shape[1], Xa.shape[1] + Xp.shape[1]))
        rows.append({"backend": be, "scheme": SCHEMES[be], "trees": kt,
                     "s per tree": sb_c.timings_["online_s"] / kt,
                     "bucket sums per decryption": sb_c.slots_, "same trees as plaintext":
                     tree_agreement(sb_c, twin_c, {active: 0, passive: Xa.shape[1]})
                     ["same_structure"]})
        timings[f"secureboost_{be}_s"] = sb_c.timings_["fit_s"]
    return pd.DataFrame(rows)


def plaintext_twins(sb, sb_params: Mapping[str, Any], P, Xa, Xp, y, Xa_te, Xp_te, y_te, *,
                    active: str, passive: str, timings: dict, bootstrap_seed: int):
    """SecureBoost beside the plaintext histogram GBDT and ``xgboost`` on the same rows.

    Parameters
    ----------
    sb
        The fitted SecureBoost.
    sb_params
        Its booster settings (the twins use the same).
    P
        The chapter's parameters.
    Xa, Xp, y
        Active features, passive features and labels of the SecureBoost rows.
    Xa_te, Xp_te, y_te
        The test rows.
    active, passive
        The two parties' names.
    timings
        The chapter's timing dict (``histgbdt_same_rows_s`` and ``xgboost_same_rows_s`` are
        added).
    bootstrap_seed
        Seed of the paired bootstrap of the AUC difference.

    Returns
    -------
    agree : dict
        :func:`~fedlib.vertical.audit.tree_agreement` plus ``max_test_margin_diff``.
    sb_table : pandas.DataFrame
        Seconds and test AUC of SecureBoost, the plaintext twin and ``xgboost``.
    auc_gap : Estimate
        Test AUC, SecureBoost minus ``xgboost``, paired bootstrap over test rows.
    """
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    t0 = time.perf_counter()
    passive_cols = range(Xa.shape[1], Xa.shape[1] + Xp.shape[1])
    twin = HistGBDT(**sb_params).fit(np.hstack([Xa, Xp]), y, passive_columns=passive_cols)
    timings["histgbdt_same_rows_s"] = time.perf_counter() - t0
    agree = tree_agreement(sb, twin, {active: 0, passive: Xa.shape[1]})
    m_sb = sb.predict_margin(Xa_te, passive={passive: Xp_te})
    m_twin = twin.predict_margin(np.hstack([Xa_te, Xp_te]))
    agree["max_test_margin_diff"] = float(np.max(np.abs(m_sb - m_twin)))

    t0 = time.perf_counter()
    xg = xgb.XGBClassifier(tree_method="hist", n_jobs=1, random_state=P.seed,
                           n_estimators=sb_params["n_estimators"],
                           max_depth=sb_params["max_depth"],
                           learning_rate=sb_params["learning_rate"],
                           reg_lambda=sb_params["reg_lambda"],
                           min_child_weight=sb_params["min_child_weight"],
                           max_bin=sb_params["max_bins"],
                           ).fit(np.hstack([Xa, Xp]), y)
    timings["xgboost_same_rows_s"] = time.perf_counter() - t0
    auc_sb = roc_auc_score(y_te, m_sb)
    p_xgb = xg.predict_proba(np.hstack([Xa_te, Xp_te]))[:, 1]
    auc_gap = Estimate.bootstrap(lambda y, a, b: roc_auc_score(y, a) - roc_auc_score(y, b),
                                 y_te, m_sb, p_xgb, n_boot=P.bootstrap, seed=bootstrap_seed,
                                 strata=y_te)
    sb_table = pd.DataFrame([
        {"model": f"SecureBoost ({SCHEMES[P.he_backend]} {P.paillier_key_bits} bits)",
         "seconds": sb.timings_["fit_s"], "test AUC": auc_sb},
        {"model": "plaintext HistGBDT (same bins)", "seconds": timings["histgbdt_same_rows_s"],
         "test AUC": roc_auc_score(y_te, m_twin)},
        {"model": "xgboost hist", "seconds": timings["xgboost_same_rows_s"],
         "test AUC": roc_auc_score(y_te, p_xgb)},
    ])
    return agree, sb_table, auc_gap


def agreement_text(agree: Mapping[str, Any], passive: str) -> str:
    """The sentence that says whether SecureBoost grew the plaintext trees."""
    if agree["same_structure"]:
        return (f"identical to the plaintext histogram GBDT on the same rows and bins: all "
                f"{agree['n_splits']} splits ({agree['passive_splits']} owned by the {passive} "
                f"party) with the same feature and bin, leaf weights within "
                f"{agree['max_leaf_diff']:.1e}")
    k_, i_, what_ = agree["first_difference"]
    return (f"identical to the plaintext histogram GBDT for {agree['identical_trees']} "
            f"whole tree(s) and {agree['n_splits']} splits ({agree['passive_splits']} "
            f"owned by the {passive} party); at tree {k_ + 1}, node {i_} the two pick different "
            + ("splits whose gains are equal to 9 significant digits — an exact tie (rows "
               "with identical g, h make different partitions score the same), which the "
               "fixed-point sums of the passive party resolve the other way; from there "
               "on the two are different but equally valid boosters"
               if agree["difference_is_tie"] else f"{what_}: a real discrepancy"))


def record_secureboost(results, P, sb, sb_table: pd.DataFrame, agree: Mapping[str, Any], *,
                       n_rows: int, n_trees: int, passive: str, timings: Mapping[str, float]
                       ) -> None:
    """Record SecureBoost's timings, test AUCs and leaf agreement, and glue its prose values.

    Parameters
    ----------
    results
        The chapter's :class:`~fedlib.book.results.ChapterResults`.
    P
        The chapter's parameters.
    sb
        The fitted SecureBoost.
    sb_table
        From :func:`plaintext_twins`.
    agree
        From :func:`plaintext_twins`.
    n_rows, n_trees
        Training rows and trees of the encrypted run.
    passive
        The passive party's name.
    timings
        The chapter's timings (``histgbdt_same_rows_s`` is read).
    """
    setting = f"rows={n_rows}"
    for k, v in sb.timings_.items():
        results.add_metric(experiment="secureboost", mode="encrypted", setting=setting,
                           party="all", round=None, metric=k, value=float(v))
    for r in sb_table.itertuples():
        results.add_metric(experiment="secureboost", mode=r.model, setting=setting,
                           party="all", round=None, metric="test_auc", value=float(r._3))
    results.add_metric(experiment="secureboost", mode="encrypted", setting=setting,
                       party="all", round=None, metric="max_leaf_diff",
                       value=agree["max_leaf_diff"])
    glue("sb_scheme", f"{SCHEMES[P.he_backend]} ({P.he_backend})", display=False)
    glue("sb_security", SECURITY[P.he_backend], display=False)
    glue("sb_rows", n_rows, display=False)
    glue("sb_trees", n_trees, display=False)
    glue("sb_bits", P.paillier_key_bits, display=False)
    glue("sb_seconds", sb.timings_["fit_s"], display=False)
    glue("sb_offline", sb.timings_.get("precompute_s", 0.0), display=False)
    glue("sb_decrypt", sb.timings_["decrypt_s"], display=False)
    glue("sb_slots", sb.slots_, display=False)
    glue("sb_same", agreement_text(agree, passive), display=False)
    glue("sb_margin_diff", agree["max_test_margin_diff"], display=False)
    glue("sb_slowdown", sb.timings_["fit_s"] / max(timings["histgbdt_same_rows_s"], 1e-9),
         display=False)
    auc = sb_table.set_index("model")["test AUC"]
    glue("auc_gap_xgb", abs(auc.iloc[0] - auc["xgboost hist"]), display=False)


def report_secureboost(results, sb, sb_params: Mapping[str, Any], P, cmp: Compared,
                       al: Aligned, rows: np.ndarray, vd: VerticalData, timings: dict):
    """SecureBoost (§3.3) against its plaintext twin, ``xgboost`` and the other HE schemes.

    Times the other backends of ``he_compare`` on the same rows (:func:`backend_comparison`),
    compares the trees node by node and the test margins with the plaintext twin
    (:func:`plaintext_twins`), records it all and glues the prose (:func:`record_secureboost`).

    Returns
    -------
    tuple
        The agreement with the twin, the AUC gap to ``xgboost``, the model table and the
        backend table.
    """
    B, E = vd.bank_name, vd.external_name
    Xa, Xp, y = cmp.Xa_tr[rows], cmp.Xp_tr[rows], al.y_tr[rows]
    he_cmp = backend_comparison(sb, sb_params, P, Xa, Xp, y, active=B, passive=E,
                                timings=timings)
    results.add_metrics(he_cmp[["backend", "s per tree"]].set_axis(["mode", "value"], axis=1),
                        experiment="secureboost", setting=f"rows={len(rows)}", party="all",
                        round=None, metric="seconds_per_tree")
    agree, sb_table, auc_gap = plaintext_twins(
        sb, sb_params, P, Xa, Xp, y, cmp.Xa_te, cmp.Xp_te, al.y_te, active=B, passive=E,
        timings=timings, bootstrap_seed=P.seed + 5)
    he_cmp.loc[0, "same trees as plaintext"] = agree["same_structure"]
    record_secureboost(results, P, sb, sb_table, agree, n_rows=len(rows),
                       n_trees=sb_params["n_estimators"], passive=E, timings=timings)
    return agree, auc_gap, sb_table, he_cmp
