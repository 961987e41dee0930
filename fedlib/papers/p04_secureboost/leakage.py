"""What SecureBoost lets each party learn: chapter 4's subsections of Step 3 on leakage.

Serves "What each party saw" (the transcript of the run), "Label leakage: what the split
information tells the passive party" (an instance-space attack on the labels) and "Feature
leakage: what the per-bin sums tell the bank" (the bank's bin-recovery attack at every minimum
node size). Paper 003's security discussion covers only the encryption of gradients; the
attacks are the book's.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from fedlib.book.glue import glue
from fedlib.papers.p04_secureboost.data import Aligned
from fedlib.papers.p04_secureboost.models import Compared
from fedlib.vertical.attacks import bin_recovery_attack
from fedlib.vertical.audit import instance_space_attack, what_each_party_saw
from fedlib.vertical.data import VerticalData
from fedlib.vertical.gbdt import BoostParams
from fedlib.vertical.secureboost import SecureBoost

__all__ = ["bin_attack", "bin_recovery_table", "glue_bin_recovery", "label_leakage",
           "report_transcript"]


def report_transcript(results, sb, n_rows: int, P) -> pd.DataFrame:
    """What each party saw during SecureBoost, from its transcript; the bytes recorded.

    Glues ``sb_mb`` and ``min_node``.
    """
    glue("sb_mb", sb.transcript.bytes_sent() / 1e6, display=False)
    glue("min_node", P.passive_min_node_size, display=False)
    results.add_metric(experiment="secureboost", mode="encrypted", setting=f"rows={n_rows}",
                       party="all", round=None, metric="bytes", value=sb.transcript.bytes_sent())
    return what_each_party_saw(sb.transcript)


def label_leakage(results, sb, y, P, passive: str) -> pd.DataFrame:
    """The passive party's label-inference attack on the instance spaces it was shown.

    Knowing ``leakage_known_fraction`` of the labels, it scores every other row by the default
    rate of the known rows in the deepest node it shares. Recorded (``leakage``); glues
    ``leak_known_pct``, ``leak_auc``, ``leak_purity`` and ``leak_base``.

    Returns
    -------
    pandas.DataFrame
        One row: the attack's AUC and the node purities.
    """
    leak = instance_space_attack(sb.transcript, passive, y,
                                 known_fraction=P.leakage_known_fraction, seed=P.seed)
    glue("leak_known_pct", 100 * P.leakage_known_fraction, display=False)
    glue("leak_auc", leak.auc, display=False)
    glue("leak_purity", leak.purity, display=False)
    glue("leak_base", leak.base_purity, display=False)
    results.add_metric(experiment="leakage", mode="instance_space",
                       setting=f"known={P.leakage_known_fraction}", party=passive, round=None,
                       metric="attack_auc", value=leak.auc)
    return pd.Series(asdict(leak)).to_frame("value").T


def _n_passive_splits(model, active: str) -> int:
    """Internal nodes of ``model`` that split on a feature not held by ``active``."""
    nodes = (n for t in model.trees for n in (t.values() if isinstance(t, dict) else t))
    return sum(1 for n in nodes if not n.is_leaf and n.party != active)


def bin_recovery_table(P, Xa, Xp, y, *, active: str, passive: str, results,
                       learning_rate: float) -> pd.DataFrame:
    """The active party's bin-recovery attack at every ``P.attack_min_node_sizes``.

    For each minimum node size a small SecureBoost (512-bit demonstration keys) is grown on
    the attack rows and :func:`~fedlib.vertical.attacks.bin_recovery_attack` is run on its
    transcript; each recovery rate is recorded in ``results``.

    Parameters
    ----------
    P
        The chapter's parameters.
    Xa, Xp, y
        Active features, passive features and labels of the attack rows.
    active, passive
        The two parties' names.
    results
        The chapter's results.
    learning_rate
        Learning rate of the attacked runs (the pipeline's chosen one).

    Returns
    -------
    pandas.DataFrame
        One row per minimum node size: histograms returned, passive splits, pairs, bins
        recovered, wrong, recovery rate.
    """
    default_min_node = BoostParams().passive_min_node_size
    att_kw = dict(n_estimators=P.attack_trees, max_depth=P.attack_max_depth,
                  learning_rate=learning_rate, reg_lambda=P.reg_lambda, min_child_weight=0.0,
                  max_bins=P.attack_bins, key_bits=512, demo_keys=True, active_name=active)
    rows = []
    for m in P.attack_min_node_sizes:
        sb_a = SecureBoost(**att_kw, passive_min_node_size=m).fit(Xa, y, passive={passive: Xp})
        r = bin_recovery_attack(sb_a, passive, truth=sb_a.parties_[passive]._bins)
        rows.append({"passive_min_node_size": m,
                     "setting": ("unsafe: no minimum" if m == 0 else
                                 "library default" if m == default_min_node else ""),
                     "histograms returned": r["n_histograms"],
                     f"splits on {passive}'s features": _n_passive_splits(sb_a, active),
                     "(row, feature) pairs": r["n_pairs"], "bins recovered": r["recovered"],
                     "wrong": r["wrong"], "recovery rate": r["rate"]})
        results.add_metric(experiment="bin_recovery", mode="active_party_attack",
                           setting=f"min_node={m}", party=active, round=None,
                           metric="recovery_rate", value=r["rate"])
    return pd.DataFrame(rows)


def glue_bin_recovery(P, att: pd.DataFrame, n_rows: int) -> None:
    """Glue the attack's settings and its recovered counts at the smallest and largest size."""
    a_i = att.set_index("passive_min_node_size")
    lo_m, hi_m = min(P.attack_min_node_sizes), max(P.attack_min_node_sizes)
    glue("att_n", n_rows, display=False)
    glue("att_trees", P.attack_trees, display=False)
    glue("att_depth", P.attack_max_depth, display=False)
    glue("att_bins", P.attack_bins, display=False)
    glue("att_lo", lo_m, display=False)
    glue("att_hi", hi_m, display=False)
    glue("att_lo_rec", int(a_i.loc[lo_m, "bins recovered"]), display=False)
    glue("att_hi_rec", int(a_i.loc[hi_m, "bins recovered"]), display=False)
    glue("att_pairs", int(a_i.loc[lo_m, "(row, feature) pairs"]), display=False)
    glue("att_lo_rate", 100 * float(a_i.loc[lo_m, "recovery rate"]), display=False)
    glue("att_hi_rate", 100 * float(a_i.loc[hi_m, "recovery rate"]), display=False)
    glue("att_wrong", int(att["wrong"].sum()), display=False)
    glue("att_default", BoostParams().passive_min_node_size, display=False)
    paper_train = round(170 * (1 - P.test_size))
    glue("paper_size_note",
         f"on the paper's 170 loans ({paper_train} training rows) a minimum of "
         f"{P.passive_min_node_size} rows "
         + ("leaves the other party's features the root only, since no split of "
            f"{paper_train} rows gives two children of {P.passive_min_node_size}."
            if 2 * P.passive_min_node_size > paper_train else
            f"still admits nodes down to {P.passive_min_node_size} rows."), display=False)


def bin_attack(results, cmp: Compared, al: Aligned, vd: VerticalData, P, *,
               learning_rate: float) -> pd.DataFrame:
    """The bank's bin-recovery attack at every ``attack_min_node_sizes`` (:func:`bin_recovery_table`).

    On ``attack_rows`` training rows drawn with seed ``seed + 11``; glues the prose
    (:func:`glue_bin_recovery`).
    """
    rows = np.sort(np.random.default_rng(P.seed + 11).choice(
        len(al.y_tr), size=min(P.attack_rows, len(al.y_tr)), replace=False))
    att = bin_recovery_table(P, cmp.Xa_tr[rows], cmp.Xp_tr[rows], al.y_tr[rows],
                             active=vd.bank_name, passive=vd.external_name, results=results,
                             learning_rate=learning_rate)
    glue_bin_recovery(P, att, len(rows))
    return att
