"""Chapter 4's parties and their alignment: load both tables, run the PSI report, split the rows.

Serves the chapter's sections "The parties and their data" (paper 003 §4.1: ``credit_data``
split by columns, data shaped like the paper's, or the reader's two files) and "Step 1 —
encrypted entity alignment" (§3.1: the PSI's messages and what each receiver learns, then the
common rows split into training and test, each party imputing on its own rows, and the
decision-threshold policy every model follows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from fedlib.book.glue import glue
from fedlib.vertical.baselines import is_imbalanced
from fedlib.vertical.data import (
    VerticalData,
    load_vertical_csvs,
    make_msme_data,
    vertical_credit_data,
)

__all__ = ["Aligned", "impute", "load_parties", "PSI_LEARNS", "record_parties", "report_psi",
           "split_common", "threshold_policy"]


def load_parties(P) -> VerticalData:
    """The two parties' tables as the parameters name them (``dataset``, §4.1).

    ``credit_data``: the real table split by columns (``overlap``, ``max_rows``);
    ``synthetic``: data shaped like the paper's; ``csv``: the reader's two files, the
    unlabelled party named after its file. ``external_name`` renames the unlabelled party.

    Returns
    -------
    VerticalData
    """
    if P.dataset == "credit_data":
        vd = vertical_credit_data(overlap=P.overlap, max_rows=P.max_rows, seed=P.seed)
    elif P.dataset == "synthetic":
        vd = make_msme_data(n_enterprises=P.n_enterprises, n_bank_features=P.n_bank_features,
                            seed=P.seed)
    else:
        vd = load_vertical_csvs(P.bank_csv, P.external_csv, id_column=P.id_column,
                                target=P.target)
        # The unlabelled party is named after its file ("registry.csv" -> "registry").
        vd = replace(vd, external_name=Path(P.external_csv).stem)
    if P.external_name:
        vd = replace(vd, external_name=P.external_name)
    return vd


def record_parties(results, vd: VerticalData, P) -> pd.DataFrame:
    """Record the dataset and both parties in ``results``; glue their names.

    Glues ``bank_name`` and ``ext_name``.

    Returns
    -------
    pandas.DataFrame
        One row per party: rows, features, whether it holds labels, default rate.
    """
    B, E = vd.bank_name, vd.external_name
    rate = vd.bank[vd.target].mean()
    results.set_dataset(P.dataset, rows=vd.n_common, parties=[
        {"name": B, "rows": len(vd.bank), "positive_rate": float(rate)},
        {"name": E, "rows": len(vd.external), "positive_rate": None}])
    glue("bank_name", B, display=False)
    glue("ext_name", E, display=False)
    return pd.DataFrame([
        {"party": B, "rows": len(vd.bank), "features": len(vd.bank_features), "labels": "yes",
         "default rate": rate},
        {"party": E, "rows": len(vd.external), "features": len(vd.external_features),
         "labels": "no", "default rate": np.nan}])


#: What the receiver of each PSI message learns (§3.1), by the message's transcript label.
PSI_LEARNS = {
    "rsa_public_key": "the public key (n, e)",
    "blinded_hashes": "uniformly random values mod n: nothing about the IDs",
    "blind_signatures": "H(y)^d for its own IDs only",
    "key_holder_tags": "how many IDs the bank holds; tags it can match only against its own",
    "intersection_positions": "which of its IDs are common (the intersection)"}


def report_psi(results, psi, transcript, P, *, n_common: int, seconds: float) -> pd.DataFrame:
    """The alignment's messages (§3.1) and what each receiver learns; time and bytes recorded.

    Glues ``psi_common``, ``psi_seconds``, ``psi_kb`` and ``psi_bits``.

    Parameters
    ----------
    results
        The chapter's results writer.
    psi
        :func:`~fedlib.crypto.psi.rsa_blind_psi`'s result.
    transcript
        The transcript it logged to.
    P
        The chapter's parameters (``psi_key_bits``).
    n_common
        The size of the intersection.
    seconds
        How long the alignment took.

    Returns
    -------
    pandas.DataFrame
        One row per message.
    """
    table = transcript.to_frame()[["sender", "receiver", "kind", "label", "nbytes"]]
    table["what the receiver learns"] = table.label.map(PSI_LEARNS)
    glue("psi_common", n_common, display=False)
    glue("psi_seconds", seconds, display=False)
    glue("psi_kb", psi.sizes["total"] / 1e3, display=False)
    glue("psi_bits", P.psi_key_bits, display=False)
    for metric, value in (("seconds", seconds), ("bytes", psi.sizes["total"])):
        results.add_metric(experiment="psi", mode="rsa_blind", setting=f"{P.psi_key_bits} bits",
                           party="all", round=None, metric=metric, value=value)
    return table


def impute(frame: pd.DataFrame, fit_rows) -> pd.DataFrame:
    """Fill missing values with the medians of ``fit_rows`` (then 0 where a column is empty)."""
    med = frame.loc[fit_rows].median()
    return frame.fillna(med).fillna(0.0)


def threshold_policy(P, y_tr, choose_thr: bool, fixed_thr: float) -> str:
    """The sentence that says how every model's decision threshold is set."""
    if choose_thr:
        return (f"each model's own cut-off, chosen on {100 * P.validation_size:.0f} % of the "
                f"training rows held out for it (maximum TPR − FPR), because the training "
                f"default rate {y_tr.mean():.1%} is outside [{P.imbalance_rate:.0%}, "
                f"{1 - P.imbalance_rate:.0%}] (`decision_threshold: auto`)")
    return (f"the fixed cut-off p ≥ {fixed_thr:g}"
            + (f" (`decision_threshold: auto` with a training default rate of "
               f"{y_tr.mean():.1%}, inside [{P.imbalance_rate:.0%}, "
               f"{1 - P.imbalance_rate:.0%}])" if P.decision_threshold == "auto" else ""))


