"""Chapter 2's runs: one mode per federation, its cost, subgroups, the mixed assignment, Table 6.

Serves the chapter's (``chapters/02_dp_vs_ckks.py``) sections "Experiment 1: one privacy mode
for the whole federation" (accuracy, cost: the paper's Figs. 6–9; calibration and subgroups),
"Experiment 2: the paper's own mixed assignment" and "Ablation: plaintext versus CKKS
aggregation" (the paper's Table 6). Each section function runs its step, records its metric
rows in ``results.json`` and glues the numbers its prose quotes; the helpers above them
tabulate and record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from IPython.display import Markdown

from fedlib.evaluate.figures import plot_reliability, plot_subgroups
from fedlib.evaluate.metrics import reliability_curve
from fedlib.evaluate.subgroups import subgroup_metrics
from fedlib.evaluate.tuning import TuningResult
from fedlib.fl.experiment import ClientMode, time_modes
from fedlib.fl.leakage import recover_by_subtraction
from fedlib.fl.models import LogisticRegression, predict_proba
from fedlib.papers.p02_dp_vs_ckks.training import (
    SeedRuns,
    final_model,
    glue_values,
    mean_ci,
    metrics_on,
    run_seeds,
    seed_summary,
)

__all__ = [
    "ablation_table",
    "calibration_and_subgroups",
    "constant_classifier_text",
    "Cost",
    "cost_table",
    "measure_cost",
    "Mixed",
    "mixed_assignment",
    "mixed_federation",
    "mixed_table",
    "model_list",
    "one_mode_per_federation",
    "record_cost",
    "record_main",
    "record_mixed",
    "subgroup_columns",
    "subgroup_table",
    "Subgroups",
    "WholeFederation",
    "with_client_time",
]


def record_main(results, per_seed: pd.DataFrame, dp_epsilon: Mapping[str, float],
                params) -> None:
    """Add experiment 1's mean metrics and each DP mode's ε to ``results``."""
    for (setting, mode), g in per_seed.groupby(["setting", "mode"], sort=False):
        for metric in ("accuracy", "roc_auc", "pr_auc", "brier", "ece", "test_loss",
                       "selection_rate"):
            results.add_metric(experiment="main", mode=mode, setting=setting, party="all",
                               round=params.rounds, metric=metric,
                               value=float(g[metric].mean()))
    for label, eps in dp_epsilon.items():
        results.add_metric(experiment="main", mode=label, setting=f"delta={params.delta:g}",
                           party="max over clients", round=params.rounds,
                           metric="epsilon_rdp", value=eps)


def model_list(frame: pd.DataFrame) -> str:
    """The distinct "mode (setting)" pairs of ``frame``, comma-separated, or "none"."""
    return ", ".join(f"{m} ({s})" for s, m in frame[["setting", "mode"]].drop_duplicates()
                     .itertuples(index=False)) or "none"


def constant_classifier_text(per_seed: pd.DataFrame, y_test: np.ndarray, *,
                             constant_share: float, majority: float) -> str:
    """The paragraph on constant classifiers and how often the models approve.

    Parameters
    ----------
    per_seed : pandas.DataFrame
        :attr:`SeedRuns.per_seed`.
    y_test : numpy.ndarray
        The test labels.
    constant_share : float
        The share under which a model's rarer decision flags it as constant.
    majority : float
        The majority-class rate of the test rows.

    Returns
    -------
    str
        Markdown.
    """
    constant_rows = per_seed[per_seed.constant]
    near = per_seed.groupby(["setting", "mode"]).selection_rate.mean()
    all_approve = float(near.min())
    if constant_rows.empty:
        text = ("No model predicts a single class on the test rows in any seed. ")
    else:
        text = (f"**Constant classifiers**: {model_list(constant_rows)} give one decision to "
                f"all but under {constant_share:.0%} of the test rows in at least one seed; "
                "their accuracy is about the majority rate and no accuracy claim is scored on "
                "them. ")
    text += (f"Every model approves at least {all_approve:.1%} of the test applicants on "
             f"average; {y_test.mean():.1%} of them are approved in the data. ")
    if majority > 0.8:
        text += ("With approvals this common, accuracy at the 0.5 threshold barely separates a "
                 "model from the rule \"approve everyone\": ROC-AUC, which does not depend on a "
                 "threshold, is where the modes differ.")
    return text


def with_client_time(timing: pd.DataFrame, local_epochs: int) -> pd.DataFrame:
    """Add ``client_s_per_epoch``: training per epoch plus one encryption per round.

    The encryption (``protect_s``) is spread over the round's ``local_epochs`` epochs, since the
    paper encrypts once per round. ``timing`` is changed in place and returned.
    """
    timing["client_s_per_epoch"] = timing.train_s_per_epoch + timing.protect_s / local_epochs
    return timing


def cost_table(timing: pd.DataFrame, modes: Sequence[str]) -> pd.DataFrame:
    """Client and server time per mode, with per-repeat ratios to standard FL.

    Parameters
    ----------
    timing : pandas.DataFrame
        :func:`~fedlib.fl.experiment.time_modes` output after :func:`with_client_time`.
    modes : sequence of str
        Mode labels, in the order of the rows.

    Returns
    -------
    pandas.DataFrame
        Median and IQR of client ms per epoch, the epoch-time ratio to standard FL (mean ±
        t half-width over repeats), median server ms and its ratio.
    """
    wide = timing.pivot(index="repeat", columns="mode")
    return pd.DataFrame({
        "client ms/epoch (median)": timing.groupby("mode").client_s_per_epoch.median() * 1e3,
        "client ms/epoch (IQR)": timing.groupby("mode").client_s_per_epoch.apply(
            lambda v: f"{v.quantile(0.25) * 1e3:.3g}–{v.quantile(0.75) * 1e3:.3g}"),
        "epoch time vs standard": [mean_ci(wide["client_s_per_epoch"][m]
                                           / wide["client_s_per_epoch"]["standard"])
                                   for m in timing.groupby("mode").groups],
        "server ms (median)": timing.groupby("mode").server_s.median() * 1e3,
        "server time vs standard": [mean_ci(wide["server_s"][m] / wide["server_s"]["standard"])
                                    for m in timing.groupby("mode").groups],
    }).loc[list(modes)]


def record_cost(results, cost: pd.DataFrame, repeats: int) -> None:
    """Add each mode's median client and server time to ``results``."""
    for mode, row in cost.iterrows():
        results.add_metric(experiment="timing", mode=mode, setting=f"{repeats} repeats",
                           party="all", round=None, metric="client_ms_per_epoch_median",
                           value=float(row["client ms/epoch (median)"]))
        results.add_metric(experiment="timing", mode=mode, setting=f"{repeats} repeats",
                           party="server", round=None, metric="server_ms_median",
                           value=float(row["server ms (median)"]))


