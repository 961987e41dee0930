"""Chapter 1's tuning: every hyper-parameter chosen on validation rows, and the λ sweep.

Serves the chapter's (``chapters/01_fmtl_dp_secagg.py``) sections "Choosing every
hyper-parameter on validation rows" (one budget of configurations per model,
:mod:`fedlib.evaluate.tuning`) and "Why λ matters: the λ sweep" (FMTL's regularisation λ of
the paper's eq. 1 against FedAvg).

Examples
--------
>>> grid_position(1.0, [0.1, 1.0, 10.0])
'inside its grid'
>>> grid_position(10.0, [0.1, 1.0, 10.0])
'at the edge of its grid'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fedlib.evaluate import grid, tune
from fedlib.fl.models import get_flat_params
from fedlib.papers.p01_fmtl.lab import Lab, glue_values

__all__ = [
    "grid_note",
    "grid_position",
    "lambda_sweep",
    "lambda_texts",
    "LambdaSweep",
    "record_lambda_sweep",
    "record_tuning",
    "sweep_lambda",
    "tune_models",
    "Tuned",
]


def grid_position(value: float, values: Sequence[float]) -> str:
    """Whether a chosen value is at the edge of its grid or inside it."""
    return ("at the edge of its grid" if len(values) > 1 and value in (min(values), max(values))
            else "inside its grid")


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
