"""The steps of chapter 1 that its cells call: one federated run, the sweeps and their tables.

Chapter 1 (``chapters/01_fmtl_dp_secagg.py``) reproduces Nagaraj (2024): FMTL (eq. 1),
FedAvg and a centralized MLP on four institutions, with DP-SGD (eq. 2) and secure aggregation
(§4.3). Each cell of the chapter calls one *section* function (the last part of this module:
:func:`tune_models`, :func:`compare_paradigms`, :func:`privacy_sweep`, …) that runs its step,
records the metric rows in ``results.json`` and glues the numbers its prose quotes; the
building blocks below them (:class:`Lab`, the runs over seeds, the tables and figures) are
what the sections call.

Examples
--------
>>> grid_position(1.0, [0.1, 1.0, 10.0])
'inside its grid'
>>> grid_position(10.0, [0.1, 1.0, 10.0])
'at the edge of its grid'
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from IPython.display import Markdown
from tqdm.std import tqdm

from fedlib.book.glue import glue
from fedlib.book.pages import verdict_counts
from fedlib.core.transcript import Transcript
from fedlib.crypto.secagg import (
    SecureAggregation,
    SecureAggregationAborted,
    SecureAggregationRound,
    per_client_noise_std,
    surviving_noise_std,
)
from fedlib.data.institutions import measure_table1, validation_view
from fedlib.evaluate import grid, tune
from fedlib.evaluate.figures import (
    LINE_STYLES,
    book_theme,
    legend_below,
    new_figure,
    plot_epsilon_curve,
    tilt_crowded_ticks,
)
from fedlib.fl.fmtl import (
    auc_sensitivity,
    injected_noise_std,
    institution_report,
    make_clients,
    run_federated,
    server_view,
    train_centralized,
)
from fedlib.fl.models import MLP, get_flat_params, predict_proba, set_flat_params
from fedlib.papers.p01_fmtl.claims import PAPER_TABLE2, chapter01_claims
from fedlib.papers.p01_fmtl.rows import HeldOutRows, HeldOutScores, auc_spread
from fedlib.privacy.attacks import membership_inference

ORDER = ["Centralized MLP", "FedAvg", "FMTL"]


def secagg_threshold(n_inst: int, fraction: float) -> int:
    """Secure aggregation threshold t: ``fraction`` of the institutions, at least a majority.

    Parameters
    ----------
    n_inst
        Number of institutions.
    fraction
        Threshold as a share of the institutions.

    Returns
    -------
    int
        t >= 2 and 2t > n_inst.

    Examples
    --------
    >>> secagg_threshold(4, 0.75)
    3
    """
    threshold = max(2, math.floor(fraction * n_inst))
    if 2 * threshold <= n_inst:
        threshold = n_inst // 2 + 1
    return threshold


def metric_setting(setting: str, row, metric: str) -> str:
    """The results.json setting of a metric row; an undefined fairness metric says why."""
    value = getattr(row, metric)
    if metric in ("eod", "dir", "spd") and not np.isfinite(value):
        return f"{setting}; undefined: {row.fairness_note or 'not computed'}"
    return setting


def grid_position(value: float, values: Sequence[float]) -> str:
    """Whether a chosen value is at the edge of its grid or inside it."""
    return ("at the edge of its grid" if len(values) > 1 and value in (min(values), max(values))
            else "inside its grid")


@dataclass
class Lab:
    """Chapter 1's institutions and settings, with the runs every experiment makes.

    Parameters
    ----------
    P
        The chapter's validated parameters (``Chapter01Params``).
    parts
        Prepared institutions (``prepare_institutions``).
    threshold
        Secure aggregation threshold t.
    val_parts
        The institutions with their validation rows as test rows (``validation_view``).
    scores
        Where every compared model's test probabilities are kept for the claims' intervals.

    Attributes
    ----------
    seeds : list of int
        The model seeds ``seed, seed+1, ...`` (``n_seeds`` of them); the data split is fixed.

    Notes
    -----
    ``federate`` is one run of :func:`fedlib.fl.fmtl.run_federated` (FedAvg or FMTL, with or
    without DP, secure aggregation and dropouts); ``central`` trains the pooled MLP;
    ``report`` evaluates models per institution on their test rows.
    """

    P: Any
    parts: list
    threshold: int
    n_features: int = field(init=False)
    names: list = field(init=False)
    val_parts: list | None = None
    scores: HeldOutScores | None = None
    seeds: list = field(init=False)
    pooled_X: np.ndarray = field(init=False)
    pooled_y: np.ndarray = field(init=False)

    def __post_init__(self):
        self.seeds = [self.P.seed + k for k in range(self.P.n_seeds)]
        self.n_features = self.parts[0].X_train.shape[1]
        self.names = [p.name for p in self.parts]
        self.pooled_X = np.concatenate([p.X_train for p in self.parts])
        self.pooled_y = np.concatenate([p.y_train for p in self.parts])

    def model_fn(self, seed_value: int | None = None) -> MLP:
        """A fresh MLP, seeded with ``seed_value`` (default: the data seed)."""
        seed_value = self.P.seed if seed_value is None else seed_value
        return MLP(self.n_features, tuple(self.P.hidden), seed=seed_value)

    def federate(self, mode, *, seed, lr, lam=0.0, eps=None, clip=1.0, batch=None, rounds=None,
                 secure=False, dropout=0.0, institutions=None, transcript=None, label=None,
                 algorithm=None):
        """One federated run; returns (run, clients)."""
        P = self.P
        institutions = self.parts if institutions is None else institutions
        batch = batch or P.batch_size
        rounds = rounds or P.rounds
        clients = make_clients(institutions, epsilon=eps, delta=P.delta, clip_norm=clip,
                               rounds=rounds, epochs=P.local_epochs, batch_size=batch)
        sa = SecureAggregation(threshold=self.threshold) if secure else None
        with tqdm(total=rounds, desc=label or mode, leave=False, file=sys.stderr) as bar:
            run = run_federated(clients, model_fn=lambda: self.model_fn(seed), mode=mode,
                                rounds=rounds, lam=lam, epochs=P.local_epochs, lr=lr,
                                batch_size=batch, seed=seed, secure_aggregation=sa,
                                dropout_rate=dropout, algorithm=algorithm or P.fmtl_algorithm,
                                transcript=transcript, on_round=lambda log, run: bar.update(),
                                noise_seed=seed)
        return run, clients

    def central(self, seed, lr):
        """The centralized MLP trained on the pooled training rows; returns its parameters."""
        P = self.P
        return train_centralized(self.model_fn(seed), self.pooled_X, self.pooled_y,
                                 epochs=P.rounds * P.local_epochs, lr=lr,
                                 batch_size=P.batch_size, seed=seed)

    def report(self, models, model_label, institutions=None):
        """Per-institution test metrics of ``models``, with a ``model`` column."""
        institutions = self.parts if institutions is None else institutions
        rep = institution_report(models, self.model_fn, institutions)
        rep.insert(0, "model", model_label)
        return rep

    def keep_scores(self, scores: HeldOutScores | None, models, rep: pd.DataFrame, *,
                    experiment: str, model: str, seed: int, epsilon: float = np.inf,
                    institutions=None) -> None:
        """Keep ``models``' test probabilities per institution in ``scores`` (if given).

        With the decision cuts of their report ``rep``, for the test-row bootstrap of the claims.
        """
        if scores is None:
            return
        institutions = self.parts if institutions is None else institutions
        mdl = self.model_fn()
        proba = []
        for p in institutions:
            set_flat_params(mdl, models[p.name])
            proba.append(predict_proba(mdl, p.X_test))
        scores.add(experiment=experiment, model=model, seed=seed, epsilon=epsilon, proba=proba,
                   cuts=rep.set_index("institution").threshold[[p.name for p in institutions]])

    def val_auc(self, models, label):
        """Mean validation ROC-AUC over the institutions."""
        return float(self.report(models, label, self.val_parts).roc_auc.mean())

    def evaluate_nodp(self, method, cfg, seed):
        """Validation AUC of one no-DP configuration (the tuning's score)."""
        if method == "Centralized MLP":
            w = self.central(seed, cfg["lr"])
            return self.val_auc({n: w for n in self.names}, method)
        mode = "fmtl" if method == "FMTL" else "fedavg"
        if (mode == "fmtl" and self.P.fmtl_algorithm == "alternating"
                and 2 * cfg["lam"] * cfg["lr"] >= 1):
            return float("nan")   # the alternating optimiser needs 2·λ·lr < 1: counted as worst
        run, _ = self.federate(mode, seed=seed, lr=cfg["lr"], lam=cfg.get("lam", 0.0),
                               label=f"tuning {method} {cfg}")
        return self.val_auc(run.models, method)

    def dp_run(self, mode, cfg_dp, eps, s, lam, **kw):
        """One DP run of ``mode`` with a DP configuration (lr, clip, (batch, rounds))."""
        batch, rounds_dp = cfg_dp["schedule"]
        return self.federate(mode, seed=s, lr=cfg_dp["lr"], lam=lam if mode == "fmtl" else 0.0,
                             eps=eps, clip=cfg_dp["clip"], batch=batch, rounds=rounds_dp,
                             label=f"{mode} ε={eps:g} {cfg_dp}", **kw)

    def attack(self, models, label, eps, s):
        """Membership-inference rows (one per institution) against ``models``."""
        out = []
        mdl = self.model_fn(s)
        for p in self.parts:
            set_flat_params(mdl, models[p.name])
            k = min(self.P.mia_rows, p.n_train, len(p.y_test))
            res = membership_inference(lambda X, mdl=mdl: predict_proba(mdl, X), p.X_train,
                                       p.y_train, p.X_test, p.y_test, n=k, seed=s)
            out.append({"model": label, "epsilon": eps, "seed": s, "institution": p.name,
                        "mia_auc": res["auc"], "mia_advantage": res["advantage"]})
        return out


def record_tuning(results, sweep: pd.DataFrame, rounds: int) -> None:
    """Record each tuning configuration's validation AUC."""
    for r in sweep.itertuples():
        results.add_metric(experiment="tuning", mode=r.method, setting=r.config, party="all",
                           round=rounds, metric="val_avg_roc_auc", value=float(r.val_score))


def grid_note(P, lam_chosen, fmtl_lr, fedavg_lr, central_lr) -> str:
    """Where each chosen hyper-parameter sits in its grid, as one sentence."""
    edges = {"FMTL λ": grid_position(lam_chosen, P.fmtl_lams),
             "FMTL learning rate": grid_position(fmtl_lr, P.fmtl_lrs),
             "FedAvg learning rate": grid_position(fedavg_lr, P.baseline_lrs),
             "centralized learning rate": grid_position(central_lr, P.baseline_lrs)}
    return "; ".join(f"{k} {v}" for k, v in edges.items())


def lambda_sweep(lab: Lab, *, seed: int, fmtl_lr: float, fedavg_val: float):
    """FMTL's validation AUC over the λ sweep, joint and alternating optimisers.

    Parameters
    ----------
    lab
        The chapter's :class:`Lab`.
    seed
        Model seed of every run.
    fmtl_lr
        Learning rate of the joint optimiser (the tuned one).
    fedavg_val
        FedAvg's tuned validation AUC; the sweep notes where FMTL meets it (within 0.002).

    Returns
    -------
    tuple
        ``(lam_table, meets)``: one row per optimiser and λ, and the first λ where the joint
        optimiser meets FedAvg (None if it never does).
    """
    P = lab.P
    lam_rows, meets = [], None
    for lam_value in P.lam_sweep:
        run, _ = lab.federate("fmtl", seed=seed, lr=fmtl_lr, lam=lam_value, algorithm="joint",
                              label=f"FMTL λ={lam_value:g}")
        v = lab.val_auc(run.models, "FMTL")
        dist = float(np.mean([np.linalg.norm(w - run.global_params)
                              for w in run.models.values()]))
        lam_rows.append({"optimiser": "joint (ours)", "lambda": lam_value, "lr": fmtl_lr,
                         "val AUC": v, "mean ‖W_i − W̄‖": dist})
        if meets is None and v >= fedavg_val - 0.002:
            meets = lam_value
    alt_lams = sorted({lam for lam in [*P.lam_sweep, 0.3] if 2 * lam * 1.0 < 1})
    for lam_value in alt_lams:
        run, _ = lab.federate("fmtl", seed=seed, lr=1.0, lam=lam_value, algorithm="alternating",
                              label=f"alternating λ={lam_value:g}")
        init_dist = float(np.linalg.norm(run.global_params
                                         - get_flat_params(lab.model_fn(seed))))
        lam_rows.append({"optimiser": "alternating", "lambda": lam_value, "lr": 1.0,
                         "val AUC": lab.val_auc(run.models, "FMTL"),
                         "mean ‖W_i − W̄‖": float(np.mean([np.linalg.norm(w - run.global_params)
                                                          for w in run.models.values()])),
                         "‖W̄ − W̄_0‖": init_dist})
    return pd.DataFrame(lam_rows), meets


def record_lambda_sweep(results, lam_table: pd.DataFrame, rounds: int) -> None:
    """Record the λ sweep's validation AUCs."""
    for r in lam_table.itertuples():
        results.add_metric(experiment="lambda_sweep", mode=f"FMTL {r.optimiser}",
                           setting=f"lambda={r[2]:g}, lr={r.lr:g}", party="all", round=rounds,
                           metric="val_avg_roc_auc", value=float(r[4]))


def lambda_texts(lam_table: pd.DataFrame, meets, lam_sweep) -> dict[str, str]:
    """The λ sweep's sentences: where FMTL meets FedAvg, the alternating AUCs and moves."""
    alt = lam_table[lam_table.optimiser == "alternating"].set_index("lambda")
    return {
        "meets_text": (f"FMTL's validation AUC meets FedAvg's at λ = {meets:g}"
                       if meets is not None
                       else f"FMTL's validation AUC stays below FedAvg's over the whole sweep "
                       f"(up to λ = {max(lam_sweep):g})"),
        "alt_text": ", ".join(f"{v:.3f} at λ = {k:g}" for k, v in alt["val AUC"].items()),
        "alt_move_text": ", ".join(f"{v:.2f} at λ = {k:g}"
                                   for k, v in alt["‖W̄ − W̄_0‖"].items()),
    }


def lambda_figure(lam_table: pd.DataFrame, fedavg_val: float):
    """Figure: FMTL's validation AUC against λ for both optimisers, FedAvg dashed."""
    with book_theme():
        fig, ax = new_figure(3.4)
        for i, (opt, g) in enumerate(lam_table.groupby("optimiser")):
            x = np.maximum(g["lambda"].to_numpy(), 1e-3)
            ax.plot(x, g["val AUC"], marker="os"[i % 2], ls=LINE_STYLES[i % len(LINE_STYLES)],
                    label=f"FMTL, {opt} (lr {g.lr.iloc[0]:g})")
        ax.axhline(fedavg_val, ls="--", color="black", label="FedAvg (tuned)")
        ax.set_xscale("log")
        ax.set(xlabel="λ (0 drawn at 1e-3)", ylabel="mean validation AUC")
        legend_below(fig, ax)
    return fig


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


def record_rows(results, frame: pd.DataFrame, *, experiment: str, metrics: Sequence[str],
                setting: Callable, round=None) -> None:
    """Record per-institution metric rows; ``setting(row)`` names each row's setting."""
    for r in frame.itertuples():
        for metric in metrics:
            results.add_metric(experiment=experiment, mode=r.model,
                               setting=metric_setting(setting(r), r, metric),
                               party=r.institution, round=round, metric=metric,
                               value=float(getattr(r, metric)))


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


def auc_bars_figure(nodp: pd.DataFrame):
    """Figure: test AUC per institution and model (mean bars, min–max lines over seeds)."""
    import seaborn as sns

    bars = nodp.rename(columns={"roc_auc": "AUC"})
    with book_theme():
        fig, ax = new_figure(3.6)
        sns.barplot(data=bars, x="institution", y="AUC", hue="model", hue_order=ORDER,
                    errorbar=("pi", 100), ax=ax)
        ax.set_ylim(0.5, max(0.85, bars.AUC.max() + 0.03))
        ax.set(xlabel="institution", ylabel="test AUC")
        legend_below(fig, ax)
        tilt_crowded_ticks(fig, ax)
    return fig


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


def score_kde_figure(lab: Lab, fmtl_models: dict, seed: int):
    """Figure: densities of predicted default probability before training and after FMTL."""
    return score_density_figure(predicted_scores(lab, fmtl_models, seed))


def score_density_figure(score_frame: pd.DataFrame):
    """Two panels (before training, after FMTL) of score densities, one line per institution.

    Parameters
    ----------
    score_frame
        From :func:`predicted_scores`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    institutions = list(pd.unique(score_frame.institution))
    with book_theme():
        fig, axes = new_figure(3.4, ncols=2, sharey=False)
        for j, (ax, when) in enumerate(zip(axes, ["before training", "after FMTL"],
                                           strict=True)):
            sns.kdeplot(data=score_frame[score_frame.when == when],
                        x="predicted default probability", hue="institution",
                        hue_order=institutions, common_norm=False, ax=ax, warn_singular=False,
                        legend=j == 0)
            ax.set(title=when, ylabel="density")
        legend_below(fig, axes[0], ncols=4)
    return fig


def epsilon_figure(sweep: pd.DataFrame, no_dp_auc: Mapping[str, float]):
    """Average test AUC against ε per model, each model's no-DP AUC as a dotted line.

    Parameters
    ----------
    sweep
        Rows ``model``, ``epsilon``, ``avg_auc`` (one per seed).
    no_dp_auc
        Model name → its average AUC without DP.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = plot_epsilon_curve(sweep.rename(columns={"model": "mode"}), x="epsilon",
                             y="avg_auc", hue="mode", ylabel="average AUC over institutions")
    ax = fig.axes[0]
    # The reference line takes its model's colour, so the two stay apart.
    handles = dict(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    for label, auc in no_dp_auc.items():
        colour = handles[label].get_color() if label in handles else "grey"
        ax.axhline(float(auc), ls=":", lw=1.2, color=colour, label=f"{label}, no DP")
    with book_theme():
        legend_below(fig, ax)
    return fig


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


def data_texts(data, table1: pd.DataFrame, protected: str | None) -> dict[str, str]:
    """The sentences on the data: how the real rows differ, the protected proxy, one-group notes.

    Parameters
    ----------
    data
        The loaded institutions (``load_institutions`` or ``load_csv_institutions``).
    table1
        :func:`~fedlib.data.institutions.measure_table1` of ``data``.
    protected
        The user's protected-group expression (source ``csv``), or None.

    Returns
    -------
    dict
        Glue key → text: ``data_sentence``, ``proxy_text`` and ``one_group_note``.
    """
    real = table1[table1.kind == "real"]
    real_rate = float((real.rows * real.default_rate).sum() / real.rows.sum())
    source_name = {"lending_club": "LendingClub", "heloc": "HELOC"}.get(data.source,
                                                                         "your table's")
    sentence = (f"The real rows are not the paper's: the {source_name} silos have "
                f"{real_rate:.1%} defaults (the paper: 12.3 % and 8.5 %)")
    if data.income:
        sentence += (f" and a mean income near {real.income_mean.mean():,.0f} dollars (the "
                     "paper: 52k and 47k)")
    else:
        sentence += (f", and {source_name} has no income column, so Table 1's income is not "
                     "checkable")
    sentence += "."
    if data.source == "heloc":
        sentence += (" The paper's default rates cannot be HELOC as published either: "
                     f"{real_rate:.0%} of this file's rows are 'Bad'.")
    elif data.source == "csv":
        sentence += f" {data.note}" if data.note else ""
    else:
        sentence += (" Nor can they be the HELOC file as published: about half of HELOC's rows "
                     "are 'Bad' (90+ days past due), and HELOC has no income column.")
    proxy = {"lending_club": "employment shorter than three years",
             "heloc": "a credit file younger than ten years (MSinceOldestTradeOpen < 120)"}.get(
        data.source, f"your protected group ({protected})" if protected
        else "no protected group (none given: every fairness metric is undefined)")
    one_group = [i for i, r in table1.iterrows() if r.protected_share in (0.0, 1.0)]
    note = (" At " + ", ".join(one_group) + " only one group occurs in the data, so EOD, DIR "
            "and SPD are undefined there: they are reported as NaN with that reason and left "
            "out of every mean and claim.") if one_group else ""
    return {"data_sentence": sentence, "proxy_text": proxy, "one_group_note": note}


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


# ---------------------------------------------------------------------------------------------
# The chapter's sections: one call per cell. Each runs a step of the paper's protocol, records
# its metric rows in ``results.json`` and glues the numbers that the prose beside it quotes.
# ---------------------------------------------------------------------------------------------


def glue_values(**values: Any) -> None:
    """Glue each keyword's value under its name, for ``{glue:text}`` in the chapter's prose."""
    for key, value in values.items():
        glue(key, value, display=False)


def describe_institutions(results, data, protected: str | None) -> pd.DataFrame:
    """The four institutions as the paper's Table 1 measures them, recorded and described.

    Records the dataset and its parties, and every Table 1 statistic per institution
    (experiment ``table1``), and glues the sentences of :func:`data_texts`.

    Parameters
    ----------
    results
        The chapter's :class:`~fedlib.book.results.ResultsWriter`.
    data
        The loaded institutions (``load_institutions`` or ``load_csv_institutions``).
    protected
        The user's protected-group expression (source ``csv``), or None.

    Returns
    -------
    pandas.DataFrame
        :func:`~fedlib.data.institutions.measure_table1` of ``data`` (paper 000 Table 1).
    """
    table1 = measure_table1(data)
    results.set_dataset(f"{data.source} + GMM synthetic", rows=int(table1.rows.sum()), parties=[
        {"name": i, "rows": int(r.rows), "positive_rate": float(r.default_rate)}
        for i, r in table1.iterrows()])
    results.add_metrics(table1.rename_axis("party").reset_index()
                        .melt(id_vars="party", var_name="metric", value_vars=[
                            "rows", "default_rate", "income_mean", "income_sd", "util_mean",
                            "util_sd", "protected_share"]).dropna(subset="value"),
                        experiment="table1", mode="data", setting=data.source, round=None)
    glue_values(**data_texts(data, table1, protected))
    return table1


def split_summary(parts: Sequence, P) -> pd.DataFrame:
    """Rows per institution after the split and the §5.1 preprocessing.

    Parameters
    ----------
    parts
        From :func:`~fedlib.data.institutions.prepare_institutions`.
    P
        The chapter's parameters (the shares and the IQR factor, glued for the prose).

    Returns
    -------
    pandas.DataFrame
        Train, validation and test rows, rows dropped by the IQR filter and the training
        default rate, per institution.
    """
    glue_values(iqr_k_used=P.iqr_k, test_pct=P.test_fraction, val_pct=P.val_fraction,
                n_features=parts[0].X_train.shape[1])
    return pd.DataFrame([{"institution": p.name, "train rows": p.n_train,
                          "validation rows": p.n_val, "test rows": len(p.y_test),
                          "rows dropped by IQR": p.rows_filtered,
                          "train default rate": p.y_train.mean()}
                         for p in parts]).set_index("institution")


def make_lab(P, parts: Sequence) -> Lab:
    """The chapter's :class:`Lab`: institutions, threshold t (§4.3), seeds and held-out rows.

    Parameters
    ----------
    P
        The chapter's parameters.
    parts
        Prepared institutions, with validation rows.

    Returns
    -------
    Lab
        With ``val_parts`` (hyper-parameters are scored there) and ``scores``, one bootstrap
        draw of the test rows shared by every model (``n_boot`` resamples, stratified by
        institution and label) in which every compared model's test probabilities are kept.
    """
    threshold = secagg_threshold(len(parts), P.threshold_fraction)
    lab = Lab(P, list(parts), threshold, val_parts=validation_view(parts),
              scores=HeldOutScores(HeldOutRows.of(parts, n_boot=P.n_boot, seed=P.seed)))
    glue_values(n_seeds=len(lab.seeds), threshold=threshold, n_inst=len(parts))
    return lab


@dataclass
class Tuned:
    """The hyper-parameters chosen on validation rows, and the sweep that chose them."""

    result: Any
    lam: float
    fmtl_lr: float
    fedavg_lr: float
    central_lr: float
    fedavg_val: float

    @property
    def table(self) -> pd.DataFrame:
        """Validation AUC of every configuration tried (configurations × methods)."""
        return self.result.sweep.pivot_table(index="config", columns="method",
                                             values="val_score")


def tune_models(lab: Lab, results) -> Tuned:
    """Tune FMTL (λ × lr), FedAvg and the centralized MLP (lr) alike on validation rows.

    Paper 000 gives neither λ of eq. 1 nor a learning rate; each model gets the same budget of
    configurations (``tune_budget``) and the best mean validation ROC-AUC over the
    institutions wins (:func:`fedlib.evaluate.tune`), first model seed, no DP.

    Parameters
    ----------
    lab
        The chapter's :class:`Lab`.
    results
        Where each configuration's validation AUC is recorded (experiment ``tuning``).

    Returns
    -------
    Tuned
    """
    P, s0 = lab.P, lab.seeds[0]
    tuned = tune({"FMTL": grid(lam=P.fmtl_lams, lr=P.fmtl_lrs),
                  "FedAvg": grid(lr=P.baseline_lrs),
                  "Centralized MLP": grid(lr=P.baseline_lrs)},
                 lambda method, cfg: lab.evaluate_nodp(method, cfg, s0),
                 budget=P.tune_budget, seed=P.seed)
    cfg = tuned.chosen
    record_tuning(results, tuned.sweep, P.rounds)
    best_val = tuned.sweep[tuned.sweep.chosen].set_index("method").val_score
    out = Tuned(tuned, cfg["FMTL"]["lam"], cfg["FMTL"]["lr"], cfg["FedAvg"]["lr"],
                cfg["Centralized MLP"]["lr"], float(best_val["FedAvg"]))
    glue_values(budget_used=P.tune_budget, tuned_text=tuned.describe(),
                grid_note=grid_note(P, out.lam, out.fmtl_lr, out.fedavg_lr, out.central_lr))
    return out


@dataclass
class LambdaSweep:
    """FMTL's validation AUC over λ (both optimisers of eq. 1) and where it meets FedAvg."""

    table: pd.DataFrame
    meets: float | None


def sweep_lambda(lab: Lab, results, tuned: Tuned) -> LambdaSweep:
    """The λ sweep of eq. 1 with the tuned learning rate, joint and alternating optimisers.

    Runs :func:`lambda_sweep` with the first model seed, records each run's validation AUC
    (experiment ``lambda_sweep``) and glues the sentences of :func:`lambda_texts`.

    Parameters
    ----------
    lab
        The chapter's :class:`Lab`.
    results
        The chapter's results writer.
    tuned
        From :func:`tune_models`.

    Returns
    -------
    LambdaSweep
    """
    table, meets = lambda_sweep(lab, seed=lab.seeds[0], fmtl_lr=tuned.fmtl_lr,
                                fedavg_val=tuned.fedavg_val)
    record_lambda_sweep(results, table, lab.P.rounds)
    glue_values(fedavg_val=tuned.fedavg_val, **lambda_texts(table, meets, lab.P.lam_sweep))
    return LambdaSweep(table, meets)


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
