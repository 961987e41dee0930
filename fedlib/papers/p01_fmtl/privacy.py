"""Chapter 1's privacy: the DP budget sweep (the paper's Fig. 3), its accountant, and dropouts.

Serves the chapter's (``chapters/01_fmtl_dp_secagg.py``) sections "Experiment 2: the privacy
budget sweep", tuned at every ε (DP-SGD, the paper's eq. 2), the accountant's table and the
ε curve with its degenerate models, and "Dropouts and what they do to the noise" (secure
aggregation's threshold and the noise each institution adds, §4.3).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedlib.book.glue import glue
from fedlib.crypto.secagg import (
    SecureAggregationAborted,
    SecureAggregationRound,
    per_client_noise_std,
    surviving_noise_std,
)
from fedlib.evaluate import grid, tune
from fedlib.fl.fmtl import auc_sensitivity, injected_noise_std
from fedlib.papers.p01_fmtl.experiment import Table2
from fedlib.papers.p01_fmtl.lab import Lab, glue_values, record_rows
from fedlib.papers.p01_fmtl.rows import HeldOutScores
from fedlib.papers.p01_fmtl.tuning import Tuned

__all__ = [
    "accountant_table",
    "chosen_dp_table",
    "Degeneracy",
    "degeneracy",
    "dp_epsilon_sweep",
    "DPSweep",
    "dropout_noise",
    "dropout_run",
    "DropoutRun",
    "epsilon_curve",
    "epsilon_study",
    "EpsilonCurve",
    "one_dropout_too_many",
    "privacy_sweep",
    "PrivateRuns",
    "record_dp_sweep",
]


@dataclass
class DPSweep:
    """The ε sweep: tuning table, chosen configurations, test rows, MIA rows, main clients."""

    sweep_table: pd.DataFrame
    chosen: dict
    dp: pd.DataFrame
    mia_rows: list
    clients_main: list | None
    seconds: float


def dp_epsilon_sweep(lab: Lab, seeds: Sequence[int], dp_grid, *, lam: float,
                     models_nodp: dict, scores: HeldOutScores | None = None) -> DPSweep:
    """Tune FedAvg and FMTL at every ε, run the chosen configuration with every seed, attack.

    Parameters
    ----------
    lab
        The chapter's :class:`Lab`.
    seeds
        Model seeds; the first one tunes.
    dp_grid
        DP configurations (lr, clip, (batch, rounds)), the same for both methods.
    lam
        FMTL's λ.
    models_nodp
        The no-DP models per seed (attacked at ε = ∞ first).
    scores
        Where every DP model's test probabilities are kept (experiment ``"dp"``), or None.

    Returns
    -------
    DPSweep
    """
    P = lab.P
    s0 = seeds[0]
    mia_rows = []
    for s in seeds:
        for label, models in models_nodp[s].items():
            mia_rows += lab.attack(models, label, np.inf, s)
    dp_sweeps, dp_chosen, dp_rows, clients_main = [], {}, [], None
    t_dp = time.perf_counter()
    for eps in P.epsilons:
        def evaluate_dp(method, cfg_dp, eps=eps):
            run, _ = lab.dp_run("fmtl" if method == "FMTL" else "fedavg", cfg_dp, eps, s0, lam)
            return lab.val_auc(run.models, method)

        res = tune({"FedAvg": dp_grid, "FMTL": dp_grid}, evaluate_dp, budget=len(dp_grid),
                   seed=P.seed)
        dp_sweeps.append(res.sweep.assign(epsilon=eps))
        for label, mode in (("FedAvg", "fedavg"), ("FMTL", "fmtl")):
            dp_chosen[(label, eps)] = res.chosen[label]
            for s in seeds:
                run, clients = lab.dp_run(mode, res.chosen[label], eps, s, lam)
                if label == "FMTL" and s == s0 and np.isclose(eps, P.epsilon):
                    clients_main = clients
                rep = lab.report(run.models, label)
                lab.keep_scores(scores, run.models, rep, experiment="dp", model=label, seed=s,
                                epsilon=eps)
                dp_rows.append(rep.assign(seed=s, epsilon=eps))
                mia_rows += lab.attack(run.models, label, eps, s)
    seconds = time.perf_counter() - t_dp
    return DPSweep(pd.concat(dp_sweeps, ignore_index=True), dp_chosen,
                   pd.concat(dp_rows, ignore_index=True), mia_rows, clients_main, seconds)


def record_dp_sweep(results, sweep: DPSweep) -> pd.DataFrame:
    """Record the DP tuning, the ε sweep's test metrics and the MIA AUCs; returns MIA means."""
    for r in sweep.sweep_table.itertuples():
        results.add_metric(experiment="dp_tuning", mode=r.method,
                           setting=f"epsilon={r.epsilon:g}, {r.config}", party="all",
                           round=None, metric="val_avg_roc_auc", value=float(r.val_score))
    record_rows(results, sweep.dp, experiment="epsilon_sweep",
                metrics=("roc_auc", "eod", "dir", "spd"),
                setting=lambda r: f"epsilon={r.epsilon:g}, seed={r.seed}")
    mia = pd.DataFrame(sweep.mia_rows)
    mia_mean = mia.groupby(["model", "epsilon", "seed"], as_index=False)[
        ["mia_auc", "mia_advantage"]].mean()
    for r in mia_mean.itertuples():
        results.add_metric(experiment="mia", mode=r.model,
                           setting=f"epsilon={r.epsilon:g}, seed={r.seed}",
                           party="mean over institutions", round=None, metric="mia_auc",
                           value=float(r.mia_auc))
    return mia_mean


