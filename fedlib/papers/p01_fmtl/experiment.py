"""Chapter 1's runs: centralized MLP, FedAvg and FMTL (Table 2), and the imbalance ablation.

Serves the chapter's (``chapters/01_fmtl_dp_secagg.py``) sections "Experiment 1: centralized
MLP, FedAvg and FMTL (the paper's Table 2)", "What the server saw" (secure aggregation, §4.3)
and "Ablation: institution imbalance with label skew" (§8.2). Each section function runs its
step over the model seeds, records the metric rows in ``results.json`` and glues the numbers
its prose quotes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedlib.core.transcript import Transcript
from fedlib.fl.fmtl import server_view
from fedlib.fl.models import get_flat_params, predict_proba, set_flat_params
from fedlib.papers.p01_fmtl.claims import PAPER_TABLE2
from fedlib.papers.p01_fmtl.lab import Lab, glue_values, record_rows
from fedlib.papers.p01_fmtl.rows import HeldOutScores
from fedlib.papers.p01_fmtl.tuning import Tuned

__all__ = [
    "compare_paradigms",
    "Imbalance",
    "imbalance_ablation",
    "imbalance_runs",
    "ORDER",
    "predicted_scores",
    "run_table2",
    "server_received",
    "Table2",
    "table2_frame",
    "Table2Runs",
    "updates_in_clear",
]


ORDER = ["Centralized MLP", "FedAvg", "FMTL"]


@dataclass
class Table2Runs:
    """The no-DP runs of Table 2: per-institution rows, models per seed and timings."""

    nodp: pd.DataFrame
    models: dict
    timings: dict


def run_table2(lab: Lab, seeds: Sequence[int], *, central_lr: float, fedavg_lr: float,
               fmtl_lr: float, lam: float, transcript,
               scores: HeldOutScores | None = None) -> Table2Runs:
    """Centralized MLP, FedAvg and FMTL without DP, once per model seed.

    The first seed's FMTL run goes through secure aggregation and ``transcript``.

    Parameters
    ----------
    lab
        The chapter's :class:`Lab`.
    seeds
        Model seeds; the first is the one with secure aggregation and timings.
    central_lr, fedavg_lr, fmtl_lr, lam
        The tuned hyper-parameters.
    transcript
        :class:`~fedlib.core.transcript.Transcript` of the first seed's FMTL run.
    scores
        Where every model's test probabilities are kept (experiment ``"nodp"``), or None.

    Returns
    -------
    Table2Runs
    """
    s0 = seeds[0]
    rows, models_nodp, timings = [], {}, {}
    for s in seeds:
        t0 = time.perf_counter()
        w_c = lab.central(s, central_lr)
        central_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        fa_run, _ = lab.federate("fedavg", seed=s, lr=fedavg_lr, label=f"FedAvg seed {s}")
        fedavg_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        fm_run, _ = lab.federate("fmtl", seed=s, lr=fmtl_lr, lam=lam, secure=s == s0,
                                 transcript=transcript if s == s0 else None,
                                 label=f"FMTL seed {s}")
        fmtl_s = time.perf_counter() - t0
        if s == s0:
            timings = {"centralized_s": central_s, "fedavg_s": fedavg_s,
                       "fmtl_secagg_s": fmtl_s}
        models_nodp[s] = {"Centralized MLP": {n: w_c for n in lab.names},
                          "FedAvg": fa_run.models, "FMTL": fm_run.models}
        for label, models in models_nodp[s].items():
            rep = lab.report(models, label)
            lab.keep_scores(scores, models, rep, experiment="nodp", model=label, seed=s)
            rows.append(rep.assign(seed=s))
    return Table2Runs(pd.concat(rows, ignore_index=True), models_nodp, timings)


def table2_frame(nodp: pd.DataFrame, names: Sequence[str]):
    """Table 2: mean test AUC per institution, the average with its min–max over seeds.

    Returns
    -------
    tuple
        ``(table2, per_seed_avg)``: the table in the order centralized, FedAvg, FMTL, and the
        mean AUC over institutions per model and seed.
    """
    per_seed_avg = nodp.groupby(["model", "seed"]).roc_auc.mean().unstack("seed")
    table2 = nodp.groupby(["model", "institution"]).roc_auc.mean().unstack("institution")[names]
    table2["avg"] = nodp.groupby("model").roc_auc.mean()
    table2["avg (min–max over seeds)"] = [f"{per_seed_avg.loc[m].min():.3f}–"
                                          f"{per_seed_avg.loc[m].max():.3f}"
                                          for m in table2.index]
    table2["accuracy"] = nodp.groupby("model").accuracy.mean()
    return table2.loc[ORDER], per_seed_avg


def predicted_scores(lab: Lab, fmtl_models: dict, seed: int) -> pd.DataFrame:
    """Predicted default probability of every test row before training and after FMTL.

    Returns
    -------
    pandas.DataFrame
        Columns ``institution``, ``when`` and ``predicted default probability``.
    """
    score_rows = []
    init = lab.model_fn(seed)
    m = lab.model_fn(seed)
    for p in lab.parts:
        set_flat_params(m, fmtl_models[p.name])
        for when, model in (("before training", init), ("after FMTL", m)):
            score_rows.append(pd.DataFrame({"institution": p.name, "when": when,
                                            "predicted default probability":
                                                predict_proba(model, p.X_test)}))
    return pd.concat(score_rows, ignore_index=True)


def imbalance_runs(lab: Lab, skewed: Sequence, seeds: Sequence[int], *, fedavg_lr: float,
                   fmtl_lr: float, lam: float,
                   scores: HeldOutScores | None = None) -> pd.DataFrame:
    """FedAvg and FMTL on imbalanced institutions, per seed: AUC spread, mean and per institution.

    Parameters
    ----------
    lab
        The chapter's :class:`Lab`.
    skewed
        Institutions from :func:`~fedlib.data.institutions.imbalance_institutions`.
    seeds
        Model seeds.
    fedavg_lr, fmtl_lr, lam
        The tuned hyper-parameters.
    scores
        Where the test probabilities are kept (experiment ``"imbalance"``; the test rows are
        the unchanged ones of ``lab.parts``), or None.

    Returns
    -------
    pandas.DataFrame
        One row per seed and model: ``auc_std`` (across institutions, ddof 0), ``avg_auc`` and
        one AUC column per institution.
    """
    rows = []
    for s in seeds:
        for mode, label, lr_value, lam_value in (("fedavg", "FedAvg", fedavg_lr, 0.0),
                                                 ("fmtl", "FMTL", fmtl_lr, lam)):
            run, _ = lab.federate(mode, seed=s, lr=lr_value, lam=lam_value, institutions=skewed,
                                  label=f"{label} imbalanced seed {s}")
            rep = lab.report(run.models, label, skewed)
            lab.keep_scores(scores, run.models, rep, experiment="imbalance", model=label, seed=s,
                            institutions=skewed)
            rows.append({"seed": s, "model": label, "auc_std": rep.roc_auc.std(ddof=0),
                         "avg_auc": rep.roc_auc.mean(),
                         **{n: a for n, a in zip(rep.institution, rep.roc_auc, strict=True)}})
    return pd.DataFrame(rows)


@dataclass
class Table2:
    """The paper's Table 2 measured: per-institution rows, models, transcript, the table."""

    nodp: pd.DataFrame
    models: dict
    transcript: Transcript
    table: pd.DataFrame
    per_seed_avg: pd.DataFrame
    below_inst: list

    @property
    def side(self) -> pd.DataFrame:
        """Our table (mean over seeds) above the paper's."""
        return pd.concat({"ours (mean over seeds)": self.table, "paper": PAPER_TABLE2}, axis=0)

    @property
    def no_dp_auc(self) -> dict[str, float]:
        """Average test AUC without DP of FedAvg and FMTL (the ε figure's reference lines)."""
        return {label: float(self.table.loc[label, "avg"]) for label in ("FedAvg", "FMTL")}


