"""Chapter 2's tuning: every privacy mode tuned alike (section "Tuning every mode alike").

Serves the chapter's (``chapters/02_dp_vs_ckks.py``) tuning section: the same budget of
configurations on the same validation rows for every mode (:mod:`fedlib.evaluate.tuning`),
which the paper does not report and the comparison of its §5 needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from fedlib.evaluate.tuning import TuningResult, grid, tune
from fedlib.fl.experiment import ClientMode
from fedlib.papers.p02_dp_vs_ckks.training import final_model, glue_values, metrics_on

__all__ = [
    "tune_modes",
    "tuning_table",
]


def tune_modes(params, results, fed_data, modes: Mapping[str, ClientMode],
               train: Callable) -> TuningResult:
    """Tune every privacy mode alike on the validation rows (the same budget per mode).

    Standard FL and HE-FL choose a learning rate, DP-FL a learning rate and a clipping norm
    (eq-02-dpsgd); each configuration trains the whole federation with the paper's σ and
    schedule and is scored by validation ROC-AUC. Records every configuration's score
    (experiment ``tuning``) and glues the budget and the choice.

    Parameters
    ----------
    params : Chapter02Params
        The grids, the budget and the schedule.
    results
        The chapter's results writer.
    fed_data : HorizontalData
        The first seed's data (its validation rows score).
    modes : mapping
        From :func:`privacy_modes`.
    train : callable
        From :func:`make_trainer`.

    Returns
    -------
    TuningResult
    """
    validation_metrics = metrics_on(fed_data.X_val, fed_data.y_val)

    def validation_score(label, config):
        run = train(fed_data, [modes[label]] * params.n_clients, label, lr=config["lr"],
                    clip_norm=config["clip_norm"], seed=params.seed, evaluate=lambda m: {})
        return validation_metrics(final_model(run, fed_data.n_features,
                                              params.seed))["roc_auc"]

    grids = {label: (grid(lr=params.tune_dp_learning_rates, clip_norm=params.tune_clip_norms)
                     if mode.training == "dp" else
                     grid(lr=params.tune_learning_rates, clip_norm=[params.clip_norm]))
             for label, mode in modes.items()}
    tuning = tune(grids, validation_score, budget=params.tune_budget, seed=params.seed)
    glue_values(tune_budget=params.tune_budget, tuned_choice=tuning.describe())
    results.add_metrics(tuning.sweep[["method", "config", "val_score"]]
                        .set_axis(["mode", "setting", "value"], axis=1),
                        experiment="tuning", party="all", round=params.rounds,
                        metric="val_roc_auc")
    return tuning


def tuning_table(tuning: TuningResult) -> pd.DataFrame:
    """Every configuration tried, per mode, with its validation ROC-AUC and whether it won."""
    return tuning.sweep.rename(columns={"method": "mode", "val_score": "validation ROC-AUC"})