@dataclass
class Aligned:
    """The common enterprises split into training and test rows, each party's columns imputed.

    Attributes
    ----------
    common
        The common IDs (the intersection), in the bank's order.
    tr_ids, te_ids
        Training and test IDs.
    y_tr, y_te
        Their labels.
    bank_X
        The bank's features of the common rows, imputed with its training medians.
    ext_all
        The external party's features of *all* its rows, imputed with the medians of its rows
        outside the test set.
    ext_fit_rows
        The external rows its unsupervised PCA may use (all but the test enterprises).
    choose_thr, fixed_thr
        Whether thresholds are chosen on validation rows, and the fixed one otherwise.
    """

    common: list
    tr_ids: np.ndarray
    te_ids: np.ndarray
    y_tr: np.ndarray
    y_te: np.ndarray
    bank_X: pd.DataFrame
    ext_all: pd.DataFrame
    ext_fit_rows: pd.Index
    choose_thr: bool
    fixed_thr: float


def split_common(vd: VerticalData, common: Sequence, P) -> Aligned:
    """Split the aligned rows (stratified on the bank's label), impute each party on its own.

    The bank holds out ``P.test_size`` of the common IDs and tells the other party which IDs
    are which (a public message); each party imputes medians of its own fitting rows. The
    decision threshold: 0.5 on a balanced enough label; with ``decision_threshold: auto`` on
    an imbalanced one (default rate outside ``[imbalance_rate, 1 − imbalance_rate]``) every
    model's cut-off is chosen on validation rows. Glues ``thr_policy``, ``test_pct``,
    ``n_train``, ``n_test`` and ``n_test_bad``.

    Returns
    -------
    Aligned
    """
    bank = vd.bank.set_index(vd.id_column).loc[common]
    y_all = bank[vd.target].to_numpy().astype(int)
    tr_ids, te_ids = train_test_split(np.array(common), test_size=P.test_size, stratify=y_all,
                                      random_state=P.seed)
    y_tr = bank.loc[tr_ids, vd.target].to_numpy().astype(int)
    y_te = bank.loc[te_ids, vd.target].to_numpy().astype(int)
    bank_X = impute(bank[vd.bank_features], tr_ids)
    ext_all = vd.external.set_index(vd.id_column)[vd.external_features]
    ext_fit_rows = ext_all.index.difference(pd.Index(te_ids))
    ext_all = impute(ext_all, ext_fit_rows)
    choose_thr = P.decision_threshold == "auto" and is_imbalanced(y_tr, min_rate=P.imbalance_rate)
    fixed_thr = 0.5 if P.decision_threshold == "auto" else float(P.decision_threshold)
    glue("thr_policy", threshold_policy(P, y_tr, choose_thr, fixed_thr), display=False)
    glue("test_pct", 100 * P.test_size, display=False)
    glue("n_train", len(tr_ids), display=False)
    glue("n_test", len(te_ids), display=False)
    glue("n_test_bad", int(y_te.sum()), display=False)
    return Aligned(list(common), tr_ids, te_ids, y_tr, y_te, bank_X, ext_all, ext_fit_rows,
                   choose_thr, fixed_thr)
