"""The steps of chapter 3 (FSL-BDP survival), so that each chapter cell reads like a call.

Each function does one thing a cell of ``chapters/03_fsl_bdp_survival.py`` shows: load the
chosen dataset, put Table 2 and Table 3 beside the paper, run the ε sweep and the synthetic
datasets, draw Figs. 8, 9 and 11, and write the closing findings. Nothing here is new
science; the numbers come from :mod:`fedlib.survival` and the claims from
:mod:`fedlib.papers.p03_fsl_bdp.claims`.

References: Amed, Sen & Banerjee (2026), FSL-BDP, Tables 2-3, Figs. 8, 9 and 11.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator
from tqdm.std import tqdm

from fedlib.book.glue import glue
from fedlib.book.pages import verdict_counts
from fedlib.data import registry
from fedlib.data.generic import csv_options
from fedlib.evaluate.figures import LINE_STYLES, book_theme, legend_below, new_figure
from fedlib.evaluate.tuning import grid
from fedlib.evaluate.uncertainty import Estimate
from fedlib.papers.p03_fsl_bdp.claims import (
    PAPER_TABLE2,
    DatasetEvidence,
    chapter03_claims,
    fed_gains,
    paper_table3_frame,
    per_seed_win_rates,
    size_benefit_correlation,
)
from fedlib.privacy.accountants import epsilon_for
from fedlib.privacy.bdp import BayesianAccountant
from fedlib.survival.data import (
    PROFILES,
    prepare_survival,
    semi_real_lendingclub,
    synthetic_survival,
)
from fedlib.survival.ecl import discount_factors, lifetime_ecl
from fedlib.survival.experiment import (
    SCENARIOS,
    TrainingConfig,
    bdp_noise_multiplier,
    calibrate_clients,
    cost_rule_table,
    expected_default_month,
    pilot_distances,
    run_scenarios,
    survival_membership_inference,
)
from fedlib.survival.federated import make_model
from fedlib.survival.generic import SURVIVAL_OPTIONS, load_survival_csv
from fedlib.survival.metrics import kaplan_meier
from fedlib.survival.model import predict_hazards, predict_survival
from fedlib.survival.tuning import METHOD_MODES, SurvivalTuning, tune_survival

__all__ = ["add_table3_metrics", "all_datasets", "amortising_ead", "at_chance",
           "bdp_bound_text", "bdp_epsilons_are_bounds", "calibrate", "calibration_table",
           "conclusions", "convergence_curves", "data_summary", "dataset_note", "ecl_examples",
           "epsilon_if_every_step", "epsilon_sweep", "equal_epsilon_table", "has_oot",
           "headline_table", "initial_model", "km_calibration", "load_dataset",
           "membership_attacks", "nodp_against_dp", "noise_ratio", "noise_to_signal",
           "per_seed_table", "plot_convergence", "plot_timing", "plot_tuning_curves",
           "printed_cost_rule", "private_settings_text", "record_dataset", "record_tuning",
           "report_calibration", "report_claims", "report_conclusions", "report_equal_epsilon",
           "report_headline", "report_noise", "report_table3", "report_timing",
           "report_tuning", "run_convergence", "run_table3", "same_schedule",
           "scenario_options", "synthetic_run", "table2_all", "table2_beside_paper",
           "table2_inputs", "table2_of", "table3_beside_paper", "timing_collector",
           "timing_table", "true_hazard_calibration", "tune_methods", "tuning_table",
           "tuning_text", "worked_example"]

_METRICS = ("test_ci", "test_ibs", "oot_ci", "oot_ibs")


# --- the data ----------------------------------------------------------------------------------

def load_dataset(P) -> tuple[Any, str]:
    """Load the chapter's main dataset as its parameters name it.

    Parameters
    ----------
    P
        The chapter's validated parameters (``dataset``, ``data_path``, ``seed`` ...).

    Returns
    -------
    tuple
        The survival dataset and the paper dataset it stands for (a user's table: its file
        name).
    """
    if P.dataset == "csv":   # a user's table: no paper profile; named after its file

        user = load_survival_csv(P.data_path, **csv_options(P, SURVIVAL_OPTIONS))
        user.name = Path(P.data_path).stem
        return user, user.name
    if P.dataset == "semi_real_lendingclub":
        return semi_real_lendingclub(seed=P.seed, min_client_rows=P.min_client_rows), "LendingClub"
    if P.dataset.startswith("synthetic_"):
        kind = P.dataset.removeprefix("synthetic_")
        return synthetic_survival(kind, scale=P.synthetic_scale, seed=P.seed), PROFILES[kind].name

    ds = registry.load_dataset(P.dataset, kind="survival", path=P.data_path,
                               min_client_rows=P.min_client_rows)
    return ds, ds.profile.name


def table2_beside_paper(ds, data, paper_name: str) -> pd.DataFrame:
    """The dataset's Table 2, with the paper's column beside it when the paper has one.

    Parameters
    ----------
    ds, data
        The loaded dataset and its prepared (split, encoded) form.
    paper_name
        Name of the paper's dataset, for the column header.

    Returns
    -------
    pandas.DataFrame
        One row per Table 2 quantity.
    """
    prof = ds.profile
    table2 = ds.table2()
    table2.loc["Number of features", table2.columns[0]] = (
        f"{ds.table2().iloc[1, 0]} raw, {data.n_features} encoded")
    if prof is not None:
        paper_col = pd.Series({
            "Total observations": f"{prof.rows:,}", "Number of features": prof.features,
            "Default rate": prof.default_rate, "Observation window": f"{prof.window} months",
            "Number of clients (K)": prof.clients, "Min client size": f"{prof.min_client:,}",
            "Max client size": f"{prof.max_client:,}", "Mean client size": f"{prof.mean_client:,}",
            "In-time / OOT rows":
                f"{sum(prof.train_test_oot_k[:2]):,}k / {prof.train_test_oot_k[2]:,}k",
            "Train/Test window": prof.train_window, "OOT window": prof.oot_window},
            name=f"paper ({paper_name})")
        table2.insert(1, "paper", paper_col)
    return table2


def data_summary(ds, data, P, paper_name: str, *, has_oot: bool) -> str:
    """The paragraph that says what data the chapter runs on and how it compares in scale.

    Parameters
    ----------
    ds, data
        The loaded dataset and its prepared form.
    P
        The chapter's parameters (``dataset``, ``drop_columns``).
    paper_name
        Name of the paper's dataset.
    has_oot
        Whether any client has out-of-time loans.

    Returns
    -------
    str
        Markdown.
    """
    f, prof = ds.frame, ds.profile
    n_train_total = sum(c.n_train for c in data.clients)
    min_train = min(c.n_train for c in data.clients)
    n_small = sum(c.n_train < 100 for c in data.clients)
    kind_of_data = ("semi-real: real covariates, simulated default times" if ds.truth is not None
                    and P.dataset == "semi_real_lendingclub" else
                    "synthetic" if ds.truth is not None else
                    "your own table" if prof is None else "a real file")
    small_txt = (f"so {n_small} clients fall under the paper's 100-row threshold and use the "
                 "analytical DP fallback instead of BDP; they are reported apart and left out of "
                 "the win rate" if n_small else "but no client falls under the paper's 100-row "
                 "threshold: every client runs BDP proper (no analytical fallback)")
    if prof is not None:
        paper_train = prof.train_test_oot_k[0] * 1000
        scale_txt = (f"The paper trains its {paper_name} model on {paper_train:,} loans; we train "
                     f"on {n_train_total:,}, {paper_train / n_train_total:,.0f} times fewer, and "
                     f"the smallest client has {min_train} training loans (the paper's smallest: "
                     f"{prof.min_client:,} loans in all), ")
    else:
        scale_txt = (f"We train on {n_train_total:,} loans (the paper's smallest dataset, Bondora, "
                     f"has {PROFILES['bondora'].rows:,}), and the smallest client has {min_train} "
                     "training loans, ")
    if prof is None:
        leak_txt = ("On your table no column is removed for leakage automatically: "
                    + (f"the columns {', '.join(f'`{c}`' for c in P.drop_columns)} are ignored "
                       "(`drop_columns`); " if P.drop_columns else "`drop_columns` is empty; ")
                    + "every other column is a model input, so anything observed after "
                    "origination (status, balances, payments, the lender's own risk grade) must be "
                    "named in `drop_columns`.")
    elif prof.name == "LendingClub":
        leak_txt = ("Columns prone to leakage are removed as §4.1 says (there: `funded_amnt`, "
                    "`int_rate`): here the lender's own risk pricing (interest rate, instalment, "
                    "grade, sub-grade) and every field observed after origination (status, "
                    "balance, payments).")
    else:
        leak_txt = ("Columns prone to leakage are removed as §4.1 says: every field observed "
                    "after origination (status, balances, payments, recoveries) and the lender's "
                    "own risk rating, as listed in `fedlib.survival.loaders`.")
    oot_txt = ("" if has_oot else " There are no out-of-time loans (no origination dates or no "
               "`oot_start`), so the OOT columns of Table 3 and the OOT claims are skipped.")
    return (f"We have {len(f):,} loans ({kind_of_data}) in {len(data.clients)} clients with a "
            f"default rate of {f['event'].mean():.3f} ({data.n_features} model inputs after "
            f"encoding). {scale_txt}{small_txt}. Remember this scale when comparing numbers: DP "
            "noise per step shrinks with the batch, and a client's batch cannot exceed its rows."
            f"{oot_txt}\n\n" + leak_txt)


# --- training runs -----------------------------------------------------------------------------

def _calibration_options(P) -> dict:
    """The :func:`~fedlib.survival.experiment.calibrate_clients` settings every run shares."""
    return dict(delta=P.delta, clip_norm=P.clip_norm, n_neighbours=P.bdp_neighbours,
                pilot_steps=P.bdp_pilot_steps, seed=P.seed)


def scenario_options(P, settings: Mapping[str, TrainingConfig]) -> dict:
    """The :func:`~fedlib.survival.experiment.run_scenarios` settings every run shares.

    Parameters
    ----------
    P
        The chapter's parameters.
    settings
        Each mode's tuned :class:`~fedlib.survival.experiment.TrainingConfig` (:func:`tune_methods`).

    Returns
    -------
    dict
        The tuned settings, clipping, δ, M, the noise seed and the equal-final-ε protocol
        (``match_dp_to_bdp=True``); rounds and the initial hazard differ between runs and are
        passed beside it.
    """
    return dict(settings=settings, clip_norm=P.clip_norm, noise_seed=P.seed, delta=P.delta,
                n_neighbours=P.bdp_neighbours, match_dp_to_bdp=True)


def same_schedule(settings: Mapping[str, TrainingConfig]) -> bool:
    """Whether DP and BDP were tuned to the same batch size and E (then their σ compare as is)."""
    dp, bdp = settings["dp"], settings["bdp"]
    return (dp.batch_size, dp.local_epochs) == (bdp.batch_size, bdp.local_epochs)


def noise_ratio(eq: pd.DataFrame, sigmas: pd.DataFrame,
                settings: Mapping[str, TrainingConfig]) -> float:
    """Median over parties of σ_BDP / σ_DP at equal ε, on one schedule.

    With the same tuned schedule this is the ratio after DP was matched to BDP's final ε
    (``eq``); with different schedules the matched σ are not comparable, so it is the
    calibration's ratio on BDP's schedule (both calibrated to the same target ε).

    Parameters
    ----------
    eq
        Final ε and σ per party and mechanism (``sigma_dp``, ``sigma_bdp``).
    sigmas
        The calibration table (``sigma_bdp``, ``sigma_dp_same_schedule``).
    settings
        The tuned settings.

    Returns
    -------
    float
    """
    if same_schedule(settings):
        return float((eq.sigma_bdp / eq.sigma_dp).median())
    return float((sigmas.sigma_bdp / sigmas.sigma_dp_same_schedule).median())


def private_settings_text(settings: Mapping[str, TrainingConfig], P) -> str:
    """Which batch the tuned private runs use, and whether it is the grid's largest."""
    dp, bdp = settings["dp"].batch_size, settings["bdp"].batch_size
    largest = max(P.batch_grid)
    return (f"The tuned DP runs use an expected Poisson batch of {dp} rows and the BDP runs "
            f"{bdp} (a client with fewer rows uses all of them, q = 1)"
            + (", the largest of the grid." if dp == bdp == largest else
               f"; the grid's largest is {largest}."))