def compare_paradigms(lab: Lab, results, tuned: Tuned) -> Table2:
    """Experiment 1: centralized MLP, FedAvg and FMTL without DP (paper 000 Table 2, Fig. 4).

    Every model runs once per seed with its tuned hyper-parameters (:func:`run_table2`; the
    first seed's FMTL run through secure aggregation, §4.3, logged to a transcript). Records
    the timings of the first seed and every per-institution metric row (experiment
    ``table2``), and glues the averages, the per-seed gaps, the institutions where FMTL is
    below the better baseline, the spread of AUC across institutions and the majority-class
    accuracy.

    Parameters
    ----------
    lab
        The chapter's :class:`Lab` (its ``scores`` keep the test probabilities).
    results
        The chapter's results writer.
    tuned
        From :func:`tune_models`.

    Returns
    -------
    Table2
    """
    P, names = lab.P, lab.names
    transcript = Transcript(keep_payloads=False)
    runs = run_table2(lab, lab.seeds, central_lr=tuned.central_lr, fedavg_lr=tuned.fedavg_lr,
                      fmtl_lr=tuned.fmtl_lr, lam=tuned.lam, transcript=transcript,
                      scores=lab.scores)
    for key, seconds in runs.timings.items():
        results.add_timing(key, seconds)
    record_rows(results, runs.nodp, experiment="table2",
                metrics=("roc_auc", "accuracy", "eod", "dir", "spd"),
                setting=lambda r: f"no DP, seed={r.seed}", round=P.rounds)
    table2, per_seed_avg = table2_frame(runs.nodp, names)
    best_other = table2.loc[["FedAvg", "Centralized MLP"], names].max()
    below = [n for n in names if table2.loc["FMTL", n] < best_other[n]]
    inst_std = runs.nodp.groupby(["model", "seed"]).roc_auc.std(ddof=0).groupby("model").mean()
    gap = {other: per_seed_avg.loc["FMTL"] - per_seed_avg.loc[other]
           for other in ("FedAvg", "Centralized MLP")}
    glue_values(
        rounds_used=P.rounds, lam_used=tuned.lam,
        majority_acc=float(np.mean([max(p.y_test.mean(), 1 - p.y_test.mean())
                                    for p in lab.parts])),
        t2_fmtl=float(table2.loc["FMTL", "avg"]), t2_fedavg=float(table2.loc["FedAvg", "avg"]),
        t2_central=float(table2.loc["Centralized MLP", "avg"]),
        gap_fedavg_text=", ".join(f"{v:+.3f}" for v in gap["FedAvg"]),
        gap_central_text=", ".join(f"{v:+.3f}" for v in gap["Centralized MLP"]),
        below_inst_text=", ".join(below) if below else "none",
        std_fmtl=float(inst_std["FMTL"]), std_fedavg=float(inst_std["FedAvg"]),
        std_central=float(inst_std["Centralized MLP"]))
    return Table2(runs.nodp, runs.models, transcript, table2, per_seed_avg, below)


