"""Every number of paper 000's digest, beside the evidence chapter 1 measured.

One :class:`~fedlib.evaluate.scorecard.Claim` per number or ordering in
the paper digest (its tables and stated numbers) (chapter 1), built from the chapter's per-seed tables so that no
value is typed in by hand except the paper's. ``ours`` is always an
:class:`~fedlib.evaluate.uncertainty.Estimate`:

* levels (AUC, accuracy, Table 1 statistics of the real silos) are means over seeds with their
  t-interval; measured on LendingClub rows they are "different data" (shown, not scored); on a
  user's HELOC file the Inst-A/B levels are the paper's data, with the difference stated (our
  split rule; the paper's is not given);
* orderings ("FMTL > FedAvg") are the per-seed paired differences, scored on any data;
* Table 1 rows of the synthetic Inst-C/D are the generator's targets (``Estimate.input``: by
  construction), and counts are exact.

A claim whose model predicts a single class at its decision threshold on some institution's
test rows is not scored (``not_checkable``, with the reason), and so is a fairness claim
where a group is absent.

References: paper 000 Tables 1-4, §6.2, §6.3 (Table 3), §7 (Figs. 3-4), §8.1-8.2. Introduced
in chapter 1 (``chapters/01_fmtl_dp_secagg.py``).

Examples
--------
>>> frame = pd.DataFrame({"seed": [1, 2, 3] * 2, "model": ["A"] * 3 + ["B"] * 3,
...                       "value": [0.70, 0.72, 0.71, 0.60, 0.63, 0.61]})
>>> e = paired(frame, "model", "value", "A", "B")
>>> round(e.value, 3), e.n_runs
(0.097, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from fedlib.evaluate.scorecard import Claim
from fedlib.evaluate.uncertainty import Estimate

__all__ = ["PAPER_TABLE2", "chapter01_claims", "paired", "per_seed"]

INSTITUTIONS = ["Inst-A", "Inst-B", "Inst-C", "Inst-D"]
#: Paper 000 Table 2 (= Table 4): AUC per institution, global average AUC, accuracy.
PAPER_TABLE2 = pd.DataFrame(
    [[0.752, 0.768, 0.691, 0.715, 0.732, 0.761],
     [0.745, 0.759, 0.664, 0.702, 0.717, 0.752],
     [0.763, 0.774, 0.709, 0.731, 0.744, 0.775]],
    index=pd.Index(["Centralized MLP", "FedAvg", "FMTL"], name="model"),
    columns=[*INSTITUTIONS, "avg", "accuracy"])

#: Why an AUC level may sit 0.02 from the paper's and still count: the paper prints three
#: decimals with no interval or seed count, and between seeds of one split our institution
#: AUCs move by about 0.01-0.02; 0.02 is that spread, far below the 0.05-0.25 that separates a
#: useful credit model from chance.
AUC_TOL_NOTE = ("tolerance 0.02: the paper gives no interval; 0.02 is the seed-to-seed spread "
                "of one institution's AUC here")


def per_seed(frame: pd.DataFrame, value: str, **where) -> pd.Series:
    """``value`` per seed (mean over the remaining rows of each seed) where the columns equal
    ``where``; NaN rows (a metric undefined at some institution) are skipped.

    >>> f = pd.DataFrame({"seed": [1, 1, 2], "m": ["a", "a", "a"], "v": [1.0, 3.0, 5.0]})
    >>> per_seed(f, "v", m="a").tolist()
    [2.0, 5.0]
    """
    mask = np.ones(len(frame), dtype=bool)
    for col, val in where.items():
        mask &= (frame[col] == val).to_numpy()
    return frame[mask].groupby("seed")[value].mean()


def paired(frame: pd.DataFrame, col: str, value: str, a, b, **where) -> Estimate | None:
    """Estimate of ``value``(a) − ``value``(b) from per-seed paired differences (``col`` picks
    a and b). None when a seed lacks either side."""
    sa = per_seed(frame, value, **{col: a}, **where)
    sb = per_seed(frame, value, **{col: b}, **where)
    d = (sa - sb).dropna()
    if d.empty or len(d) != len(sa) or not np.all(np.isfinite(d)):
        return None
    return Estimate.seeds(d.to_numpy())


def _seeds(values: pd.Series | Iterable[float]) -> Estimate | None:
    v = pd.Series(values, dtype=float).dropna()
    return Estimate.seeds(v.to_numpy()) if len(v) else None


def _direction(cid: str, text: str, est: Estimate | None, note: str, *, why_none: str = "",
               sign: str = ">") -> Claim:
    if est is None:
        return Claim(cid, text, sign, None, kind="not_checkable",
                     note=(why_none or "a side of the difference is undefined for some seed")
                     + (f"; {note}" if note else ""))
    return Claim(cid, text, sign, est, kind="direction", note=note)


def chapter01_claims(*, source: str, table1: pd.DataFrame, nodp: pd.DataFrame,
                     dp: pd.DataFrame, mia: pd.DataFrame, imbalance: pd.DataFrame,
                     epsilon_main: float, degenerate: Callable[[str, float], str] | None = None,
                     features_read: int | None = None, tuning_note: str = "") -> list[Claim]:
    """Claims of paper 000 with our per-seed evidence.

    Parameters
    ----------
    source
        ``"lending_club"`` or ``"heloc"``: what Inst-A/B are.
    table1
        :func:`fedlib.data.institutions.measure_table1` (ours beside ``paper_*`` columns).
    nodp
        No DP, one row per seed, model (``Centralized MLP``, ``FedAvg``, ``FMTL``) and
        institution: ``roc_auc``, ``accuracy``, ``eod``, ``dir``, ``spd``.
    dp
        The ε sweep: one row per seed, model (``FedAvg``, ``FMTL``), ``epsilon`` and
        institution, same metrics.
    mia
        Membership inference: one row per seed, model and ``epsilon`` (``inf`` = no DP),
        ``mia_auc`` (mean over institutions).
    imbalance
        One row per seed and model (``FedAvg``, ``FMTL``): ``auc_std`` across institutions
        under the §8.2 imbalance.
    epsilon_main
        The ε of the main DP experiment (fairness under DP is read there).
    degenerate
        ``degenerate(model, epsilon)`` → a reason (non-empty) if that model predicts a single
        class on some institution's test rows at its decision threshold, or sits at chance
        (``epsilon=inf`` for no DP); claims on it are then not scored.
    features_read
        HELOC only: the number of feature columns the loader read from the user's file.
    tuning_note
        How the hyper-parameters were chosen, appended to the notes of model comparisons.
    """
    degenerate = degenerate or (lambda model, eps: "")
    claims: list[Claim] = []
    heloc = source == "heloc"
    data_note = ("Inst-A/B are the user's HELOC file split by our credit-mix rule (the paper "
                 "does not give its clustering); Inst-C/D are our Gaussian-mixture draws, not "
                 "the paper's") if heloc else (
        f"Inst-A/B are {source} loans, not the paper's FICO HELOC; Inst-C/D are our "
        "Gaussian-mixture draws")
    tn = f"; {tuning_note}" if tuning_note else ""

    def bad(*pairs) -> str:
        return "; ".join(r for r in (degenerate(m, e) for m, e in pairs) if r)

    # --- Table 2 levels (different data unless Inst-A/B on the user's HELOC file) ---------
    for model, tag in (("Centralized MLP", "central"), ("FedAvg", "fedavg"), ("FMTL", "fmtl")):
        sub = nodp[nodp.model == model]
        for col in [*INSTITUTIONS, "avg", "accuracy"]:
            if col in INSTITUTIONS:
                vals = sub[sub.institution == col].groupby("seed").roc_auc.mean()
                what = f"{col} AUC"
            elif col == "avg":
                vals = sub.groupby("seed").roc_auc.mean()
                what = "global average AUC"
            else:
                vals = sub.groupby("seed").accuracy.mean()
                what = "accuracy"
            same = heloc and col in ("Inst-A", "Inst-B")
            note = (data_note + "; " + AUC_TOL_NOTE if col != "accuracy" else
                    data_note + "; ours: accuracy at the 0.5 threshold (the paper's threshold "
                    "is not stated); tolerance 0.02 as for AUC") + tn
            claims.append(Claim(f"{tag}_{col.replace('-', '').lower()}",
                                f"{model} {what} = {PAPER_TABLE2.loc[model, col]:g}",
                                float(PAPER_TABLE2.loc[model, col]), _seeds(vals),
                                tolerance=0.02, same_data=same, note=note))

    # --- Table 2 / §7 orderings ---------------------------------------------------------
    avg = nodp.groupby(["seed", "model"], as_index=False).roc_auc.mean()
    nodp_bad = bad(("FMTL", np.inf), ("FedAvg", np.inf), ("Centralized MLP", np.inf))
    claims += [
        _direction("fmtl_beats_fedavg", "FMTL global average AUC > FedAvg (0.744 vs 0.717)",
                   paired(avg, "model", "roc_auc", "FMTL", "FedAvg"),
                   "per-seed paired differences of the mean test AUC" + tn),
        _direction("fmtl_beats_central", "FMTL global average AUC > centralized MLP "
                   "(0.744 vs 0.732)", paired(avg, "model", "roc_auc", "FMTL", "Centralized MLP"),
                   "per-seed paired differences" + tn),
    ]
    wide = nodp.pivot_table(index=["seed", "institution"], columns="model", values="roc_auc")
    margin = (wide["FMTL"] - wide[["FedAvg", "Centralized MLP"]].max(axis=1)).groupby("seed").min()
    claims.append(_direction(
        "fmtl_all_inst", "FMTL outperforms both baselines at every institution (min over "
        "institutions of FMTL − best baseline > 0)", _seeds(margin), "per seed"))
    gain = (wide["FMTL"] - wide["FedAvg"]).unstack("institution")
    syn = gain[["Inst-C", "Inst-D"]].mean(axis=1) - gain[["Inst-A", "Inst-B"]].mean(axis=1)
    claims.append(_direction(
        "gain_synthetic", "FMTL's gain over FedAvg is largest at the synthetic Inst-C/D (mean "
        "gain C, D − mean gain A, B > 0)", _seeds(syn), "per seed"))
    std = nodp.groupby(["seed", "model"], as_index=False).roc_auc.std(ddof=0)
    claims += [
        _direction("fig4_variance_fedavg", "Fig. 4: FMTL reduces the variance of AUC across "
                   "institutions (std FedAvg − std FMTL > 0)",
                   paired(std, "model", "roc_auc", "FedAvg", "FMTL"), "no DP, per seed"),
        _direction("fig4_variance_central", "Fig. 4: FMTL's AUC varies less across "
                   "institutions than the centralized MLP's (std central − std FMTL > 0)",
                   paired(std, "model", "roc_auc", "Centralized MLP", "FMTL"), "no DP, per seed"),
    ]

    # --- Fairness (§6.2, §7) -------------------------------------------------------------
    fair = nodp.assign(dir_gap=(nodp["dir"] - 1).abs())
    fair_note = ("mean over the institutions where both groups occur; the protected group is "
                 "a youth proxy (see the chapter); decision: flag the training default rate's "
                 "share of applicants, cut set on the training rows")
    for metric, label in (("eod", "EOD"), ("spd", "SPD"), ("dir_gap", "|1 − DIR|")):
        for base, tag in (("FedAvg", "fedavg"), ("Centralized MLP", "central")):
            est = paired(fair, "model", metric, base, "FMTL")
            reason = nodp_bad or ("" if est is not None else
                                  f"{label} is undefined at every institution for some seed "
                                  "(a group is absent or never approved)")
            claims.append(_direction(
                f"fairness_{metric.split('_')[0]}_{tag}",
                f"FMTL reduces fairness disparities vs {base} ({label}: {base} − FMTL > 0)",
                None if reason else est, fair_note, why_none=reason))
    dpm = dp[np.isclose(dp.epsilon, epsilon_main)].assign(dir_gap=lambda f: (f["dir"] - 1).abs())
    for metric, label in (("eod", "EOD"), ("dir_gap", "|1 − DIR|")):
        deg = {}
        for model in ("FedAvg", "FMTL"):
            deg[model] = (per_seed(dpm, metric, model=model)
                          - per_seed(fair, metric, model=model))
        d = (deg["FedAvg"] - deg["FMTL"]).dropna()
        reason = bad(("FedAvg", epsilon_main), ("FMTL", epsilon_main), ("FedAvg", np.inf),
                     ("FMTL", np.inf))
        claims.append(_direction(
            f"fairness_dp_{metric.split('_')[0]}",
            f"under DP FMTL's fairness degrades less than FedAvg's ({label} at ε = "
            f"{epsilon_main:g} minus without DP: FedAvg − FMTL > 0)",
            None if reason or d.empty else _seeds(d), fair_note, why_none=reason))

    # --- Fig. 3 / §8.1: the ε sweep ----------------------------------------------------------
    eps = np.sort(dp.epsilon.unique())
    e_min, e_max = float(eps[0]), float(eps[-1])
    e_mid = float(eps[np.argmin(np.abs(np.log(eps) - np.log(1.0)))])
    sweep = dp.groupby(["seed", "model", "epsilon"], as_index=False).roc_auc.mean()
    at_min = sweep[np.isclose(sweep.epsilon, e_min)]
    eps_note = f"ours at ε = {e_min:g}" + ("" if np.isclose(e_min, 0.1) else
                                           " (the smallest ε of this run)")
    for model, paper_v, tag in (("FMTL", 0.715, "fmtl"), ("FedAvg", 0.678, "fedavg")):
        reason = bad((model, e_min))
        claims.append(Claim(
            f"eps01_{tag}", f"{model} average AUC at ε = 0.1 is {paper_v:g}", paper_v,
            None if reason else _seeds(per_seed(at_min, "roc_auc", model=model)),
            tolerance=0.02, same_data=False, kind="not_checkable" if reason else "abs",
            note=f"{eps_note}; {data_note}; {AUC_TOL_NOTE}" + (f"; {reason}" if reason else "")))
    reason_min = bad(("FMTL", e_min), ("FedAvg", e_min))
    claims.append(_direction(
        "eps01_gap", "FMTL > FedAvg at ε = 0.1 (0.715 vs 0.678)",
        None if reason_min else paired(at_min, "model", "roc_auc", "FMTL", "FedAvg"),
        eps_note, why_none=reason_min))
    gap = sweep.pivot_table(index=["seed", "epsilon"], columns="model", values="roc_auc")
    gap = (gap["FMTL"] - gap["FedAvg"]).unstack("epsilon")
    reason_all = bad(*[(m, e) for m in ("FMTL", "FedAvg") for e in eps])
    claims.append(_direction(
        "eps_all_gap", "FMTL ≥ FedAvg at every ε of the sweep (min over ε of the gap > 0)",
        None if reason_all else _seeds(gap.min(axis=1)), "per seed", why_none=reason_all))
    high = [e for e in eps if e >= 2.0]
    if high and e_min < 2.0:
        conv = gap[[e_min]].abs().iloc[:, 0] - gap[high].abs().mean(axis=1)
        claims.append(_direction(
            "converge_beyond_2", "beyond ε = 2 both models converge in performance "
            f"(|gap| at ε = {e_min:g} − mean |gap| at ε ≥ 2 > 0)",
            None if reason_all else _seeds(conv), "gap = FMTL − FedAvg mean test AUC, per "
            "seed", why_none=reason_all))
    else:
        claims.append(Claim("converge_beyond_2", "beyond ε = 2 both models converge in "
                            "performance", ">", None, kind="not_checkable",
                            note="the sweep needs a point below ε = 2 and one at ε ≥ 2"))
    for model, tag in (("FedAvg", "fedavg"), ("FMTL", "fmtl")):
        s = sweep[sweep.model == model].pivot(index="seed", columns="epsilon", values="roc_auc")
        reason = bad((model, e_min), (model, e_max))
        claims.append(_direction(
            f"auc_grows_eps_{tag}", f"stronger privacy degrades AUC ({model}: AUC at ε = "
            f"{e_max:g} − at ε = {e_min:g} > 0)",
            None if reason else _seeds(s[e_max] - s[e_min]), "per seed", why_none=reason))
    slopes = {}
    for model in ("FedAvg", "FMTL"):
        s = sweep[sweep.model == model].pivot(index="seed", columns="epsilon", values="roc_auc")
        slopes[model] = (s.diff(axis=1).iloc[:, 1:].abs()
                         / np.diff(s.columns.to_numpy(dtype=float))).mean(axis=1)
    claims.append(_direction(
        "sensitivity", "|S(ε)| = |∂AUC/∂ε| is lower for FMTL than FedAvg (mean |S| FedAvg − "
        "FMTL > 0)", None if reason_all else _seeds(slopes["FedAvg"] - slopes["FMTL"]),
        "mean |finite difference| over the sweep's intervals, per seed", why_none=reason_all))

    # --- Table 3: accuracy loss, MIA risk, fairness change ----------------------------------
    base_auc = per_seed(nodp, "roc_auc", model="FMTL")
    base_eod = per_seed(nodp, "eod", model="FMTL")
    fm = dp[dp.model == "FMTL"]
    loss = {e: base_auc - per_seed(fm, "roc_auc", epsilon=e) for e in eps}
    feod = {e: (per_seed(fm, "eod", epsilon=e) - base_eod).abs() for e in eps}
    t3 = "FMTL; AUC loss = no-DP test AUC − AUC at ε (the paper's 'accuracy loss'; accuracy " \
         "at 0.5 is the majority rate here), per seed"
    for lo, hi, tag, words in ((e_min, e_mid, "lo_mid", "High at ε = 0.1 > Moderate at ε = 1"),
                               (e_mid, e_max, "mid_hi", "Moderate at ε = 1 > Low at ε = 5")):
        reason = bad(("FMTL", lo), ("FMTL", hi)) or ("" if lo < hi else
                                                     "the sweep has too few ε values")
        claims.append(_direction(
            f"table3_loss_{tag}", f"Table 3 accuracy loss: {words} (loss at ε = {lo:g} − "
            f"at ε = {hi:g} > 0)", None if reason else _seeds(loss[lo] - loss[hi]), t3,
            why_none=reason))
    reason = bad(("FMTL", e_min), ("FMTL", e_max), ("FMTL", np.inf))
    claims.append(_direction(
        "table3_fairness_change", "Table 3 fairness change grows from 'Minimal' (ε = 0.1) to "
        f"'Noticeable' (ε = 5): |ΔEOD| at ε = {e_max:g} − at ε = {e_min:g} > 0",
        None if reason else _seeds(feod[e_max] - feod[e_min]),
        "FMTL; ΔEOD = mean EOD at ε − without DP, per seed", why_none=reason))
    fmia = mia[mia.model == "FMTL"].pivot(index="seed", columns="epsilon", values="mia_auc")
    nodp_mia = mia[~np.isfinite(mia.epsilon)].groupby("seed").mia_auc.mean()
    claims += [
        _direction("mia_dp_lower", "FMTL with DP has lower MIA success than unprotected "
                   f"models (mean MIA AUC without DP − FMTL at ε = {e_min:g} > 0)",
                   _seeds(nodp_mia - fmia[e_min]), "loss-threshold attack, per seed"),
        _direction("mia_grows_eps", "Table 3: MIA risk rises from ε = 0.1 (very low) to ε = 5 "
                   f"(high): MIA AUC at ε = {e_max:g} − at ε = {e_min:g} > 0",
                   _seeds(fmia[e_max] - fmia[e_min]), "FMTL, per seed"),
    ]

    # --- §8.2 imbalance ------------------------------------------------------------------
    imb = imbalance.pivot(index="seed", columns="model", values="auc_std")
    red = 1 - imb["FMTL"] / imb["FedAvg"]
    claims += [
        Claim("imbalance_std", "under 5× imbalance with label skew the std of AUC across "
              "institutions is 35 % lower for FMTL than FedAvg", 0.35, _seeds(red),
              tolerance=0.10, same_data=False,
              note="ours: 1 − std_FMTL / std_FedAvg, no DP, on our subsampled institutions "
              "(the paper's imbalanced silos are not available); tolerance 0.10 of a ratio"),
        _direction("imbalance_std_lower", "under imbalance FMTL's AUC varies less across "
                   "institutions than FedAvg's (std FedAvg − std FMTL > 0)",
                   _seeds(imb["FedAvg"] - imb["FMTL"]), "no DP, per seed"),
    ]

    # --- Table 1 -------------------------------------------------------------------------
    t1 = table1
    for inst in INSTITUTIONS:
        synthetic = t1.loc[inst, "kind"] == "synthetic"
        key = inst.replace("-", "").lower()
        same = heloc and not synthetic
        if synthetic:
            note = ("set from Table 1: the generator draws exactly this many rows and "
                    "defaults and rescales income and utilisation to the printed mean and SD")
        elif heloc:
            note = ("measured on the user's HELOC file, split by our credit-mix rule (the "
                    "paper's split rule and its 12.3 % / 8.5 % default rates are not HELOC's "
                    "as published)")
        else:
            note = f"measured on the {source} silo actually used (not the paper's data)"

        def ours(col: str, synthetic=synthetic, inst=inst) -> Estimate | None:
            v = t1.loc[inst, col]
            if pd.isna(v):
                return None
            return Estimate.input(float(v)) if synthetic else Estimate.exact(float(v))

        claims.append(Claim(f"t1_rows_{key}", f"{inst} has {t1.loc[inst, 'paper_rows']:,.0f} "
                            "rows", float(t1.loc[inst, "paper_rows"]), ours("rows"), kind="rel",
                            tolerance=0.05, same_data=same,
                            note=note + "; tolerance 5 % (subsampling, outlier rules)"))
        claims.append(Claim(f"t1_default_{key}", f"{inst} default rate "
                            f"{t1.loc[inst, 'paper_default_rate']:.1%}",
                            float(t1.loc[inst, "paper_default_rate"]), ours("default_rate"),
                            tolerance=0.01, same_data=same,
                            note=note + "; tolerance 1 point of default rate"))
        for col, label, tol in (("income", "income", 3000.0), ("util", "credit utilisation", 0.03)):
            for stat in ("mean", "sd"):
                est = ours(f"{col}_{stat}")
                paper_v = float(t1.loc[inst, f"paper_{col}_{stat}"])
                text = f"{inst} {label} {stat} = {paper_v:g}"
                if est is None:
                    claims.append(Claim(f"t1_{col}_{stat}_{key}", text, paper_v, None,
                                        kind="not_checkable",
                                        note=f"{source} has no {label} column"))
                else:
                    claims.append(Claim(f"t1_{col}_{stat}_{key}", text, paper_v, est,
                                        tolerance=tol, same_data=same,
                                        note=note + f"; tolerance {tol:g}"))
    if heloc and features_read is not None:
        claims.append(Claim("heloc_features", "FICO HELOC has 23 features", 23.0,
                            Estimate.exact(float(features_read)), tolerance=0.0, same_data=True,
                            note="the loader refuses a file without the 23 feature columns "
                            "(count of the columns read; the paper says 23)"))
    else:
        claims.append(Claim("heloc_features", "FICO HELOC has 23 features", 23.0, None,
                            kind="not_checkable", note="HELOC is not shippable; run with "
                            "source: heloc on your copy (the loader checks the 23 columns)"))
    return claims