# --- tuning ------------------------------------------------------------------------------------

def tune_methods(data, P, *, init_hazard: float | None) -> SurvivalTuning:
    """Tune no DP, classical DP and BDP alike (:func:`fedlib.survival.tuning.tune_survival`).

    Every method gets ``P.tuning_budget`` configurations of ``lr_grid × batch_grid ×
    epoch_grid``, trained centrally on the pooled fitting rows for ``rounds × E`` epochs and
    scored by the validation C-index; the private ones are calibrated to ``target_epsilon``.

    Parameters
    ----------
    data
        The prepared dataset (only its training rows are used).
    P
        The chapter's parameters.
    init_hazard
        The main runs' initial hazard.

    Returns
    -------
    SurvivalTuning
    """
    candidates = grid(lr=P.lr_grid, batch_size=P.batch_grid, local_epochs=P.epoch_grid)
    with tqdm(total=len(METHOD_MODES) * P.tuning_budget, desc="tuning", file=sys.stderr) as bar:
        return tune_survival(data, grids=dict.fromkeys(METHOD_MODES, candidates),
                             budget=P.tuning_budget, seed=P.seed, rounds=P.rounds,
                             target_epsilon=P.target_epsilon, delta=P.delta,
                             clip_norm=P.clip_norm, n_neighbours=P.bdp_neighbours,
                             pilot_steps=P.bdp_pilot_steps, init_hazard=init_hazard,
                             validation_fraction=P.validation_fraction, noise_seed=P.seed,
                             progress=lambda line: bar.update())


def tuning_table(tuning: SurvivalTuning) -> pd.DataFrame:
    """The sweep as the chapter shows it: method, configuration, σ and ε, validation C-index.

    Parameters
    ----------
    tuning
        :func:`tune_methods`' result.

    Returns
    -------
    pandas.DataFrame
        One row per method and configuration tried, best first within a method.
    """
    t = tuning.sweep.rename(columns={"val_score": "validation C-index",
                                     "epsilon_planned": "ε calibrated",
                                     "epsilon": "ε reached (accountant)",
                                     "epochs": "centralised epochs"})
    order = {m: i for i, m in enumerate(METHOD_MODES)}
    t = t.assign(_o=t.method.map(order)).sort_values(["_o", "validation C-index"],
                                                     ascending=[True, False])
    return t[["method", "config", "centralised epochs", "sigma", "ε calibrated",
              "ε reached (accountant)", "validation C-index", "chosen"]].reset_index(drop=True)


def record_tuning(results, tuning: SurvivalTuning) -> None:
    """Record every configuration's validation C-index (and a private one's ε) in ``results``."""
    for r in tuning.sweep.itertuples():
        results.add_metric(experiment="tuning", mode=r.method, setting=r.config, party="central",
                           metric="val_c_index", value=float(r.val_score))
        if np.isfinite(r.epsilon):
            results.add_metric(experiment="tuning", mode=r.method, setting=r.config,
                               party="central", metric="epsilon", value=float(r.epsilon))


def tuning_text(tuning: SurvivalTuning, P) -> str:
    """The sentence that says what was chosen, on which rows, and what ε does not cover.

    Parameters
    ----------
    tuning
        :func:`tune_methods`' result.
    P
        The chapter's parameters.

    Returns
    -------
    str
        Markdown.
    """
    val = tuning.validation
    n_val = sum(len(c.t_test) for c in val.clients)
    n_fit = sum(c.n_train for c in val.clients)
    chosen = "; ".join(
        f"**{m}**: lr = {c.lr:g}, batch {c.batch_size}, E = {c.local_epochs} "
        f"({c.epochs(rounds=P.rounds)} centralised epochs; validation C-index "
        f"{tuning.chosen_row(m).val_score:.3f}"
        + (f", ε = {tuning.chosen_row(m).epsilon:.2f}" if mode != "none" else "") + ")"
        for m, mode in METHOD_MODES.items() for c in [tuning.settings[mode]])
    size = len(P.lr_grid) * len(P.batch_grid) * len(P.epoch_grid)
    tried = (f"all {size} configurations of the grid (the same ones)" if P.tuning_budget == size
             else f"{P.tuning_budget} of the {size} configurations of the grid (a seeded draw "
             "per method)")
    return (f"Each method tried {tried}, trained on {n_fit:,} pooled training loans and scored "
            f"on {n_val:,} validation loans held out of the training rows (stratified on the "
            f"event; no test or out-of-time loan). Chosen: {chosen}. The same values are used "
            "by the centralised and the federated runs below (E local epochs per round, R × E "
            "epochs centralised), and by the ε sweep and the synthetic runs. The final models "
            "are trained on all training rows, validation rows included. The tuning used the "
            "private rows without noise and without accounting: the chosen hyper-parameters "
            "are not covered by ε (only each training run is).")


def timing_collector(data, window: int, rows: list) -> Callable:
    """An ``on_run`` callback recording the federated BDP model's timing per seed (Fig. 9).

    Parameters
    ----------
    data
        The prepared dataset (its pooled test rows are scored).
    window
        Observation window in months; defaulters before its half are "early".
    rows
        List that receives one ``{"seed", "early", "late"}`` dict per seed: the mean predicted
        default month of early and of late test defaulters.

    Returns
    -------
    callable
        ``collect_timing(seed, scenario, run)`` for :func:`run_scenarios`.
    """
    def collect_timing(seed, sc, run):
        if sc != "Federated (BDP)":
            return
        X, t, e, _ = data.pooled("test")
        m = expected_default_month(predict_survival(run.model, X))
        early, late = (e == 1) & (t < window / 2), (e == 1) & (t >= window / 2)
        rows.append({"seed": seed, "early": float(np.nanmean(m[early])) if early.any()
                     else np.nan, "late": float(np.nanmean(m[late])) if late.any() else np.nan})
    return collect_timing