def chosen_dp_table(dp_chosen: dict) -> pd.DataFrame:
    """The chosen DP configuration per ε and model."""
    chosen = pd.DataFrame([{"model": m, "epsilon": e,
                            **{k: (f"{v[0]}, {v[1]}" if k == "schedule" else v)
                               for k, v in c.items()}}
                           for (m, e), c in dp_chosen.items()]).set_index(["epsilon", "model"])
    return chosen.rename(columns={"schedule": "batch, rounds"}).sort_index()


@dataclass
class Degeneracy:
    """Which private models predict a single class or sit at chance, and why."""

    table: pd.DataFrame
    chance: pd.Series
    flagged: list

    def __call__(self, model, eps) -> str:
        """Why ``model`` at ``eps`` is not scored ('' if it is)."""
        key = (model, float(eps))
        reasons = []
        if key in self.table.index:
            row = self.table.loc[key]
            reasons.append(f"{model} at ε = {eps:g} predicts a single class at its threshold on "
                           f"{row.institutions} ({row.seeds} seed(s))")
        if key in self.chance.index and self.chance[key] < 0.55:
            reasons.append(f"{model} at ε = {eps:g} is near chance (mean test AUC "
                           f"{self.chance[key]:.3f} for a seed)")
        return "; ".join(reasons) + (": not scored" if reasons else "")

    def text(self) -> str:
        """One sentence over every flagged model."""
        if not self.flagged:
            return ("no model predicts a single class on any institution's test rows or "
                    "sits at chance")
        return "; ".join(self(m, e) for m, e in self.flagged)


def degeneracy(nodp: pd.DataFrame, dp: pd.DataFrame) -> Degeneracy:
    """Single-class (flags no one or everyone) and chance (mean AUC < 0.55) checks."""
    flags = pd.concat([nodp.assign(epsilon=np.inf), dp], ignore_index=True)
    single = flags[(flags.flagged_share <= 0.0) | (flags.flagged_share >= 1.0)]
    table = (single.groupby(["model", "epsilon"]).agg(
        seeds=("seed", "nunique"),
        institutions=("institution", lambda x: ", ".join(sorted(set(x)))))
        if len(single) else pd.DataFrame(columns=["seeds", "institutions"]))
    chance = flags.groupby(["model", "epsilon", "seed"]).roc_auc.mean().groupby(
        ["model", "epsilon"]).min()
    flagged = sorted({*table.index, *chance[chance < 0.55].index})
    return Degeneracy(table, chance, flagged)


def epsilon_curve(dp: pd.DataFrame):
    """Mean test AUC per model, ε and seed, its mean and range over seeds, and |S(ε)|.

    Returns
    -------
    tuple
        ``(sweep, sweep_mean, sens)``: per seed, per ε (with ``S(eps)``), and the mean
        |S(ε)| per model.
    """
    sweep = dp.groupby(["model", "epsilon", "seed"], as_index=False).agg(
        avg_auc=("roc_auc", "mean"), mean_eod=("eod", "mean"), accuracy=("accuracy", "mean"))
    sweep_mean = sweep.groupby(["model", "epsilon"], as_index=False).agg(
        avg_auc=("avg_auc", "mean"), lo=("avg_auc", "min"), hi=("avg_auc", "max"),
        mean_eod=("mean_eod", "mean"))
    sens = {}
    for label, g in sweep_mean.groupby("model"):
        g = g.sort_values("epsilon")
        sweep_mean.loc[g.index, "S(eps)"] = auc_sensitivity(g.epsilon, g.avg_auc)
        sens[label] = float(np.mean(np.abs(np.diff(g.avg_auc) / np.diff(g.epsilon))))
    return sweep, sweep_mean, sens


