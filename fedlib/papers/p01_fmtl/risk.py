"""Chapter 1's fairness and risk under DP: EOD, DIR, SPD per institution, and the risk matrix.

Serves the chapter's (``chapters/01_fmtl_dp_secagg.py``) sections "Fairness per institution
(EOD, DIR, SPD), without DP and under DP" (the paper's eq. 3, §6.2) and "Membership inference
and the risk matrix (the paper's Table 3)" (§6.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedlib.book.glue import glue
from fedlib.papers.p01_fmtl.experiment import Table2
from fedlib.papers.p01_fmtl.lab import Lab, record_rows
from fedlib.papers.p01_fmtl.privacy import PrivateRuns

__all__ = [
    "fairness_tables",
    "FairnessTables",
    "risk_matrix",
    "RiskMatrix",
]


@dataclass
class FairnessTables:
    """EOD, DIR and SPD without DP and at the main ε (paper 000 eq. 3, §6.2)."""

    means: pd.DataFrame
    by_institution: pd.DataFrame
    notes: pd.DataFrame


def fairness_tables(lab: Lab, results, table2: Table2, private: PrivateRuns) -> FairnessTables:
    """Fairness per institution (EOD of eq. 3, DIR, SPD) without DP and at the main ε.

    Records every per-institution, per-seed row (experiment ``fairness``).

    Returns
    -------
    FairnessTables
        Means over institutions and seeds per setting and model; the means over seeds per
        institution; and each metric left out with its reason.
    """
    P, dp = lab.P, private.dp
    fair = pd.concat([table2.nodp.assign(setting="no DP"),
                      dp[np.isclose(dp.epsilon, P.epsilon)].assign(setting=f"ε = {P.epsilon:g}")])
    by_inst = fair.groupby(["setting", "model", "institution"])[["eod", "spd", "dir"]].mean()
    means = fair.groupby(["setting", "model"])[["eod", "spd", "dir"]].mean().add_prefix("mean ")
    notes = fair[fair.fairness_note != ""][["setting", "model", "institution", "seed",
                                            "fairness_note"]]
    record_rows(results, fair, experiment="fairness", metrics=("eod", "dir", "spd"),
                setting=lambda r: f"{r.setting}, seed={r.seed}")
    return FairnessTables(means, by_inst.unstack("institution"),
                          notes.drop_duplicates(["setting", "model", "institution",
                                                 "fairness_note"]))


@dataclass
class RiskMatrix:
    """Paper 000 Table 3 measured for FMTL, and the MIA AUC per ε and model."""

    mia_auc: pd.DataFrame
    table: pd.DataFrame


def risk_matrix(lab: Lab, results, table2: Table2, private: PrivateRuns) -> RiskMatrix:
    """The risk matrix of paper 000 Table 3 (§6.3) filled with FMTL's measured values.

    Per ε, means over institutions and seeds: AUC lost against FMTL without DP, the
    membership-inference AUC and advantage, and the change of the mean EOD. Records the matrix
    (experiment ``risk_matrix``) and glues the largest MIA AUC of any model, seed and ε.

    Returns
    -------
    RiskMatrix
    """
    nodp, dp, mia_mean = table2.nodp, private.dp, private.mia_mean
    base = nodp[nodp.model == "FMTL"].groupby("seed")[["roc_auc", "eod"]].mean()
    fm = dp[dp.model == "FMTL"].groupby(["epsilon", "seed"])[["roc_auc", "eod"]].mean()
    mm = mia_mean[mia_mean.model == "FMTL"].set_index(["epsilon", "seed"])
    risk = pd.DataFrame({
        "AUC loss vs no DP": base.roc_auc.reindex(fm.index, level="seed") - fm.roc_auc,
        "MIA AUC": mm.mia_auc.reindex(fm.index),
        "MIA advantage": mm.mia_advantage.reindex(fm.index),
        "EOD change vs no DP": fm.eod - base.eod.reindex(fm.index, level="seed")}
    ).groupby("epsilon").mean()
    nodp_mia = mm.loc[np.inf]
    risk.loc[np.inf] = [0.0, nodp_mia.mia_auc.mean(), nodp_mia.mia_advantage.mean(), 0.0]
    results.add_metrics(risk.set_axis([f"epsilon={e:g}" for e in risk.index])
                        .rename_axis("setting").reset_index()
                        .melt(id_vars="setting", var_name="metric"),
                        experiment="risk_matrix", mode="FMTL", round=None,
                        party="mean over institutions and seeds")
    glue("mia_max", float(mia_mean.mia_auc.max()), display=False)
    return RiskMatrix(mia_mean.groupby(["epsilon", "model"]).mia_auc.mean().unstack("model"),
                      risk)