def add_table3_metrics(results, metrics: pd.DataFrame, experiment: str) -> None:
    """Record every seed's Table 3 metrics under ``experiment`` in ``results``.

    Parameters
    ----------
    results
        The chapter's results writer.
    metrics
        One row per ``seed`` and ``scenario``, one column per metric.
    experiment
        The ``experiment`` key of the rows (``table3``, ``table3_sba`` ...).
    """
    results.add_metrics(metrics.melt(id_vars=["seed", "scenario"], var_name="metric")
                        .assign(experiment=experiment, party="all",
                                setting=lambda d: "seed=" + d.seed.astype(str))
                        .rename(columns={"scenario": "mode"}).drop(columns="seed"))


def _seed_estimate(metrics: pd.DataFrame, scenario: str, metric: str = "test_ci") -> Estimate | None:
    """Mean over seeds with its Student-t interval of one scenario's metric (None if absent)."""
    v = metrics.loc[metrics.scenario == scenario, metric].dropna()
    return Estimate.seeds(v) if len(v) else None


def _fmt_estimate(e: Estimate | None) -> str:
    """``value [low, high]`` to three decimals, ``–`` for no value."""
    if e is None:
        return "–"
    return f"{e.value:.3f}" + (f" [{e.interval[0]:.3f}, {e.interval[1]:.3f}]" if e.interval else "")


