"""Chapter 2's building blocks: the privacy modes, one federation's training, runs over seeds.

Serves the chapter's (``chapters/02_dp_vs_ckks.py``) section "The protocol, piece by piece":
the privacy modes (standard FedAvg, the chapter's eq-02-fedavg; DP-SGD's clipped noisy
gradient, eq-02-dpsgd; CKKS aggregation, eq-02-ckks — the paper's §3), the trainer every
experiment calls, the runs of every mode over the seeds and their mean with its interval, and
the glue every section uses for the numbers its prose quotes.

Examples
--------
>>> sorted(privacy_modes([1.2, 2.0]))
['dp sigma=1.2', 'dp sigma=2', 'he (ckks)', 'standard']
>>> mean_ci([0.5])
'0.500'
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from tqdm.std import tqdm

from fedlib.book.glue import glue
from fedlib.crypto.ckks import CKKSKeyHolder, CKKSParams, CKKSProtection
from fedlib.evaluate.metrics import classification_metrics
from fedlib.evaluate.uncertainty import Estimate
from fedlib.fl.experiment import ClientMode, build_parties, compare_runs, run_federation
from fedlib.fl.models import LogisticRegression, predict_proba, set_flat_params
from fedlib.flower.engine import engine_for

__all__ = [
    "ckks_protection",
    "final_model",
    "glue_values",
    "make_trainer",
    "mean_ci",
    "metrics_on",
    "privacy_modes",
    "run_seeds",
    "seed_summary",
    "SeedRuns",
]


def metrics_on(X: np.ndarray, y: np.ndarray) -> Callable[[Any], dict]:
    """The evaluation of a global model on rows ``(X, y)``, as the paper reports it.

    Parameters
    ----------
    X, y : numpy.ndarray
        Encoded rows and their 0/1 labels.

    Returns
    -------
    callable
        ``evaluate(model) -> dict`` with accuracy, ROC-AUC, PR-AUC, Brier, ECE, test log-loss
        and the share of rows approved at the 0.5 threshold.
    """
    def evaluate(model):
        p = predict_proba(model, X)
        m = classification_metrics(y, p)
        return {"accuracy": m["accuracy"], "roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"],
                "brier": m["brier"], "ece": m["ece"], "test_loss": m["log_loss"],
                "selection_rate": float((p >= 0.5).mean())}
    return evaluate


def privacy_modes(noise_multipliers: Sequence[float]) -> dict[str, ClientMode]:
    """The paper's modes: standard FL, DP-SGD FL at each σ, and CKKS-aggregated FL.

    Parameters
    ----------
    noise_multipliers : sequence of float
        The DP-SGD noise multipliers σ.

    Returns
    -------
    dict
        Label → :class:`~fedlib.fl.experiment.ClientMode`, in the chapter's order.
    """
    modes = {"standard": ClientMode("standard")}
    for sigma in noise_multipliers:
        modes[f"dp sigma={sigma:g}"] = ClientMode(f"dp sigma={sigma:g}", training="dp",
                                                 noise_multiplier=sigma)
    modes["he (ckks)"] = ClientMode("he (ckks)", protection="ckks")
    return modes


def make_trainer(params, ckks) -> Callable:
    """A ``train`` function running one federation with the chapter's schedule.

    Parameters
    ----------
    params : Chapter02Params
        The chapter's parameters (rounds, local epochs, batch size, δ, ``dp_backend``, and
        ``fl_engine``: who runs the federations, :func:`fedlib.flower.engine.engine_for`).
    ckks : CKKSProtection
        The CKKS protection the HE clients use.

    Returns
    -------
    callable
        ``train(data, modes, label, *, lr, clip_norm, seed, evaluate, rounds=params.rounds)``:
        the clients of ``data`` in ``modes``, DP noise seeded by ``seed``; returns the run, its
        history tagged with ``mode = label``.
    """
    fl_engine = engine_for(params.fl_engine)

    def train(data, modes, label, *, lr, clip_norm, seed, evaluate, rounds=params.rounds):
        parties = build_parties(data.parties, modes, epochs=params.local_epochs, lr=lr,
                                batch_size=params.batch_size or None, clip_norm=clip_norm,
                                ckks=ckks, delta=params.delta, noise_seed=seed,
                                dp_backend=params.dp_backend)
        run = run_federation(parties,
                             model_fn=lambda: LogisticRegression(data.n_features, seed=seed),
                             rounds=rounds, seed=seed, evaluate=evaluate, engine=fl_engine)
        run.history.insert(0, "mode", label)
        return run
    return train


def final_model(run, n_features: int, seed: int) -> LogisticRegression:
    """The run's final global model as a :class:`LogisticRegression`."""
    model = LogisticRegression(n_features, seed=seed)
    set_flat_params(model, run.federation.global_params)
    return model


class SeedRuns(NamedTuple):
    """What experiment 1 leaves: per-seed final metrics and the first seed's runs."""

    per_seed: pd.DataFrame
    history: pd.DataFrame
    first: dict
    ablations: list
    dp_epsilon: dict


