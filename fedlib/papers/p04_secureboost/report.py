"""Chapter 4's closing sections: "Paper versus ours" and "What reproduces, what does not, and why".

The single-class flags keyed as :func:`~fedlib.papers.p04_secureboost.claims.chapter04_claims`
reads them, and the chapter's four findings in words with the numbers behind them (paper 003's
abstract, §4.1–4.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from fedlib.papers.p04_secureboost.comparison import Fitted, ci_text, pooled_clause, says
from fedlib.papers.p04_secureboost.models import BASELINES

__all__ = ["chapter_findings", "claim_single_class", "report_findings"]


def claim_single_class(single_class: Mapping[str, bool], *, pipeline: str,
                       baselines: Sequence[str]) -> dict[str, bool]:
    """Single-class flags keyed as :func:`~fedlib.papers.p04_secureboost.claims.chapter04_claims` reads them.

    The model table keys a baseline by ``"name [view]"``; the claims compare the pipeline with
    each *bank-only* baseline by its bare name, so a bank-only model that predicts one class
    must be found under that name, or its claims would be scored against a constant
    classifier.

    >>> claim_single_class({"p": False, "LR [bank only]": True, "LR [pooled (non-private)]":
    ...                     False}, pipeline="p", baselines=["LR"])
    {'p': False, 'LR': True}
    """
    return {pipeline: bool(single_class[pipeline]),
            **{m: bool(single_class[f"{m} [bank only]"]) for m in baselines}}


def chapter_findings(*, verdicts: Mapping[str, str], baselines: Sequence[str], n_test: int,
                     level_diffs: Mapping[str, Any], passive: str, src: Mapping[str, Any],
                     src_verdict: str, n_worse_pooled: int, n_below_pooled: int,
                     agree: Mapping[str, Any], att: pd.DataFrame, lo_m: int, hi_m: int,
                     acc_diff, speed_diff, budget: int) -> list[str]:
    """The chapter's four findings, each with the numbers behind it.

    Parameters
    ----------
    verdicts
        Claim id → verdict.
    baselines
        The bank's usual models.
    n_test
        Number of test rows.
    level_diffs
        From :func:`mean_diffs`.
    passive
        The external party's name.
    src, src_verdict
        Where the recall comes from (differences and :func:`source_verdict`).
    n_worse_pooled, n_below_pooled
        Pooled models with detectably higher, and detectably lower, recall than the pipeline.
    agree
        SecureBoost against its plaintext twin (:func:`plaintext_twins`).
    att, lo_m, hi_m
        The bin-recovery table and its smallest and largest minimum node sizes.
    acc_diff, speed_diff
        From :func:`screening_differences`.
    budget
        Configurations every compared model was tuned with (:func:`tune_models`).

    Returns
    -------
    list of str
    """
    n_dir = {w: sum(verdicts.get(f"{w}_vs_{m.split()[0].lower().replace('-', '')}")
                    == "reproduced" for m in baselines) for w in ("error", "recall")}
    a_i = att.set_index("passive_min_node_size")
    same = ("identical" if agree["same_structure"] else "identical up to ties"
            if agree["difference_is_tie"] else "NOT identical")
    return [
        f"With every model tuned alike ({budget} configurations each, chosen by validation "
        f"AUC), against the bank's own models (LR, RF, LS-SVM, WoE scorecard) the pipeline's "
        f"higher recall is reproduced against {n_dir['recall']} of {len(baselines)} and its "
        f"lower error rate against {n_dir['error']} of {len(baselines)} (95 % paired "
        f"bootstrap intervals over {n_test} test rows); against their average it differs by "
        f"{ci_text(level_diffs['error'])} points of error and {ci_text(level_diffs['recall'])} "
        f"of recall, beside the paper's −6.22 and +11.03 on its private 170 loans.",
        f"Where the recall comes from: adding the {passive} party's raw columns to the same "
        f"booster {says(src['ext'])}; XMP and SecureBoost on top {says(src['xmp'])}; in short, "
        f"{src_verdict or 'no single source is detectable'} "
        f"({pooled_clause(n_worse_pooled, n_below_pooled, len(baselines) + 1)}).",
        f"SecureBoost grows the plaintext trees ({same}), "
        f"so it is lossless; its leak to the bank is not: from per-bin sums the bank recovers "
        f"{int(a_i.loc[lo_m, 'bins recovered'])} of {int(a_i.loc[lo_m, '(row, feature) pairs'])} "
        f"of the other party's (row, feature) bins with no minimum node size and "
        f"{int(a_i.loc[hi_m, 'bins recovered'])} at {hi_m} rows.",
        f"Screening: final accuracy screened minus FedAvg {acc_diff.value:+.3f} "
        f"[{acc_diff.interval[0]:+.3f}, {acc_diff.interval[1]:+.3f}] with honest banks; rounds "
        f"to target with misbehaving banks, FedAvg minus screened, {speed_diff.value:+.0f} "
        f"[{speed_diff.interval[0]:+.0f}, {speed_diff.interval[1]:+.0f}] (verdict: "
        f"{verdicts['fl_faster']}).",
    ]


def report_findings(results, *, fit: Fitted, **kwargs) -> str:
    """:func:`chapter_findings` from the recorded verdicts, recorded; returns them numbered.

    ``kwargs`` are :func:`chapter_findings`' other arguments. Models that predict a single
    class carry no scored claim, and the list says so.
    """
    verdicts = {c["id"]: c["verdict"] for c in results.claims}
    findings = chapter_findings(verdicts=verdicts, baselines=BASELINES, **kwargs)
    for f in findings:
        results.add_finding(f)
    single = fit.single_list
    note = ("" if not single else " Models that predict a single class on the test rows ("
            + "; ".join(single) + ") carry no scored claim.")
    return "\n".join(f"{i + 1}. {f}" for i, f in enumerate(findings)) + note
