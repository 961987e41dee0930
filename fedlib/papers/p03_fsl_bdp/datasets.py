"""The data of chapter 3 (FSL-BDP survival): load it, describe it, and set Table 2 beside the paper.

Serves the chapter's section "The data" (the paper's §4.1 and Table 2): load the dataset the
parameters name (a paper-shaped generator, a paper's file or the reader's own table), the
paragraph on its scale and leakage columns, and the measured Table 2 quantities; and the Table 2
of every dataset run in "Paper versus ours".

References: Amed, Sen & Banerjee (2026), FSL-BDP, §4.1, Table 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fedlib.book.glue import glue
from fedlib.data import registry
from fedlib.data.generic import csv_options
from fedlib.papers.p03_fsl_bdp.claims import PAPER_TABLE2, DatasetEvidence
from fedlib.survival.data import PROFILES, semi_real_lendingclub, synthetic_survival
from fedlib.survival.generic import SURVIVAL_OPTIONS, load_survival_csv

__all__ = ["data_summary", "dataset_note", "has_oot", "load_dataset", "record_dataset",
           "table2_all", "table2_beside_paper", "table2_inputs", "table2_of"]


def load_dataset(P) -> tuple[Any, str]:
    """Load the chapter's main dataset as its parameters name it.

    Parameters
    ----------
    P
        The chapter's validated parameters (``dataset``, ``data_path``, ``seed`` ...).

    Returns
    -------
    tuple
        The survival dataset and the paper dataset it stands for (a user's table: its file
        name).
    """
    if P.dataset == "csv":   # a user's table: no paper profile; named after its file

        user = load_survival_csv(P.data_path, **csv_options(P, SURVIVAL_OPTIONS))
        user.name = Path(P.data_path).stem
        return user, user.name
    if P.dataset == "semi_real_lendingclub":
        return semi_real_lendingclub(seed=P.seed, min_client_rows=P.min_client_rows), "LendingClub"
    if P.dataset.startswith("synthetic_"):
        kind = P.dataset.removeprefix("synthetic_")
        return synthetic_survival(kind, scale=P.synthetic_scale, seed=P.seed), PROFILES[kind].name

    ds = registry.load_dataset(P.dataset, kind="survival", path=P.data_path,
                               min_client_rows=P.min_client_rows)
    return ds, ds.profile.name


def dataset_note(ds) -> str:
    """The line that names the dataset (and says when it is the reader's own table)."""
    return (f"**{ds.name}** — {ds.note}."
            + ("" if ds.profile is not None else " Your own table: the paper has no column to "
               "set beside it, and none of its levels is compared with ours."))


def table2_beside_paper(ds, data, paper_name: str) -> pd.DataFrame:
    """The dataset's Table 2, with the paper's column beside it when the paper has one.

    Parameters
    ----------
    ds, data
        The loaded dataset and its prepared (split, encoded) form.
    paper_name
        Name of the paper's dataset, for the column header.

    Returns
    -------
    pandas.DataFrame
        One row per Table 2 quantity.
    """
    prof = ds.profile
    table2 = ds.table2()
    table2.loc["Number of features", table2.columns[0]] = (
        f"{ds.table2().iloc[1, 0]} raw, {data.n_features} encoded")
    if prof is not None:
        paper_col = pd.Series({
            "Total observations": f"{prof.rows:,}", "Number of features": prof.features,
            "Default rate": prof.default_rate, "Observation window": f"{prof.window} months",
            "Number of clients (K)": prof.clients, "Min client size": f"{prof.min_client:,}",
            "Max client size": f"{prof.max_client:,}", "Mean client size": f"{prof.mean_client:,}",
            "In-time / OOT rows":
                f"{sum(prof.train_test_oot_k[:2]):,}k / {prof.train_test_oot_k[2]:,}k",
            "Train/Test window": prof.train_window, "OOT window": prof.oot_window},
            name=f"paper ({paper_name})")
        table2.insert(1, "paper", paper_col)
    return table2


def has_oot(data) -> bool:
    """Whether any client has out-of-time loans (Table 3's OOT columns exist)."""
    return sum(c.t_oot.size for c in data.clients) > 0


def data_summary(ds, data, P, paper_name: str, *, has_oot: bool) -> str:
    """The paragraph that says what data the chapter runs on and how it compares in scale.

    Parameters
    ----------
    ds, data
        The loaded dataset and its prepared form.
    P
        The chapter's parameters (``dataset``, ``drop_columns``).
    paper_name
        Name of the paper's dataset.
    has_oot
        Whether any client has out-of-time loans.

    Returns
    -------
    str
        Markdown.
    """
    f, prof = ds.frame, ds.profile
    n_train_total = sum(c.n_train for c in data.clients)
    min_train = min(c.n_train for c in data.clients)
    n_small = sum(c.n_train < 100 for c in data.clients)
    kind_of_data = ("semi-real: real covariates, simulated default times" if ds.truth is not None
                    and P.dataset == "semi_real_lendingclub" else
                    "synthetic" if ds.truth is not None else
                    "your own table" if prof is None else "a real file")
    small_txt = (f"so {n_small} clients fall under the paper's 100-row threshold and use the "
                 "analytical DP fallback instead of BDP; they are reported apart and left out of "
                 "the win rate" if n_small else "but no client falls under the paper's 100-row "
                 "threshold: every client runs BDP proper (no analytical fallback)")
    if prof is not None:
        paper_train = prof.train_test_oot_k[0] * 1000
        scale_txt = (f"The paper trains its {paper_name} model on {paper_train:,} loans; we train "
                     f"on {n_train_total:,}, {paper_train / n_train_total:,.0f} times fewer, and "
                     f"the smallest client has {min_train} training loans (the paper's smallest: "
                     f"{prof.min_client:,} loans in all), ")
    else:
        scale_txt = (f"We train on {n_train_total:,} loans (the paper's smallest dataset, Bondora, "
                     f"has {PROFILES['bondora'].rows:,}), and the smallest client has {min_train} "
                     "training loans, ")
    if prof is None:
        leak_txt = ("On your table no column is removed for leakage automatically: "
                    + (f"the columns {', '.join(f'`{c}`' for c in P.drop_columns)} are ignored "
                       "(`drop_columns`); " if P.drop_columns else "`drop_columns` is empty; ")
                    + "every other column is a model input, so anything observed after "
                    "origination (status, balances, payments, the lender's own risk grade) must be "
                    "named in `drop_columns`.")
    elif prof.name == "LendingClub":
        leak_txt = ("Columns prone to leakage are removed as §4.1 says (there: `funded_amnt`, "
                    "`int_rate`): here the lender's own risk pricing (interest rate, instalment, "
                    "grade, sub-grade) and every field observed after origination (status, "
                    "balance, payments).")
    else:
        leak_txt = ("Columns prone to leakage are removed as §4.1 says: every field observed "
                    "after origination (status, balances, payments, recoveries) and the lender's "
                    "own risk rating, as listed in `fedlib.survival.loaders`.")
    oot_txt = ("" if has_oot else " There are no out-of-time loans (no origination dates or no "
               "`oot_start`), so the OOT columns of Table 3 and the OOT claims are skipped.")
    return (f"We have {len(f):,} loans ({kind_of_data}) in {len(data.clients)} clients with a "
            f"default rate of {f['event'].mean():.3f} ({data.n_features} model inputs after "
            f"encoding). {scale_txt}{small_txt}. Remember this scale when comparing numbers: DP "
            "noise per step shrinks with the batch, and a client's batch cannot exceed its rows."
            f"{oot_txt}\n\n" + leak_txt)


def record_dataset(results, ds, data, P, paper_name: str) -> str:
    """Record the dataset and its clients in ``results``, glue its size, describe it (§4.1).

    Glues ``n_loans``, ``n_clients``, ``default_rate``, ``n_train_total`` and ``n_features``.

    Parameters
    ----------
    results
        The chapter's :class:`~fedlib.book.results.ResultsWriter`.
    ds, data
        The loaded dataset and its prepared (split, encoded) form.
    P
        The chapter's parameters.
    paper_name
        Name of the paper's dataset (Table 2's column).

    Returns
    -------
    str
        The paragraph of :func:`data_summary` (Markdown).
    """
    f = ds.frame
    results.set_dataset(ds.name, rows=len(f), parties=[
        {"name": str(k), "rows": int(v.shape[0]), "positive_rate": float(v["event"].mean())}
        for k, v in f.groupby("client")])
    glue("n_loans", len(f), display=False)
    glue("n_clients", len(data.clients), display=False)
    glue("default_rate", float(f["event"].mean()), display=False)
    glue("n_train_total", sum(c.n_train for c in data.clients), display=False)
    glue("n_features", data.n_features, display=False)
    return data_summary(ds, data, P, paper_name, has_oot=has_oot(data))


def table2_of(dset) -> dict:
    """Measured Table 2 values of a dataset, in the keys of the paper's Table 2.

    Parameters
    ----------
    dset
        A survival dataset (``frame`` with ``client`` and ``event``, its columns and window).

    Returns
    -------
    dict
        ``rows, default_rate, features, window, clients, min_client, max_client,
        mean_client``.
    """
    sizes = dset.frame["client"].value_counts()
    return {"rows": len(dset.frame), "default_rate": float(dset.frame["event"].mean()),
            "features": len(dset.numeric_columns) + len(dset.categorical_columns),
            "window": dset.window, "clients": int(sizes.size), "min_client": int(sizes.min()),
            "max_client": int(sizes.max()), "mean_client": float(sizes.mean())}


def table2_inputs(P, profile) -> tuple[str, ...]:
    """The main dataset's Table 2 quantities set from the paper, not measured (by construction).

    Examples
    --------
    >>> table2_inputs(type("P", (), {"dataset": "lendingclub_csv"}), object())
    ('window',)
    """
    if profile is None:
        return ()
    if P.dataset.endswith("_csv"):
        return ("window",)
    if P.dataset == "semi_real_lendingclub":
        return ("default_rate", "window", "clients")
    return ("default_rate", "window", "clients", "features", "min_client", "max_client",
            "mean_client")


def table2_all(evidence: Mapping[str, DatasetEvidence]) -> pd.DataFrame:
    """Table 2 of every dataset run, beside the paper's column where the paper has one."""
    t2 = pd.DataFrame({f"{k} (ours)": v.table2 for k, v in evidence.items()})
    for k in evidence:
        if k in PAPER_TABLE2:   # a user's table has no paper column
            t2[f"{k} (paper)"] = pd.Series(PAPER_TABLE2[k])
    return t2