def subgroup_columns(dataset) -> tuple[dict, str]:
    """The subgroup columns to break down by, and a sentence saying which the paper's lack.

    The paper's subgroups are gender and property location; the data's protected columns are
    used when it has them, else its categorical inputs.

    Returns
    -------
    tuple
        (role → column, Markdown sentence).
    """
    attributes = dataset.protected or {c: c for c in dataset.categorical}
    paper_roles = {"gender", "area", "property_area"}
    have = [r for r in attributes if r in paper_roles]
    lacking = sorted({"gender", "property location"}
                     - ({"gender"} if "gender" in have else set())
                     - ({"property location"} if {"area", "property_area"} & set(have)
                        else set()))
    sentence = (f"**{dataset.card.title}** has "
                + ", ".join(f"`{c}`" for c in attributes.values())
                + " as subgroup columns" + (f" and no {' or '.join(lacking)} column"
                                            if lacking else "")
                + "; the table and figure break the test rows down by "
                + " and by ".join(f"`{c}`" for c in attributes.values()) + ".")
    return attributes, sentence


def subgroup_table(fed_data, final_proba: Mapping[str, np.ndarray],
                   attributes: Mapping[str, str]) -> pd.DataFrame:
    """Test metrics of every final model within each subgroup of each attribute.

    Parameters
    ----------
    fed_data : HorizontalData
        Gives the test labels and the test frame with the subgroup columns.
    final_proba : mapping
        Model label → predicted probabilities on the test rows.
    attributes : mapping
        Role → column (:func:`subgroup_columns`); the role ``gender`` is mapped 1/0 to
        male/female.

    Returns
    -------
    pandas.DataFrame
        :func:`~fedlib.evaluate.subgroups.subgroup_metrics` rows with ``mode`` and
        ``attribute``.
    """
    subgroups = []
    for role, column in attributes.items():
        groups = fed_data.test_frame[column].reset_index(drop=True).rename("group")
        if role == "gender":
            groups = groups.map({1: "male", 0: "female"})
        for label, p in final_proba.items():
            sg = subgroup_metrics(fed_data.y_test, p, groups)
            sg.insert(0, "mode", label)
            sg.insert(1, "attribute", role)
            subgroups.append(sg)
    return pd.concat(subgroups, ignore_index=True)


