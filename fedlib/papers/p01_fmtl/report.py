"""Chapter 1's report: the paper's numbers beside ours and the findings in words.

Serves the chapter's (``chapters/01_fmtl_dp_secagg.py``) sections "Paper versus ours" (every
claim of :mod:`fedlib.papers.p01_fmtl.claims` scored) and "What reproduces, what does not,
and why" (the findings worded from the scored claims).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from IPython.display import Markdown

from fedlib.book.glue import glue
from fedlib.book.pages import verdict_counts
from fedlib.papers.p01_fmtl.claims import chapter01_claims
from fedlib.papers.p01_fmtl.experiment import Table2
from fedlib.papers.p01_fmtl.lab import Lab, glue_values
from fedlib.papers.p01_fmtl.privacy import EpsilonCurve, PrivateRuns
from fedlib.papers.p01_fmtl.rows import auc_spread
from fedlib.papers.p01_fmtl.tuning import LambdaSweep, Tuned

__all__ = [
    "chapter01_findings",
    "score_claims",
    "write_findings",
]


def chapter01_findings(records: list[dict], *, n_seeds: int, below_inst: Sequence[str],
                       lam_table: pd.DataFrame, fedavg_val: float, meets, at: pd.Series,
                       epsilon: float, e_min: float, flagged: Sequence) -> tuple[list, list]:
    """The chapter's closing findings, worded from the scored claims.

    Parameters
    ----------
    records
        The claims as records (``Claim.to_record``).
    n_seeds
        Model seeds per compared run.
    below_inst
        Institutions where FMTL's mean AUC is below the better baseline.
    lam_table, fedavg_val, meets
        The λ sweep (:func:`lambda_sweep`) and FedAvg's tuned validation AUC.
    at
        Mean test AUC over seeds indexed by (model, ε).
    epsilon, e_min
        The main ε and the smallest ε of the sweep.
    flagged
        The (model, ε) pairs that are single-class or at chance.

    Returns
    -------
    tuple
        ``(page, summary)``: three Markdown paragraphs for the page, and the two one-sentence
        findings for ``results.json``.
    """
    by_id = {r["id"]: r for r in records}

    def ci(cid):
        """A claim's value with its interval, signed, three decimals."""
        r = by_id[cid]
        if r["ours"] is None:
            return "not computed"
        if r["ours_interval"]:
            lo, hi = r["ours_interval"]
            return f"{r['ours']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        return f"{r['ours']:+.3f}"

    def said(cid, yes, no, unclear):
        """One of three phrasings by the claim's verdict."""
        v = by_id[cid]["verdict"]
        return yes if v == "reproduced" else no if v == "contradicted" else unclear

    lam_joint = lam_table[lam_table.optimiser == "joint (ours)"].set_index("lambda")["val AUC"]
    f1 = (f"**FMTL against the baselines.** With every model tuned alike, FMTL's mean test AUC "
          f"minus FedAvg's is {ci('fmtl_beats_fedavg')} and minus the centralized MLP's "
          f"{ci('fmtl_beats_central')} (mean over {n_seeds} seeds; 95 % interval "
          + ("over seeds and a bootstrap of the test rows"
             if by_id["fmtl_beats_fedavg"]["basis"] == "seeds+bootstrap" else "over seeds")
          + "); "
          + said("fmtl_beats_fedavg", "FMTL is above FedAvg, as the paper says",
                 "FMTL is below FedAvg, against the paper",
                 "the data cannot tell FMTL and FedAvg apart")
          + "; " + said("fmtl_beats_central", "and above the centralized MLP",
                        "and below the centralized MLP",
                        "and it is indistinguishable from the centralized MLP")
          + f" (the paper: +0.027 and +0.012). Institutions where FMTL's mean AUC is below the "
          f"better baseline: {', '.join(below_inst) or 'none'} (per-institution figure above); "
          f"the spread of AUC across institutions, std FedAvg − std FMTL, is "
          f"{ci('fig4_variance_fedavg')} (the paper: FMTL reduces it; "
          + said("fig4_variance_fedavg", "reproduced", "contradicted", "not resolved") + "). "
          f"The λ sweep (λ-sweep figure above) shows where FMTL's AUC comes from: "
          f"{lam_joint.iloc[0]:.3f} on validation rows at λ = {lam_joint.index[0]:g} (each "
          f"institution mostly on its own rows), "
          + (f"meeting FedAvg's {fedavg_val:.3f} at λ = {meets:g}, "
             if meets is not None else f"never meeting FedAvg's {fedavg_val:.3f}, ")
          + f"and {lam_joint.iloc[-1]:.3f} at λ = {lam_joint.index[-1]:g}, where the personal "
          "models have closed on the shared one and FMTL is FedAvg with equal weights. "
          "Our institutions differ mostly in prevalence, not in how the features relate to "
          "default (min-max scaling per institution removes shifts of income and utilisation), "
          "so there is little for a personal model to capture beyond the shared one.")
    learns = min(float(at[("FMTL", epsilon)]), float(at[("FedAvg", epsilon)])) >= 0.6
    f2 = (f"**Privacy.** Tuned at every ε with the same budget, the private models "
          f"{'learn' if learns else 'stay close to chance (AUC below 0.6)'}: at "
          f"ε = {epsilon:g} FMTL reaches {float(at[('FMTL', epsilon)]):.3f} and FedAvg "
          f"{float(at[('FedAvg', epsilon)]):.3f} mean test AUC; at ε = {e_min:g} "
          f"{float(at[('FMTL', e_min)]):.3f} and {float(at[('FedAvg', e_min)]):.3f} "
          "(ε-sweep figure above; single-class and chance check: "
          f"{'no model flagged' if not flagged else 'see above'})."
          f" FMTL minus FedAvg at ε = {e_min:g}: {ci('eps01_gap')}; the paper's smoother FMTL "
          f"curve (|S| FedAvg − FMTL: {ci('sensitivity')}) is "
          + said("sensitivity", "reproduced.", "contradicted.", "not resolved by our seeds."))
    f3 = (f"**Fairness.** EOD FedAvg − FMTL {ci('fairness_eod_fedavg')}, SPD "
          f"{ci('fairness_spd_fedavg')}, |1 − DIR| {ci('fairness_dir_fedavg')} (positive: FMTL "
          "fairer); on a youth proxy, since neither dataset records a protected attribute.")
    summary = [
        "FMTL minus FedAvg, mean test AUC: " + ci("fmtl_beats_fedavg") + " ("
        + said("fmtl_beats_fedavg", "above FedAvg, as the paper says",
               "below FedAvg, against the paper", "not distinguishable")
        + "; the paper +0.027); FMTL minus the centralized MLP: " + ci("fmtl_beats_central")
        + " (" + said("fmtl_beats_central", "above", "below", "not distinguishable")
        + "; the paper +0.012).",
        f"Tuned at every ε with one budget, the private models "
        f"{'learn' if learns else 'stay near chance'}: mean test AUC at ε = {e_min:g} is "
        f"{float(at[('FMTL', e_min)]):.3f} (FMTL) and {float(at[('FedAvg', e_min)]):.3f} "
        f"(FedAvg), at ε = {epsilon:g} {float(at[('FMTL', epsilon)]):.3f} and "
        f"{float(at[('FedAvg', epsilon)]):.3f}.",
    ]
    return [f1, f2, f3], summary


