"""The book's one tuning rule (:func:`fedlib.evaluate.tuning.tune`) for chapter 3's methods.

The survival methods are no DP, classical DP and Bayesian DP, each with the same budget of
configurations.

* :func:`split_validation`: validation rows taken from each client's *training* rows, stratified
  on the event and seeded; the test and out-of-time rows are never touched.
* :func:`tune_survival`: every method's configurations (learning rate, batch size, local epochs
  E) are trained centrally on the pooled fitting rows for ``R × E`` epochs and scored by the
  chapter's C-index (eq. 11, mean Antolini C-index over the months, ties half credit) on the
  pooled validation rows. Every private configuration is first calibrated to the same target
  ``(epsilon, delta)`` on its own final schedule (DP: the RDP accountant, eqs. 6-7; BDP: a pilot
  charged as Algorithm 2 will charge it), so every point of the sweep spends the same ε; the
  accountant's ε at the end of each run is kept beside its score.

The tuning looks at the private rows without noise and without accounting: the chosen
hyper-parameters are not covered by ε (chapter 3 says so, as chapter 1 does).

References: Amed, Sen & Banerjee (2026), FSL-BDP, sec. 4.3 (Adam 1e-3, batch 32, E = 5 are the
paper's settings, not tuned there), eqs. 6-7, 11, Algorithm 2. Introduced in chapter 3
(``chapters/03_fsl_bdp_survival.py``).

Examples
--------
>>> from fedlib.survival.data import prepare_survival, synthetic_survival
>>> data = prepare_survival(synthetic_survival("bondora", scale=0.004, seed=0, n_features=4),
...                         seed=0)
>>> val = split_validation(data, fraction=0.25, seed=0)
>>> n_train = sum(c.n_train for c in data.clients)
>>> sum(c.n_train + len(c.t_test) for c in val.clients) == n_train
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fedlib.evaluate.tuning import TuningResult, tune
from fedlib.privacy.accountants import epsilon_for
from fedlib.survival.data import ClientSurvival, PreparedSurvival
from fedlib.survival.experiment import TrainingConfig, calibrate_clients, survival_scores
from fedlib.survival.federated import make_model, train_centralized
from fedlib.survival.model import predict_survival

__all__ = ["METHOD_MODES", "SurvivalTuning", "split_validation", "tune_survival"]

#: The compared methods, named as in the chapter's scenarios, and the trainer mode of each.
METHOD_MODES = {"No DP": "none", "Classical DP": "dp", "BDP": "bdp"}


def split_validation(data: PreparedSurvival, *, fraction: float, seed: int) -> PreparedSurvival:
    """Hold out ``fraction`` of every client's training rows for validation.

    The split is stratified on the event within each client (a client's defaults and censored
    loans are held out in the same proportion) and seeded. In the returned data each client's
    ``train`` split holds its fitting rows and its ``test`` split its *validation* rows (so the
    survival trainers and scores apply unchanged); it has no out-of-time rows. The original
    test and out-of-time rows are not in it.

    Parameters
    ----------
    data
        The prepared dataset (:func:`~fedlib.survival.data.prepare_survival`).
    fraction
        Share of each client's training rows, per event class, that becomes validation.
    seed
        Seeds the draw.

    Returns
    -------
    PreparedSurvival
        Fitting rows as ``train``, validation rows as ``test``; ``idx_test`` indexes the
        validation rows in the dataset's frame.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction!r}: must be in (0, 1)")
    rng = np.random.default_rng(seed)
    clients = []
    for c in data.clients:
        held_out = np.zeros(c.n_train, dtype=bool)
        for event in np.unique(c.e_train):
            rows = rng.permutation(np.flatnonzero(c.e_train == event))
            held_out[rows[:int(round(fraction * rows.size))]] = True
        fit, val = ~held_out, held_out
        empty = np.zeros(0, dtype=int)
        clients.append(ClientSurvival(
            c.name, c.X_train[fit], c.t_train[fit], c.e_train[fit],
            c.X_train[val], c.t_train[val], c.e_train[val],
            c.X_train[:0], c.t_train[:0], c.e_train[:0],
            c.idx_train[fit], c.idx_train[val], empty))
    return PreparedSurvival(data.dataset, clients, data.feature_names, data.grid)


@dataclass(frozen=True)
class SurvivalTuning:
    """What :func:`tune_survival` found.

    ``settings`` maps each trainer mode (``none``, ``dp``, ``bdp``) to its chosen
    :class:`~fedlib.survival.experiment.TrainingConfig`; ``sweep`` is :func:`tune`'s sweep with,
    per configuration, its ``sigma``, the ε it was calibrated to (``epsilon_planned``: the RDP
    accountant's for DP, the planned Bayesian bound for BDP), the ``epsilon`` its accountant
    reached at the end of the run (all NaN without DP) and the ``epochs`` it ran; ``curves`` the validation C-index after every
    epoch of every configuration; ``validation`` the data the tuning used.
    """

    result: TuningResult
    settings: dict[str, TrainingConfig]
    sweep: pd.DataFrame
    curves: pd.DataFrame
    validation: PreparedSurvival

    def chosen_row(self, method: str) -> pd.Series:
        """The sweep's row of ``method``'s chosen configuration."""
        rows = self.sweep[(self.sweep.method == method) & self.sweep.chosen]
        return rows.iloc[0]


