"""The pieces chapter 3's experiments are built from.

Evaluation, noise calibration for DP and Bayesian DP at the same target epsilon, mean predicted
default month, membership inference on a survival model, and the evidence about Algorithm 2's
right-hand cost.

* :func:`survival_scores`: mean Antolini C-index over the evaluation months (eqs. 10-11) and the
  IPCW integrated Brier score (eqs. 12-14) with the censoring Kaplan-Meier fitted on the
  *training* rows.
* :func:`dp_noise_multipliers`: per-client ``sigma`` for DP-SGD so that the client's RDP
  accountant reaches exactly the target ``(epsilon, delta)`` after all its steps
  (``q = B / n_k``, ``steps = epochs * ceil(n_k / B)``), through
  :func:`fedlib.privacy.calibrate.calibrate_noise_multiplier`.
* :func:`pilot_distances` + :func:`bdp_noise_multiplier`: the Bayesian counterpart. Bayesian
  epsilon depends on the data through ``Delta``, so ``sigma`` is calibrated on a pilot: the
  Monte-Carlo distances of a few steps at the initial model, planned as the accountant will
  charge a run of such steps (:func:`fedlib.privacy.bdp.planned_epsilon`: Hoelder composition
  over the whole run; by default the valid Hoeffding bound, or with ``bound="mean"`` /
  ``"student_t"`` an *estimate* that is no guarantee). The run itself is then accounted step
  by step, and the chapter reports the epsilon actually reached.
* :func:`expected_default_month`: ``sum_t t PD_t / sum_t PD_t`` with ``PD_t = h_t S_{t-1}``,
  the mean month of default given default within the window (sec. 5.3's 5.4 vs 20.3 months).
* :func:`survival_membership_inference`: Yeom's loss-threshold attack with the eq. 1 loss.
* :func:`cost_rule_table`: per-step costs of Algorithm 2 as printed (``max(c_L, c_R)``) and with
  ``c_L`` only, at several sampling rates: the printed right cost is first order in ``q`` and
  so cancels the privacy amplification by subsampling.

References: Amed, Sen & Banerjee (2026), FSL-BDP, eqs. 5-14, Algorithm 2, secs. 4.2-4.3, 5.3;
Yeom et al. (2018); Mironov, Talwar & Zhang (2019). Introduced in chapter 3
(``chapters/03_fsl_bdp_survival.py``).

Examples
--------
>>> import numpy as np
>>> round(float(expected_default_month(np.array([[0.5, 0.25]]))[0]), 4)   # PD = .5, .25
1.3333
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import torch
from scipy import optimize
from sklearn.metrics import roc_auc_score

from fedlib.privacy.accountants import epsilon_for
from fedlib.privacy.bdp import (
    MIN_ROWS_BAYESIAN,
    bdp_cost_terms,
    neighbour_distances_from_per_example,
    planned_epsilon,
)
from fedlib.privacy.calibrate import calibrate_noise_multiplier
from fedlib.privacy.delta import check_delta
from fedlib.survival.federated import per_example_gradients, train_centralized, train_federated
from fedlib.survival.labels import survival_targets
from fedlib.survival.likelihood import discrete_time_nll
from fedlib.survival.metrics import concordance_td, integrated_brier_score, survival_at
from fedlib.survival.model import predict_survival

__all__ = [
    "SCENARIOS",
    "MembershipInference",
    "ScenarioRuns",
    "TrainingConfig",
    "bdp_noise_multiplier",
    "calibrate_clients",
    "cost_rule_table",
    "dp_noise_multipliers",
    "expected_default_month",
    "pilot_distances",
    "predict_all",
    "run_scenarios",
    "survival_membership_inference",
    "survival_scores",
]


def survival_scores(surv: np.ndarray, t, e, *, grid, train_t, train_e,
                    eval_times=None, tied_score: float = 0.5) -> dict[str, float]:
    """``{"c_index", "ibs"}`` of predicted curves ``surv [n, T]`` on rows ``(t, e)``.

    ``eval_times`` default: every month ``1 .. T - 1`` (at ``T`` every survivor is
    administratively censored, so the Brier score there has no controls).
    ``tied_score=0.5`` gives tied pairs half credit. Eq. 10 as printed (strict ``<``, ties
    count 0) scores every default in the first month as discordant, because every
    discrete-time curve equals 1 before ``tau_1``; on the semi-real data even the true
    hazard then scores about 0.51, so half credit is the only usable reading.

    >>> grid = np.arange(4.0)
    >>> s = survival_scores(np.array([[.9, .5, .2], [.99, .9, .8]]), [1.5, 2.5], [1, 0],
    ...                     grid=grid, train_t=[1.5, 2.5], train_e=[1, 0])
    >>> s["c_index"]
    1.0
    """
    grid = np.asarray(grid, dtype=float)
    times = np.arange(1.0, grid[-1]) if eval_times is None else np.asarray(eval_times, float)
    t, e = np.asarray(t, float), np.asarray(e)
    out = {"c_index": concordance_td(t, e, surv, grid, times, tied_score=tied_score)}
    try:
        out["ibs"] = integrated_brier_score(train_t, train_e, t, e,
                                            survival_at(surv, grid, times), times)
    except ValueError:
        out["ibs"] = float("nan")
    return out


def dp_noise_multipliers(sizes: Mapping[str, int], *, target_epsilon: float, delta: float,
                         batch_size: int, epochs: int) -> dict[str, float]:
    """DP-SGD ``sigma`` per client for ``(target_epsilon, delta)`` after ``epochs`` local epochs.

    >>> s = dp_noise_multipliers({"a": 1000}, target_epsilon=1.0, delta=1e-5, batch_size=32,
    ...                          epochs=5)
    >>> 0.5 < s["a"] < 5
    True
    """
    out = {}
    for name, n in sizes.items():
        q = min(1.0, batch_size / n)
        steps = int(epochs * math.ceil(n / batch_size))
        out[name] = _dp_sigma(float(target_epsilon), float(delta), q, steps)
    return out


#: Calibration tolerance of DP's sigma in epsilon (calibrate_noise_multiplier's default).
_DP_TOL = 0.01


@lru_cache(maxsize=1024)
def _dp_sigma(target_epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    # Clients with the same (q, steps) share sigma; Opacus' fractional-order RDP costs ~0.4 s
    # per evaluation, so the cache removes most of the calibration time.

    return float(calibrate_noise_multiplier(target_epsilon=target_epsilon, delta=delta,
                                            sample_rate=sample_rate, steps=steps))


def pilot_distances(model: torch.nn.Module, X, t, e, *, grid, clip_norm: float,
                    batch_size: int, n_neighbours: int, n_steps: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Monte-Carlo ``Delta^(m)`` of ``n_steps`` pilot steps at ``model``: ``[n_steps, M]``.

    Parameters
    ----------
    model
        The initial model (not trained here).
    X, t, e
        The client's rows, durations and event indicators.
    grid
        The interval grid of the discrete-time likelihood.
    clip_norm
        DP-SGD clipping norm ``C``.
    batch_size
        Rows per pilot batch.
    n_neighbours
        ``M``: rows drawn besides the batch whose gradients replace one batch example each.
    n_steps
        Pilot steps.
    rng
        Draws the rows and the swapped examples.
    """
    ss, sf = survival_targets(t, e, grid)
    Xt, sst, sft = (torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in (X, ss, sf))
    n = len(Xt)
    out = []
    for _ in range(n_steps):
        rows = rng.choice(n, size=min(n, batch_size + n_neighbours), replace=False)
        b = min(batch_size, len(rows) - n_neighbours)
        g = per_example_gradients(model, Xt[rows], sst[rows], sft[rows])
        out.append(neighbour_distances_from_per_example(g[:b], g[b:], clip_norm=clip_norm,
                                                        rng=rng))
    return np.asarray(out)