def run_seeds(params, seeds: Sequence[int], modes: Mapping[str, ClientMode], tuning, train,
              fed_data, *, prepare: Callable) -> SeedRuns:
    """Experiment 1: every mode for the whole federation, paper and tuned settings, per seed.

    Parameters
    ----------
    params : Chapter02Params
        The chapter's parameters.
    seeds : sequence of int
        The seeds; the first reuses ``fed_data``, the others re-draw it with ``prepare(seed)``.
    modes : mapping
        Label → client mode (:func:`privacy_modes`).
    tuning : TuningResult
        Its ``chosen[label]`` gives the tuned ``lr`` and ``clip_norm``.
    train : callable
        From :func:`make_trainer`.
    fed_data : HorizontalData
        The first seed's federated data.
    prepare : callable
        ``prepare(seed) -> HorizontalData`` for the other seeds.

    Returns
    -------
    SeedRuns
        ``per_seed`` (one row per setting, mode and seed, with a ``constant`` flag),
        ``history`` (the first seed's per-round history), ``first`` ((setting, label) → run),
        ``ablations`` (standard against CKKS, paper setting, per seed) and ``dp_epsilon``
        (label → largest ε over the banks, paper setting, first seed).
    """
    rows, histories, first, ablations = [], [], {}, []
    for seed in tqdm(seeds, desc="seeds", file=sys.stderr):
        data = fed_data if seed == params.seed else prepare(seed)
        test_metrics = metrics_on(data.X_test, data.y_test)
        for setting in ("paper", "tuned"):
            seed_runs = {}
            for label, mode in modes.items():
                cfg = ({"lr": params.learning_rate, "clip_norm": params.clip_norm}
                       if setting == "paper" else tuning.chosen[label])
                run = train(data, [mode] * params.n_clients, label, lr=cfg["lr"],
                            clip_norm=cfg["clip_norm"], seed=seed, evaluate=test_metrics)
                h = run.history
                last = h[(h.party == "all") & (h["round"] == params.rounds)].set_index(
                    "metric").value
                rows.append({"setting": setting, "mode": label, "seed": seed, **last.to_dict(),
                             "constant": bool(min(last["selection_rate"],
                                                  1 - last["selection_rate"])
                                              < params.constant_share)})
                seed_runs[label] = run
                if seed == params.seed:
                    histories.append(h.assign(setting=setting))
                    first[setting, label] = run
            if setting == "paper":
                ablations.append(compare_runs(seed_runs["standard"], seed_runs["he (ckks)"]))
    dp_epsilon = {label: max(p.trainer.accountant.epsilon(delta=params.delta)
                             for p in first["paper", label].parties)
                  for label in modes if label.startswith("dp")}
    return SeedRuns(pd.DataFrame(rows), pd.concat(histories, ignore_index=True), first,
                    ablations, dp_epsilon)


def mean_ci(values) -> str:
    """Mean over seeds (or repeats) ± the half-width of its 95 % t-interval, as text."""
    e = Estimate.seeds(values)
    return (f"{e.value:.3f}" if e.interval is None
            else f"{e.value:.3f} ± {(e.interval[1] - e.interval[0]) / 2:.3f}")


def seed_summary(per_seed: pd.DataFrame, dp_epsilon: Mapping[str, float],
                 n_seeds: int) -> pd.DataFrame:
    """Experiment 1's table: mean ± t half-width per setting and mode, ε, constant seeds.

    Parameters
    ----------
    per_seed : pandas.DataFrame
        :attr:`SeedRuns.per_seed`.
    dp_epsilon : mapping
        Label → ε (modes without DP get ∞).
    n_seeds : int
        Number of seeds, for the "single class predicted" column.

    Returns
    -------
    pandas.DataFrame
        Indexed by (setting, mode).
    """
    summary = (per_seed.groupby(["setting", "mode"], sort=False)
               .agg(accuracy=("accuracy", mean_ci), roc_auc=("roc_auc", mean_ci),
                    pr_auc=("pr_auc", mean_ci), brier=("brier", mean_ci),
                    approves=("selection_rate", mean_ci), constant_in=("constant", "sum")))
    summary.insert(0, "epsilon", [dp_epsilon.get(m, np.inf) for _, m in summary.index])
    summary["constant_in"] = [f"{int(c)} of {n_seeds} seeds" if c else "–"
                              for c in summary.constant_in]
    return summary.rename(columns={"approves": "share approved",
                                   "constant_in": "single class predicted"})


def glue_values(**values: Any) -> None:
    """Glue each keyword's value under its name, for ``{glue:text}`` in the chapter's prose."""
    for key, value in values.items():
        glue(key, value, display=False)


def ckks_protection(params, *, vector_length: int) -> CKKSProtection:
    """CKKS with the paper's parameters (N, modulus chain, scale), checked for one vector.

    Parameters
    ----------
    params : Chapter02Params
        ``ckks_poly_modulus_degree``, ``ckks_coeff_mod_bit_sizes`` and ``ckks_scale_bits``.
    vector_length : int
        Values per update (weights and bias); they must fit in one ciphertext.

    Returns
    -------
    CKKSProtection
        Banks encrypt with it; its key holder decrypts the sum (the paper's shared key).
    """
    ckks_params = CKKSParams(poly_modulus_degree=params.ckks_poly_modulus_degree,
                             coeff_mod_bit_sizes=tuple(params.ckks_coeff_mod_bit_sizes),
                             scale_bits=params.ckks_scale_bits)
    ckks_params.validate(vector_length=vector_length)
    return CKKSProtection(CKKSKeyHolder(ckks_params))
