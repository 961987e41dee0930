"""Deal rows to parties: stratified non-IID, Dirichlet label skew, size imbalance.

Every partitioner returns a :class:`Partition`: one array of *positional* row indices per
party, disjoint and together covering every row exactly once. Each party then owns its rows;
nothing outside the party reads them.

- :func:`stratified_non_iid` is paper 001's scheme: cells of outcome × income band × asset band
  × property area, each party preferring a contiguous block of cells, so parties differ in
  label rate and income / asset profile.
- :func:`dirichlet_label_skew` is the usual label-skew benchmark (Hsu, Qi and Brown 2019;
  Li et al. 2022, "Federated learning on non-IID data silos"); used in chapter 1.
- :func:`size_imbalance` gives parties sizes in a geometric progression with largest/smallest
  equal to ``ratio`` (paper 000's "5× size imbalance").

References: paper 001, section "Dataset and experimental setup" (non-IID stratified sampling);
paper 000, section on heterogeneity. Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> f = pd.DataFrame({"y": rng.integers(0, 2, 600), "inc": rng.normal(50, 10, 600)})
>>> p = stratified_non_iid(f, n_parties=3, strata=["inc"], target="y", skew=0.8, seed=1)
>>> p.n_parties, sum(p.sizes) == len(f)
(3, True)
>>> list(p.report(f, "y").columns)
['party', 'rows', 'positive_rate', 'inc']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Partition",
    "PartitionError",
    "dirichlet_label_skew",
    "size_imbalance",
    "stratified_non_iid",
]


class PartitionError(ValueError):
    """The requested partition is impossible or would leave a party unusable."""


@dataclass(frozen=True)
class Partition:
    """Positional row indices per party (disjoint, none empty).

    Parameters
    ----------
    indices : list of numpy.ndarray
        ``indices[k]`` are the positions (``frame.iloc``) of party ``k``'s rows.
    strata : tuple of str
        Columns the partition was built on; :meth:`report` summarises them.
    """

    indices: list[np.ndarray]
    strata: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.indices) == 0:
            raise PartitionError("a partition needs at least one party, got none")
        idx = [np.asarray(i) for i in self.indices]
        for k, i in enumerate(idx):
            if i.ndim != 1 or (i.size and not np.issubdtype(i.dtype, np.integer)):
                raise PartitionError(f"party {k}: indices must be a 1-d integer array")
            if i.size == 0:
                raise PartitionError(f"party {k} is empty; every party needs at least one row")
        allidx = np.concatenate(idx)
        if np.unique(allidx).size != allidx.size:
            raise PartitionError("parties overlap: some row is assigned to two parties")
        object.__setattr__(self, "indices", [np.sort(i).astype(np.intp) for i in idx])

    @property
    def n_parties(self) -> int:
        """The number of parties."""
        return len(self.indices)

    @property
    def sizes(self) -> list[int]:
        """Each party's number of rows, in party order."""
        return [int(i.size) for i in self.indices]

    def covers(self, n_rows: int) -> bool:
        """True if the parties together hold rows ``0 .. n_rows-1`` exactly once."""
        allidx = np.concatenate(self.indices)
        return allidx.size == n_rows and np.array_equal(np.sort(allidx), np.arange(n_rows))

    def frames(self, frame: pd.DataFrame) -> list[pd.DataFrame]:
        """Each party's rows of ``frame``."""
        return [frame.iloc[i] for i in self.indices]

    def report(
        self, frame: pd.DataFrame, target: str, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """One row per party: rows, positive rate, mean of numeric strata, level shares of others.

        ``columns`` defaults to the partition's strata.
        """
        columns = list(self.strata if columns is None else columns)
        rows = []
        for k, part in enumerate(self.frames(frame)):
            row: dict = {"party": k, "rows": len(part), "positive_rate": part[target].mean()}
            for c in columns:
                if pd.api.types.is_numeric_dtype(frame[c]):
                    row[c] = part[c].mean()
                else:
                    for level in sorted(frame[c].dropna().unique()):
                        row[f"{c}={level}"] = (part[c] == level).mean()
            rows.append(row)
        return pd.DataFrame(rows)


def _check_parties(n_parties, n_rows: int, min_rows: int) -> None:
    if isinstance(n_parties, bool) or not isinstance(n_parties, int | np.integer):
        raise PartitionError(f"n_parties must be an integer, got {n_parties!r}")
    if n_parties < 1:
        raise PartitionError(f"n_parties must be >= 1, got {n_parties}")
    if min_rows < 1:
        raise PartitionError(f"min_rows must be >= 1, got {min_rows}")
    if n_rows < n_parties * min_rows:
        raise PartitionError(
            f"{n_rows} rows cannot give n_parties={n_parties} parties at least "
            f"min_rows={min_rows} rows each (need {n_parties * min_rows})"
        )


def _check_result(
    part: list[np.ndarray], y: np.ndarray | None, min_rows: int, allow_single_class: bool
) -> None:
    for k, i in enumerate(part):
        if i.size < min_rows:
            raise PartitionError(
                f"party {k} got {i.size} rows < min_rows={min_rows}; lower skew or n_parties"
            )
        if y is not None and not allow_single_class and np.unique(y[i]).size < 2:
            raise PartitionError(
                f"party {k} has only class {y[i][0]} ({i.size} rows); lower skew or n_parties, "
                "or pass allow_single_class=True"
            )


def _bands(col: pd.Series, n_bands: int) -> np.ndarray:
    # Ranks break ties so that heavily tied columns (e.g. 0/1) still give bands; NaN is a band.
    if pd.api.types.is_numeric_dtype(col) and col.nunique() > n_bands:
        ranks = col.rank(method="first")
        bands = np.ceil(ranks / ranks.max() * n_bands).fillna(-1).astype(int)
        return bands.to_numpy()
    return pd.factorize(col.astype("object").fillna("<missing>"), sort=True)[0]


def stratified_non_iid(
    frame: pd.DataFrame,
    *,
    n_parties: int,
    strata: list[str],
    target: str,
    skew: float,
    seed: int,
    n_bands: int = 3,
    min_rows: int = 10,
    allow_single_class: bool = False,
) -> Partition:
    """Paper 001's non-IID scheme: strata cells dealt to parties with a preference.

    Numeric strata are cut into ``n_bands`` quantile bands (terciles by default), categorical
    ones (property area) are used as they are, and the outcome leads the cell key. Rows are
    sorted by cell (outcome first, then ``strata`` in the order given; random order within a
    cell) and the sorted list is cut into ``n_parties`` equal blocks: block ``k`` is the
    preferred set of one party (the block-to-party map is random). Each row then goes to its
    preferred party with probability ``skew`` and to a uniformly chosen party otherwise, so
    ``skew=0`` is an IID split and ``skew=1`` gives each party its block only.

    Parameters
    ----------
    frame : pandas.DataFrame
    n_parties : int
    strata : list of str
        Columns to stratify on besides the target, most important first.
    target : str
    skew : float in [0, 1]
    seed : int
    n_bands : int
        Quantile bands per numeric stratum.
    min_rows : int
        Every party must get at least this many rows.
    allow_single_class : bool
        If False (default) every party must hold both outcomes.

    Raises
    ------
    PartitionError
        Bad ``n_parties``/``skew``, too few rows, or a party left too small or single-class.

    Notes
    -----
    The paper does not say how cells were dealt; this is the simplest scheme that produces the
    "distinct client populations" it describes, with one knob for how distinct.
    """
    _check_parties(n_parties, len(frame), min_rows)
    if not 0.0 <= skew <= 1.0:
        raise PartitionError(f"skew must be in [0, 1], got {skew}")
    if n_bands < 1:
        raise PartitionError(f"n_bands must be >= 1, got {n_bands}")
    missing = [c for c in [target, *strata] if c not in frame.columns]
    if missing:
        raise PartitionError(f"columns {missing} not in frame (has {list(frame.columns)})")
    rng = np.random.default_rng(seed)
    n = len(frame)
    keys = [_bands(frame[c], n_bands) for c in [target, *strata]]
    # lexsort sorts by the last key first; the random key last in the list breaks ties.
    order = np.lexsort([rng.permutation(n), *reversed(keys)])
    block_of = np.empty(n, dtype=np.intp)
    block_of[order] = np.arange(n) * n_parties // n
    preferred = rng.permutation(n_parties)[block_of]
    stay = rng.random(n) < skew
    owner = np.where(stay, preferred, rng.integers(0, n_parties, size=n))
    part = [np.flatnonzero(owner == k) for k in range(n_parties)]
    _check_result(part, frame[target].to_numpy(), min_rows, allow_single_class)
    return Partition(part, strata=tuple(strata))


def dirichlet_label_skew(
    y, *, n_parties: int, alpha: float, seed: int, min_size: int = 10, max_tries: int = 100
) -> Partition:
    """Label skew: each class is split across parties by proportions drawn from Dir(alpha).

    Small ``alpha`` concentrates each class on few parties; large ``alpha`` approaches IID.
    Draws are repeated until every party has ``min_size`` rows (the NIID-Bench rule, which also
    stops adding to parties already above n / n_parties to keep sizes in range).

    Written by hand because the partitioners in FL frameworks (Flower datasets, FedLab) work on
    their own dataset objects, not on a label array.

    References: Hsu, Qi and Brown (2019); Li, Diao, Chen and He (2022), ICDE, Sec. IV-A.

    Examples
    --------
    >>> y = [0] * 300 + [1] * 300
    >>> p = dirichlet_label_skew(y, n_parties=4, alpha=0.5, seed=0)
    >>> p.covers(600)
    True
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise PartitionError(f"y must be 1-d, got shape {y.shape}")
    _check_parties(n_parties, y.size, min_size)
    if not (np.isfinite(alpha) and alpha > 0):
        raise PartitionError(f"alpha must be a positive number, got {alpha}")
    rng = np.random.default_rng(seed)
    n = y.size
    classes = np.unique(y)
    for _ in range(max_tries):
        part: list[list[int]] = [[] for _ in range(n_parties)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            p = rng.dirichlet(np.full(n_parties, alpha))
            p = p * np.array([len(q) < n / n_parties for q in part])
            p = p / p.sum() if p.sum() > 0 else np.full(n_parties, 1 / n_parties)
            cuts = (np.cumsum(p) * idx.size).astype(int)[:-1]
            for q, chunk in zip(part, np.split(idx, cuts), strict=True):
                q.extend(chunk.tolist())
        if min(len(q) for q in part) >= min_size:
            return Partition([np.array(q, dtype=np.intp) for q in part])
    raise PartitionError(
        f"no Dirichlet(alpha={alpha}) draw gave every one of n_parties={n_parties} parties "
        f"min_size={min_size} rows in {max_tries} tries; raise alpha or lower n_parties"
    )


def size_imbalance(
    n_rows: int, *, n_parties: int, ratio: float, seed: int, min_rows: int = 10
) -> Partition:
    """Random rows, party sizes in geometric progression with largest / smallest = ``ratio``.

    Sizes are ``n_rows * r_k / sum(r)`` with ``r_k = ratio ** (k / (n_parties - 1))``, rounded
    so they sum to ``n_rows``; the size order is shuffled across parties.

    Examples
    --------
    >>> p = size_imbalance(1000, n_parties=4, ratio=5.0, seed=0)
    >>> round(max(p.sizes) / min(p.sizes), 1)
    5.0
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, int | np.integer) or n_rows < 1:
        raise PartitionError(f"n_rows must be a positive integer, got {n_rows!r}")
    _check_parties(n_parties, n_rows, min_rows)
    if not (np.isfinite(ratio) and ratio >= 1):
        raise PartitionError(f"ratio must be a finite number >= 1, got {ratio}")
    rng = np.random.default_rng(seed)
    r = ratio ** (np.arange(n_parties) / max(n_parties - 1, 1))
    raw = n_rows * r / r.sum()
    sizes = np.floor(raw).astype(int)
    # Largest-remainder rounding keeps the sum exact while moving each size by < 1 row.
    sizes[np.argsort(raw - sizes)[::-1][: n_rows - sizes.sum()]] += 1
    if sizes.min() < min_rows:
        raise PartitionError(
            f"ratio={ratio} with n_parties={n_parties} over {n_rows} rows leaves the smallest "
            f"party {sizes.min()} rows < min_rows={min_rows}"
        )
    sizes = rng.permutation(sizes)
    perm = rng.permutation(n_rows)
    return Partition(np.split(perm, np.cumsum(sizes)[:-1]))