def bdp_noise_multiplier(pilot: np.ndarray, *, target_epsilon: float, sample_rate: float,
                         steps: int, clip_norm: float, beta: float, gamma: float,
                         n_rows: int, cost: str = "left", bound: str = "hoeffding",
                         bounds: tuple[float, float] = (0.05, 200.0)) -> float:
    """Smallest ``sigma`` whose planned Bayesian ``eps_mu`` after ``steps`` steps is ``<= target``.

    The run is planned as ``steps`` steps like the pilot's (``pilot`` is ``[P, M]``), composed
    over the whole run as :class:`~fedlib.privacy.bdp.BayesianAccountant` will compose it
    (:func:`~fedlib.privacy.bdp.planned_epsilon`); ``gamma`` is the run's estimator failure
    probability. ``bound="hoeffding"`` calibrates the valid bound, ``"mean"`` or
    ``"student_t"`` the estimate (no guarantee). Clients below 100 rows get the analytical
    fallback's sigma.

    >>> pilot = np.full((3, 10), 0.5)
    >>> kw = dict(target_epsilon=1.0, sample_rate=0.01, steps=1000, clip_norm=1.0,
    ...           beta=1e-5, gamma=1e-5, n_rows=5000)
    >>> s_bound = bdp_noise_multiplier(pilot, **kw)                # the valid bound
    >>> s_est = bdp_noise_multiplier(pilot, bound="mean", **kw)    # the estimate
    >>> round(s_bound, 3), round(s_est, 3)
    (3.057, 1.251)
    >>> round(planned_epsilon(pilot, steps=1000, sample_rate=0.01, noise_multiplier=s_bound,
    ...                       clip_norm=1.0, beta=1e-5, gamma=1e-5, cost="left").epsilon, 3)
    1.0
    """
    pilot = np.atleast_2d(np.asarray(pilot, dtype=float))

    def eps(log_sigma: float) -> float:
        return planned_epsilon(pilot, steps=steps, sample_rate=sample_rate,
                               noise_multiplier=float(np.exp(log_sigma)), clip_norm=clip_norm,
                               beta=beta, gamma=gamma, n_rows=n_rows, cost=cost,
                               bound=bound).epsilon - target_epsilon

    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    if eps(hi) > 0:
        raise ValueError(f"target_epsilon={target_epsilon!r}: not reached with sigma <= {bounds[1]}")
    if eps(lo) <= 0:
        return float(bounds[0])
    return float(np.exp(optimize.brentq(eps, lo, hi, xtol=1e-9) + 1e-7))


