"""Chapter 4's "Step 5 — screened aggregation among several banks" (paper 003 §3.4, Fig. 4).

The four FedAvg runs (plain and reputation-screened, with honest and with misbehaving banks),
their curves and rounds to target (Fig. 4), what the screen let through, and the accuracy and
speed differences with paired bootstrap intervals over the held-out rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fedlib.book.glue import glue
from fedlib.evaluate.figures import plot_rounds
from fedlib.evaluate.uncertainty import Estimate
from fedlib.fl.reputation import ReputationParams
from fedlib.fl.screening import rounds_to_target, run_screened_fedavg

__all__ = ["convergence_table", "glue_screening", "report_screening_decisions",
           "report_screening_rounds", "Screening", "screening_differences", "screening_runs",
           "screening_setup"]


@dataclass
class Screening:
    """The screening experiment's set-up (§3.4): reputation parameters, bad banks, rows.

    Attributes
    ----------
    rep
        The screen's :class:`~fedlib.fl.reputation.ReputationParams`.
    mixed
        Bank name → misbehaviour of the last banks.
    val_i, test_i
        Positions of the held-out rows the aiding node validates on and the curves use.
    """

    rep: ReputationParams
    mixed: dict
    val_i: np.ndarray
    test_i: np.ndarray


def screening_setup(fed, P) -> Screening:
    """Halve the held-out rows into the aiding node's and the test rows; name the bad banks.

    Examples
    --------
    >>> class F:
    ...     y_test = np.zeros(10)
    ...     parties = [type("B", (), {"name": f"bank{i}"}) for i in range(3)]
    >>> class P:
    ...     seed, bad_banks, rep_mu, rep_gamma, rep_freshness = 0, ["noisy"], 0.7, 0.5, 0.8
    ...     rep_delta, rep_threshold, rep_tolerance = 0.5, 0.6, 0.02
    >>> s = screening_setup(F, P)
    >>> s.mixed, len(s.val_i), len(s.test_i)
    ({'bank2': 'noisy'}, 5, 5)
    """
    half = len(fed.y_test) // 2
    perm = np.random.default_rng(P.seed).permutation(len(fed.y_test))
    rep = ReputationParams(mu=P.rep_mu, gamma_u=P.rep_gamma, freshness=P.rep_freshness,
                           delta=P.rep_delta, threshold=P.rep_threshold,
                           tolerance=P.rep_tolerance)
    names = [p.name for p in fed.parties]
    mixed = dict(zip(names[len(names) - len(P.bad_banks):], P.bad_banks, strict=True))
    return Screening(rep, mixed, perm[:half], perm[half:])


def screening_runs(fed, P, rep, mixed: Mapping[str, str], val_i, test_i) -> dict:
    """The four FedAvg runs of §3.4: plain and screened, with honest and with bad banks.

    Parameters
    ----------
    fed
        :func:`~fedlib.fl.prepare.prepare_horizontal` output.
    P
        The chapter's parameters.
    rep
        The :class:`~fedlib.fl.reputation.ReputationParams` of the screen.
    mixed
        Bank name → misbehaviour of the bad banks.
    val_i, test_i
        Positions of ``fed``'s test rows used for screening and for the curves.

    Returns
    -------
    dict
        Run label → :func:`~fedlib.fl.screening.run_screened_fedavg` result.
    """
    import sys

    from tqdm.std import tqdm

    settings = [("FedAvg", None, {}), ("screened", rep, {}),
                ("FedAvg, bad banks", None, mixed), ("screened, bad banks", rep, mixed)]
    runs = {}
    for label, screen, beh in tqdm(settings, file=sys.stderr, desc="screening runs"):
        runs[label] = run_screened_fedavg(
            fed.parties, fed.X_test[val_i], fed.y_test[val_i], fed.X_test[test_i],
            fed.y_test[test_i], rounds=P.rounds, local_epochs=P.local_epochs, lr=P.local_lr,
            batch_size=P.batch_size or None, seed=P.seed, screening=screen, behaviours=beh,
            noise_rate=P.noise_rate)
    return runs


def _series(hist: pd.DataFrame, metric: str) -> pd.Series:
    """One metric of a run's history, indexed by round."""
    return hist[hist.metric == metric].set_index("round").value