def mixed_assignment(n_clients: int, noise_multipliers: Sequence[float]) -> list[ClientMode]:
    """The paper's mixed assignment: bank 1 standard, the middle banks DP, the last HE."""
    mixed_modes = [ClientMode("standard")]
    for k in range(1, n_clients - 1):
        sigma = noise_multipliers[(k - 1) % len(noise_multipliers)]
        mixed_modes.append(ClientMode(f"dp sigma={sigma:g}", training="dp",
                                      noise_multiplier=sigma))
    mixed_modes.append(ClientMode("he (ckks)", protection="ckks"))
    return mixed_modes


def mixed_table(mixed, mixed_modes: Sequence[ClientMode], delta: float) -> pd.DataFrame:
    """Per bank of the mixed run: its mode, what the server receives, and its ε."""
    return pd.DataFrame({
        "client": [p.name for p in mixed.parties],
        "mode": [m.label for m in mixed_modes],
        "what the server receives": [p.message_kind for p in mixed.parties],
        "epsilon": [p.trainer.accountant.epsilon(delta=delta) if p.trainer.private else np.inf
                    for p in mixed.parties],
    })


def record_mixed(results, mixed, leak, rounds: int) -> None:
    """Add the mixed run's final metrics and the subtraction attack's error to ``results``."""
    final = mixed.history[(mixed.history.party == "all") & (mixed.history["round"] == rounds)]
    for r in final.itertuples():
        results.add_metric(experiment="mixed", mode="mixed", setting="paper assignment",
                           party="all", round=rounds, metric=r.metric, value=float(r.value))
    results.add_metric(experiment="mixed", mode="he (ckks)", setting="subtraction attack",
                       party=mixed.parties[-1].name, round=rounds,
                       metric="max_abs_error_of_recovered_update", value=leak.max_abs_error)


class WholeFederation(NamedTuple):
    """Experiment 1's runs (:class:`SeedRuns`), its table and its paragraph on constant models."""

    runs: SeedRuns
    summary: pd.DataFrame
    constant_text: Markdown
    majority: float


