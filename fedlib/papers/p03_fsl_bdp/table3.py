"""Chapter 3's Table 3 beside the paper's: means over seeds, per seed, and the headline quantities.

Serves the chapter's section "Table 3: centralised and federated, without DP, with DP and with
BDP, at equal ε": the recorded metric rows, our Table 3 (mean and Student-t interval over seeds)
with the paper's means beside it, each scenario per seed, the models at chance, and the paper's
headline quantities of §5.1 (ranking reversal, federation gains, per-client win rate) beside
ours.

References: Amed, Sen & Banerjee (2026), FSL-BDP, Table 3, §5.1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fedlib.book.glue import glue
from fedlib.evaluate.uncertainty import Estimate
from fedlib.papers.p03_fsl_bdp.claims import (
    DatasetEvidence,
    fed_gains,
    paper_table3_frame,
    per_seed_win_rates,
    size_benefit_correlation,
)
from fedlib.survival.experiment import SCENARIOS

__all__ = ["add_table3_metrics", "at_chance", "headline_table", "per_seed_table", "report_headline",
           "report_table3", "table3_beside_paper"]


_METRICS = ("test_ci", "test_ibs", "oot_ci", "oot_ibs")


def add_table3_metrics(results, metrics: pd.DataFrame, experiment: str) -> None:
    """Record every seed's Table 3 metrics under ``experiment`` in ``results``.

    Parameters
    ----------
    results
        The chapter's results writer.
    metrics
        One row per ``seed`` and ``scenario``, one column per metric.
    experiment
        The ``experiment`` key of the rows (``table3``, ``table3_sba`` ...).
    """
    results.add_metrics(metrics.melt(id_vars=["seed", "scenario"], var_name="metric")
                        .assign(experiment=experiment, party="all",
                                setting=lambda d: "seed=" + d.seed.astype(str))
                        .rename(columns={"scenario": "mode"}).drop(columns="seed"))


def _seed_estimate(metrics: pd.DataFrame, scenario: str, metric: str = "test_ci") -> Estimate | None:
    """Mean over seeds with its Student-t interval of one scenario's metric (None if absent)."""
    v = metrics.loc[metrics.scenario == scenario, metric].dropna()
    return Estimate.seeds(v) if len(v) else None


def _fmt_estimate(e: Estimate | None) -> str:
    """``value [low, high]`` to three decimals, ``–`` for no value."""
    if e is None:
        return "–"
    return f"{e.value:.3f}" + (f" [{e.interval[0]:.3f}, {e.interval[1]:.3f}]" if e.interval else "")


