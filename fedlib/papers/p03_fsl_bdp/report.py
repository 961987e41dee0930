"""Chapter 3's closing sections: the paper's claims scored and what reproduces, in words.

Serves "Paper versus ours" (every claim of the paper's digest scored,
:func:`~fedlib.papers.p03_fsl_bdp.claims.chapter03_claims`) and "What reproduces, what does
not, and why" (the closing bullets and the chapter's findings, with this run's numbers).

References: Amed, Sen & Banerjee (2026), FSL-BDP, Tables 2–3, §5.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from fedlib.book.glue import glue
from fedlib.book.pages import verdict_counts
from fedlib.evaluate.uncertainty import Estimate
from fedlib.papers.p03_fsl_bdp.claims import DatasetEvidence, chapter03_claims
from fedlib.papers.p03_fsl_bdp.privacy import noise_ratio
from fedlib.papers.p03_fsl_bdp.table3 import _fmt_estimate, _seed_estimate
from fedlib.survival.data import PROFILES
from fedlib.survival.tuning import SurvivalTuning

__all__ = ["conclusions", "nodp_against_dp", "report_claims", "report_conclusions"]


def _seed_difference(metrics: pd.DataFrame, a: str, b: str) -> Estimate:
    """Mean over seeds of ``a − b`` test C-index, with its interval (paired by seed)."""
    va = metrics[metrics.scenario == a].sort_values("seed").test_ci.to_numpy()
    vb = metrics[metrics.scenario == b].sort_values("seed").test_ci.to_numpy()
    return Estimate.seeds(va - vb)


def nodp_against_dp(metrics: pd.DataFrame, tuning: SurvivalTuning) -> tuple[str, str]:
    """Does the tuned centralised no-DP model end at or above centralised DP? Bullet and finding.

    The answer branches on the interval over seeds of no DP − DP test C-index, and is set
    beside the validation C-index of both chosen configurations and the epoch at which the no-DP
    configuration's validation C-index peaked (the evidence for or against overfitting).

    Parameters
    ----------
    metrics
        Table 3's rows (one per seed and scenario).
    tuning
        :func:`tune_methods`' result.

    Returns
    -------
    tuple of str
        The Markdown bullet and the finding.
    """
    d = _seed_difference(metrics, "Centralized (No DP)", "Centralized (Classical DP)")
    lo, hi = d.interval if d.interval else (d.value, d.value)
    v_none, v_dp = (tuning.chosen_row(m).val_score for m in ("No DP", "Classical DP"))
    curve = tuning.curves[(tuning.curves.method == "No DP")
                          & (tuning.curves.config == tuning.chosen_row("No DP").config)]
    peak = curve.loc[curve.val_ci.idxmax()]
    drop = float(peak.val_ci - curve.val_ci.iloc[-1])
    evidence = (f"on validation the chosen no-DP configuration scored {v_none:.3f} against "
                f"{v_dp:.3f} for DP, and its validation C-index peaked at {peak.val_ci:.3f} "
                f"after epoch {int(peak.epoch)} of {int(curve.epoch.max())}, "
                f"{drop:.3f} above where it ended")
    if d.interval is None:
        verdict = "cannot be compared with centralised DP from a single seed"
    elif lo > 0:
        verdict = "ends above centralised DP"
    elif hi < 0:
        verdict = "still ends below centralised DP"
    else:
        verdict = ("is not distinguishable from centralised DP (the interval over seeds "
                   "contains 0: inconclusive)")
    why = ""
    if d.interval is not None and hi < 0:
        why = (" The no-DP model still overfits within the shortest schedule of the grid "
               "(its validation curve falls after its peak; figure above): a shorter schedule "
               "or a smaller learning rate than the grid offers would be needed."
               if drop > 0.01 else
               " Its validation curve does not fall after its peak, so overfitting does not "
               "explain the gap; the validation rows rank the two models "
               + ("the same way" if v_none < v_dp else "the other way") + " (figure above).")
    over = f"over {d.n_runs} seeds" if d.n_runs > 1 else "from one seed"
    line = (f"* **No DP against DP after tuning.** With every method tuned alike, the "
            f"centralised no-DP model {verdict}: no DP − DP test C-index = {_fmt_estimate(d)} "
            f"{over}; {evidence}.{why}")
    finding = (f"Tuned alike on validation rows, the centralised no-DP model {verdict}: no DP "
               f"− DP test C-index {_fmt_estimate(d)} {over} ({evidence}).")
    return line, finding


def conclusions(evidence: Mapping[str, DatasetEvidence], *, paper_name: str, ds, data,
                eq: pd.DataFrame, nsr: pd.DataFrame, sigmas: pd.DataFrame,
                chance: Mapping[str, list[str]], bdp_is_bound: bool,
                tuning: SurvivalTuning) -> tuple[list[str], list[str]]:
    """The chapter's closing bullets and its three findings, in words with this run's numbers.

    Parameters
    ----------
    evidence
        Every dataset's evidence; ``evidence[paper_name]`` is the main run's.
    paper_name
        The main dataset's name.
    ds, data
        The main dataset and its prepared form.
    eq
        Final ε and σ per party and mechanism (``sigma_dp``, ``sigma_bdp``).
    nsr
        Noise-to-signal ratio per party (``"noise / signal, DP"``, a ``central`` row).
    sigmas
        The calibration table (``eps_bdp_estimate``, ``eps_bdp_bound``).
    chance
        Per dataset, the scenarios whose model is at chance.
    bdp_is_bound
        Whether every Bayesian ε is a valid bound.
    tuning
        :func:`tune_methods`' result (for the no-DP against DP bullet).

    Returns
    -------
    tuple
        The Markdown bullets and the findings for ``results.add_finding``.
    """
    prof = ds.profile
    ev0 = evidence[paper_name]

    def ci_of(sc):
        return _seed_estimate(ev0.metrics, sc)

    fmt = _fmt_estimate
    d_cent = Estimate.seeds(
        ev0.metrics.query("scenario == 'Centralized (Classical DP)'").test_ci.to_numpy()
        - ev0.metrics.query("scenario == 'Centralized (BDP)'").test_ci.to_numpy())
    ratio_used = noise_ratio(eq, sigmas, tuning.settings)
    nsr_client = float(nsr.drop(index="central")["noise / signal, DP"].median())
    nsr_pool = float(nsr.loc["central", "noise / signal, DP"])
    fed_private = [ci_of(f"Federated ({m})") for m in ("Classical DP", "BDP")]
    fed_learn = all(e is not None and e.value > 0.55 for e in fed_private)
    min_train = min(c.n_train for c in data.clients)
    nodp_line, nodp_finding = nodp_against_dp(ev0.metrics, tuning)
    lines = [
        nodp_line,
        (f"* **Equal ε, unequal noise.** At equal final ε per party, BDP needed {ratio_used:.2f} "
         "times classical DP's σ (median over parties): its neighbours *replace* a row, and two "
         "borrowers' clipped gradients are nearly orthogonal, so the data-dependent distance is "
         "close to $2C^2$, above the add/remove worst case $C^2$ that DP pays."
         if ratio_used > 1 else
         f"* **Equal ε, less noise for BDP.** At equal final ε per party, BDP needed "
         f"{ratio_used:.2f} times classical DP's σ (median over parties): the per-example "
         "gradients of these data are short or aligned enough for the data-dependent distance "
         "to stay below the worst case.")
        + f" Centralised, DP − BDP C-index = {fmt(d_cent)} on {paper_name}.",
        ("* **The private models learn when federated.**" if fed_learn else
         "* **Federation does not rescue the private models here.**")
        + f" On {paper_name} the federated "
        f"C-index is {fmt(ci_of('Federated (Classical DP)'))} with DP and "
        f"{fmt(ci_of('Federated (BDP)'))} with BDP, against "
        f"{fmt(ci_of('Centralized (Classical DP)'))} for the pooled DP model. "
        + (f"A client's batch cannot exceed its {min_train}–"
           f"{max(c.n_train for c in data.clients)} training rows, so its DP noise per step is "
           f"{nsr_client:.1f} times the largest possible signal against {nsr_pool:.1f} for the "
           "pool (table in the DP section). "
           if nsr_client > 1.5 * nsr_pool else
           f"A client's DP noise per step ({nsr_client:.1f} times the largest possible signal) "
           f"is close to the pool's ({nsr_pool:.1f}; table in the DP section), so the batch size "
           "does not explain the gap here. ")
        + (f"The paper's smallest client has {prof.min_client:,} loans. " if prof is not None
           else "The paper's smallest client (Bondora) has "
           f"{PROFILES['bondora'].min_client:,} loans. ")
        + "Models at chance: "
        + ("; ".join(f"{k}: {', '.join(v)}" for k, v in chance.items() if v) or "none") + ".",
        "* **Seeded noise.** The chapter passes `noise_seed` so that its numbers repeat: seeded "
        "DP noise is a reproduction device that voids the guarantee (the library's default "
        "draws it from OS entropy).",
        "* **What would change the verdicts.** The paper's real files (1.66 M LendingClub, "
        "753 k SBA, 219 k Bondora loans: `lendingclub_csv`, `sba_csv`, `bondora_csv`) would "
        "make the levels scorable and give every client thousands of rows per DP step; the "
        "paper leaves unstated the ε of Table 3, how σ was calibrated for BDP, the batch "
        "sampling and the C-index evaluation times."
        + ("" if prof is not None else f" On your table ({ds.name}) only the claims about the "
           "mechanisms (which of DP and BDP wins, what federation adds) are scored; the paper's "
           "levels for its three datasets stay not checkable, since those data were not run."),
        "* **What changed with the sound Bayesian accountant.** The book's Bayesian accountant "
        "now composes over the whole run with Hölder's correction and bounds the Monte-Carlo "
        "moment with Hoeffding's inequality on the known range (before, it summed per-step "
        "Student-t bounds that were not bounds). Calibrated to that bound, BDP needs "
        f"{ratio_used:.2f} × DP's σ at equal ε (planned estimate at the same σ: "
        f"{float(sigmas['eps_bdp_estimate'].drop(index='central', errors='ignore').median()):.2f} "
        "against the bound "
        f"{float(sigmas['eps_bdp_bound'].drop(index='central', errors='ignore').median()):.2f}, "
        "median client): the price of a guarantee that holds. "
        + ("" if bdp_is_bound else "The ε_μ reported here are estimates, not bounds."),
    ]
    findings = [
        nodp_finding,
        f"At equal final ε per party, Bayesian DP needs {ratio_used:.2f}"
        f"× classical DP's noise once its ε is a valid bound; centralised, DP minus BDP test "
        f"C-index is {fmt(d_cent)} on {paper_name}.",
        ("Federated private models learn" if fed_learn else
         "Federated private models do not learn on clients this small")
        + f": test C-index {fmt(fed_private[0])} (DP) and {fmt(fed_private[1])} (BDP) against "
        f"{fmt(ci_of('Centralized (Classical DP)'))} for the pooled DP model"
        + ("." if fed_learn else ", so the paper's federated ranking reversal is not testable "
           "here."),
    ]
    return lines, findings


def report_claims(results, evidence: Mapping[str, DatasetEvidence], *, sweep, chance,
                  ds, n_seeds: int) -> pd.DataFrame:
    """Score the paper's claims (:func:`~fedlib.papers.p03_fsl_bdp.claims.chapter03_claims`).

    Records them and glues the verdict counts (``scored_txt``, ``unscored_txt``).

    Returns
    -------
    pandas.DataFrame
        The claims table.
    """
    claims = chapter03_claims(evidence, sweep=sweep, at_chance=chance,
                              sweep_note=f"{ds.name}, centralised, {n_seeds} seed(s)")
    table = results.add_claims(claims)
    scored, unscored = verdict_counts([c.to_record() for c in claims])
    glue("scored_txt", scored, display=False)
    glue("unscored_txt", unscored, display=False)
    return table


def report_conclusions(results, evidence, **kwargs) -> str:
    """:func:`conclusions`, with its findings recorded in ``results``; returns the bullets."""
    lines, findings = conclusions(evidence, **kwargs)
    for finding in findings:
        results.add_finding(finding)
    return "\n".join(lines)