def expected_default_month(surv) -> np.ndarray:
    """Mean default month given default within the window, per row of ``surv [n, T]``."""
    s = np.atleast_2d(np.asarray(surv, dtype=float))
    prev = np.concatenate([np.ones((s.shape[0], 1)), s[:, :-1]], axis=1)
    pd_t = np.clip(prev - s, 0.0, None)
    months = np.arange(1, s.shape[1] + 1)
    total = pd_t.sum(1)
    return np.divide(pd_t @ months, total, out=np.full(total.shape, np.nan), where=total > 0)


@dataclass(frozen=True)
class MembershipInference:
    """A membership-inference attack's result.

    ``auc``: 0.5 = no leakage; ``advantage``: max TPR - FPR; ``n_per_side``: rows drawn from
    the members and from the non-members each.
    """

    auc: float
    advantage: float
    n_per_side: int


def survival_membership_inference(model: torch.nn.Module, members, nonmembers, *, grid,
                                  n: int, seed: int) -> MembershipInference:
    """Loss-threshold membership inference (Yeom et al.) with the per-row eq. 1 loss.

    ``members``/``nonmembers`` are ``(X, t, e)`` triples; ``n`` rows per side are drawn.
    Returns the attack's ``auc`` (0.5 = no leakage) and ``advantage`` (max TPR - FPR).
    """
    rng = np.random.default_rng(seed)
    scores, labels = [], []
    for label, (X, t, e) in ((1, members), (0, nonmembers)):
        k = min(n, len(t))
        idx = rng.choice(len(t), size=k, replace=False)
        ss, sf = survival_targets(np.asarray(t)[idx], np.asarray(e)[idx], grid)
        model.eval()
        with torch.no_grad():
            out = model(torch.as_tensor(np.asarray(X, dtype=np.float32)[idx]))
            loss = discrete_time_nll(out, torch.as_tensor(ss), torch.as_tensor(sf),
                                     reduction="none").numpy()
        scores.append(-loss)
        labels.append(np.full(k, label))
    y, s = np.concatenate(labels), np.concatenate(scores)
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, s)
    return MembershipInference(auc=float(roc_auc_score(y, s)),
                               advantage=float(np.max(tpr - fpr)),
                               n_per_side=int(min(len(scores[0]), len(scores[1]))))


