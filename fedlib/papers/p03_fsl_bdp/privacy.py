"""Classical DP and Bayesian DP at the same ε: chapter 3's calibration, noise and equal-ε sections.

Serves the chapter's section "Classical DP and Bayesian DP at the same ε" with its parts "What
a Bayesian ε means: a worked example" and "Algorithm 2's right-hand cost undoes subsampling",
and the equal-ε table of the Table 3 section: σ of classical DP (the paper's eqs. 5–7) and of
BDP (Algorithm 2) per party for one target ε, DP-SGD's noise against its signal, what a
Bayesian ε promises about a typical and a worst-case borrower (§3.5), the printed cost rule,
and the final ε each mechanism reached per party.

References: Amed, Sen & Banerjee (2026), FSL-BDP, eqs. 5–7, Algorithm 2, §3.5.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fedlib.book.glue import glue
from fedlib.privacy.accountants import epsilon_for
from fedlib.privacy.bdp import BayesianAccountant
from fedlib.survival.experiment import (
    TrainingConfig,
    bdp_noise_multiplier,
    calibrate_clients,
    cost_rule_table,
    pilot_distances,
)

__all__ = ["bdp_bound_text", "bdp_epsilons_are_bounds", "calibrate", "calibration_table",
           "epsilon_if_every_step", "equal_epsilon_table", "noise_ratio", "noise_to_signal",
           "printed_cost_rule", "private_settings_text", "report_equal_epsilon", "report_noise",
           "same_schedule", "worked_example"]


def _calibration_options(P) -> dict:
    """The :func:`~fedlib.survival.experiment.calibrate_clients` settings every run shares."""
    return dict(delta=P.delta, clip_norm=P.clip_norm, n_neighbours=P.bdp_neighbours,
                pilot_steps=P.bdp_pilot_steps, seed=P.seed)


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


def _bayesian_clients(sigmas: pd.DataFrame) -> pd.DataFrame:
    """The clients that run BDP proper (not the analytical fallback), without the pool."""
    return sigmas[~sigmas.analytical_fallback].drop(index="central", errors="ignore")


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


def private_settings_text(settings: Mapping[str, TrainingConfig], P) -> str:
    """Which batch the tuned private runs use, and whether it is the grid's largest."""
    dp, bdp = settings["dp"].batch_size, settings["bdp"].batch_size
    largest = max(P.batch_grid)
    return (f"The tuned DP runs use an expected Poisson batch of {dp} rows and the BDP runs "
            f"{bdp} (a client with fewer rows uses all of them, q = 1)"
            + (", the largest of the grid." if dp == bdp == largest else
               f"; the grid's largest is {largest}."))


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
    eps_final = main.epsilons
    eq = equal_epsilon_table(eps_final, main.sigmas_used, results)
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