@dataclass
class PrivateRuns:
    """Experiment 2: the DP sweep (:class:`DPSweep`) and the MIA means per model, ε and seed."""

    sweep: DPSweep
    mia_mean: pd.DataFrame

    @property
    def dp(self) -> pd.DataFrame:
        """Per-institution test rows of every private run."""
        return self.sweep.dp

    @property
    def tuning_table(self) -> pd.DataFrame:
        """Validation AUC of every DP configuration at every ε."""
        return self.sweep.sweep_table.pivot_table(index=["epsilon", "config"],
                                                  columns="method", values="val_score")

    @property
    def chosen_table(self) -> pd.DataFrame:
        """The DP configuration chosen per ε and model."""
        return chosen_dp_table(self.sweep.chosen)


def privacy_sweep(lab: Lab, results, tuned: Tuned, table2: Table2) -> PrivateRuns:
    """Experiment 2: FedAvg and FMTL with DP-SGD (eq. 2) over ε (Fig. 3), tuned at every ε.

    At each ε both methods try the same grid of DP configurations (learning rate × clipping
    norm × (expected batch, rounds)) with σ calibrated to spend exactly ε, the best validation
    AUC wins (first seed), and the chosen one runs with every seed; every model, and the no-DP
    models first, is attacked by membership inference (:func:`dp_epsilon_sweep`). Records the
    sweep's time, the DP tuning, the test rows and the MIA AUCs (:func:`record_dp_sweep`).

    Parameters
    ----------
    lab
        The chapter's :class:`Lab`.
    results
        The chapter's results writer.
    tuned
        FMTL's λ comes from here.
    table2
        The no-DP models, attacked at ε = ∞.

    Returns
    -------
    PrivateRuns
    """
    P = lab.P
    dp_grid = grid(lr=P.dp_lrs, clip=P.dp_clip_norms, schedule=[tuple(s) for s in P.dp_schedules])
    glue_values(dp_budget=len(dp_grid), mia_rows_used=P.mia_rows, eps_main=P.epsilon,
                delta_used=P.delta)
    sweep = dp_epsilon_sweep(lab, lab.seeds, dp_grid, lam=tuned.lam, models_nodp=table2.models,
                             scores=lab.scores)
    results.add_timing("dp_sweep_s", sweep.seconds)
    return PrivateRuns(sweep, record_dp_sweep(results, sweep))


def accountant_table(lab: Lab, results, private: PrivateRuns) -> pd.DataFrame:
    """Each institution's accountant after FMTL's last private round at the main ε (eq. 2).

    Records each institution's RDP ε (experiment ``dp``, metric ``epsilon_rdp``).

    Returns
    -------
    pandas.DataFrame
        σ, the number of steps composed and the RDP ε at δ, per institution.
    """
    P = lab.P
    acct = pd.DataFrame([{"institution": c.name, "sigma": c.noise_multiplier,
                          "steps": c.accountant.steps,
                          "epsilon (RDP)": c.accountant.epsilon(delta=P.delta)}
                         for c in private.sweep.clients_main]).set_index("institution")
    results.add_metrics(acct["epsilon (RDP)"].rename("value").rename_axis("party").reset_index(),
                        experiment="dp", mode="FMTL", setting=f"epsilon={P.epsilon:g}",
                        round=None, metric="epsilon_rdp")
    return acct


@dataclass
class EpsilonCurve:
    """Fig. 3's data: AUC per model, ε and seed, its means, |S(ε)| and the degeneracy check."""

    sweep: pd.DataFrame
    mean: pd.DataFrame
    sens: dict
    degenerate: Degeneracy
    e_min: float

    @property
    def at(self) -> pd.Series:
        """Mean test AUC over seeds, indexed by (model, ε)."""
        return self.mean.set_index(["model", "epsilon"]).avg_auc


def epsilon_study(lab: Lab, results, table2: Table2, private: PrivateRuns) -> EpsilonCurve:
    """AUC against ε (paper 000 Fig. 3, §7), its sensitivity S(ε), and which models collapse.

    Records the mean AUC over seeds per model and ε (experiment ``epsilon_sweep``, metric
    ``avg_auc``) and glues the single-class check, the AUCs at the main and the smallest ε and
    the mean |S(ε)| per model.

    Returns
    -------
    EpsilonCurve
    """
    P = lab.P
    degenerate = degeneracy(table2.nodp, private.dp)
    sweep, sweep_mean, sens = epsilon_curve(private.dp)
    results.add_metrics(pd.DataFrame({"mode": sweep_mean.model, "value": sweep_mean.avg_auc,
                                      "setting": [f"epsilon={e:g}" for e in sweep_mean.epsilon]}),
                        experiment="epsilon_sweep", party="mean over seeds", round=None,
                        metric="avg_auc")
    curve = EpsilonCurve(sweep, sweep_mean, sens, degenerate, float(min(P.epsilons)))
    at, e_min = curve.at, curve.e_min
    glue_values(degenerate_text=degenerate.text(), eps_min=e_min,
                auc_min_fmtl=float(at[("FMTL", e_min)]), auc_min_fedavg=float(at[("FedAvg", e_min)]),
                auc_main_fmtl=float(at[("FMTL", P.epsilon)]),
                auc_main_fedavg=float(at[("FedAvg", P.epsilon)]),
                S_fmtl=sens["FMTL"], S_fedavg=sens["FedAvg"])
    return curve


