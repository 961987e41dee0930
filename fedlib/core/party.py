"""What one party of any chapter holds: a name, its rows, its features and (maybe) labels.

Every chapter keeps each party's rows in a container of its own shape — chapter 1's
:class:`~fedlib.data.institutions.PreparedInstitution` (train, validation and test arrays),
chapter 2's :class:`PartyRows` (a client's preprocessed training rows), chapter 3's
:class:`~fedlib.survival.data.ClientSurvival` (durations and events besides the features,
in-time and out-of-time splits) and chapter 4's :class:`~fedlib.vertical.data.VerticalParty`
(one side of a vertical split, with or without the label). :class:`PartyData` is the part they
share, so code that only needs "who holds how many rows of what" — a partition summary
(:func:`party_table`), a round loop building its clients, the Flower adapter naming its nodes —
takes any of them:

* ``name``: the party's name, as transcripts and tables show it;
* ``n_rows``: the rows it trains on;
* ``X``: those rows' features, ``(n_rows, n_features)``;
* ``y``: their labels, ``(n_rows,)``, or ``None`` for a party without labels (the passive
  party of a vertical split). A survival client's ``y`` is its event indicator (1 = default
  observed); its durations stay in its own fields.

The protocol is :func:`~typing.runtime_checkable`, so ``isinstance(p, PartyData)`` tells
whether an object has these four attributes (not their types: that is what the tests of each
container check).

References: ARCHITECTURE.md, "The data flow" (dataset → partitioner → parties, each owning its
rows); issue 10 item 3. Used by all four chapters.

Examples
--------
>>> import numpy as np
>>> bank = PartyRows("bank-1", np.zeros((3, 2)), np.array([0.0, 1.0, 1.0]))
>>> isinstance(bank, PartyData), bank.n_rows
(True, 3)
>>> party_table([bank]).to_dict("records")
[{'party': 'bank-1', 'rows': 3, 'features': 2, 'labelled': True, 'positive_rate': 0.6666666666666666}]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = ["PartyData", "PartyRows", "party_table"]


@runtime_checkable
class PartyData(Protocol):
    """One party's own rows, in any chapter (see the module docstring)."""

    @property
    def name(self) -> str:
        """The party's name, as transcripts and tables show it."""

    @property
    def n_rows(self) -> int:
        """The number of rows it trains on."""

    @property
    def X(self) -> np.ndarray:
        """Those rows' features, ``(n_rows, n_features)``."""

    @property
    def y(self) -> np.ndarray | None:
        """Their labels, ``(n_rows,)``; None for a party without labels."""


@dataclass(frozen=True)
class PartyRows:
    """The smallest :class:`PartyData`: a client's name and its preprocessed training rows.

    Chapter 2's clients (:func:`fedlib.fl.prepare.prepare_horizontal`) are these.
    """

    name: str
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.X) != len(self.y):
            raise ValueError(f"party {self.name!r}: X has {len(self.X)} rows, y {len(self.y)}")

    @property
    def n_rows(self) -> int:
        """The number of rows."""
        return len(self.y)


def party_table(parties: Iterable[PartyData]) -> pd.DataFrame:
    """One row per party: its name, rows, features, whether it holds labels, positive rate.

    The summary a partition or a federation is reported with, the same for every chapter.

    Parameters
    ----------
    parties
        Any :class:`PartyData` (institutions, clients, survival clients, vertical parties).

    Returns
    -------
    pandas.DataFrame
        Columns ``party``, ``rows``, ``features``, ``labelled``, ``positive_rate`` (NaN for
        a party without labels or rows).

    Raises
    ------
    TypeError
        An element lacks one of the protocol's attributes (named in the message).
    """
    rows = []
    for p in parties:
        if not isinstance(p, PartyData):
            lacking = [a for a in ("name", "n_rows", "X", "y") if not hasattr(p, a)]
            raise TypeError(f"{type(p).__name__} is not PartyData: it lacks {lacking}")
        X, y = np.asarray(p.X), p.y
        labelled = y is not None
        rate = float(np.mean(y)) if labelled and len(y) else float("nan")
        rows.append({"party": str(p.name), "rows": int(p.n_rows),
                     "features": int(X.shape[1]) if X.ndim == 2 else 0,
                     "labelled": labelled, "positive_rate": rate})
    return pd.DataFrame(rows, columns=["party", "rows", "features", "labelled",
                                       "positive_rate"])