def _mean_ci(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds and the Student-t 95 % interval, per scenario and metric, as text."""
    out = pd.DataFrame(index=list(SCENARIOS))
    for m in _METRICS:
        out[m] = [_fmt_estimate(_seed_estimate(frame, sc, m)) for sc in SCENARIOS]
    return out


def table3_beside_paper(metrics: pd.DataFrame, paper_name: str | None, *,
                        has_oot: bool) -> pd.DataFrame:
    """Our Table 3 (mean and interval over seeds) with the paper's means beside each column.

    Parameters
    ----------
    metrics
        One row per ``seed`` and ``scenario``.
    paper_name
        The paper's dataset, or None for a user's table (no paper column).
    has_oot
        Whether there are out-of-time loans (without them the OOT columns are dropped).

    Returns
    -------
    pandas.DataFrame
    """
    side = _mean_ci(metrics)
    if not has_oot:   # no out-of-time loans: no OOT column rather than a column of dashes
        side = side.drop(columns=["oot_ci", "oot_ibs"])
    if paper_name is not None:
        paper3 = paper_table3_frame(paper_name)
        for m in [c for c in _METRICS if c in side]:
            side.insert(side.columns.get_loc(m) + 1, f"{m} paper", paper3[m].map("{:.3f}".format))
    return side


def at_chance(frame: pd.DataFrame) -> list[str]:
    """Scenarios whose test C-index is at chance: its mean or upper bound is below 0.52.

    Parameters
    ----------
    frame
        One row per ``seed`` and ``scenario`` with ``test_ci``.

    Returns
    -------
    list of str
        The scenarios at chance, in Table 3's order.

    Examples
    --------
    >>> at_chance(pd.DataFrame({"seed": [1, 1], "test_ci": [0.51, 0.66],
    ...                         "scenario": ["Federated (BDP)", "Federated (No DP)"]}))
    ['Federated (BDP)']
    """
    out = []
    for sc in SCENARIOS:
        e = _seed_estimate(frame, sc)
        if e is None:
            continue
        hi = e.interval[1] if e.interval else e.value
        if hi < 0.52 or e.value < 0.52:
            out.append(sc)
    return out


def headline_table(ev: DatasetEvidence, wins: pd.DataFrame, rho: pd.Series) -> pd.DataFrame:
    """The paper's headline quantities beside ours, per seed.

    Parameters
    ----------
    ev
        The main dataset's evidence.
    wins
        :func:`~fedlib.papers.p03_fsl_bdp.claims.per_seed_win_rates` of its clients.
    rho
        :func:`~fedlib.papers.p03_fsl_bdp.claims.size_benefit_correlation` per seed.

    Returns
    -------
    pandas.DataFrame
        One row per quantity: ours (rounded, per seed) and the paper's.
    """
    metrics = ev.metrics

    def diff(a, b):
        return (metrics[metrics.scenario == a].test_ci.to_numpy()
                - metrics[metrics.scenario == b].test_ci.to_numpy())

    headline = pd.DataFrame([
        {"quantity": "centralised: DP − BDP C-index (paper > 0)",
         "ours, per seed": diff("Centralized (Classical DP)", "Centralized (BDP)"),
         "paper": 0.610 - 0.562},
        {"quantity": "federated: BDP − DP C-index (paper > 0)",
         "ours, per seed": diff("Federated (BDP)", "Federated (Classical DP)"),
         "paper": 0.638 - 0.633},
        {"quantity": "federation gain of BDP, %", "ours, per seed": fed_gains(ev, "BDP").to_numpy(),
         "paper": 7.0},
        {"quantity": "federation gain of DP, %",
         "ours, per seed": fed_gains(ev, "Classical DP").to_numpy(), "paper": 1.4},
        {"quantity": "share of clients where federated BDP beats DP",
         "ours, per seed": wins.rate.to_numpy(), "paper": 39 / 62},
        {"quantity": "Spearman ρ(client size, federation benefit of BDP)",
         "ours, per seed": rho.to_numpy(), "paper": "< 0"},
    ])
    headline["ours, per seed"] = headline["ours, per seed"].map(lambda a: np.round(a, 3).tolist())
    return headline


def epsilon_sweep(data, P, seeds: Sequence[int], *, settings: Mapping[str, TrainingConfig],
                  init_model, init_hazard) -> tuple[list[pd.DataFrame], list[dict]]:
    """Re-run the centralised DP and BDP models at every extra ε of ``P.epsilon_sweep``.

    Same equal-ε protocol as the main run (every seed), with the settings tuned at the main ε
    (each σ is recalibrated for the new ε on the same schedule).

    Parameters
    ----------
    data
        The prepared dataset.
    P
        The chapter's parameters.
    seeds
        The seeds of every run.
    settings
        Each mode's tuned training settings.
    init_model, init_hazard
        As in the main run.

    Returns
    -------
    tuple
        The per-epoch histories (one frame per run, with ``step, scenario, epsilon, seed``) and
        the metric records (final test C-index per ε, scenario and seed) for ``results``.
    """
    sweep_rows, records = [], []
    sweep_eps = [e for e in P.epsilon_sweep if e != P.target_epsilon]
    if not sweep_eps:
        return sweep_rows, records
    central_private = ["Centralized (Classical DP)", "Centralized (BDP)"]
    with tqdm(total=len(sweep_eps) * 2 * len(seeds), desc="epsilon sweep", file=sys.stderr) as bar:
        for eps in sweep_eps:
            sg = calibrate_clients(data, target_epsilon=eps, settings=settings,
                                   rounds=P.rounds, init_model=init_model,
                                   **_calibration_options(P))

            def keep_curve(seed, sc, run, eps=eps):
                h = run.history.copy()
                h["step"], h["scenario"], h["epsilon"], h["seed"] = h["epoch"], sc, eps, seed
                sweep_rows.append(h)

            sw = run_scenarios(data, sigmas=sg, seeds=seeds, rounds=P.rounds,
                               init_hazard=init_hazard, scenarios=central_private,
                               on_run=keep_curve, progress=lambda s: bar.update(),
                               **scenario_options(P, settings))
            records += [dict(experiment="epsilon_sweep", mode=r.scenario,
                             setting=f"eps={eps:g} seed={r.seed}", metric="test_ci",
                             value=r.test_ci) for r in sw["metrics"].itertuples()]
    return sweep_rows, records


def convergence_curves(runs: Mapping[str, Any], sweep_rows: list[pd.DataFrame], *,
                       settings: Mapping[str, TrainingConfig], epsilon: float,
                       seeds: Sequence[int]) -> pd.DataFrame:
    """The training histories of the main runs and the first seed's sweep runs, in one frame.

    Parameters
    ----------
    runs
        The main run's models by scenario (each with a ``history``).
    sweep_rows
        The sweep's histories (:func:`epsilon_sweep`).
    settings
        Each mode's training settings: its E puts federated rounds on the epoch axis.
    epsilon
        The main run's ε.
    seeds
        The seeds; the main runs are labelled with the first.

    Returns
    -------
    pandas.DataFrame
        With ``step, scenario, epsilon, seed, paradigm, privacy, label``.
    """
    curves = []
    for sc, run in runs.items():
        h = run.history.copy()
        mode = METHOD_MODES[sc.split(" (")[1].rstrip(")")]
        h["step"] = h["epoch"] if "epoch" in h else h["round"] * settings[mode].local_epochs
        h["scenario"], h["epsilon"], h["seed"] = sc, epsilon, seeds[0]
        curves.append(h)
    curves += [h for h in sweep_rows if h["seed"].iloc[0] == seeds[0]]
    curves = pd.concat(curves, ignore_index=True)
    curves["paradigm"] = curves.scenario.str.split(" ").str[0]
    curves["privacy"] = curves.scenario.str.extract(r"\((.*)\)")[0]
    curves["label"] = curves.privacy + np.where(curves.privacy == "No DP", "",
                                                " ε=" + curves.epsilon.map("{:g}".format))
    return curves


def plot_convergence(curves: pd.DataFrame):
    """Fig. 8: training loss and test C-index per epoch, centralised and federated.

    Parameters
    ----------
    curves
        :func:`convergence_curves`.

    Returns
    -------
    matplotlib.figure.Figure
        A 2 × 2 grid (loss, C-index) × (centralised, federated).
    """
    labels = list(pd.unique(curves.label))
    privacies = list(pd.unique(curves.privacy))
    with book_theme():
        fig8, axes = new_figure(5.6, ncols=2, nrows=2, sharex="col")
        for j, paradigm in enumerate(("Centralized", "Federated")):
            sub = curves[curves.paradigm == paradigm]
            for i, (col, ylab) in enumerate((("train_loss", "training loss (eq. 1)"),
                                             ("test_ci", "test C-index"))):
                # Colour per run, line style and marker per privacy kind: runs that
                # coincide stay apart.
                sns.lineplot(data=sub, x="step", y=col, hue="label", hue_order=labels,
                             style="privacy", style_order=privacies, markers=True,
                             ax=axes[i, j], legend=(i == 0 and j == 0))
                axes[i, j].set_ylabel(ylab)
                axes[i, j].set_xlabel("")
                axes[i, j].xaxis.set_major_locator(MaxNLocator(integer=True))
                axes[i, j].set_title(f"{paradigm}" if i == 0 else "")
        fig8.supxlabel("epochs over the data")
        legend_below(fig8, axes[0, 0])
    return fig8


# --- timing, calibration -----------------------------------------------------------------------

def timing_table(runs: Mapping[str, Any], ds, data) -> pd.DataFrame:
    """Fig. 9's numbers: mean predicted default month of early, late and non-defaulters.

    Parameters
    ----------
    runs
        The main run's models by scenario (the federated no-DP and BDP ones are used).
    ds, data
        The dataset (its true hazard, if any) and its prepared form.

    Returns
    -------
    pandas.DataFrame
        One row per model, plus the true hazard (generated data) and the observed month.
    """
    Xte, tte, ete, _ = data.pooled("test")
    early, late = (ete == 1) & (tte < ds.window / 2), (ete == 1) & (tte >= ds.window / 2)

    def row(label, S):
        m = expected_default_month(S)
        return {"model": label, "early defaulters": np.nanmean(m[early]),
                "late defaulters": np.nanmean(m[late]), "non-defaulters": np.nanmean(m[ete == 0])}

    rows = [row(label, predict_survival(runs[label].model, Xte))
            for label in ("Federated (No DP)", "Federated (BDP)")]
    if ds.truth is not None:
        rows.append(row("true hazard", ds.truth.survival[data.pooled_index("test")]))
    timing = pd.DataFrame(rows).set_index("model")
    timing.loc["observed default month"] = [tte[early].mean() + 0.5, tte[late].mean() + 0.5, np.nan]
    return timing


def plot_timing(model, data, window: int):
    """Fig. 9: mean predicted survival of early, late and non-defaulters of the test set.

    Parameters
    ----------
    model
        The survival network drawn.
    data
        The prepared dataset (its pooled test rows).
    window
        Observation window in months; defaulters before its half are "early".

    Returns
    -------
    matplotlib.figure.Figure
    """
    Xte, tte, ete, _ = data.pooled("test")
    early, late = (ete == 1) & (tte < window / 2), (ete == 1) & (tte >= window / 2)
    S = predict_survival(model, Xte)
    with book_theme():
        fig9, ax = new_figure(3.6)
        months = np.arange(0, window + 1)
        groups = ((early, "early defaulters"), (late, "late defaulters"),
                  (ete == 0, "non-defaulters"))
        for i, (mask, name) in enumerate(groups):
            if mask.any():
                ax.plot(months, np.r_[1.0, S[mask].mean(0)], ls=LINE_STYLES[i],
                        label=f"{name} (n={int(mask.sum())})")
        ax.set_xlabel("months since origination")
        ax.set_ylabel("mean predicted survival probability")
        ax.legend()
    return fig9


def km_calibration(model, ds, data, n_clients: int = 9):
    """Fig. 11: predicted survival against each large client's Kaplan–Meier band.

    Parameters
    ----------
    model
        The model whose mean predicted survival is drawn.
    ds, data
        The dataset (its true hazard, if any, is drawn too) and its prepared form.
    n_clients
        How many of the largest clients to draw (a 3 × 3 grid).

    Returns
    -------
    tuple
        The figure and, per client, the share of months the prediction lies inside the band.
    """
    months = np.arange(0, ds.window + 1)
    order = sorted(data.clients, key=lambda c: -c.n_train)[:n_clients]
    inside = []
    with book_theme():
        fig11, axes = new_figure(7.0, ncols=3, nrows=3, sharex=True, sharey=True)
        for ax, c in zip(axes.ravel(), order, strict=False):
            t, s, lo, hi = kaplan_meier(c.t_test, c.e_test)
            ax.step(np.r_[0, t], np.r_[1, s], where="post", color="k", label="Kaplan–Meier")
            ax.fill_between(np.r_[0, t], np.r_[1, lo], np.r_[1, hi], step="post", color="k",
                            alpha=0.15)
            pred = np.r_[1.0, predict_survival(model, c.X_test).mean(0)]
            ax.plot(months, pred, color="C1", ls="--", label="predicted (federated BDP)")
            if ds.truth is not None:
                ax.plot(months, np.r_[1.0, ds.truth.survival[c.idx_test].mean(0)], ":",
                        color="C2", label="true hazard")
            lo_at = np.r_[1, lo][np.searchsorted(t, months[1:], side="right")]
            hi_at = np.r_[1, hi][np.searchsorted(t, months[1:], side="right")]
            inside.append({"client": c.name, "share of months inside the KM band":
                           float(np.mean((pred[1:] >= lo_at) & (pred[1:] <= hi_at)))})
            ax.set_title(f"{c.name} (n test = {len(c.t_test)})", fontsize=10)
        for ax in axes.ravel()[len(order):]:
            ax.set_visible(False)
        fig11.supxlabel("months since origination")
        fig11.supylabel("survival probability")
        legend_below(fig11, axes[0, 0])
    return fig11, pd.DataFrame(inside)


def true_hazard_calibration(runs: Mapping[str, Any], ds, data) -> pd.DataFrame:
    """Each federated model's mean absolute survival error against the true hazard.

    Parameters
    ----------
    runs
        The main run's models by scenario.
    ds, data
        The dataset (``ds.truth`` holds the true survival, None for a real file) and its
        prepared form.

    Returns
    -------
    pandas.DataFrame
        One row per federated model with the mean |Ŝ − S| and the portfolio's predicted and
        true survival at the window's end; empty without a true hazard.
    """
    cal_rows = []
    if ds.truth is not None:
        Xte = data.pooled("test")[0]
        S_true = ds.truth.survival[data.pooled_index("test")]
        for sc in ("Federated (No DP)", "Federated (Classical DP)", "Federated (BDP)"):
            S_hat = predict_survival(runs[sc].model, Xte)
            cal_rows.append({"model": sc,
                             "mean |S_hat - S_true|": float(np.abs(S_hat - S_true).mean()),
                             "portfolio S(24) predicted": float(S_hat[:, -1].mean()),
                             "portfolio S(24) true": float(S_true[:, -1].mean())})
    return pd.DataFrame(cal_rows)


# --- synthetic datasets ------------------------------------------------------------------------

def table2_of(dset) -> dict:
    """Measured Table 2 values of a dataset, in the keys of the paper's Table 2.

    Parameters
    ----------
    dset
        A survival dataset (``frame`` with ``client`` and ``event``, its columns and window).

    Returns
    -------
    dict
        ``rows, default_rate, features, window, clients, min_client, max_client,
        mean_client``.
    """
    sizes = dset.frame["client"].value_counts()
    return {"rows": len(dset.frame), "default_rate": float(dset.frame["event"].mean()),
            "features": len(dset.numeric_columns) + len(dset.categorical_columns),
            "window": dset.window, "clients": int(sizes.size), "min_client": int(sizes.min()),
            "max_client": int(sizes.max()), "mean_client": float(sizes.mean())}


def synthetic_run(kind: str, P, seeds: Sequence[int], results, *,
                  settings: Mapping[str, TrainingConfig]) -> tuple[DatasetEvidence, pd.DataFrame]:
    """Run Table 3 (equal final ε, every seed) on an SBA- or Bondora-like synthetic dataset.

    The training settings are those tuned on the main dataset (not retuned here).

    Parameters
    ----------
    kind
        ``"sba"`` or ``"bondora"``.
    P
        The chapter's parameters (``synthetic_scale``, ``synthetic_rounds`` ...).
    seeds
        The seeds.
    results
        The chapter's results, which receive the run's metrics as ``table3_<kind>``.
    settings
        Each mode's training settings, tuned on the main dataset.

    Returns
    -------
    tuple
        The dataset's evidence for the claims and its Table 3 beside the paper's.
    """
    sds = synthetic_survival(kind, scale=P.synthetic_scale, seed=P.seed)
    sdata = prepare_survival(sds, seed=P.seed)
    sh = 1 - (1 - sds.profile.default_rate) ** (1 / sds.window)
    sinit = make_model(sdata.n_features, sdata.grid.size - 1, seed=P.seed, init_hazard=sh)
    sg = calibrate_clients(sdata, target_epsilon=P.target_epsilon, settings=settings,
                           rounds=P.synthetic_rounds, init_model=sinit,
                           **_calibration_options(P))
    with tqdm(total=len(SCENARIOS) * len(seeds), desc=kind, file=sys.stderr) as bar:
        sres = run_scenarios(sdata, sigmas=sg, seeds=seeds, rounds=P.synthetic_rounds,
                             init_hazard=sh, progress=lambda s: bar.update(),
                             **scenario_options(P, settings))
    sm = sres["metrics"]
    add_table3_metrics(results, sm, f"table3_{kind}")
    n_fb = int(sum(c.n_train < 100 for c in sdata.clients))
    ev = DatasetEvidence(
        sm, sres["per_client"], same_data=False,
        note=(f"{sds.name}: {len(sds.frame):,} loans, {sds.n_clients} clients ({n_fb} on the "
              f"BDP fallback), R = {P.synthetic_rounds}, {len(seeds)} seed(s); not the real "
              "data"),
        table2=table2_of(sds), table2_input=("default_rate", "window", "clients", "features",
                                             "min_client", "max_client", "mean_client"))
    t = _mean_ci(sm)
    t.insert(0, "dataset", f"{sds.name} ({len(sds.frame):,} loans, {sds.n_clients} clients, "
                           f"{n_fb} on the fallback)")
    t["paper test_ci"] = paper_table3_frame(sds.profile.name)["test_ci"]
    t["paper test_ibs"] = paper_table3_frame(sds.profile.name)["test_ibs"]
    return ev, t


def plot_tuning_curves(tuning: SurvivalTuning):
    """Validation C-index after every epoch of every configuration tried, one panel per method.

    Parameters
    ----------
    tuning
        :func:`tune_methods`' result.

    Returns
    -------
    matplotlib.figure.Figure
        The chosen configuration's curve has a thick grey outline.
    """
    methods = list(METHOD_MODES)
    chosen = set(zip(tuning.sweep.method[tuning.sweep.chosen],
                     tuning.sweep.config[tuning.sweep.chosen], strict=True))
    configs = list(dict.fromkeys(tuning.curves.config))      # the same grid for every method
    colours = sns.color_palette("colorblind", len(configs))
    with book_theme():
        fig, axes = new_figure(3.4, ncols=len(methods), sharey=True, squeeze=False)
        for ax, method in zip(axes[0], methods, strict=True):
            sub = tuning.curves[tuning.curves.method == method]
            for config, h in sub.groupby("config", sort=False):
                i = configs.index(config)
                ax.plot(h.epoch, h.val_ci, color=colours[i], ls=LINE_STYLES[i % len(LINE_STYLES)],
                        lw=1.2, label=config)
                if (method, config) in chosen:   # the chosen one: a thick black outline on top
                    ax.plot(h.epoch, h.val_ci, color="k", lw=2.8, zorder=1, alpha=0.35)
            ax.axhline(0.5, ls=":", color="grey")
            ax.set_title(method)
            ax.xaxis.get_major_locator().set_params(integer=True)
        fig.supylabel("validation C-index")
        fig.supxlabel("centralised epoch")
        legend_below(fig, axes[0][0], ncols=2)
    return fig


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


# --- conclusions -------------------------------------------------------------------------------

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


def equal_epsilon_table(eps_final: pd.DataFrame, sigmas_used: pd.DataFrame,
                        results) -> pd.DataFrame:
    """Final ε of classical DP and BDP per place and client, with their gap and σ.

    The mean over seeds per place (centralised / federated) and client, the gap between the
    two mechanisms and the σ each used; recorded as ``equal_epsilon`` metrics.

    Parameters
    ----------
    eps_final
        :func:`~fedlib.survival.experiment.run_scenarios`' ``epsilons`` (one row per scenario,
        seed and client).
    sigmas_used
        Its ``sigmas_used`` (``sigma_dp``, ``sigma_bdp`` per client).
    results
        The chapter's :class:`~fedlib.book.results.ResultsWriter`.

    Returns
    -------
    pandas.DataFrame
        Indexed by (where, client): ``Classical DP``, ``BDP``, ``|DP − BDP|``, the two σ.
    """
    eq = (eps_final.assign(privacy=eps_final.scenario.str.extract(r"\((.*)\)")[0],
                           where=eps_final.scenario.str.split(" ").str[0])
          .groupby(["where", "client", "privacy"]).epsilon.mean().unstack("privacy"))
    eq["|DP − BDP|"] = (eq["Classical DP"] - eq["BDP"]).abs()
    eq = eq.join(sigmas_used[["sigma_dp", "sigma_bdp"]], on="client")
    long = (eq[["Classical DP", "BDP"]].rename_axis(columns="mode").stack().rename("value")
            .reset_index().rename(columns={"where": "setting", "client": "party"}))
    results.add_metrics(long.assign(party=long.party.astype(str)), experiment="equal_epsilon",
                        round=None, metric="epsilon_mean_over_seeds")
    return eq


def bdp_epsilons_are_bounds(eps_final: pd.DataFrame) -> bool:
    """Whether every Bayesian ε of the run is a valid bound (not a Monte-Carlo estimate)."""
    bdp_rows = eps_final[eps_final.scenario.str.contains("BDP")]
    return "is_bound" in bdp_rows and bool(bdp_rows["is_bound"].all())


def bdp_bound_text(is_bound: bool) -> str:
    """What kind of number the Bayesian ε are (:func:`bdp_epsilons_are_bounds`), in words."""
    if is_bound:
        return ("Each Bayesian ε here is a valid upper bound (Hölder composition over the whole "
                "run, a Hoeffding bound on the known range Δ ≤ 4C²), so the two ε are numbers of "
                "the same kind — though not the same guarantee (a Bayesian ε is about a borrower "
                "drawn from the data distribution, a classical one about every borrower).")
    return ("These Bayesian ε are Monte-Carlo *estimates*, not bounds: they are shown for "
            "completeness and must not be read as comparable to a classical DP ε.")


# --- the chapter's sections: one call per cell -------------------------------------------------
# Each function below is what one cell of the chapter shows: it runs the step, records its rows
# in ``results`` and glues the numbers the prose reads, so the cell reads like the paper's
# sentence and the bookkeeping lives here, where it is tested.

def has_oot(data) -> bool:
    """Whether any client has out-of-time loans (Table 3's OOT columns exist)."""
    return sum(c.t_oot.size for c in data.clients) > 0


def dataset_note(ds) -> str:
    """The line that names the dataset (and says when it is the reader's own table)."""
    return (f"**{ds.name}** — {ds.note}."
            + ("" if ds.profile is not None else " Your own table: the paper has no column to "
               "set beside it, and none of its levels is compared with ours."))


def record_dataset(results, ds, data, P, paper_name: str) -> str:
    """Record the dataset and its clients in ``results``, glue its size, describe it (§4.1).

    Glues ``n_loans``, ``n_clients``, ``default_rate``, ``n_train_total`` and ``n_features``.

    Parameters
    ----------
    results
        The chapter's :class:`~fedlib.book.results.ResultsWriter`.
    ds, data
        The loaded dataset and its prepared (split, encoded) form.
    P
        The chapter's parameters.
    paper_name
        Name of the paper's dataset (Table 2's column).

    Returns
    -------
    str
        The paragraph of :func:`data_summary` (Markdown).
    """
    f = ds.frame
    results.set_dataset(ds.name, rows=len(f), parties=[
        {"name": str(k), "rows": int(v.shape[0]), "positive_rate": float(v["event"].mean())}
        for k, v in f.groupby("client")])
    glue("n_loans", len(f), display=False)
    glue("n_clients", len(data.clients), display=False)
    glue("default_rate", float(f["event"].mean()), display=False)
    glue("n_train_total", sum(c.n_train for c in data.clients), display=False)
    glue("n_features", data.n_features, display=False)
    return data_summary(ds, data, P, paper_name, has_oot=has_oot(data))


def initial_model(ds, data, P):
    """The initial network of every run (eq. 1's ``HazardNet``) and its initial hazard.

    With ``init_from_published_rate`` the output bias starts at the logit of the monthly
    hazard implied by the dataset's published default rate (a user's table: its training
    rows' own rate, which ε does not cover), :math:`h_0 = 1-(1-r)^{1/T}`; otherwise at 0.
    Glues ``init_hazard_value`` and ``init_txt``.

    Parameters
    ----------
    ds, data
        The dataset (its profile and window) and its prepared form.
    P
        The chapter's parameters (``init_from_published_rate``, ``seed``).

    Returns
    -------
    tuple
        ``(init_hazard, init_model)``; ``init_hazard`` is None when the option is off.
    """
    prof = ds.profile
    rate = prof.default_rate if prof is not None else float(data.pooled("train")[2].mean())
    hazard = 1 - (1 - rate) ** (1 / ds.window)
    init_hazard = hazard if P.init_from_published_rate else None
    glue("init_hazard_value", hazard, display=False)
    glue("init_txt", (f"Here it is the published rate ({rate:.1%} over {ds.window} months), "
                      "public knowledge that costs no privacy." if prof is not None else
                      f"Your table has no published rate, so the training loans' own default "
                      f"rate ({rate:.1%} within {ds.window} months) stands in: a statistic of "
                      "the private rows that ε does not cover.")
         + ("" if P.init_from_published_rate else " This run turned it off "
            "(`init_from_published_rate: false`): hazards start at 0.5."), display=False)
    model = make_model(data.n_features, data.grid.size - 1, seed=P.seed, init_hazard=init_hazard)
    return init_hazard, model


def report_tuning(results, tuning: SurvivalTuning, P) -> pd.DataFrame:
    """Record the tuning sweep, glue its figure (``fig_03_tuning``) and sentence (``tuning_txt``).

    Parameters
    ----------
    results
        The chapter's results writer.
    tuning
        :func:`tune_methods`' result.
    P
        The chapter's parameters.

    Returns
    -------
    pandas.DataFrame
        :func:`tuning_table`.
    """
    record_tuning(results, tuning)
    _glue_figure("fig_03_tuning", plot_tuning_curves(tuning))
    glue("tuning_txt", tuning_text(tuning, P), display=False)
    return tuning_table(tuning)


def _glue_figure(name: str, fig) -> None:
    """Glue a figure for ``{glue:figure}`` and close it (the page shows the glued copy)."""
    glue(name, fig, display=False)
    plt.close(fig)


def calibrate(data, P, *, settings: Mapping[str, TrainingConfig], init_model,
              epsilon: float | None = None, rounds: int | None = None) -> pd.DataFrame:
    """σ of DP (eqs. 5–7) and of BDP (Algorithm 2) per party for the same target ε.

    :func:`~fedlib.survival.experiment.calibrate_clients` with the chapter's δ, C, M, pilot
    steps and seed; ``epsilon`` and ``rounds`` default to ``P.target_epsilon`` and
    ``P.rounds``.

    Returns
    -------
    pandas.DataFrame
        One row per client and ``central``.
    """
    return calibrate_clients(data, target_epsilon=P.target_epsilon if epsilon is None else epsilon,
                             settings=settings, rounds=P.rounds if rounds is None else rounds,
                             init_model=init_model, **_calibration_options(P))


def calibration_table(results, sigmas: pd.DataFrame, P) -> pd.DataFrame:
    """Record the calibrated σ per party, glue their median ratio and the pilot distance.

    Adds ``sigma_bdp / sigma_dp`` to ``sigmas`` (DP's σ on BDP's schedule, the one to set
    beside BDP's) and glues ``sigma_ratio``, ``pilot_delta`` (medians over the clients large
    enough for BDP) and ``target_eps``.

    Parameters
    ----------
    results
        The chapter's results writer.
    sigmas
        :func:`calibrate`'s table (changed in place: the ratio column).
    P
        The chapter's parameters.

    Returns
    -------
    pandas.DataFrame
        The columns the chapter shows.
    """
    sigmas["sigma_bdp / sigma_dp"] = sigmas["sigma_bdp"] / sigmas["sigma_dp_same_schedule"]
    for name, r in sigmas.iterrows():
        for col in ("sigma_dp", "sigma_bdp", "pilot_median_delta"):
            results.add_metric(experiment="calibration", mode=col,
                               setting=f"eps={P.target_epsilon:g}", party=str(name), metric=col,
                               value=float(r[col]))
    bayes = _bayesian_clients(sigmas)
    glue("sigma_ratio", float(bayes["sigma_bdp / sigma_dp"].median()), display=False)
    glue("pilot_delta", float(bayes["pilot_median_delta"].median()), display=False)
    glue("target_eps", P.target_epsilon, display=False)
    return sigmas[["n_train", "sample_rate_dp", "steps_dp", "sigma_dp", "sample_rate", "steps",
                   "sigma_dp_same_schedule", "sigma_bdp", "sigma_bdp / sigma_dp",
                   "eps_bdp_bound", "eps_bdp_estimate", "pilot_median_delta",
                   "analytical_fallback"]]


def _bayesian_clients(sigmas: pd.DataFrame) -> pd.DataFrame:
    """The clients that run BDP proper (not the analytical fallback), without the pool."""
    return sigmas[~sigmas.analytical_fallback].drop(index="central", errors="ignore")


def noise_to_signal(sigmas: pd.DataFrame, settings: Mapping[str, TrainingConfig],
                    n_params: int) -> pd.DataFrame:
    r"""Per party, DP-SGD's noise per step (eq. 5) against the largest possible signal.

    The noise added to a batch's mean clipped gradient has norm about
    :math:`\sigma C\sqrt{d}/B` (``d`` weights, batch ``B = min(batch_size, n_k)``), the signal
    at most ``C``; the ratio is ``σ√d / B``.

    Parameters
    ----------
    sigmas
        :func:`calibrate`'s table (``n_train``, ``sigma_dp``, ``sigma_bdp``).
    settings
        The tuned settings (each private mode's batch size).
    n_params
        The network's number of weights ``d``.

    Returns
    -------
    pandas.DataFrame
        The batch and the noise / signal ratio of each mechanism per party.

    Examples
    --------
    >>> s = pd.DataFrame({"n_train": [50], "sigma_dp": [1.0], "sigma_bdp": [2.0]}, index=["a"])
    >>> cfg = {"dp": TrainingConfig(lr=0.1, batch_size=100, local_epochs=1),
    ...        "bdp": TrainingConfig(lr=0.1, batch_size=25, local_epochs=1)}
    >>> noise_to_signal(s, cfg, n_params=100).loc["a"].tolist()
    [50.0, 1.0, 2.0, 50.0, 25.0, 0.2, 0.8]
    """
    nsr = sigmas[["n_train", "sigma_dp", "sigma_bdp"]].copy()
    nsr["batch, DP"] = np.minimum(settings["dp"].batch_size, nsr["n_train"])
    nsr["batch, BDP"] = np.minimum(settings["bdp"].batch_size, nsr["n_train"])
    nsr["noise / signal, DP"] = nsr.sigma_dp * np.sqrt(n_params) / nsr["batch, DP"]
    nsr["noise / signal, BDP"] = nsr.sigma_bdp * np.sqrt(n_params) / nsr["batch, BDP"]
    return nsr


def report_noise(sigmas: pd.DataFrame, settings: Mapping[str, TrainingConfig], init_model,
                 P) -> pd.DataFrame:
    """:func:`noise_to_signal` of the run's network, with its numbers glued for the prose.

    Glues ``private_txt``, ``n_params``, ``nsr_central`` and ``nsr_client_median``.

    Returns
    -------
    pandas.DataFrame
        :func:`noise_to_signal`.
    """
    n_params = sum(p.numel() for p in init_model.parameters())
    nsr = noise_to_signal(sigmas, settings, n_params)
    glue("private_txt", private_settings_text(settings, P), display=False)
    glue("n_params", n_params, display=False)
    glue("nsr_central", float(nsr.loc["central", "noise / signal, DP"]), display=False)
    glue("nsr_client_median", float(nsr.drop(index="central")["noise / signal, DP"].median()),
         display=False)
    return nsr


def epsilon_if_every_step(sq_distance: float, *, party: pd.Series, P) -> float:
    r"""The Bayesian ε of a whole run if every step's neighbours were at distance ``Δ``.

    Each of the run's ``party.steps`` steps is charged :math:`c_L` of Algorithm 2 line 25
    (``cost="left"``) for ``M = P.bdp_neighbours`` distances equal to
    ``sq_distance``, at the party's calibrated σ_BDP and sampling rate.

    Parameters
    ----------
    sq_distance
        :math:`\Delta = \lVert g - g'\rVert^2`, in units of the gradient's square.
    party
        The party's row of :func:`calibrate`'s table.
    P
        The chapter's parameters (``clip_norm``, ``delta``, ``bdp_neighbours``).

    Returns
    -------
    float
    """
    acc = BayesianAccountant(sample_rate=party.sample_rate, noise_multiplier=party.sigma_bdp,
                             clip_norm=P.clip_norm, beta=P.delta / 2, gamma=party.gamma,
                             n_rows=int(party.n_train), cost="left")
    acc.total_cost = int(party.steps) * acc.step_cost(np.full(P.bdp_neighbours, sq_distance))
    return acc.epsilon()[0]


def worked_example(data, sigmas: pd.DataFrame, settings: Mapping[str, TrainingConfig],
                   init_model, P) -> tuple[pd.DataFrame, np.ndarray, pd.Series]:
    """What a Bayesian ε promises about a typical, an unusual and a worst-case borrower (§3.5).

    On the largest client that runs BDP proper, pilot distances are drawn at the initial
    model; each neighbour's Δ is charged at every step by :func:`epsilon_if_every_step`, beside
    the classical (add/remove) ε of the same noise. Glues ``worked_client`` and
    ``worked_eps_worst``.

    Returns
    -------
    tuple
        The table, the pilot distances and the client's row of ``sigmas``.
    """
    bayes = _bayesian_clients(sigmas)
    big = bayes["n_train"].idxmax() if len(bayes) else data.clients[0].name
    cl = next(c for c in data.clients if c.name == big)
    pilot = pilot_distances(init_model, cl.X_train, cl.t_train, cl.e_train, grid=data.grid,
                            clip_norm=P.clip_norm, batch_size=settings["bdp"].batch_size,
                            n_neighbours=P.bdp_neighbours, n_steps=max(P.bdp_pilot_steps, 5),
                            rng=np.random.default_rng(P.seed))
    row = sigmas.loc[cl.name]
    worked = pd.DataFrame([
        {"neighbour": "typical borrower (median Δ of the pilot)",
         "Delta / C^2": float(np.median(pilot))},
        {"neighbour": "unusual borrower (largest Δ of the pilot)", "Delta / C^2": float(pilot.max())},
        {"neighbour": "worst case, add/remove (classical DP)", "Delta / C^2": 1.0},
        {"neighbour": "worst case, replace one row", "Delta / C^2": 4.0},
    ])
    worked["epsilon if every step had this Delta"] = [
        epsilon_if_every_step(d * P.clip_norm**2, party=row, P=P) for d in worked["Delta / C^2"]]
    worked["classical DP epsilon at sigma_bdp (add/remove)"] = epsilon_for(
        noise_multiplier=float(row.sigma_bdp), sample_rate=float(row.sample_rate),
        steps=int(row.steps), delta=P.delta)
    glue("worked_client", cl.name, display=False)
    glue("worked_eps_worst", float(worked.iloc[3, 2]), display=False)
    return worked, pilot, row


def printed_cost_rule(pilot: np.ndarray, party: pd.Series, P) -> pd.DataFrame:
    """Algorithm 2's printed ``max(c_L, c_R)`` (lines 25–27) against ``c_L`` alone.

    Glues the σ_BDP the worked client would need under the printed rule
    (``sigma_paper_rule``) beside its σ_BDP (``sigma_left_rule``) and σ_DP
    (``sigma_dp_worked``).

    Parameters
    ----------
    pilot
        The worked client's pilot distances (:func:`worked_example`).
    party
        Its row of :func:`calibrate`'s table.
    P
        The chapter's parameters.

    Returns
    -------
    pandas.DataFrame
        :func:`~fedlib.survival.experiment.cost_rule_table` at Δ = C², σ = 1, λ = 8.
    """
    sigma_paper = bdp_noise_multiplier(pilot, target_epsilon=P.target_epsilon,
                                       sample_rate=float(party.sample_rate),
                                       steps=int(party.steps), clip_norm=P.clip_norm,
                                       beta=P.delta / 2, gamma=float(party.gamma),
                                       n_rows=int(party.n_train), cost="paper",
                                       bounds=(0.05, 5000.0))
    glue("sigma_paper_rule", sigma_paper, display=False)
    glue("sigma_left_rule", float(party.sigma_bdp), display=False)
    glue("sigma_dp_worked", float(party.sigma_dp), display=False)
    return cost_rule_table(sq_distance=1.0, noise_multiplier=1.0, order=8)


def run_table3(data, P, seeds: Sequence[int], *, sigmas: pd.DataFrame,
               settings: Mapping[str, TrainingConfig], init_hazard, window: int) -> tuple[dict, list]:
    """Table 3's six scenarios, every seed, at equal final ε per party.

    :func:`~fedlib.survival.experiment.run_scenarios` with the chapter's settings: the BDP
    runs of all seeds first, then each party's DP σ matched to the Bayesian ε it reached.

    Returns
    -------
    tuple
        ``run_scenarios``' result and, per seed, the federated BDP model's mean predicted month
        of early and late defaulters (Fig. 9).
    """
    timing_rows: list[dict] = []
    with tqdm(total=len(seeds) * len(SCENARIOS), desc="Table 3", file=sys.stderr) as bar:
        main = run_scenarios(data, sigmas=sigmas, seeds=seeds, rounds=P.rounds,
                             init_hazard=init_hazard, sample_fraction=P.sample_fraction,
                             on_run=timing_collector(data, window, timing_rows),
                             progress=lambda s: bar.update(), **scenario_options(P, settings))
    return main, timing_rows


def report_table3(results, main: dict, *, paper_name: str | None, n_seeds: int,
                  has_oot: bool) -> pd.DataFrame:
    """Record Table 3's rows (``table3``) and show it beside the paper's means.

    Glues ``n_seeds_used`` and ``table3_vs``.

    Parameters
    ----------
    results
        The chapter's results writer.
    main
        :func:`run_table3`'s result.
    paper_name
        The paper's dataset, None for a user's table.
    n_seeds
        The number of seeds.
    has_oot
        Whether there are out-of-time loans.

    Returns
    -------
    pandas.DataFrame
        :func:`table3_beside_paper`.
    """
    add_table3_metrics(results, main["metrics"], "table3")
    glue("n_seeds_used", n_seeds, display=False)
    glue("table3_vs", " The paper's means are beside ours." if paper_name is not None else
         " The paper has no numbers for your table, so no level is set beside ours; the claims "
         "compare only directions (which mechanism wins).", display=False)
    return table3_beside_paper(main["metrics"], paper_name, has_oot=has_oot)


def per_seed_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Each scenario's test C-index per seed, in Table 3's order."""
    return (metrics.pivot_table(index="scenario", columns="seed", values="test_ci")
            .loc[list(SCENARIOS)].round(3))


def report_equal_epsilon(results, main: dict, sigmas: pd.DataFrame,
                         settings: Mapping[str, TrainingConfig], P) -> tuple[pd.DataFrame, bool]:
    """The final ε of DP and BDP per party (:func:`equal_epsilon_table`), glued for the prose.

    Glues ``eq_max_gap``, ``eps_bdp_central``, ``eps_bdp_spread`` (largest spread of a party's
    Bayesian ε over seeds), ``delta_used``, ``sigma_ratio_used``, ``ratio_basis`` and
    ``bound_text``.

    Returns
    -------
    tuple
        The table and whether every Bayesian ε is a valid bound.
    """
    eps_final = main["epsilons"]
    eq = equal_epsilon_table(eps_final, main["sigmas_used"], results)
    bdp_spread = eps_final[eps_final.scenario.str.contains("BDP")].groupby("client").epsilon.agg(
        lambda v: v.max() - v.min())
    glue("eq_max_gap", float(eq["|DP − BDP|"].max()), display=False)
    glue("eps_bdp_central", float(eq.loc[("Centralized", "central"), "BDP"]), display=False)
    glue("eps_bdp_spread", float(bdp_spread.max()), display=False)
    glue("delta_used", P.delta, display=False)
    glue("sigma_ratio_used", noise_ratio(eq, sigmas, settings), display=False)
    glue("ratio_basis", "the σ after matching, since DP and BDP were tuned to the same schedule"
         if same_schedule(settings) else "DP and BDP were tuned to different schedules, so "
         "DP's σ is the one calibrated to the target on BDP's schedule", display=False)
    is_bound = bdp_epsilons_are_bounds(eps_final)
    glue("bound_text", bdp_bound_text(is_bound), display=False)
    return eq, is_bound


def report_headline(main: dict, timing_rows: list, P, paper_name: str) -> tuple[pd.DataFrame, list]:
    """The paper's headline quantities beside ours (:func:`headline_table`), glued.

    The ranking reversal, the federation gains (§5.1) and the per-client win rate of federated
    BDP over DP. Glues ``wins_txt`` and ``chance_txt``.

    Returns
    -------
    tuple
        The table and the scenarios whose model is at chance (:func:`at_chance`).
    """
    metrics = main["metrics"]
    ev = DatasetEvidence(metrics, main["per_client"], same_data=P.dataset.endswith("_csv")
                         and paper_name in ("LendingClub", "SBA", "Bondora"),
                         note="", timing=pd.DataFrame(timing_rows))
    wr = per_seed_win_rates(main["per_client"])
    chance = at_chance(metrics)
    glue("wins_txt", ", ".join(f"{int(r.wins)}/{int(r.n)}" for r in wr.itertuples()) or "–",
         display=False)
    glue("chance_txt", ", ".join(chance) if chance else "none", display=False)
    return headline_table(ev, wr, size_benefit_correlation(main["per_client"])), chance


def run_convergence(results, data, P, seeds: Sequence[int], *, main: dict,
                    settings: Mapping[str, TrainingConfig], init_model,
                    init_hazard) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Fig. 8: the ε sweep (:func:`epsilon_sweep`) and the convergence figure, recorded.

    Records the sweep's final test C-index (``epsilon_sweep``) and glues
    ``fig_03_convergence``.

    Returns
    -------
    tuple
        The sweep's per-epoch histories (None without a sweep) and, per ε, scenario and seed,
        how far each private run's training loss moved from the first to the last epoch.
    """
    sweep_rows, sweep_metrics = epsilon_sweep(data, P, seeds, settings=settings,
                                              init_model=init_model, init_hazard=init_hazard)
    results.add_metrics(sweep_metrics)
    sweep = pd.concat(sweep_rows, ignore_index=True) if sweep_rows else None
    curves = convergence_curves(main["runs"], sweep_rows, settings=settings,
                                epsilon=P.target_epsilon, seeds=seeds)
    _glue_figure("fig_03_convergence", plot_convergence(curves))
    if sweep is None:
        return None, None
    rise = (sweep.sort_values("step").groupby(["epsilon", "scenario", "seed"]).train_loss
            .agg(lambda v: v.iloc[-1] - v.iloc[0]).unstack("seed"))
    return sweep, rise.round(3)


def report_timing(results, main: dict, timing_rows: list, ds, data) -> pd.DataFrame:
    """Fig. 9: when the models predict default, for early, late and non-defaulters.

    Records :func:`timing_table` (``timing``), glues the federated BDP model's mean over seeds
    (``early_month``, ``late_month``) and the figure ``fig_03_timing``.

    Returns
    -------
    pandas.DataFrame
        :func:`timing_table` (the first seed).
    """
    timing = timing_table(main["runs"], ds, data)
    seeds = pd.DataFrame(timing_rows)
    glue("early_month", float(seeds["early"].mean()), display=False)
    glue("late_month", float(seeds["late"].mean()), display=False)
    for model_name, r in timing.iterrows():
        for col, v in r.items():
            results.add_metric(experiment="timing", mode=model_name, setting=col,
                               metric="mean_predicted_default_month", value=float(v))
    _glue_figure("fig_03_timing", plot_timing(main["runs"]["Federated (No DP)"].model, data,
                                              ds.window))
    return timing


def report_calibration(results, main: dict, ds, data) -> pd.DataFrame:
    """Fig. 11 and calibration against the true hazard: the KM band coverage per client.

    Draws :func:`km_calibration` for the federated BDP model (glued ``fig_03_km``), glues the
    mean share of months inside the band (``km_inside``) and ``cal_text``, and records
    :func:`true_hazard_calibration` (``calibration``).

    Returns
    -------
    pandas.DataFrame
        :func:`true_hazard_calibration` (empty for a real file).
    """
    fig11, inside = km_calibration(main["runs"]["Federated (BDP)"].model, ds, data)
    _glue_figure("fig_03_km", fig11)
    glue("km_inside", float(inside.iloc[:, 1].mean()), display=False)
    calibration = true_hazard_calibration(main["runs"], ds, data)
    for r in calibration.itertuples(index=False):
        results.add_metric(experiment="calibration", mode=r.model, setting="vs true hazard",
                           metric="mean_abs_survival_error", value=r[1])
    glue("cal_text", "Because the true hazard is known for these generated default times, the "
         "table measures calibration directly against it, borrower by borrower, instead of "
         "against a Kaplan–Meier band that is wide for small clients." if ds.truth is not None
         else "On a real file the true hazard is unknown, so the Kaplan–Meier bands are the "
         "only calibration check.", display=False)
    return calibration


def amortising_ead(principal: float, *, annual_rate: float, n_months: int) -> np.ndarray:
    r"""Exposure at the start of each month of a loan repaid in equal monthly instalments.

    The outstanding balance of an annuity at monthly rate :math:`r = a/12` after :math:`t`
    payments, :math:`P\,((1+r)^T - (1+r)^t)/((1+r)^T - 1)`, for :math:`t = 0..T-1` (the EAD
    of §5.3's ECL).

    Examples
    --------
    >>> amortising_ead(1000, annual_rate=0.12, n_months=2).round(2).tolist()
    [1000.0, 502.49]
    """
    r_m = annual_rate / 12
    T = n_months
    return principal * ((1 + r_m) ** T - (1 + r_m) ** np.arange(T)) / ((1 + r_m) ** T - 1)


def ecl_examples(model, ds, data, P) -> pd.DataFrame:
    """§5.3's lifetime ECL of one early and one late test defaulter, three ways.

    For a loan of 10,000 amortised over the window (:func:`amortising_ead`) with LGD
    ``P.ecl_lgd``: the marginal PD :math:`h_t S_{t-1}`, discounted (IFRS 9); the sum of
    hazards as printed; and the 12-month (stage 1) ECL. Glues ``ecl_window``, ``ecl_rate`` and
    ``ecl_lgd``.

    Returns
    -------
    pandas.DataFrame
        One row per borrower.
    """
    Xte, tte, ete, _ = data.pooled("test")
    early, late = (ete == 1) & (tte < ds.window / 2), (ete == 1) & (tte >= ds.window / 2)
    H = predict_hazards(model, Xte)
    pick = {"early defaulter": int(np.flatnonzero(early)[0]) if early.any() else 0,
            "late defaulter": int(np.flatnonzero(late)[0]) if late.any() else 0}
    T = ds.window
    ead = amortising_ead(10_000, annual_rate=P.ecl_annual_rate, n_months=T)
    df_t = discount_factors(annual_rate=P.ecl_annual_rate, n_months=T)
    rows = [{"borrower": name, "observed default month": tte[i] + 0.5,
             "ECL (marginal PD, discounted)": lifetime_ecl(H[i], lgd=P.ecl_lgd, ead=ead,
                                                           discount=df_t),
             "ECL as printed (sum of hazards)": lifetime_ecl(H[i], lgd=P.ecl_lgd, ead=ead,
                                                             marginal=False),
             "12-month ECL (stage 1)": lifetime_ecl(H[i][:12], lgd=P.ecl_lgd, ead=ead[:12],
                                                    discount=df_t[:12])}
            for name, i in pick.items()]
    glue("ecl_window", T, display=False)
    glue("ecl_rate", P.ecl_annual_rate, display=False)
    glue("ecl_lgd", P.ecl_lgd, display=False)
    return pd.DataFrame(rows).set_index("borrower")


def membership_attacks(results, main: dict, data, P) -> pd.DataFrame:
    """A loss-threshold membership attack (eq. 1's loss) on the three federated models.

    Records each attack's AUC (``attack``); nothing when ``P.run_attack`` is off.

    Returns
    -------
    pandas.DataFrame
        One row per model (empty without the attack).
    """
    if not P.run_attack:
        return pd.DataFrame()
    Xtr, ttr, etr, _ = data.pooled("train")
    Xte, tte, ete, _ = data.pooled("test")
    rows = []
    for sc in ("Federated (No DP)", "Federated (Classical DP)", "Federated (BDP)"):
        out = survival_membership_inference(main["runs"][sc].model, (Xtr, ttr, etr),
                                            (Xte, tte, ete), grid=data.grid, n=P.mia_rows,
                                            seed=P.seed)
        rows.append({"model": sc, "epsilon": "∞" if "No DP" in sc else f"{P.target_epsilon:g}",
                     **out})
        results.add_metric(experiment="attack", mode=sc, setting="loss threshold",
                           metric="mia_auc", value=out["auc"])
    return pd.DataFrame(rows)


def table2_inputs(P, profile) -> tuple[str, ...]:
    """The main dataset's Table 2 quantities set from the paper, not measured (by construction).

    Examples
    --------
    >>> table2_inputs(type("P", (), {"dataset": "lendingclub_csv"}), object())
    ('window',)
    """
    if profile is None:
        return ()
    if P.dataset.endswith("_csv"):
        return ("window",)
    if P.dataset == "semi_real_lendingclub":
        return ("default_rate", "window", "clients")
    return ("default_rate", "window", "clients", "features", "min_client", "max_client",
            "mean_client")


def all_datasets(results, main: dict, timing_rows: list, chance_main: list, ds, data, P,
                 seeds: Sequence[int], *, paper_name: str,
                 settings: Mapping[str, TrainingConfig]) -> tuple[dict, dict, pd.DataFrame | None]:
    """The main dataset's evidence and Table 3 on the SBA- and Bondora-like synthetic data.

    Every dataset of ``P.run_synthetic`` not already the main one runs :func:`synthetic_run`
    with the settings tuned on the main dataset (recorded as ``table3_<kind>``). A user's table
    is its own key: it gets the claims about the mechanisms only.

    Returns
    -------
    tuple
        Evidence per dataset name, the scenarios at chance per dataset, and the synthetic
        runs' Table 3 beside the paper's (None without one).
    """
    is_real = P.dataset.endswith("_csv")
    evidence = {paper_name: DatasetEvidence(
        main["metrics"], main["per_client"], same_data=is_real, table2=table2_of(ds),
        note=(f"{ds.name}: {len(ds.frame):,} loans, {len(data.clients)} clients, "
              f"ε = {P.target_epsilon:g}, R = {P.rounds}, E tuned per method "
              f"({', '.join(str(settings[m].local_epochs) for m in ('none', 'dp', 'bdp'))}), "
              f"{len(seeds)} seed(s)"),
        table2_input=table2_inputs(P, ds.profile),
        timing=(pd.DataFrame(timing_rows) if paper_name == "LendingClub" or ds.profile is None
                else None))}
    chance = {paper_name: chance_main}
    sides = []
    for kind in P.run_synthetic:
        name = PROFILES[kind].name
        if name in evidence:
            continue
        evidence[name], side = synthetic_run(kind, P, seeds, results, settings=settings)
        chance[name] = at_chance(evidence[name].metrics)
        sides.append(side)
    return evidence, chance, pd.concat(sides) if sides else None


def table2_all(evidence: Mapping[str, DatasetEvidence]) -> pd.DataFrame:
    """Table 2 of every dataset run, beside the paper's column where the paper has one."""
    t2 = pd.DataFrame({f"{k} (ours)": v.table2 for k, v in evidence.items()})
    for k in evidence:
        if k in PAPER_TABLE2:   # a user's table has no paper column
            t2[f"{k} (paper)"] = pd.Series(PAPER_TABLE2[k])
    return t2


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