def cost_rule_table(*, sq_distance: float, noise_multiplier: float, order: int,
                    sample_rates=(1.0, 0.1, 0.01, 0.001)) -> pd.DataFrame:
    """Per-step Bayesian costs ``c_L``, ``c_R`` (Algorithm 2 lines 25-26) against ``q``.

    ``c_L`` falls like ``q^2`` (privacy amplification by subsampling); the printed ``c_R``
    only like ``q``, so ``max(c_L, c_R)`` gives up most of the amplification.

    >>> tab = cost_rule_table(sq_distance=1.0, noise_multiplier=1.0, order=8)
    >>> bool((tab["c_right / c_left"].iloc[1:] > 1).all())
    True
    """
    rows = []
    for q in sample_rates:
        cl, cr = bdp_cost_terms([sq_distance], order=order, sample_rate=q,
                                noise_multiplier=noise_multiplier, clip_norm=1.0)
        rows.append({"q": q, "c_left": float(cl[0]), "c_right": float(cr[0]),
                     "c_right / c_left": float(cr[0] / cl[0]) if cl[0] > 0 else math.inf})
    return pd.DataFrame(rows)


def predict_all(model, data, split: str) -> np.ndarray:
    """Predicted survival curves for the pooled rows of ``split``."""
    X, _, _, _ = data.pooled(split)
    return predict_survival(model, X)


SCENARIOS = ("Centralized (No DP)", "Centralized (Classical DP)", "Centralized (BDP)",
             "Federated (No DP)", "Federated (Classical DP)", "Federated (BDP)")
_MODE = {"No DP": "none", "Classical DP": "dp", "BDP": "bdp"}


@dataclass(frozen=True)
class TrainingConfig:
    """One method's training settings, shared by its centralised and federated runs.

    ``lr`` is Adam's learning rate, ``batch_size`` the (expected, Poisson for the private
    modes) batch, ``local_epochs`` the local epochs E per round; a centralised run makes as many
    passes over the pooled rows as the federation makes over each client's: ``R × E``
    (:meth:`epochs`).

    >>> TrainingConfig(lr=1e-3, batch_size=32, local_epochs=2).epochs(rounds=10)
    20
    """

    lr: float
    batch_size: int
    local_epochs: int

    def epochs(self, *, rounds: int) -> int:
        """Passes over the training rows after ``rounds`` rounds of ``local_epochs``."""
        return int(rounds * self.local_epochs)


def _schedule(n_rows: int, batch_size: int, epochs: int) -> tuple[float, int]:
    """Poisson rate ``q = min(1, B / n)`` and number of steps ``epochs * ceil(n / B)``."""
    return min(1.0, batch_size / n_rows), int(epochs * math.ceil(n_rows / batch_size))


