"""XMP feature selection, the credit metrics and the baseline models of chapter 4."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from fedlib.vertical.baselines import (
    LSSVMClassifier,
    WoEScorecard,
    credit_metrics,
    ks_statistic,
    points,
)
from fedlib.vertical.xmp import (
    grid_pca,
    mrmr_select,
    ranking_comparison,
    xgb_backward_elimination,
)


def _factor_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 2))
    X = np.column_stack([f[:, 0], f[:, 0] + 0.2 * rng.normal(size=n), f[:, 1],
                         f[:, 1] * 2 + 0.2 * rng.normal(size=n), rng.normal(size=n)])
    return X


def test_pca_eigenvalues_and_rule():
    X = _factor_data()
    r = grid_pca(X, list("abcde"), variance=0.9)
    assert r.table.eigenvalue.sum() == pytest.approx(5.0)         # trace of a correlation matrix
    cum = r.table.cumulative.to_numpy()
    k = r.n_components
    assert cum[k - 1] >= 0.9 and (k == 1 or cum[k - 2] < 0.9)     # smallest k reaching 90 %
    L = r.loadings.to_numpy()
    np.testing.assert_allclose(L.T @ L, np.eye(k), atol=1e-10)     # orthonormal loadings
    Z = (X - X.mean(0)) / X.std(0, ddof=1)
    ref = np.abs(PCA().fit(Z).transform(Z)[:, :k])
    np.testing.assert_allclose(np.abs(r.transform(X)), ref, atol=1e-8)
    with pytest.raises(ValueError, match="constant"):
        grid_pca(np.c_[X, np.ones(len(X))], list("abcdef"))


def test_mrmr_skips_redundant_copy():
    rng = np.random.default_rng(1)
    n = 500
    a, b, c = rng.normal(size=(3, n))
    y = (a + b + 0.5 * c > 0).astype(int)
    X = np.column_stack([a, a + 0.01 * rng.normal(size=n), b, c, rng.normal(size=n)])
    res = mrmr_select(X, y, ["a", "a_copy", "b", "c", "noise"], k=3)
    assert set(res.selected[:2]) in ({"a", "b"}, {"a_copy", "b"})
    assert not {"a", "a_copy"} <= set(res.selected[:3])
    assert mrmr_select(X, y, list("vwxyz"), k=5).table.shape[0] == 5


def test_mrmr_k_above_feature_count_is_an_error_naming_both():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(50, 4)), rng.integers(0, 2, 50)
    with pytest.raises(ValueError, match=r"k=30 is larger than the party's 4 features"):
        mrmr_select(X, y, list("abcd"), k=30)


def test_backward_elimination_path():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(240, 5))
    y = (X[:, 0] - X[:, 3] + 0.3 * rng.normal(size=240) > 0).astype(int)
    r = xgb_backward_elimination(X, y, list("abcde"), params=dict(n_estimators=15, max_depth=2),
                                 n_folds=3, seed=0)
    assert r.path.n_features.tolist() == [5, 4, 3, 2, 1]
    assert set(r.path.features.iloc[-2]) == {"a", "d"}            # noise dropped first
    assert r.best_n in r.path.n_features.tolist()
    assert r.path.cv_auc.max() > 0.85
    with pytest.raises(ValueError, match="criterion"):
        xgb_backward_elimination(X, y, list("abcde"), params={}, criterion="x", seed=0)


def test_ranking_comparison_rows():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] > 0).astype(int)
    t = ranking_comparison(X[:200], y[:200], X[200:], y[200:], list("abcd"), k=1,
                           xgb_params=dict(n_estimators=10, max_depth=2), seed=0)
    assert len(t) == 5 and set(t.ranking) == {"XGBoost (XMP)", "RF", "LR"}
    assert all(f == ["a"] for f in t.features)
    assert (t.auc > 0.9).all()


def test_credit_metrics_match_sklearn():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1)
    m = credit_metrics(y, p, threshold=0.5)
    yh = (p >= 0.5).astype(int)
    assert m["precision"] == pytest.approx(precision_score(y, yh))
    assert m["recall"] == pytest.approx(recall_score(y, yh))
    assert m["f1"] == pytest.approx(f1_score(y, yh))
    assert m["auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["error_rate"] == pytest.approx(1 - m["accuracy"])
    # KS by brute force over thresholds.
    ks = max(abs((p[y == 1] >= t).mean() - (p[y == 0] >= t).mean()) for t in np.unique(p))
    assert ks_statistic(y, p) == pytest.approx(ks)
    assert credit_metrics([0, 1], [0.5, 0.5])["auc"] == 0.5      # ties count one half (eq. 30)


def test_lssvm_solves_its_kkt_system():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    m = LSSVMClassifier(gamma_reg=2.0).fit(X, y)
    t = np.where(y == 1, 1.0, -1.0)
    K = m._kernel(X, X)
    assert m.alpha_.sum() == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(K @ m.alpha_ + m.alpha_ / 2.0 + m.b_, t, atol=1e-8)
    assert roc_auc_score(y, m.decision_function(X)) > 0.95


def test_scorecard_and_points():
    rng = np.random.default_rng(6)
    x = rng.normal(size=2000)
    y = (x + rng.normal(size=2000) > 1).astype(int)
    sc = WoEScorecard(n_bins=5).fit(x[:, None], y)
    assert np.all(np.diff(sc.woe_[0]) < 0)     # more x, more bads: WoE falls bin by bin
    assert roc_auc_score(y, sc.predict_proba(x[:, None])[:, 1]) > 0.7
    odds = np.array([50.0, 100.0])             # good:bad odds doubling adds pdo points
    s = points(1 / (1 + odds), pdo=20.0)
    assert s[1] - s[0] == pytest.approx(20.0)