def one_mode_per_federation(params, results, fed_data, modes: Mapping[str, ClientMode],
                            tuning: TuningResult, train: Callable, *,
                            prepare: Callable) -> WholeFederation:
    """Experiment 1: every bank in one privacy mode, paper and tuned settings, every seed.

    Runs :func:`run_seeds` (FedAvg, eq-02-fedavg, in standard, DP-SGD and CKKS modes),
    records the mean metrics and each DP mode's ε (:func:`record_main`), and glues the
    schedule, the majority-class accuracy and the full-batch DP noise on the mean gradient
    (σC/n for the smallest bank at the largest σ).

    Parameters
    ----------
    params : Chapter02Params
        The chapter's parameters.
    results
        The chapter's results writer.
    fed_data : HorizontalData
        The first seed's data.
    modes, tuning, train
        From :func:`privacy_modes`, :func:`tune_modes` and :func:`make_trainer`.
    prepare : callable
        ``prepare(seed) -> HorizontalData`` for the other seeds.

    Returns
    -------
    WholeFederation
    """
    seeds = [params.seed + i for i in range(params.n_seeds)]
    runs = run_seeds(params, seeds, modes, tuning, train, fed_data, prepare=prepare)
    majority = float(max(fed_data.y_test.mean(), 1 - fed_data.y_test.mean()))
    smallest = min(len(d.y) for d in fed_data.parties)
    glue_values(majority_accuracy=majority, paper_lr=params.learning_rate,
                paper_clip=params.clip_norm, n_seeds_used=len(seeds),
                constant_share_pct=f"{params.constant_share:.0%}", rounds_used=params.rounds,
                epochs_used=params.local_epochs, delta_used=params.delta,
                smallest_bank=smallest, largest_sigma=max(params.noise_multipliers),
                dp_noise_on_mean=float(max(params.noise_multipliers) * params.clip_norm
                                       / smallest))
    record_main(results, runs.per_seed, runs.dp_epsilon, params)
    text = constant_classifier_text(runs.per_seed, fed_data.y_test, majority=majority,
                                    constant_share=params.constant_share)
    return WholeFederation(runs, seed_summary(runs.per_seed, runs.dp_epsilon,
                                              n_seeds=len(seeds)), Markdown(text), majority)


class Cost(NamedTuple):
    """Client and server time per mode (one row per mode and repeat) and the cost table."""

    timing: pd.DataFrame
    table: pd.DataFrame


def measure_cost(params, results, fed_data, modes: Mapping[str, ClientMode], ckks) -> Cost:
    """Client time per local epoch and server time per round (the paper's Figs. 8 and 9).

    :func:`~fedlib.fl.experiment.time_modes` times ``timing_epochs`` epochs per client,
    ``timing_repeats`` times with the modes interleaved; the client time adds one CKKS
    encryption per round spread over the round's epochs (:func:`with_client_time`). Records
    the medians (:func:`record_cost`) and glues the timing settings.

    Returns
    -------
    Cost
    """
    timing = time_modes(fed_data.parties, list(modes.values()),
                        model_fn=lambda: LogisticRegression(fed_data.n_features,
                                                            seed=params.seed),
                        epochs=params.timing_epochs, repeats=params.timing_repeats,
                        lr=params.learning_rate, clip_norm=params.clip_norm,
                        delta=params.delta, ckks=ckks, dp_backend=params.dp_backend,
                        noise_seed=params.seed)
    timing = with_client_time(timing, params.local_epochs)
    glue_values(timing_epochs=params.timing_epochs, timing_repeats=params.timing_repeats)
    cost = cost_table(timing, modes=list(modes))
    record_cost(results, cost, repeats=params.timing_repeats)
    return Cost(timing, cost)


class Subgroups(NamedTuple):
    """Calibration and subgroup results of the first seed's final models."""

    reliability: Any
    figure: Any
    which: Markdown
    table: pd.DataFrame