def _mean_ci(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds and the Student-t 95 % interval, per scenario and metric, as text."""
    out = pd.DataFrame(index=list(SCENARIOS))
    for m in _METRICS:
        out[m] = [_fmt_estimate(_seed_estimate(frame, sc, m)) for sc in SCENARIOS]
    return out


def table3_beside_paper(metrics: pd.DataFrame, paper_name: str | None, *,
                        has_oot: bool) -> pd.DataFrame:
    """Our Table 3 (mean and interval over seeds) with the paper's means beside each column.

    Parameters
    ----------
    metrics
        One row per ``seed`` and ``scenario``.
    paper_name
        The paper's dataset, or None for a user's table (no paper column).
    has_oot
        Whether there are out-of-time loans (without them the OOT columns are dropped).

    Returns
    -------
    pandas.DataFrame
    """
    side = _mean_ci(metrics)
    if not has_oot:   # no out-of-time loans: no OOT column rather than a column of dashes
        side = side.drop(columns=["oot_ci", "oot_ibs"])
    if paper_name is not None:
        paper3 = paper_table3_frame(paper_name)
        for m in [c for c in _METRICS if c in side]:
            side.insert(side.columns.get_loc(m) + 1, f"{m} paper", paper3[m].map("{:.3f}".format))
    return side


def report_table3(results, main: dict, *, paper_name: str | None, n_seeds: int,
                  has_oot: bool) -> pd.DataFrame:
    """Record Table 3's rows (``table3``) and show it beside the paper's means.

    Glues ``n_seeds_used`` and ``table3_vs``.

    Parameters
    ----------
    results
        The chapter's results writer.
    main
        :func:`run_table3`'s result.
    paper_name
        The paper's dataset, None for a user's table.
    n_seeds
        The number of seeds.
    has_oot
        Whether there are out-of-time loans.

    Returns
    -------
    pandas.DataFrame
        :func:`table3_beside_paper`.
    """
    add_table3_metrics(results, main.metrics, "table3")
    glue("n_seeds_used", n_seeds, display=False)
    glue("table3_vs", " The paper's means are beside ours." if paper_name is not None else
         " The paper has no numbers for your table, so no level is set beside ours; the claims "
         "compare only directions (which mechanism wins).", display=False)
    return table3_beside_paper(main.metrics, paper_name, has_oot=has_oot)


def per_seed_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Each scenario's test C-index per seed, in Table 3's order."""
    return (metrics.pivot_table(index="scenario", columns="seed", values="test_ci")
            .loc[list(SCENARIOS)].round(3))


def at_chance(frame: pd.DataFrame) -> list[str]:
    """Scenarios whose test C-index is at chance: its mean or upper bound is below 0.52.

    Parameters
    ----------
    frame
        One row per ``seed`` and ``scenario`` with ``test_ci``.

    Returns
    -------
    list of str
        The scenarios at chance, in Table 3's order.

    Examples
    --------
    >>> at_chance(pd.DataFrame({"seed": [1, 1], "test_ci": [0.51, 0.66],
    ...                         "scenario": ["Federated (BDP)", "Federated (No DP)"]}))
    ['Federated (BDP)']
    """
    out = []
    for sc in SCENARIOS:
        e = _seed_estimate(frame, sc)
        if e is None:
            continue
        hi = e.interval[1] if e.interval else e.value
        if hi < 0.52 or e.value < 0.52:
            out.append(sc)
    return out


def headline_table(ev: DatasetEvidence, wins: pd.DataFrame, rho: pd.Series) -> pd.DataFrame:
    """The paper's headline quantities beside ours, per seed.

    Parameters
    ----------
    ev
        The main dataset's evidence.
    wins
        :func:`~fedlib.papers.p03_fsl_bdp.claims.per_seed_win_rates` of its clients.
    rho
        :func:`~fedlib.papers.p03_fsl_bdp.claims.size_benefit_correlation` per seed.

    Returns
    -------
    pandas.DataFrame
        One row per quantity: ours (rounded, per seed) and the paper's.
    """
    metrics = ev.metrics

    def diff(a, b):
        return (metrics[metrics.scenario == a].test_ci.to_numpy()
                - metrics[metrics.scenario == b].test_ci.to_numpy())

    headline = pd.DataFrame([
        {"quantity": "centralised: DP − BDP C-index (paper > 0)",
         "ours, per seed": diff("Centralized (Classical DP)", "Centralized (BDP)"),
         "paper": 0.610 - 0.562},
        {"quantity": "federated: BDP − DP C-index (paper > 0)",
         "ours, per seed": diff("Federated (BDP)", "Federated (Classical DP)"),
         "paper": 0.638 - 0.633},
        {"quantity": "federation gain of BDP, %", "ours, per seed": fed_gains(ev, "BDP").to_numpy(),
         "paper": 7.0},
        {"quantity": "federation gain of DP, %",
         "ours, per seed": fed_gains(ev, "Classical DP").to_numpy(), "paper": 1.4},
        {"quantity": "share of clients where federated BDP beats DP",
         "ours, per seed": wins.rate.to_numpy(), "paper": 39 / 62},
        {"quantity": "Spearman ρ(client size, federation benefit of BDP)",
         "ours, per seed": rho.to_numpy(), "paper": "< 0"},
    ])
    headline["ours, per seed"] = headline["ours, per seed"].map(lambda a: np.round(a, 3).tolist())
    return headline


def report_headline(main: dict, timing_rows: list, P, paper_name: str) -> tuple[pd.DataFrame, list]:
    """The paper's headline quantities beside ours (:func:`headline_table`), glued.

    The ranking reversal, the federation gains (§5.1) and the per-client win rate of federated
    BDP over DP. Glues ``wins_txt`` and ``chance_txt``.

    Returns
    -------
    tuple
        The table and the scenarios whose model is at chance (:func:`at_chance`).
    """
    metrics = main.metrics
    ev = DatasetEvidence(metrics, main.per_client, same_data=P.dataset.endswith("_csv")
                         and paper_name in ("LendingClub", "SBA", "Bondora"),
                         note="", timing=pd.DataFrame(timing_rows))
    wr = per_seed_win_rates(main.per_client)
    chance = at_chance(metrics)
    glue("wins_txt", ", ".join(f"{int(r.wins)}/{int(r.n)}" for r in wr.itertuples()) or "–",
         display=False)
    glue("chance_txt", ", ".join(chance) if chance else "none", display=False)
    return headline_table(ev, wr, size_benefit_correlation(main.per_client)), chance
