"""Per-party preprocessing: locality, shared feature space, exact pooling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from fedlib.data import PartyPreprocessor, load_dataset, pool_preprocessors, stratified_non_iid

LEVELS = {"area": ["rural", "semi", "urban"]}


def _party(seed: int, n: int, shift: float, areas=("rural", "semi", "urban")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "inc": rng.normal(50 + shift, 10, n),
            "debt": rng.exponential(1 + abs(shift) / 10, n),
            "area": rng.choice(list(areas), n),
        }
    )
    f.loc[rng.random(n) < 0.1, "inc"] = np.nan
    f.loc[rng.random(n) < 0.1, "area"] = None
    return f


def test_fit_on_a_transform_b_uses_a_stats():
    a, b = _party(0, 200, 0.0), _party(1, 150, 40.0)
    pa = PartyPreprocessor(["inc", "debt"], LEVELS).fit(a)
    before = pa.stats.copy()
    xb = pa.transform(b)
    pd.testing.assert_frame_equal(pa.stats, before)  # transforming B does not refit
    a_inc = a["inc"].dropna()
    expect = (b["inc"].fillna(a_inc.median()) - a_inc.mean()) / a_inc.std(ddof=0)
    assert np.allclose(xb[:, 0], expect, atol=1e-5)
    # B's rows are far from A's centre, so B is visibly not standardised by its own stats.
    assert xb[:, 0].mean() > 3
    # A's own rows are standardised exactly (sklearn agrees on the observed values).
    xa = pa.transform(a)
    ref = StandardScaler().fit(a[["inc", "debt"]]).transform(a[["inc", "debt"]])
    obs = a["inc"].notna().to_numpy()
    assert np.allclose(xa[obs, 0], ref[obs, 0], atol=1e-5)
    assert np.allclose(xa[:, 1], ref[:, 1], atol=1e-5)


def test_fit_ignores_other_rows_entirely():
    a, b = _party(0, 200, 0.0), _party(1, 150, 40.0)
    pa1 = PartyPreprocessor(["inc", "debt"], LEVELS).fit(a)
    pa2 = PartyPreprocessor(["inc", "debt"], LEVELS).fit(a)
    pa2.transform(pd.concat([a, b]))
    pd.testing.assert_frame_equal(pa1.stats, pa2.stats)


def test_same_columns_when_party_lacks_a_level():
    a = _party(0, 100, 0, areas=("rural",))
    b = _party(1, 100, 0, areas=("semi", "urban"))
    pa = PartyPreprocessor(["inc", "debt"], LEVELS).fit(a)
    pb = PartyPreprocessor(["inc", "debt"], LEVELS).fit(b)
    assert pa.feature_names == pb.feature_names == [
        "inc", "debt", "area=rural", "area=semi", "area=urban",
    ]  # fmt: skip
    xa, xb = pa.transform(a), pb.transform(b)
    assert xa.shape[1] == xb.shape[1] == 5 and xa.dtype == np.float32
    assert np.all(xa[:, 3:] == 0) and np.all(xa[:, 2] == 1)  # missing area imputed by mode
    assert np.all(xb[:, 2] == 0) and np.allclose(xb[:, 2:].sum(axis=1), 1)
    assert not np.isnan(xa).any() and not np.isnan(xb).any()


def test_minmax_scaling_matches_sklearn():
    a = _party(2, 120, 5.0).dropna()
    p = PartyPreprocessor(["inc", "debt"], LEVELS, scaling="minmax").fit(a)
    ref = MinMaxScaler().fit_transform(a[["inc", "debt"]])
    assert np.allclose(p.transform(a)[:, :2], ref, atol=1e-6)


def test_pooled_stats_equal_stats_of_pooled_rows():
    parties = [_party(s, n, sh) for s, n, sh in [(0, 200, 0), (1, 37, 30), (2, 410, -12)]]
    preps = [PartyPreprocessor(["inc", "debt"], LEVELS).fit(p) for p in parties]
    pooled = pool_preprocessors(preps)
    rows = pd.concat(parties, ignore_index=True)
    x = rows[["inc", "debt"]]
    assert np.array_equal(pooled.stats["n"], x.count())
    assert np.allclose(pooled.stats["mean"], x.mean(), rtol=1e-12)
    assert np.allclose(pooled.stats["var"], x.var(ddof=0), rtol=1e-10)
    assert np.array_equal(pooled.stats["min"], x.min())
    assert np.array_equal(pooled.stats["max"], x.max())
    direct = PartyPreprocessor(["inc", "debt"], LEVELS).fit(rows)
    assert pooled.counts["area"].equals(direct.counts["area"])
    # Transform with pooled stats = transform with stats of the pooled rows, except where a
    # missing value is imputed (median is approximated by the n-weighted mean of medians).
    obs = rows["inc"].notna().to_numpy()
    assert np.allclose(pooled.transform(rows)[obs], direct.transform(rows)[obs], atol=1e-5)
    assert pooled.n == len(rows)


def test_pool_rejects_mismatched_schema_and_unfitted():
    a = _party(0, 50, 0)
    with pytest.raises(ValueError, match="not fitted"):
        pool_preprocessors([PartyPreprocessor(["inc"], LEVELS)])
    with pytest.raises(ValueError, match="different schema"):
        pool_preprocessors(
            [
                PartyPreprocessor(["inc"], LEVELS).fit(a),
                PartyPreprocessor(["inc"], LEVELS, scaling="minmax").fit(a),
            ]
        )
    with pytest.raises(ValueError, match="at least one"):
        pool_preprocessors([])


def test_iqr_filter_fitted_on_party():
    a = pd.DataFrame({"inc": [*range(1, 21), 1000.0], "area": ["rural"] * 21})
    p = PartyPreprocessor(["inc"], LEVELS, iqr_filter=1.5).fit(a)
    kept = p.filter_outliers(a)
    assert len(kept) == 20 and kept["inc"].max() == 20
    assert p.n == 20 and p.stats.loc["inc", "max"] == 20  # stats after the filter
    other = pd.DataFrame({"inc": [30.0, 45.0], "area": ["urban", "urban"]})
    assert list(p.filter_outliers(other)["inc"]) == [30.0]  # A's fences, not B's


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="scaling"):
        PartyPreprocessor(["inc"], LEVELS, scaling="robust")
    p = PartyPreprocessor(["inc"], LEVELS).fit(_party(0, 30, 0))
    with pytest.raises(ValueError, match=r"'area' has levels \['moon'\]"):
        p.transform(pd.DataFrame({"inc": [1.0], "area": ["moon"]}))
    with pytest.raises(ValueError, match=r"lacks columns \['inc'\]"):
        p.transform(pd.DataFrame({"area": ["rural"]}))
    with pytest.raises(RuntimeError, match="not fitted"):
        PartyPreprocessor(["inc"], LEVELS).transform(_party(0, 5, 0))
    q = PartyPreprocessor(["inc"], LEVELS, impute=False).fit(_party(0, 30, 0))
    with pytest.raises(ValueError, match="impute=False"):
        q.transform(pd.DataFrame({"inc": [np.nan], "area": ["rural"]}))


def test_loanapp_end_to_end_shapes():
    ds = load_dataset("loanapp")
    f = ds.frame
    p = stratified_non_iid(
        f, n_parties=5, strata=list(ds.strata.values()), target=ds.target, skew=0.7, seed=0
    )
    cats = {c: ds.categories[c] for c in ds.categorical}
    preps = [PartyPreprocessor(ds.numeric, cats).fit(part) for part in p.frames(f)]
    xs = [pp.transform(part) for pp, part in zip(preps, p.frames(f), strict=True)]
    assert {x.shape[1] for x in xs} == {13}  # 11 numeric + 2 area levels
    assert all(np.isfinite(x).all() for x in xs)
    pooled = pool_preprocessors(preps)
    assert np.allclose(pooled.stats["mean"], f[ds.numeric].mean(), rtol=1e-9)