def tune_survival(data: PreparedSurvival, *, grids: Mapping[str, Sequence[Mapping[str, Any]]],
                  budget: int, seed: int, rounds: int, target_epsilon: float, delta: float,
                  clip_norm: float, n_neighbours: int, pilot_steps: int,
                  init_hazard: float | None, validation_fraction: float,
                  noise_seed: int | None = None,
                  progress: Callable[[str], None] | None = None) -> SurvivalTuning:
    """Tune no DP, classical DP and BDP with one rule: same budget, same validation rows.

    Parameters
    ----------
    data
        The prepared dataset; only its training rows are used.
    grids
        Method name (keys of :data:`METHOD_MODES`) → candidate configurations, dicts with
        ``lr``, ``batch_size`` and ``local_epochs``.
    budget
        Configurations evaluated per method (:func:`fedlib.evaluate.tuning.tune`).
    seed
        Seeds the validation split, the draw from the grids, the network and the batches.
    rounds
        R: a configuration with E local epochs is trained centrally for ``R × E`` epochs, the
        passes over the data its federated run will make.
    target_epsilon, delta
        The privacy budget every private configuration is calibrated to (``delta`` is checked
        against the pooled fitting rows).
    clip_norm, n_neighbours, pilot_steps
        As in :func:`~fedlib.survival.experiment.calibrate_clients`.
    init_hazard
        Initial hazard of the output bias (public prior), as in the main runs.
    validation_fraction
        Share of every client's training rows held out for validation (:func:`split_validation`).
    noise_seed
        Seeds the private runs' sampling and noise (None: OS entropy).
    progress
        Called with a short line after each configuration.

    Returns
    -------
    SurvivalTuning
    """
    unknown = set(grids) - set(METHOD_MODES)
    if unknown:
        raise ValueError(f"unknown method(s) {sorted(unknown)}: allowed {list(METHOD_MODES)}")
    val = split_validation(data, fraction=validation_fraction, seed=seed)
    X_val, t_val, e_val, _ = val.pooled("test")
    _, t_fit, e_fit, _ = val.pooled("train")
    init_model = make_model(data.n_features, data.grid.size - 1, seed=seed,
                            init_hazard=init_hazard)
    extra: dict[tuple[str, str], dict] = {}
    curves = []

    def validation_ci(model) -> dict:
        return {"val_ci": survival_scores(predict_survival(model, X_val), t_val, e_val,
                                          grid=data.grid, train_t=t_fit,
                                          train_e=e_fit)["c_index"]}

    def evaluate(method: str, cfg: dict) -> float:
        config, mode = TrainingConfig(**cfg), METHOD_MODES[method]
        sigma = _pooled_sigma(val, mode, config, rounds=rounds, target_epsilon=target_epsilon,
                              delta=delta, clip_norm=clip_norm, n_neighbours=n_neighbours,
                              pilot_steps=pilot_steps, init_model=init_model, seed=seed)
        run = train_centralized(
            val, mode=mode, epochs=config.epochs(rounds=rounds), lr=config.lr,
            batch_size=config.batch_size, noise_multiplier=None if sigma is None else sigma[0],
            clip_norm=None if sigma is None else clip_norm, seed=seed,
            n_neighbours=n_neighbours, beta=delta / 2, gamma=delta / 2, evaluate=validation_ci,
            init_hazard=init_hazard, noise_seed=noise_seed)
        key = _config_text(cfg)
        eps = float(run.epsilons(delta=delta).epsilon.iloc[0]) if sigma is not None else np.nan
        extra[(method, key)] = {"sigma": np.nan if sigma is None else sigma[0],
                                "epsilon_planned": np.nan if sigma is None else sigma[1],
                                "epsilon": eps, "epochs": config.epochs(rounds=rounds)}
        curves.append(run.history[["epoch", "val_ci"]].assign(method=method, config=key))
        return float(run.history.val_ci.iloc[-1])

    result = tune(grids, evaluate, budget=budget, seed=seed, progress=progress)
    sweep = result.sweep.copy()
    for col in ("sigma", "epsilon_planned", "epsilon", "epochs"):
        sweep[col] = [extra[(m, c)][col] for m, c in zip(sweep.method, sweep.config, strict=True)]
    settings = {METHOD_MODES[m]: TrainingConfig(**cfg) for m, cfg in result.chosen.items()}
    return SurvivalTuning(result, settings, sweep, pd.concat(curves, ignore_index=True), val)


def _config_text(cfg: Mapping[str, Any]) -> str:
    """A configuration as :func:`tune` writes it in its sweep (``lr=0.001, batch_size=32``)."""
    return ", ".join(f"{k}={v}" for k, v in cfg.items())


def _pooled_sigma(val: PreparedSurvival, mode: str, config: TrainingConfig, *, rounds: int,
                  target_epsilon: float, delta: float, clip_norm: float, n_neighbours: int,
                  pilot_steps: int, init_model, seed: int) -> tuple[float, float] | None:
    """The pooled fitting rows' sigma for ``mode`` and the ε it was calibrated to reach.

    Sigma is for ``config``'s schedule; ε is the RDP accountant's (DP) or the planned bound
    (BDP). None without DP.
    """
    if mode == "none":
        return None
    sig = calibrate_clients(val, target_epsilon=target_epsilon, delta=delta,
                            settings={mode: config}, rounds=rounds, clip_norm=clip_norm,
                            n_neighbours=n_neighbours, pilot_steps=pilot_steps,
                            init_model=init_model, seed=seed, include_clients=False)
    row = sig.loc["central"]
    if mode == "dp":
        planned = epsilon_for(noise_multiplier=float(row.sigma_dp),
                              sample_rate=float(row.sample_rate_dp), steps=int(row.steps_dp),
                              delta=delta)
        return float(row.sigma_dp), float(planned)
    return float(row.sigma_bdp), float(row.eps_bdp_bound)
