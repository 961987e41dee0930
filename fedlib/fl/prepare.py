"""From a named dataset to a horizontal federation's clients, as paper 001 prepares them.

Global 70/15/15 split (the validation part for tuning, the test part for evaluation only) → the training part is dealt
to the clients by the stratified non-IID partitioner (outcome × income band × asset band ×
property area) → each client fits its own imputation, one-hot encoding and scaling on its own
rows → the test rows are transformed with statistics pooled from the clients' aggregates.

A dataset with a ``"party"`` stratum (a user's CSV with a party column,
:func:`fedlib.data.generic.load_csv_dataset`) is not partitioned: each training row goes to
the client its party column names, and the clients are named after the party values.

With ``scaling="federated"`` every client trains on the pooled statistics instead of its own,
which removes one source of client drift (the features of different clients otherwise live on
different scales while they share one weight vector).

References: paper 001 §5 "Experimental setup" (split, stratification, local encoding and
scaling). Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> fed = prepare_horizontal("loanapp", n_parties=3, skew=0.5, scaling="local", seed=0)
>>> len(fed.parties), fed.n_features == fed.parties[0].X.shape[1]
(3, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from fedlib.core.party import PartyRows
from fedlib.data.dataset import Dataset
from fedlib.data.partition import Partition, PartitionError, stratified_non_iid
from fedlib.data.preprocess import PartyPreprocessor, pool_preprocessors
from fedlib.data.registry import load_dataset
from fedlib.data.split import train_val_test_split

__all__ = ["FederatedData", "prepare_horizontal"]


@dataclass
class FederatedData:
    """Clients' preprocessed rows, the held-out test set, and a per-client summary table."""

    dataset: Dataset
    parties: list[PartyRows]
    X_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    test_frame: pd.DataFrame = field(repr=False)
    client_table: pd.DataFrame
    feature_names: list[str]
    X_val: np.ndarray = field(default=None, repr=False)
    y_val: np.ndarray = field(default=None, repr=False)

    @property
    def n_features(self) -> int:
        """The number of features after preprocessing (:attr:`feature_names`)."""
        return len(self.feature_names)


def prepare_horizontal(name: str, *, n_parties: int, skew: float, seed: int,
                       scaling: Literal["local", "federated"] = "local",
                       path: str | Path | None = None,
                       fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                       data_options: Mapping | None = None,
                       ) -> FederatedData:
    """Load ``name``, split, partition and preprocess per client (see the module docstring).

    ``data_options`` are passed to the dataset's loader (the column options of ``"csv"``).
    """
    if scaling not in ("local", "federated"):
        raise ValueError(f"scaling must be 'local' or 'federated', got {scaling!r}")
    ds = load_dataset(name, kind="tabular", path=path, **dict(data_options or {}))
    train, val, test = train_val_test_split(ds.frame, fractions=fractions, stratify=ds.target,
                                             seed=seed)
    train = train.reset_index(drop=True)
    if "party" in ds.strata:
        partition, names = _by_party(train, ds.strata["party"], ds.target, n_parties)
    else:
        # The paper's strata first; a generic CSV's strata_columns ("stratum: <col>") after.
        strata = [ds.strata[k] for k in ("income", "assets", "area") if k in ds.strata]
        strata += [c for k, c in ds.strata.items() if k.startswith("stratum: ")]
        partition = stratified_non_iid(train, n_parties=n_parties, strata=strata,
                                       target=ds.target, skew=skew, seed=seed)
        names = [f"bank-{k + 1}" for k in range(n_parties)]
    frames = partition.frames(train)
    categorical = {c: ds.categories[c] for c in ds.categorical}
    preps = [PartyPreprocessor(ds.numeric, categorical).fit(f) for f in frames]
    pooled = pool_preprocessors(preps)
    parties = []
    for name_k, frame, prep in zip(names, frames, preps, strict=True):
        use = prep if scaling == "local" else pooled
        parties.append(PartyRows(name_k, use.transform(frame),
                                 frame[ds.target].to_numpy(dtype=np.float32)))
    table = partition.report(train, ds.target)
    table["party"] = names
    test = test.reset_index(drop=True)
    val = val.reset_index(drop=True)
    return FederatedData(
        dataset=ds, parties=parties, X_test=pooled.transform(test),
        y_test=test[ds.target].to_numpy(dtype=np.float64), test_frame=test,
        client_table=table, feature_names=pooled.feature_names,
        X_val=pooled.transform(val), y_val=val[ds.target].to_numpy(dtype=np.float64))


def _by_party(train: pd.DataFrame, column: str, target: str, n_parties: int
              ) -> tuple[Partition, list[str]]:
    """The partition a party column defines; its size must be the requested client count."""
    names = sorted(train[column].astype(str).unique())
    if len(names) != n_parties:
        raise PartitionError(
            f"party column {column!r} names {len(names)} parties {names[:8]} but "
            f"{n_parties} clients were asked for; set the number of clients to {len(names)}")
    y = train[target].to_numpy()
    indices = []
    for name in names:
        rows = np.flatnonzero((train[column].astype(str) == name).to_numpy())
        if np.unique(y[rows]).size < 2:
            raise PartitionError(
                f"party {name!r} keeps {rows.size} training rows after the global split, all "
                f"with label {y[rows][0]}; each party needs both outcomes (merge small parties)")
        indices.append(rows)
    return Partition(indices, strata=()), names