def convergence_table(runs: Mapping[str, Any], rounds: int):
    """Final and best accuracy, final loss and rounds to target of every screening run.

    The target is 99 % of plain FedAvg's final accuracy with honest banks; a run that never
    reaches it gets ``rounds + 1``.

    Parameters
    ----------
    runs
        From :func:`screening_runs`.
    rounds
        Number of rounds.

    Returns
    -------
    conv : pandas.DataFrame
        One row per run.
    target_acc : float
        The target accuracy.
    """
    target_acc = 0.99 * _series(runs["FedAvg"].history, "accuracy").iloc[-1]

    def rounds_to(hist):
        acc = _series(hist, "accuracy")
        hit = acc[acc >= target_acc]
        return int(hit.index.min()) if len(hit) else rounds + 1

    conv = pd.DataFrame([{
        "run": k, "final accuracy": _series(r.history, "accuracy").iloc[-1],
        "final loss": _series(r.history, "loss").iloc[-1],
        "best accuracy": _series(r.history, "accuracy").iloc[1:].max(),
        "rounds to target": rounds_to(r.history)} for k, r in runs.items()])
    return conv, target_acc


def report_screening_rounds(results, runs: Mapping[str, Any], screen: Screening, P):
    """Record every run's curves (``screening``), glue Fig. 4 and the rounds to target.

    Convergence speed: the first round whose accuracy reaches 99 % of honest FedAvg's final
    accuracy, the same target for every run (``rounds + 1`` if never reached). Glues
    ``fig_04_screening``, ``n_banks`` and ``bad_list``.

    Returns
    -------
    tuple
        The convergence table (:func:`convergence_table`) and the target accuracy.
    """
    curves = pd.concat([r.history.assign(run=k) for k, r in runs.items()], ignore_index=True)
    results.add_metrics(curves[["run", "round", "metric", "value"]].rename(columns={"run": "mode"}),
                        experiment="screening", setting=f"banks={P.n_banks}", party="all")
    # No figure title: the caption says what is shown (the book's one figure idiom).
    fig = plot_rounds(curves[curves.metric.isin(["accuracy", "loss"])], y="value", hue="run",
                      col="metric", ylabel={"accuracy": "accuracy", "loss": "log-loss (nats)"})
    glue("fig_04_screening", fig, display=False)
    plt.close(fig)
    glue("n_banks", P.n_banks, display=False)
    glue("bad_list", ", ".join(f"{k}: {v}" for k, v in screen.mixed.items()), display=False)
    return convergence_table(runs, P.rounds)


def screening_differences(runs: Mapping[str, Any], y_test, *, n_boot: int, seed: int):
    """Screened minus FedAvg final accuracy, and FedAvg minus screened rounds to target.

    Both are paired bootstraps over the held-out test rows (stratified by label). The
    rounds-to-target target is 99 % of honest FedAvg's final accuracy in each resample.

    Parameters
    ----------
    runs
        From :func:`screening_runs`.
    y_test
        Labels of the rows behind ``test_correct``.
    n_boot, seed
        Bootstrap resamples and seed.

    Returns
    -------
    acc_diff, speed_diff : Estimate
    """
    C = {k: r.test_correct.T for k, r in runs.items()}   # (test rows, rounds + 1)
    acc_diff = Estimate.bootstrap(lambda a, b: float(a[:, -1].mean() - b[:, -1].mean()),
                                  C["screened"], C["FedAvg"], n_boot=n_boot, seed=seed,
                                  strata=y_test)

    def speed_stat(honest, plain, screened):
        target = 0.99 * honest[:, -1].mean()
        return float(rounds_to_target(plain.T, target) - rounds_to_target(screened.T, target))

    speed_diff = Estimate.bootstrap(speed_stat, C["FedAvg"], C["FedAvg, bad banks"],
                                    C["screened, bad banks"], n_boot=n_boot, seed=seed,
                                    strata=y_test)
    return acc_diff, speed_diff