def updates_in_clear(view: pd.DataFrame) -> pd.DataFrame:
    """The rows of a server view where an individual model update arrived unmasked.

    >>> view = pd.DataFrame({"kind": ["masked", "plaintext"], "label": ["masked_input"] * 2})
    >>> len(updates_in_clear(view)), len(updates_in_clear(view.iloc[:1]))
    (0, 0)
    """
    return view[view.kind.isin(["plaintext", "noisy"]) & (view.label == "model_update")]


def server_received(lab: Lab, results, transcript: Transcript) -> pd.DataFrame:
    """What the server received in the secure-aggregation run (§4.3), and its cost.

    Records the kilobytes sent to the server per round (experiment ``secagg``) and glues them
    per round, per institution and round, and the model's parameter count.

    Parameters
    ----------
    lab
        The chapter's :class:`Lab`.
    results
        The chapter's results writer.
    transcript
        The transcript of the first seed's FMTL run (:attr:`Table2.transcript`).

    Returns
    -------
    pandas.DataFrame
        :func:`~fedlib.fl.fmtl.server_view`: messages and bytes per kind and label.
    """
    per_round = transcript.bytes_sent(receiver="server") / lab.P.rounds
    results.add_metric(experiment="secagg", mode="FMTL", setting="no dropout", party="all",
                       round=None, metric="kb_to_server_per_round", value=per_round / 1e3)
    glue_values(bytes_per_round=per_round / 1e3,
                bytes_per_client_round=per_round / len(lab.parts) / 1e3,
                n_params=int(get_flat_params(lab.model_fn()).size))
    return server_view(transcript)


@dataclass
class Imbalance:
    """The §8.2 ablation: skewed institutions and the AUC spread per model."""

    sizes: pd.DataFrame
    means: pd.DataFrame


def imbalance_ablation(lab: Lab, results, tuned: Tuned, skewed: Sequence) -> Imbalance:
    """FedAvg and FMTL on imbalanced, label-skewed institutions (paper 000 §8.2, Fig. 4).

    No DP, every seed, the hyper-parameters tuned above (:func:`imbalance_runs`). Records the
    standard deviation of AUC across institutions per model and seed (experiment
    ``imbalance``) and glues how much lower FMTL's is than FedAvg's (mean over seeds).

    Parameters
    ----------
    lab
        The chapter's :class:`Lab`.
    results
        The chapter's results writer.
    tuned
        From :func:`tune_models`.
    skewed
        From :func:`~fedlib.data.institutions.imbalance_institutions`.

    Returns
    -------
    Imbalance
    """
    P = lab.P
    imb = imbalance_runs(lab, skewed, lab.seeds, fedavg_lr=tuned.fedavg_lr, fmtl_lr=tuned.fmtl_lr,
                         lam=tuned.lam, scores=lab.scores)
    means = imb.groupby("model")[["auc_std", "avg_auc", *lab.names]].mean()
    results.add_metrics(pd.DataFrame({
        "mode": imb.model, "value": imb.auc_std,
        "setting": [f"ratio={P.imbalance_ratio:g}, skew={P.label_skew:g}, seed={s}"
                    for s in imb.seed]}),
        experiment="imbalance", party="all", round=P.rounds, metric="auc_std")
    glue_values(imb_ratio_used=P.imbalance_ratio, label_skew_used=P.label_skew,
                std_reduction=float(1 - means.loc["FMTL", "auc_std"]
                                    / means.loc["FedAvg", "auc_std"]))
    sizes = pd.DataFrame({"train rows": [p.n_train for p in skewed],
                          "train default rate": [p.y_train.mean() for p in skewed]},
                         index=[p.name for p in skewed])
    return Imbalance(sizes, means)