def calibrate_clients(data, *, target_epsilon: float, delta: float,
                      settings: Mapping[str, TrainingConfig], rounds: int, clip_norm: float,
                      n_neighbours: int, pilot_steps: int, init_model: torch.nn.Module,
                      seed: int, include_clients: bool = True, include_central: bool = True,
                      bdp_bound: str = "hoeffding") -> pd.DataFrame:
    """Per-party DP and BDP ``sigma`` for the same target ``(epsilon, delta)``.

    Each mechanism is calibrated on its own final schedule: ``settings["dp"]`` and
    ``settings["bdp"]`` (either may be absent; its columns are then missing; ``"none"`` is
    ignored) give the batch size
    and the local epochs E, a client makes ``rounds × E`` epochs over its rows and the pooled
    ``"central"`` row as many over the pooled training rows. The columns ``sample_rate`` and
    ``steps`` are BDP's schedule (DP's without a BDP setting), ``sample_rate_dp`` and
    ``steps_dp`` DP's; with both mechanisms, ``sigma_dp_same_schedule`` is DP's sigma on BDP's
    schedule, the one to set beside ``sigma_bdp``.

    BDP uses ``beta = delta / 2`` and ``gamma = delta / 2`` for the whole run, so ``delta_mu =
    beta + gamma = delta``. ``bdp_bound`` is what ``sigma_bdp`` is calibrated to: the valid
    bound (``"hoeffding"``) or an estimate (``"mean"``, ``"student_t"``). Whatever it is, the
    columns ``eps_bdp_bound`` and ``eps_bdp_estimate`` give the planned bound and the planned
    Monte-Carlo estimate at ``sigma_bdp``, and ``eps_dp_at_sigma_bdp`` the classical (add/remove)
    epsilon of the same noise. ``delta`` must be below 1/n for every party calibrated (checked
    first).
    """
    if not {"dp", "bdp"} & set(settings):
        raise ValueError(f"settings must hold 'dp' and/or 'bdp', got {sorted(settings)}")
    entries = [(c.name, c.X_train, c.t_train, c.e_train) for c in data.clients] \
        if include_clients else []
    if include_central:                   # the pooled model's guarantee is over all rows
        X, t, e, _ = data.pooled("train")
        entries.append(("central", X, t, e))
    check_delta(delta, rows={name: len(t) for name, _, t, _ in entries})
    rng = np.random.default_rng(seed)
    rows = []
    for name, X, t, e in entries:
        row = {"client": name, "n_train": len(t), "target_epsilon": float(target_epsilon)}
        if "dp" in settings:
            row.update(_calibrate_dp(len(t), settings["dp"], rounds=rounds,
                                     target_epsilon=target_epsilon, delta=delta))
        if "bdp" in settings:
            row.update(_calibrate_bdp(
                X, t, e, settings["bdp"], rounds=rounds, target_epsilon=target_epsilon,
                delta=delta, grid=data.grid, clip_norm=clip_norm, n_neighbours=n_neighbours,
                pilot_steps=pilot_steps, init_model=init_model, rng=rng, bdp_bound=bdp_bound))
        else:
            row.update(sample_rate=row["sample_rate_dp"], steps=row["steps_dp"])
        if {"dp", "bdp"} <= set(settings):
            # The noise the two mechanisms need is only comparable on one schedule: DP's sigma
            # on BDP's (the same as sigma_dp, from the cache, when the schedules coincide).
            row["sigma_dp_same_schedule"] = _calibrate_dp(
                len(t), settings["bdp"], rounds=rounds, target_epsilon=target_epsilon,
                delta=delta)["sigma_dp"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("client")


def _calibrate_dp(n: int, config: TrainingConfig, *, rounds: int, target_epsilon: float,
                  delta: float) -> dict:
    """DP-SGD's sigma for ``n`` rows on ``config``'s final schedule (RDP, eqs. 6-7)."""
    epochs = config.epochs(rounds=rounds)
    q, steps = _schedule(n, config.batch_size, epochs)
    sigma = dp_noise_multipliers({"_": n}, target_epsilon=target_epsilon, delta=delta,
                                 batch_size=config.batch_size, epochs=epochs)["_"]
    return {"sample_rate_dp": q, "steps_dp": steps, "sigma_dp": sigma}


def _calibrate_bdp(X, t, e, config: TrainingConfig, *, rounds: int, target_epsilon: float,
                   delta: float, grid, clip_norm: float, n_neighbours: int, pilot_steps: int,
                   init_model: torch.nn.Module, rng: np.random.Generator,
                   bdp_bound: str) -> dict:
    """BDP's sigma for one party's rows on ``config``'s schedule, from a pilot (Algorithm 2)."""
    n = len(t)
    q, steps = _schedule(n, config.batch_size, config.epochs(rounds=rounds))
    beta = gamma = delta / 2
    fallback = n < MIN_ROWS_BAYESIAN
    pilot = np.full((1, n_neighbours), clip_norm**2) if fallback else pilot_distances(
        init_model, X, t, e, grid=grid, clip_norm=clip_norm, batch_size=config.batch_size,
        n_neighbours=n_neighbours, n_steps=pilot_steps, rng=rng)
    kw = dict(sample_rate=q, steps=steps, clip_norm=clip_norm, beta=beta, gamma=gamma, n_rows=n)
    s_bdp = bdp_noise_multiplier(pilot, target_epsilon=target_epsilon, bound=bdp_bound, **kw)
    plan = {b: planned_epsilon(pilot, noise_multiplier=s_bdp, cost="left", bound=b,
                               **kw).epsilon for b in ("hoeffding", "mean")}
    return {"sample_rate": q, "steps": steps, "sigma_bdp": s_bdp, "gamma": gamma,
            "bdp_bound": bdp_bound, "eps_bdp_bound": plan["hoeffding"],
            "eps_bdp_estimate": plan["mean"],
            "eps_dp_at_sigma_bdp": epsilon_for(noise_multiplier=s_bdp, sample_rate=q,
                                               steps=steps, delta=delta),
            "pilot_median_delta": float(np.median(pilot)), "analytical_fallback": fallback}


@dataclass(eq=False)
class ScenarioRuns:
    """What :func:`run_scenarios` returns.

    Attributes
    ----------
    metrics
        One row per seed and scenario: ``test_ci``, ``test_ibs``, ``oot_ci``, ``oot_ibs``
        (Table 3's columns).
    per_client
        One row per seed, scenario and client: its C-index, events, training rows and whether
        it ran on the BDP fallback.
    epsilons
        Every private run's final ``(epsilon, delta)`` per client (empty without one).
    runs
        Scenario → the first seed's run (its model and history).
    sigmas_used
        Per client: the σ each mechanism ran with and the ε it reached.
    """

    metrics: pd.DataFrame
    per_client: pd.DataFrame
    epsilons: pd.DataFrame
    runs: dict
    sigmas_used: pd.DataFrame


def run_scenarios(data, *, sigmas: pd.DataFrame, seeds, rounds: int,
                  settings: Mapping[str, TrainingConfig], clip_norm: float, delta: float,
                  n_neighbours: int, init_hazard: float | None, sample_fraction: float = 1.0,
                  scenarios=SCENARIOS, progress=None, noise_seed: int | None = None,
                  match_dp_to_bdp: bool = False, on_run=None,
                  bdp_bound: str | None = None, engine=None) -> ScenarioRuns:
    """Train every scenario for every seed and evaluate on in-time test and OOT.

    ``settings`` maps each mode that runs (``"none"``, ``"dp"``, ``"bdp"``) to its
    :class:`TrainingConfig`, used alike by its centralised run (``rounds × E`` epochs over the
    pooled rows) and its federated run (``rounds`` rounds of E local epochs); ``sigmas``
    (:func:`calibrate_clients`) must have been calibrated on the same settings and rounds.

    BDP runs report what ``sigmas`` was calibrated to (its ``bdp_bound`` column, default the
    valid bound) unless ``bdp_bound`` is given; ``epsilons`` carries ``is_bound`` and the
    Monte-Carlo ``epsilon_estimate`` of every BDP client. ``delta`` must be below 1/n for every
    client, and for the pooled training rows if a private centralised scenario runs (checked
    before training). ``noise_seed`` (default ``None``: OS entropy) seeds the private runs'
    sampling and noise, mixed with each seed of ``seeds``; seeded noise is a reproduction
    device that voids the guarantee.

    ``match_dp_to_bdp``: equal final ε per client. The BDP runs of every seed go first; each
    client's (and the pooled model's) classical-DP σ is then calibrated, on DP's own schedule,
    to the *mean Bayesian ε that client actually reached* over the seeds, instead of to the
    nominal target (a Bayesian ε depends on the gradients seen during training, so it can end
    away from the pilot's target). A party whose BDP ended within DP's calibration tolerance
    (0.01) below the common target keeps its σ: the two are already equal. ``sigmas_used`` in
    the result holds the σ and the ε of both mechanisms.

    ``on_run(seed, scenario, run)`` is called after every training run. ``engine`` runs the
    federated scenarios' rounds (default local; see
    :func:`~fedlib.survival.federated.train_federated`).

    Returns a :class:`ScenarioRuns`: long DataFrames of the metrics per seed, the per-client
    C-index of every centralised and federated model (test and OOT rows together, to have
    enough defaults per client; with ``n_train`` and the BDP ``fallback`` flag), every
    client's final ``(epsilon, delta)``, the runs of the first seed, and the σ actually used.
    """
    needed = {_MODE[sc.split(" (")[1].rstrip(")")] for sc in scenarios}
    if needed - set(settings):
        raise ValueError(f"settings has no TrainingConfig for mode(s) {sorted(needed - set(settings))}")
    _, trt, tre, _ = data.pooled("train")
    rows = {c.name: int(c.n_train) for c in data.clients}
    if any(sc.startswith("Centralized") and "No DP" not in sc for sc in scenarios):
        rows["central"] = len(trt)        # the pooled model's guarantee is over all rows
    check_delta(delta, rows=rows)
    splits = {s: data.pooled(s) for s in ("test", "oot")}
    per_client_rows = {c.name: (np.concatenate([c.X_test, c.X_oot]),
                                np.concatenate([c.t_test, c.t_oot]),
                                np.concatenate([c.e_test, c.e_oot])) for c in data.clients}
    fallback = {c.name: bool(c.n_train < _min_rows_bayesian()) for c in data.clients}

    def evaluate(model) -> dict:
        out = {}
        for s, (X, t, e, _) in splits.items():
            if len(t) == 0:
                continue
            sc = survival_scores(predict_survival(model, X), t, e, grid=data.grid,
                                 train_t=trt, train_e=tre)
            out[f"{s}_ci"], out[f"{s}_ibs"] = sc["c_index"], sc["ibs"]
        return out

    sig = sigmas.copy()
    sig["epsilon_bdp"] = np.nan
    sig["epsilon_dp_target"] = np.nan
    order = list(scenarios)
    if match_dp_to_bdp:   # every BDP run before any DP run
        order = sorted(order, key=lambda sc: 0 if "(BDP)" in sc else 1)
    plan = [(sc, seed) for sc in order for seed in seeds] if match_dp_to_bdp else \
        [(sc, seed) for seed in seeds for sc in order]
    metrics, per_client, eps_rows, runs = [], [], [], {}
    # Only BDP uses gamma; a table calibrated for DP alone has no column.
    gamma = sig["gamma"].to_dict() if "gamma" in sig else dict.fromkeys(sig.index, delta / 2)
    if bdp_bound is None:
        bdp_bound = str(sig["bdp_bound"].iloc[0]) if "bdp_bound" in sig else "hoeffding"
    bdp_eps: dict[str, list[float]] = {}
    matched = False
    for sc, seed in plan:
        where, priv = sc.split(" (")
        mode = _MODE[priv.rstrip(")")]
        if mode == "dp" and match_dp_to_bdp and not matched:
            _match_dp(sig, bdp_eps, delta=delta, config=settings["dp"], rounds=rounds)
            matched = True
        col = {"dp": "sigma_dp", "bdp": "sigma_bdp"}.get(mode)
        cfg = settings[mode]
        if where == "Centralized":
            run = train_centralized(
                data, mode=mode, epochs=cfg.epochs(rounds=rounds), lr=cfg.lr,
                batch_size=cfg.batch_size,
                noise_multiplier=None if col is None else float(sig.loc["central", col]),
                clip_norm=clip_norm, seed=seed, n_neighbours=n_neighbours,
                beta=delta / 2, gamma=gamma["central"], evaluate=evaluate,
                init_hazard=init_hazard, bdp_bound=bdp_bound, noise_seed=noise_seed)
        else:
            run = train_federated(
                data, mode=mode, rounds=rounds, local_epochs=cfg.local_epochs, lr=cfg.lr,
                batch_size=cfg.batch_size,
                noise_multipliers=None if col is None else sig[col].to_dict(),
                clip_norm=clip_norm, seed=seed, sample_fraction=sample_fraction,
                n_neighbours=n_neighbours, beta=delta / 2, gamma=gamma,
                evaluate=evaluate, init_hazard=init_hazard, bdp_bound=bdp_bound,
                noise_seed=noise_seed, engine=engine)
        final = run.history.iloc[-1]
        metrics.append({"seed": seed, "scenario": sc,
                        **{m: float(final.get(m, np.nan))
                           for m in ("test_ci", "test_ibs", "oot_ci", "oot_ibs")}})
        if mode != "none":
            e = run.epsilons(delta=delta)
            if where == "Centralized":
                e["client"] = "central"
            if mode == "bdp":
                for name, v in zip(e["client"], e["epsilon"], strict=True):
                    bdp_eps.setdefault(str(name), []).append(float(v))
            e.insert(0, "scenario", sc)
            e.insert(0, "seed", seed)
            eps_rows.append(e)
        for c in data.clients:
            X, t, ev = per_client_rows[c.name]
            ci = survival_scores(predict_survival(run.model, X), t, ev, grid=data.grid,
                                 train_t=trt, train_e=tre)["c_index"] if ev.any() \
                else float("nan")
            per_client.append({"seed": seed, "scenario": sc, "client": c.name,
                               "c_index": ci, "n_events": int(ev.sum()),
                               "n_train": int(c.n_train), "fallback": fallback[c.name]})
        if seed == seeds[0]:
            runs[sc] = run
        if on_run is not None:
            on_run(seed, sc, run)
        if progress is not None:
            progress(sc)
    metrics = pd.DataFrame(metrics)
    metrics["_o"] = metrics.scenario.map({s: i for i, s in enumerate(SCENARIOS)})
    metrics = metrics.sort_values(["seed", "_o"]).drop(columns="_o").reset_index(drop=True)
    for name, vals in bdp_eps.items():
        if name in sig.index:
            sig.loc[name, "epsilon_bdp"] = float(np.mean(vals))
    return ScenarioRuns(
        metrics=metrics, per_client=pd.DataFrame(per_client),
        epsilons=pd.concat(eps_rows, ignore_index=True) if eps_rows else pd.DataFrame(),
        runs=runs, sigmas_used=sig)


def _min_rows_bayesian() -> int:
    return int(MIN_ROWS_BAYESIAN)


def _match_dp(sig: pd.DataFrame, bdp_eps: Mapping[str, list[float]], *, delta: float,
              config: TrainingConfig, rounds: int) -> None:
    """Recalibrate ``sig.sigma_dp`` in place: each party's DP ends at its mean BDP epsilon."""
    for name in sig.index:
        vals = bdp_eps.get(str(name))
        if not vals:
            continue
        target = float(np.mean(vals))
        planned = sig.loc[name, "target_epsilon"] if "target_epsilon" in sig else np.nan
        if np.isfinite(planned) and planned - _DP_TOL <= target <= planned:
            # DP was calibrated to within _DP_TOL below the same target: already equal.
            sig.loc[name, "epsilon_dp_target"] = float(planned)
            continue
        q, steps = _schedule(int(sig.loc[name, "n_train"]), config.batch_size,
                             config.epochs(rounds=rounds))
        # 3 significant digits share the cache between near-equal targets; rounding down
        # keeps DP's epsilon at or below BDP's.
        t = math.floor(target * 1000) / 1000
        sig.loc[name, "sigma_dp"] = _dp_sigma(t, float(delta), q, steps)
        sig.loc[name, "epsilon_dp_target"] = t