def glue_screening(conv: pd.DataFrame, caught: pd.DataFrame, runs: Mapping[str, Any], *,
                   target_acc: float, rounds: int) -> pd.Series:
    """Glue the screening prose: final accuracies, caught and missed banks, rounds to target.

    Returns
    -------
    pandas.Series
        Rounds to target per run (for the claims).
    """
    f_acc = conv.set_index("run")["final accuracy"]
    glue("acc_fedavg", f_acc["FedAvg"], display=False)
    glue("acc_screened", f_acc["screened"], display=False)
    glue("acc_fedavg_bad", f_acc["FedAvg, bad banks"], display=False)
    glue("acc_screened_bad", f_acc["screened, bad banks"], display=False)
    bad_rows = caught[caught.behaviour != "honest"]
    glue("caught_list", ", ".join(f"{r.party} ({r.behaviour})" for r in bad_rows.itertuples()
                                  if r.aggregated < 0.5) or "none", display=False)
    glue("missed_list", ", ".join(f"{r.party} ({r.behaviour}, {r.aggregated:.0%} of rounds)"
                                  for r in bad_rows.itertuples() if r.aggregated >= 0.5)
         or "none", display=False)
    dec_h = runs["screened"].decisions
    glue("honest_excluded", 100 * (1 - dec_h.aggregated.mean()), display=False)
    glue("target_acc", target_acc, display=False)
    speed = conv.set_index("run")["rounds to target"]
    glue("speed_text", ", ".join(f"{k}: {v if v <= rounds else 'never'}"
                                 for k, v in speed.items()), display=False)
    return speed


def report_screening_decisions(results, runs: Mapping[str, Any], conv: pd.DataFrame,
                               target_acc: float, y_test, P):
    """What screening let through, and the accuracy and speed differences with intervals.

    Share of rounds each bank's update was aggregated and its final T, Q and C (recorded as
    ``share_aggregated``); the screening prose (:func:`glue_screening`); and a paired bootstrap
    over the screening test rows (every run's global model of every round classified the same
    rows, so a resample re-scores all runs and rounds at once). Glues ``acc_diff_ci`` and
    ``speed_diff_ci``.

    Returns
    -------
    tuple
        The per-bank table, rounds to target per run, and the accuracy and speed differences.
    """
    dec = runs["screened, bad banks"].decisions
    caught = (dec.groupby(["party", "behaviour"])
              .agg(aggregated=("aggregated", "mean"), positive=("positive", "mean"),
                   final_T=("T", "last"), final_Q=("Q", "last"), final_C=("C", "last"))
              .reset_index())
    results.add_metrics(caught[["behaviour", "party", "aggregated"]]
                        .set_axis(["setting", "party", "value"], axis=1),
                        experiment="screening", mode="screened, bad banks", round=None,
                        metric="share_aggregated")
    speed = glue_screening(conv, caught, runs, target_acc=target_acc, rounds=P.rounds)
    acc_diff, speed_diff = screening_differences(runs, y_test, n_boot=P.bootstrap,
                                                 seed=P.seed + 13)
    glue("acc_diff_ci", f"{acc_diff.value:+.3f} [{acc_diff.interval[0]:+.3f}, "
                        f"{acc_diff.interval[1]:+.3f}]", display=False)
    glue("speed_diff_ci", f"{speed_diff.value:+.0f} [{speed_diff.interval[0]:+.0f}, "
                          f"{speed_diff.interval[1]:+.0f}]", display=False)
    return caught, speed, acc_diff, speed_diff
