"""Chapter 1's data: the four institutions described (the paper's Table 1) and their split.

Serves the chapter's (``chapters/01_fmtl_dp_secagg.py``) section "Four institutions (the
paper's Table 1)": the measured Table 1, the sentences on how the data in use differs from the
paper's, and the training, validation and test split of each institution.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from fedlib.data.institutions import measure_table1
from fedlib.papers.p01_fmtl.lab import glue_values

__all__ = [
    "data_texts",
    "describe_institutions",
    "split_summary",
]


def data_texts(data, table1: pd.DataFrame, protected: str | None) -> dict[str, str]:
    """The sentences on the data: how the real rows differ, the protected proxy, one-group notes.

    Parameters
    ----------
    data
        The loaded institutions (``load_institutions`` or ``load_csv_institutions``).
    table1
        :func:`~fedlib.data.institutions.measure_table1` of ``data``.
    protected
        The user's protected-group expression (source ``csv``), or None.

    Returns
    -------
    dict
        Glue key → text: ``data_sentence``, ``proxy_text`` and ``one_group_note``.
    """
    real = table1[table1.kind == "real"]
    real_rate = float((real.rows * real.default_rate).sum() / real.rows.sum())
    source_name = {"lending_club": "LendingClub", "heloc": "HELOC"}.get(data.source,
                                                                         "your table's")
    sentence = (f"The real rows are not the paper's: the {source_name} silos have "
                f"{real_rate:.1%} defaults (the paper: 12.3 % and 8.5 %)")
    if data.income:
        sentence += (f" and a mean income near {real.income_mean.mean():,.0f} dollars (the "
                     "paper: 52k and 47k)")
    else:
        sentence += (f", and {source_name} has no income column, so Table 1's income is not "
                     "checkable")
    sentence += "."
    if data.source == "heloc":
        sentence += (" The paper's default rates cannot be HELOC as published either: "
                     f"{real_rate:.0%} of this file's rows are 'Bad'.")
    elif data.source == "csv":
        sentence += f" {data.note}" if data.note else ""
    else:
        sentence += (" Nor can they be the HELOC file as published: about half of HELOC's rows "
                     "are 'Bad' (90+ days past due), and HELOC has no income column.")
    proxy = {"lending_club": "employment shorter than three years",
             "heloc": "a credit file younger than ten years (MSinceOldestTradeOpen < 120)"}.get(
        data.source, f"your protected group ({protected})" if protected
        else "no protected group (none given: every fairness metric is undefined)")
    one_group = [i for i, r in table1.iterrows() if r.protected_share in (0.0, 1.0)]
    note = (" At " + ", ".join(one_group) + " only one group occurs in the data, so EOD, DIR "
            "and SPD are undefined there: they are reported as NaN with that reason and left "
            "out of every mean and claim.") if one_group else ""
    return {"data_sentence": sentence, "proxy_text": proxy, "one_group_note": note}


def describe_institutions(results, data, protected: str | None) -> pd.DataFrame:
    """The four institutions as the paper's Table 1 measures them, recorded and described.

    Records the dataset and its parties, and every Table 1 statistic per institution
    (experiment ``table1``), and glues the sentences of :func:`data_texts`.

    Parameters
    ----------
    results
        The chapter's :class:`~fedlib.book.results.ResultsWriter`.
    data
        The loaded institutions (``load_institutions`` or ``load_csv_institutions``).
    protected
        The user's protected-group expression (source ``csv``), or None.

    Returns
    -------
    pandas.DataFrame
        :func:`~fedlib.data.institutions.measure_table1` of ``data`` (paper 000 Table 1).
    """
    table1 = measure_table1(data)
    results.set_dataset(f"{data.source} + GMM synthetic", rows=int(table1.rows.sum()), parties=[
        {"name": i, "rows": int(r.rows), "positive_rate": float(r.default_rate)}
        for i, r in table1.iterrows()])
    results.add_metrics(table1.rename_axis("party").reset_index()
                        .melt(id_vars="party", var_name="metric", value_vars=[
                            "rows", "default_rate", "income_mean", "income_sd", "util_mean",
                            "util_sd", "protected_share"]).dropna(subset="value"),
                        experiment="table1", mode="data", setting=data.source, round=None)
    glue_values(**data_texts(data, table1, protected))
    return table1


def split_summary(parts: Sequence, P) -> pd.DataFrame:
    """Rows per institution after the split and the §5.1 preprocessing.

    Parameters
    ----------
    parts
        From :func:`~fedlib.data.institutions.prepare_institutions`.
    P
        The chapter's parameters (the shares and the IQR factor, glued for the prose).

    Returns
    -------
    pandas.DataFrame
        Train, validation and test rows, rows dropped by the IQR filter and the training
        default rate, per institution.
    """
    glue_values(iqr_k_used=P.iqr_k, test_pct=P.test_fraction, val_pct=P.val_fraction,
                n_features=parts[0].X_train.shape[1])
    return pd.DataFrame([{"institution": p.name, "train rows": p.n_train,
                          "validation rows": p.n_val, "test rows": len(p.y_test),
                          "rows dropped by IQR": p.rows_filtered,
                          "train default rate": p.y_train.mean()}
                         for p in parts]).set_index("institution")