@dataclass
class DropoutRun:
    """FMTL at the main ε with dropouts (§5.3): per-round log, clients and DP configuration."""

    history: pd.DataFrame
    clients: list
    config: dict


def dropout_run(lab: Lab, results, tuned: Tuned, private: PrivateRuns) -> DropoutRun:
    """FMTL at the main ε through secure aggregation with per-round dropouts (§4.3, §5.3).

    Each round each institution drops out with probability ``dropout_rate`` after the key
    sharing; a round with fewer than t survivors aborts. First seed, the DP configuration
    chosen for FMTL at the main ε. Records the average test AUC (experiment ``dropout``) and
    glues it with the number of aborted rounds and the dropout rate.

    Returns
    -------
    DropoutRun
    """
    P = lab.P
    cfg = private.sweep.chosen[("FMTL", P.epsilon)]
    run, clients = lab.dp_run("fmtl", cfg, P.epsilon, lab.seeds[0], tuned.lam, secure=True,
                              dropout=P.dropout_rate)
    history = run.history_frame()[["round", "uploaded", "dropped", "aborted",
                                   "bytes_to_server", "server_seconds"]]
    auc = float(lab.report(run.models, "FMTL + dropouts").roc_auc.mean())
    results.add_metric(experiment="dropout", mode="FMTL", setting=f"rate={P.dropout_rate:g}",
                       party="all", round=None, metric="avg_roc_auc", value=auc)
    glue_values(dropout_used=P.dropout_rate, drop_auc=auc,
                drop_aborted=int(history.aborted.sum()))
    return DropoutRun(history, clients, cfg)


def dropout_noise(lab: Lab, drop: DropoutRun) -> pd.DataFrame:
    """The DP noise in the aggregate and in W̄ for each number of survivors |U3| >= t.

    σ_c is the noise DP-SGD injects into one institution's parameters in one round
    (lr·σC/B per step of eq. 2, over its steps; the institution with the most noise). The sum
    over |U3| survivors carries σ_c·√|U3|, the average σ_c/√|U3|; the last column is the
    per-client σ_c a distributed-DP design needs for a sum std of 1 at the worst case |U3| = t.

    Returns
    -------
    pandas.DataFrame
        One row per number of survivors, from all institutions down to t.
    """
    P, cfg = lab.P, drop.config
    b = cfg["schedule"][0]
    sig_c = max(injected_noise_std(lr=cfg["lr"], noise_multiplier=c.noise_multiplier,
                                   clip_norm=c.clip_norm, batch_size=min(b, c.n_rows),
                                   steps=P.local_epochs * math.ceil(c.n_rows / min(b, c.n_rows)))
                for c in drop.clients)
    n_inst, t = len(lab.parts), lab.threshold
    return pd.DataFrame([{"survivors |U3|": k,
                          "noise std of the sum": surviving_noise_std(sig_c, k),
                          "noise std of the average W_bar": surviving_noise_std(sig_c, k) / k,
                          "distributed-DP sigma_c for a target sum std of 1 at |U3| >= t":
                              per_client_noise_std(total_noise_std=1.0, min_survivors=t)}
                         for k in range(n_inst, t - 1, -1)]).set_index("survivors |U3|")


def one_dropout_too_many(lab: Lab) -> str:
    """Run one secure-aggregation round (§4.3) with t − 1 survivors; glue its abort message.

    Parameters
    ----------
    lab
        Gives the institutions' names and the threshold t.

    Returns
    -------
    str
        The message of :class:`~fedlib.crypto.secagg.SecureAggregationAborted` ("no abort" if
        the round went through, which would be a bug of the protocol).
    """
    names, t = lab.names, lab.threshold
    try:
        SecureAggregationRound(names, threshold=t, round=0).run(
            {n: np.zeros(3) for n in names}, {"masked": set(names[: len(names) - t + 1])})
        message = "no abort"
    except SecureAggregationAborted as exc:
        message = str(exc)
    glue("abort_msg", message, display=False)
    return message