def calibration_and_subgroups(params, results, fed_data, first: Mapping) -> Subgroups:
    """Reliability curves and metrics by subgroup of every final model (the paper's §5).

    The paper's subgroups are gender and property location; the data's protected columns are
    used when it has them, else its categorical inputs (:func:`subgroup_columns`). Records the
    accuracy per subgroup (experiment ``subgroups``).

    Parameters
    ----------
    params : Chapter02Params
        The chapter's parameters.
    results
        The chapter's results writer.
    fed_data : HorizontalData
        The first seed's data.
    first : mapping
        (setting, label) → run of the first seed (:attr:`SeedRuns.first`).

    Returns
    -------
    Subgroups
        The reliability figure (tuned models), the subgroup figure, the sentence on the
        columns used, and the subgroup table.
    """
    final_proba = {f"{label} ({setting})": predict_proba(
        final_model(run, fed_data.n_features, params.seed), fed_data.X_test)
        for (setting, label), run in first.items()}
    curves = {k: reliability_curve(fed_data.y_test, p, n_bins=10)
              for k, p in final_proba.items() if k.endswith("(tuned)")}
    fig_rel = plot_reliability(curves, title=None)
    attributes, which = subgroup_columns(fed_data.dataset)
    subgroups = subgroup_table(fed_data, final_proba, attributes)
    results.add_metrics(pd.DataFrame({
        "mode": subgroups["mode"],
        "setting": subgroups.attribute + "=" + subgroups.group.astype(str),
        "value": subgroups.accuracy}),
        experiment="subgroups", party="all", round=params.rounds, metric="accuracy")
    fig_sub = plot_subgroups(subgroups.assign(subgroup=subgroups.attribute + ": "
                                              + subgroups.group.astype(str)),
                             group="subgroup", metric="roc_auc", hue="mode",
                             xlabel="test ROC-AUC")
    table = subgroups[["mode", "attribute", "group", "n", "positive_rate", "selection_rate",
                       "accuracy", "roc_auc", "tpr", "fpr"]]
    return Subgroups(fig_rel, fig_sub, Markdown(which), table)


class Mixed(NamedTuple):
    """Experiment 2: the mixed run, its table and the subtraction attack's relative error."""

    run: Any
    table: pd.DataFrame
    subtraction_error: float


def mixed_federation(params, results, fed_data, train: Callable, ckks) -> Mixed:
    """Experiment 2: the paper's mixed assignment, and the server's subtraction attack.

    Bank 1 standard, the middle banks DP-SGD at the paper's σ values, the last bank CKKS; in
    the last round the server subtracts the four plaintext updates from the published
    average (eq-02-fedavg) to recover the encrypted one
    (:func:`~fedlib.fl.leakage.recover_by_subtraction`). Records the run's final metrics and
    the attack's error (:func:`record_mixed`) and glues the errors.

    Returns
    -------
    Mixed
    """
    mixed_modes = mixed_assignment(params.n_clients, params.noise_multipliers)
    run = train(fed_data, mixed_modes, "mixed", lr=params.learning_rate,
                clip_norm=params.clip_norm, seed=params.seed,
                evaluate=metrics_on(fed_data.X_test, fed_data.y_test))
    leak = recover_by_subtraction(run.federation, target=run.parties[-1].name,
                                  decrypt=ckks.recover)
    rel = float(np.linalg.norm(leak.recovered - leak.actual) / np.linalg.norm(leak.actual))
    glue_values(mixed_leak_error=leak.max_abs_error, mixed_leak_rel=rel)
    record_mixed(results, run, leak, rounds=params.rounds)
    return Mixed(run, mixed_table(run, mixed_modes, delta=params.delta), rel)


def ablation_table(params, results, ablations: Sequence) -> pd.DataFrame:
    """Plaintext versus CKKS aggregation, same seed (the paper's Table 6).

    Records and glues the largest parameter difference and the largest accuracy difference
    over every round and seed.

    Returns
    -------
    pandas.DataFrame
        The first seed's comparison per round.
    """
    max_param = max(a.max_param_diff for a in ablations)
    max_acc = max(abs(a.accuracy_diff) for a in ablations)
    glue_values(ablation_max_param_diff=max_param, ablation_acc_diff=max_acc)
    for metric, value in (("max_param_diff", max_param), ("accuracy_diff", max_acc)):
        results.add_metric(experiment="ablation", mode="he (ckks) vs standard",
                           setting="same seed", party="all", round=params.rounds, metric=metric,
                           value=value)
    return ablations[0].per_round