def score_claims(lab: Lab, results, *, data, table1: pd.DataFrame, tuned: Tuned,
                 private: PrivateRuns, curve: EpsilonCurve) -> tuple[pd.DataFrame, list]:
    """Every number of the paper beside ours, with its interval and verdict.

    Computes every kept model's metrics on every bootstrap draw of the test rows (timed as
    ``test_row_bootstrap_s``), builds :func:`~fedlib.papers.p01_fmtl.claims.chapter01_claims`
    (paper 000 Tables 1-4, §6-8), records them and glues the verdict counts.

    Returns
    -------
    tuple
        ``(claims_table, records)``: the table as the page shows it and the claims as records.
    """
    P, scores = lab.P, lab.scores
    with results.timer("test_row_bootstrap_s"):
        nodp_rows, dp_rows = scores.frame("nodp"), scores.frame("dp")
        imb_rows = auc_spread(scores.frame("imbalance"))
    claims = chapter01_claims(
        source=data.source, table1=table1, nodp=nodp_rows, dp=dp_rows,
        mia=private.mia_mean[["seed", "model", "epsilon", "mia_auc"]],
        imbalance=imb_rows, epsilon_main=P.epsilon, degenerate=curve.degenerate,
        features_read=len(data.numeric) if data.source == "heloc" else None,
        tuning_note=f"hyper-parameters chosen on validation rows, {P.tune_budget} "
        f"configurations per model ({tuned.result.describe()})")
    claims_table = results.add_claims(claims)
    records = [c.to_record() for c in claims]
    scored_text, unscored_text = verdict_counts(records)
    glue_values(n_boot_used=P.n_boot, scored_text=scored_text, unscored_text=unscored_text)
    return claims_table, records


def write_findings(lab: Lab, results, records: list, *, tuned: Tuned, lam: LambdaSweep,
                   table2: Table2, curve: EpsilonCurve) -> None:
    """Word the closing findings from the scored claims (:func:`chapter01_findings`).

    Glues the three paragraphs as ``finding_1`` … ``finding_3`` (Markdown) and records the
    two one-sentence findings in ``results.json``.
    """
    page, summary = chapter01_findings(
        records, n_seeds=len(lab.seeds), below_inst=table2.below_inst, lam_table=lam.table,
        fedavg_val=tuned.fedavg_val, meets=lam.meets, at=curve.at, epsilon=lab.P.epsilon,
        e_min=curve.e_min, flagged=curve.degenerate.flagged)
    for finding in summary:
        results.add_finding(finding)
    for n, paragraph in enumerate(page, start=1):
        glue(f"finding_{n}", Markdown(paragraph), display=False)
