"""Chapter 4's section "Tuning every compared model alike" (the book's one tuning rule).

Paper 003 fixes its final model's settings and gives none for its baselines; here every
compared model — the pipeline through its plaintext twin, and each baseline on each view — is
tuned by :func:`fedlib.evaluate.tuning.tune`: the same budget of configurations per model,
fitted on training rows and scored by ROC-AUC on validation rows split from the training rows
(:func:`tune_models`), with the sweep's table, recorded rows and prose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from fedlib.book.glue import glue
from fedlib.evaluate.tuning import TuningResult, tune
from fedlib.papers.p04_secureboost.data import Aligned
from fedlib.papers.p04_secureboost.models import PIPELINE, Compared, ModelSpec, fit_model

__all__ = ["fit_rows", "glue_tuning", "record_tuning", "tune_compared", "tune_models",
           "tuning_table", "tuning_text", "validation_split"]


def validation_split(y_tr, *, size: float, seed: int):
    """Training positions split into fitting and validation rows, stratified on the label.

    Only training positions go in: the test rows cannot reach the validation rows.

    >>> fit, val = validation_split([0, 1] * 10, size=0.25, seed=0)
    >>> len(fit), len(val), sorted(set(fit) | set(val)) == list(range(20))
    (15, 5, True)
    """
    pos = np.arange(len(y_tr))
    fit, val = train_test_split(pos, test_size=size, stratify=np.asarray(y_tr),
                                random_state=seed)
    return np.sort(fit), np.sort(val)


def fit_rows(P, y_tr, choose_thr: bool):
    """Training positions the final models fit on, and those that choose their thresholds.

    With a chosen threshold ``P.validation_size`` of the training rows (stratified) are held
    out for it; otherwise every training row fits. These validation rows are exactly those
    of :func:`validation_split` with the same seed, which :func:`tune_models` scores on, so
    thresholds and hyper-parameters are chosen on the same held-out rows.

    Returns
    -------
    fit_pos, val_pos : numpy.ndarray (``val_pos`` is ``None`` without a chosen threshold)
    """
    if choose_thr:
        return validation_split(y_tr, size=P.validation_size, seed=P.seed)
    return np.arange(len(y_tr)), None


def tune_models(specs: Sequence[ModelSpec], y_tr, *, fit_pos, val_pos, budget: int,
                seed: int) -> TuningResult:
    """Every model's hyper-parameters by :func:`fedlib.evaluate.tuning.tune`: the same budget.

    Each configuration is fitted on the training positions ``fit_pos`` and scored by its
    ROC-AUC on the validation positions ``val_pos`` (both inside the training rows; the test
    rows are never passed here). The score is AUC, not the error rate or recall the headline
    claims compare, because those two are read at a threshold and pull in opposite
    directions: recall is maximised by calling every loan a default, the error rate on a
    label with few defaults nearly by calling none, so tuning for either would buy it at the
    other's expense (and, with thresholds chosen on the same validation rows, tune them
    twice). AUC (eq. 30) is the threshold-free ranking quality both depend on; the chapter's
    threshold policy then turns every tuned model's scores into classes the same way.

    The pipeline is tuned through its plaintext twin (:class:`~fedlib.vertical.gbdt.HistGBDT`
    with the external party's ``passive_columns``): SecureBoost grows the same trees, so
    the twin's validation AUC is SecureBoost's and nothing is encrypted while tuning.

    Parameters
    ----------
    specs
        From :func:`model_specs`.
    y_tr
        Training labels.
    fit_pos, val_pos
        Fitting and validation positions of the training rows (:func:`validation_split`).
    budget, seed
        Configurations per model, and the seed of draws from larger grids.

    Returns
    -------
    TuningResult
        Keyed by :attr:`ModelSpec.key`.
    """
    y_tr = np.asarray(y_tr)
    if np.intersect1d(fit_pos, val_pos).size:
        raise ValueError("fit_pos and val_pos overlap: validation rows must be held out")
    by_key = {s.key: s for s in specs}

    def evaluate(key, config):
        spec = by_key[key]
        proba = fit_model(spec, config, y_tr, fit_pos, seed=seed)
        return roc_auc_score(y_tr[val_pos], proba(spec.X_train[val_pos]))

    return tune({s.key: s.grid for s in specs}, evaluate, budget=budget, seed=seed)


def tuning_table(tuned: TuningResult) -> pd.DataFrame:
    """The sweep as the chapter shows it: model, configuration, validation AUC, chosen."""
    return tuned.sweep.rename(columns={"method": "model", "config": "configuration",
                                       "val_score": "validation AUC"})


def record_tuning(results, tuned: TuningResult) -> None:
    """Record every configuration's validation AUC (experiment ``tuning``)."""
    for r in tuned.sweep.itertuples():
        results.add_metric(experiment="tuning", mode=r.method, setting=r.config, party="train",
                           round=None, metric="val_auc", value=float(r.val_score))


def _grid_edge(value, values: Sequence) -> str:
    """``" (edge of its grid)"`` when a numeric axis chose its least or greatest value.

    Only for an axis of three or more values: with two, every choice is an edge, which says
    nothing.
    """
    numeric = [v for v in values if isinstance(v, (int, float))]
    if len(numeric) == len(values) >= 3 and value in (min(numeric), max(numeric)):
        return " (edge of its grid)"
    return ""


def tuning_text(tuned: TuningResult, specs: Sequence[ModelSpec]) -> str:
    """Which configuration each model chose, flagging values at the edge of their grid.

    A value at the edge of an axis of three or more values means a wider grid might have done
    better on validation: the reader should know the search could have been cut short there.
    """
    by_key = {s.key: s for s in specs}
    parts = []
    for key, cfg in tuned.chosen.items():
        axes = {k: sorted({c[k] for c in by_key[key].grid}, key=str) for k in cfg}
        parts.append(f"{key}: " + ", ".join(f"{k}={v}{_grid_edge(v, axes[k])}"
                                            for k, v in cfg.items()))
    return "; ".join(parts)


def glue_tuning(P, tuned: TuningResult, specs: Sequence[ModelSpec], *, pipeline: str,
                n_fit: int, n_val: int, choose_thr: bool, n_train: int) -> None:
    """Glue the tuning prose.

    The budget, the row counts, every model's choice, the pipeline's configuration and which
    rows the final models fit on.
    """
    cfg = tuned.chosen[pipeline]
    glue("tune_budget", P.tune_budget, display=False)
    glue("n_tune_fit", n_fit, display=False)
    glue("n_tune_val", n_val, display=False)
    glue("n_tuned", len(specs), display=False)
    glue("tuned_text", tuning_text(tuned, specs), display=False)
    glue("pipe_cfg", f"depth {cfg['max_depth']}, learning rate {cfg['learning_rate']:g}",
         display=False)
    glue("refit_text", "fit on the same rows and choose their thresholds on the validation "
         "rows" if choose_thr else f"are refitted with their chosen configurations on all "
         f"{n_train:,} training rows", display=False)


def tune_compared(results, cmp: Compared, al: Aligned, P) -> TuningResult:
    """Tune every compared model alike (:func:`tune_models`).

    Each gets ``tune_budget`` configurations, fitted on training rows and scored by ROC-AUC on
    other training rows held out for it.

    Records every configuration's validation AUC and glues the tuning prose
    (:func:`glue_tuning`).

    Returns
    -------
    TuningResult
    """
    # Validation rows come from the training rows only; with a chosen threshold they are also
    # the rows that choose it (fit_rows holds out the same split).
    fit_pos, val_pos = validation_split(al.y_tr, size=P.validation_size, seed=P.seed)
    tuned = tune_models(cmp.specs, al.y_tr, fit_pos=fit_pos, val_pos=val_pos,
                        budget=P.tune_budget, seed=P.seed)
    record_tuning(results, tuned)
    glue_tuning(P, tuned, cmp.specs, pipeline=PIPELINE, n_fit=len(fit_pos), n_val=len(val_pos),
                choose_thr=al.choose_thr, n_train=len(al.tr_ids))
    return tuned
