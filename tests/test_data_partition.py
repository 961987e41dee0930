"""Global split and partitioners: exact coverage, real skew, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedlib.data import (
    Partition,
    PartitionError,
    dirichlet_label_skew,
    size_imbalance,
    stratified_non_iid,
    train_val_test_split,
)


def _frame(n: int, seed: int = 0, rate: float = 0.4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    inc = rng.lognormal(4, 0.5, n)
    return pd.DataFrame(
        {
            "y": (rng.random(n) < rate).astype(int),
            "inc": inc,
            "assets": inc * rng.lognormal(0, 1, n),
            "area": rng.choice(["urban", "semi", "rural"], n),
        }
    )


def test_split_fractions_and_stratification():
    f = _frame(1000)
    tr, va, te = train_val_test_split(f, stratify="y", seed=3)
    assert (len(tr), len(va), len(te)) == (700, 150, 150)
    idx = np.concatenate([tr.index, va.index, te.index])
    assert np.array_equal(np.sort(idx), f.index.to_numpy())
    for part in (tr, va, te):
        assert abs(part["y"].mean() - f["y"].mean()) < 0.01
    again = train_val_test_split(f, stratify="y", seed=3)
    assert all(a.index.equals(b.index) for a, b in zip((tr, va, te), again, strict=True))


@pytest.mark.parametrize("fr", [(0.7, 0.2, 0.2), (0.5, 0.5, 0.0), (-0.1, 0.6, 0.5)])
def test_split_bad_fractions(fr):
    with pytest.raises(ValueError, match="fractions"):
        train_val_test_split(_frame(100), fractions=fr, stratify="y", seed=0)


def test_split_bad_stratify_column():
    with pytest.raises(ValueError, match="'nope'"):
        train_val_test_split(_frame(100), stratify="nope", seed=0)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(60, 400),
    k=st.integers(1, 5),
    skew=st.floats(0, 1),
    seed=st.integers(0, 2**16),
)
def test_stratified_covers_exactly_once(n, k, skew, seed):
    f = _frame(n, seed)
    try:
        p = stratified_non_iid(
            f, n_parties=k, strata=["inc", "assets", "area"], target="y", skew=skew, seed=seed
        )
    except PartitionError as e:
        assert "party" in str(e) or "n_parties" in str(e)
        return
    assert p.n_parties == k and p.covers(n)
    assert min(p.sizes) >= 10
    assert all(set(f["y"].iloc[i]) == {0, 1} for i in p.indices)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(100, 600),
    k=st.integers(1, 6),
    alpha=st.floats(0.05, 100),
    seed=st.integers(0, 2**16),
)
def test_dirichlet_covers_exactly_once(n, k, alpha, seed):
    y = np.random.default_rng(seed).integers(0, 3, n)
    try:
        p = dirichlet_label_skew(y, n_parties=k, alpha=alpha, seed=seed, min_size=5)
    except PartitionError as e:
        assert "alpha" in str(e)
        return
    assert p.covers(n) and min(p.sizes) >= 5


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(50, 2000),
    k=st.integers(1, 8),
    ratio=st.floats(1, 10),
    seed=st.integers(0, 2**16),
)
def test_size_imbalance_covers_exactly_once(n, k, ratio, seed):
    try:
        p = size_imbalance(n, n_parties=k, ratio=ratio, seed=seed, min_rows=3)
    except PartitionError as e:
        assert "min_rows" in str(e)
        return
    assert p.covers(n)
    if k > 1:
        # Rounding moves each size by < 1 row.
        lo, hi = min(p.sizes), max(p.sizes)
        assert (hi - 1) / (lo + 1) <= ratio <= (hi + 1) / (lo - 1)


def test_size_ratio_achieved():
    p = size_imbalance(11_000, n_parties=4, ratio=5.0, seed=1)
    assert max(p.sizes) / min(p.sizes) == pytest.approx(5.0, rel=0.01)
    assert sum(p.sizes) == 11_000


def _label_spread(p: Partition, y: np.ndarray) -> float:
    rates = [y[i].mean() for i in p.indices]
    return float(np.std(rates))


def test_skew_makes_label_rates_and_income_differ():
    f = _frame(3000, 1)
    y = f["y"].to_numpy()
    kw = {"n_parties": 5, "strata": ["inc", "assets", "area"], "target": "y"}
    iid = stratified_non_iid(f, skew=0.0, seed=2, **kw)
    skewed = stratified_non_iid(f, skew=0.8, seed=2, **kw)
    assert _label_spread(skewed, y) > 0.1 > 3 * _label_spread(iid, y)
    rep = skewed.report(f, "y")
    assert list(rep["party"]) == list(range(5))
    assert rep["rows"].sum() == 3000
    assert rep["inc"].max() / rep["inc"].min() > 1.3
    assert {"area=urban", "area=rural", "area=semi"} <= set(rep.columns)


def test_dirichlet_small_alpha_more_skew():
    y = np.random.default_rng(0).integers(0, 2, 4000)
    spread = {
        a: np.mean(
            [_label_spread(dirichlet_label_skew(y, n_parties=5, alpha=a, seed=s), y)
             for s in range(5)]
        )
        for a in (0.1, 100.0)
    }  # fmt: skip
    assert spread[0.1] > 0.2 > 0.05 > spread[100.0]


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_n_parties(k):
    with pytest.raises(PartitionError, match="n_parties"):
        stratified_non_iid(_frame(100), n_parties=k, strata=["inc"], target="y", skew=0.5, seed=0)
    with pytest.raises(PartitionError, match="n_parties"):
        dirichlet_label_skew(np.zeros(100), n_parties=k, alpha=1.0, seed=0)
    with pytest.raises(PartitionError, match="n_parties"):
        size_imbalance(100, n_parties=k, ratio=2.0, seed=0)


def test_too_many_parties_for_rows():
    with pytest.raises(PartitionError, match=r"50 rows .* n_parties=6 .* min_rows=10"):
        stratified_non_iid(_frame(50), n_parties=6, strata=["inc"], target="y", skew=0, seed=0)


def test_single_class_party_rejected_unless_allowed():
    f = _frame(200, 0).assign(y=[0, 1] * 100)  # exactly half: blocks split at the class edge
    kw = {"n_parties": 2, "strata": [], "target": "y", "skew": 1.0, "seed": 0}
    with pytest.raises(PartitionError, match="only class"):
        stratified_non_iid(f, **kw)
    p = stratified_non_iid(f, allow_single_class=True, **kw)
    assert sorted(f["y"].iloc[i].nunique() for i in p.indices) == [1, 1]


def test_bad_skew_and_alpha_and_ratio():
    with pytest.raises(PartitionError, match="skew"):
        stratified_non_iid(_frame(100), n_parties=2, strata=[], target="y", skew=1.5, seed=0)
    with pytest.raises(PartitionError, match="alpha"):
        dirichlet_label_skew(np.zeros(100), n_parties=2, alpha=0.0, seed=0)
    with pytest.raises(PartitionError, match="ratio"):
        size_imbalance(100, n_parties=2, ratio=0.5, seed=0)
    with pytest.raises(PartitionError, match="smallest party"):
        size_imbalance(100, n_parties=5, ratio=10.0, seed=0)


def test_partition_rejects_empty_and_overlap():
    with pytest.raises(PartitionError, match="party 1 is empty"):
        Partition([np.array([0, 1]), np.array([], dtype=int)])
    with pytest.raises(PartitionError, match="overlap"):
        Partition([np.array([0, 1]), np.array([1, 2])])
    with pytest.raises(PartitionError, match="at least one party"):
        Partition([])
    assert not Partition([np.array([0, 2])]).covers(3)
