"""The runs of chapter 3 (FSL-BDP survival): Table 3's scenarios, the ε sweep and the synthetic data.

Serves the chapter's sections "Table 3" (the six scenarios, centralised and federated, without
DP, with DP and with BDP, every seed at equal final ε per party), "Convergence" (the ε sweep
behind the paper's Fig. 8) and "SBA-like and Bondora-like synthetic runs" (Table 3 again on the
paper's other two datasets), and the initial network every run starts from (eq. 1's
``HazardNet``). The training itself is :mod:`fedlib.survival.experiment`'s.

References: Amed, Sen & Banerjee (2026), FSL-BDP, eq. 1, Table 3, Fig. 8.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.std import tqdm

from fedlib.book.glue import glue
from fedlib.flower.engine import engine_for
from fedlib.papers.p03_fsl_bdp.claims import DatasetEvidence, paper_table3_frame
from fedlib.papers.p03_fsl_bdp.datasets import table2_inputs, table2_of
from fedlib.papers.p03_fsl_bdp.figures import _glue_figure, convergence_curves, plot_convergence
from fedlib.papers.p03_fsl_bdp.privacy import _calibration_options
from fedlib.papers.p03_fsl_bdp.table3 import _mean_ci, add_table3_metrics, at_chance
from fedlib.survival.data import PROFILES, prepare_survival, synthetic_survival
from fedlib.survival.experiment import (
    SCENARIOS,
    TrainingConfig,
    calibrate_clients,
    expected_default_month,
    run_scenarios,
)
from fedlib.survival.federated import make_model
from fedlib.survival.model import predict_survival

__all__ = ["all_datasets", "epsilon_sweep", "initial_model", "run_convergence", "run_table3",
           "scenario_options", "synthetic_run", "timing_collector"]


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
        The tuned settings, clipping, δ, M, the noise seed, the equal-final-ε protocol
        (``match_dp_to_bdp=True``) and the engine of the federated runs (``fl_engine``,
        :func:`fedlib.flower.engine.engine_for`); rounds and the initial hazard differ between runs and are
        passed beside it.
    """
    return dict(settings=settings, clip_norm=P.clip_norm, noise_seed=P.seed, delta=P.delta,
                n_neighbours=P.bdp_neighbours, match_dp_to_bdp=True,
                engine=engine_for(P.fl_engine))


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
                             value=r.test_ci) for r in sw.metrics.itertuples()]
    return sweep_rows, records


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
    curves = convergence_curves(main.runs, sweep_rows, settings=settings,
                                epsilon=P.target_epsilon, seeds=seeds)
    _glue_figure("fig_03_convergence", plot_convergence(curves))
    if sweep is None:
        return None, None
    rise = (sweep.sort_values("step").groupby(["epsilon", "scenario", "seed"]).train_loss
            .agg(lambda v: v.iloc[-1] - v.iloc[0]).unstack("seed"))
    return sweep, rise.round(3)


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
    sm = sres.metrics
    add_table3_metrics(results, sm, f"table3_{kind}")
    n_fb = int(sum(c.n_train < 100 for c in sdata.clients))
    ev = DatasetEvidence(
        sm, sres.per_client, same_data=False,
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
        main.metrics, main.per_client, same_data=is_real, table2=table2_of(ds),
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
