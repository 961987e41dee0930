"""XMP feature selection: grid-side PCA, bank-side mRMR, XGBoost average-gain elimination.

Paper 003's two-stage "XGBoost-based mRMR-PCA" (§3.2), with where each step runs:

1. :func:`grid_pca` — **at the grid, on its own rows, no labels**: z-score the 14 electricity
   indicators (eq. 2), eigen-decompose their correlation matrix (eq. 3), keep the smallest
   number of components whose cumulative contribution (eq. 4) reaches ``variance`` (paper:
   90 %). Reveals nothing to anyone; afterwards the grid's features *are* the component
   scores, so SecureBoost never touches a raw electricity indicator.
2. :func:`mrmr_select` — **at the bank, on its own labelled rows**: greedy max-relevance
   min-redundancy with mutual information (eqs. 5–7; Peng et al. 2005's incremental "MID"
   form ``I(x; c) − mean_{s∈S} I(x; s)``). Reveals nothing.
3. :func:`xgb_backward_elimination` — on the **joint** candidate set (bank mRMR features +
   grid components): train XGBoost, rank by average gain (eq. 8), record cross-validated loss
   and AUC, drop the lowest-gain feature, repeat to one feature; keep the size with the best
   AUC (Fig. 2). The joint step needs both parties' columns. We run it with ``xgboost`` on the
   pooled candidate columns as a *simulation*; in deployment each step is a SecureBoost run,
   whose split gains the bank computes anyway (it decrypts every histogram), so the bank can
   rank the grid's components without seeing them — and the grid learns which of its
   components survive.
4. :func:`ranking_comparison` — the paper's Table 3: the same top-``k`` selection made by RF
   impurity importance and by LR coefficients, each evaluated on a held-out split.

Mutual information is estimated on quantile-binned features with
:func:`sklearn.metrics.mutual_info_score` for relevance and redundancy alike, so both terms of
eq. 7 are on the same scale (``mutual_info_classif``'s k-NN estimator has no feature-feature
counterpart for mixed types), minus the Miller–Madow bias ``(B_x − 1)(B_y − 1) / 2n``: on the
paper's 170 rows the plug-in estimate of a 10 × 10-bin redundancy is inflated by about 0.3
nats, more than any relevance, which would make every mRMR score negative.

References: paper 003 (Xu et al.), §3.2 eqs. 2–8, Algorithms 1–2, §4.2 (Table 2, Fig. 2,
Table 3); Peng, Long & Ding 2005 (mRMR). Introduced in chapter 4
(``chapters/04_vertical_secureboost_xmp.py``).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 4)); X[:, 1] = X[:, 0] + 0.01 * rng.normal(size=300)
>>> y = (X[:, 0] + X[:, 2] > 0).astype(int)
>>> sorted(mrmr_select(X, y, ["a", "a_copy", "b", "noise"], k=2).selected)
['a', 'b']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, mutual_info_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from fedlib.vertical.baselines import choose_threshold, credit_metrics, predicted_classes

__all__ = [
    "EliminationResult",
    "MRMRResult",
    "PCAResult",
    "grid_pca",
    "mrmr_select",
    "ranking_comparison",
    "xgb_backward_elimination",
    "xgb_model",
]


@dataclass
class PCAResult:
    """Table 2 (eigenvalue, contribution, cumulative), the loadings, and the fitted transform."""

    table: pd.DataFrame
    loadings: pd.DataFrame
    n_components: int
    mean_: np.ndarray = field(repr=False)
    std_: np.ndarray = field(repr=False)
    pca: PCA = field(repr=False)

    @property
    def names(self) -> list[str]:
        """The components' names, ``F1`` to ``Fk``."""
        return [f"F{i + 1}" for i in range(self.n_components)]

    def transform(self, X) -> np.ndarray:
        """Scores of the kept components for rows of the grid's raw indicators."""
        Z = (np.asarray(X, dtype=float) - self.mean_) / self.std_
        return self.pca.transform(Z)[:, : self.n_components]


def grid_pca(X, feature_names: list[str], *, variance: float = 0.90) -> PCAResult:
    """PCA on the correlation matrix, keeping cumulative contribution ``>= variance``.

    Eigenvalues are those of the correlation matrix ``R`` (eq. 3): they sum to the number of
    indicators, and contribution ``C_j = λ_j / Σ λ`` (eq. 4). Constant columns are rejected.

    >>> rng = np.random.default_rng(1)
    >>> z = rng.normal(size=(200, 1)); X = np.hstack([z, z + 0.1 * rng.normal(size=(200, 1)),
    ...                                               rng.normal(size=(200, 1))])
    >>> r = grid_pca(X, ["a", "b", "c"], variance=0.9)
    >>> r.n_components, round(float(r.table.eigenvalue.sum()), 6)
    (2, 3.0)
    """
    if not 0 < variance <= 1:
        raise ValueError(f"variance={variance} must be in (0, 1]")
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != len(feature_names):
        raise ValueError(f"X has shape {X.shape} but {len(feature_names)} feature names")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values; the grid imputes them first")
    mean, std = X.mean(axis=0), X.std(axis=0, ddof=1)
    const = [f for f, s in zip(feature_names, std, strict=True) if s == 0]
    if const:
        raise ValueError(f"constant indicator(s) {const}: a correlation is undefined")
    pca = PCA(svd_solver="full").fit((X - mean) / std)
    eig = pca.explained_variance_        # ddof=1 on z-scores: eigenvalues of R
    contrib = eig / eig.sum()
    cum = np.cumsum(contrib)
    k = int(np.searchsorted(cum, variance - 1e-12) + 1)
    table = pd.DataFrame({"component": [f"F{i + 1}" for i in range(len(eig))],
                          "eigenvalue": eig, "contribution": contrib, "cumulative": cum})
    # Fix each component's sign so its largest loading is positive (PCA signs are arbitrary).
    comps = pca.components_.copy()
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    pca.components_ = comps * signs[:, None]
    loadings = pd.DataFrame(pca.components_[:k].T, index=feature_names,
                            columns=[f"F{i + 1}" for i in range(k)])
    return PCAResult(table, loadings, k, mean, std, pca)


def _discretize(x: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1]))
    return np.searchsorted(edges, x, side="left")


@dataclass
class MRMRResult:
    """Selected features in selection order, with relevance, redundancy and score at pick time."""

    table: pd.DataFrame

    @property
    def selected(self) -> list[str]:
        """The selected feature names, in selection order."""
        return self.table["feature"].tolist()


def mrmr_select(X, y, feature_names: list[str], *, k: int, n_bins: int = 10) -> MRMRResult:
    """Greedy mRMR: maximise ``I(x; c) − mean_{s∈S} I(x; s)`` (eqs. 5–7) one feature at a time.

    Parameters
    ----------
    X, y
        The bank's rows (imputed) and labels.
    feature_names
        Column names of ``X``.
    k
        Number of features to select; at most the number of columns (a larger ``k`` is an
        error naming both numbers: mRMR would keep every feature and select nothing).
    n_bins
        Quantile bins per feature for the mutual-information estimates.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).ravel()
    if X.ndim != 2 or X.shape[1] != len(feature_names) or len(X) != len(y):
        raise ValueError(f"X {X.shape}, y {y.shape} and {len(feature_names)} names disagree")
    if k < 1:
        raise ValueError(f"k={k} must be >= 1")
    if k > X.shape[1]:
        raise ValueError(f"mRMR k={k} is larger than the party's {X.shape[1]} features: it "
                         f"would keep all {X.shape[1]} and select nothing; choose k < "
                         f"{X.shape[1]}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values; impute them first")
    p = X.shape[1]
    B = np.column_stack([_discretize(X[:, j], n_bins) for j in range(p)])
    nb = B.max(axis=0) + 1
    ny = len(np.unique(y))
    n = len(y)

    def mi(a, b, ka, kb):
        return mutual_info_score(a, b) - (ka - 1) * (kb - 1) / (2 * n)

    rel = np.array([mi(y, B[:, j], ny, nb[j]) for j in range(p)])
    red_sum = np.zeros(p)
    chosen: list[int] = []
    rows = []
    for step in range(min(k, p)):
        red = red_sum / max(len(chosen), 1)
        score = rel - red
        score[chosen] = -np.inf
        j = int(np.argmax(score))
        rows.append({"rank": step + 1, "feature": feature_names[j], "relevance": rel[j],
                     "redundancy": red[j], "mrmr_score": score[j]})
        chosen.append(j)
        red_sum += np.array([mi(B[:, j], B[:, i], nb[j], nb[i]) for i in range(p)])
    return MRMRResult(pd.DataFrame(rows))


def xgb_model(params: dict, seed: int):
    """An ``xgboost.XGBClassifier`` with the book's fixed settings (hist, one thread)."""
    import xgboost as xgb

    return xgb.XGBClassifier(tree_method="hist", n_jobs=1, random_state=seed,
                             eval_metric="logloss", **params)


def _avg_gain(model, names: list[str]) -> pd.Series:
    # xgboost's "gain" importance is the mean gain over the splits that use the feature (eq. 8
    # averages per tree; unused features get 0 and are dropped first).
    raw = model.get_booster().get_score(importance_type="gain")
    return pd.Series({n: raw.get(f"f{i}", 0.0) for i, n in enumerate(names)})


@dataclass
class EliminationResult:
    """Fig. 2's path: one row per feature count, and the best size by the chosen criterion."""

    path: pd.DataFrame
    best_n: int
    best_features: list[str]
    initial_gain: pd.Series


def xgb_backward_elimination(X, y, feature_names: list[str], *, params: dict, n_folds: int = 5,
                             criterion: str = "auc", seed: int) -> EliminationResult:
    """Drop the lowest average-gain feature until one is left; keep the best size.

    At each size: fit on all rows to rank by average gain; ``n_folds``-fold stratified
    cross-validation gives the loss (log-loss) and AUC recorded for that size (Algorithm 2).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4)); y = (X[:, 0] - X[:, 1] > 0).astype(int)
    >>> r = xgb_backward_elimination(X, y, list("abcd"), params=dict(n_estimators=20,
    ...                              max_depth=2), n_folds=3, seed=0)
    >>> sorted(r.best_features[:2]) == ["a", "b"], len(r.path)
    (True, 4)
    """
    if criterion not in ("auc", "logloss"):
        raise ValueError(f"criterion={criterion!r} must be 'auc' or 'logloss'")
    if n_folds < 2:
        raise ValueError(f"n_folds={n_folds} must be >= 2")
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).astype(int).ravel()
    names = list(feature_names)
    cols = list(range(X.shape[1]))
    folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(X, y))
    rows, initial = [], None
    while cols:
        current = [names[c] for c in cols]
        gain = _avg_gain(xgb_model(params, seed).fit(X[:, cols], y), current)
        initial = gain.sort_values(ascending=False) if initial is None else initial
        p = np.empty(len(y))
        for tr, te in folds:
            p[te] = xgb_model(params, seed).fit(X[np.ix_(tr, cols)], y[tr]).predict_proba(
                X[np.ix_(te, cols)])[:, 1]
        worst = current[int(np.argmin(gain.to_numpy()))]
        rows.append({"n_features": len(cols), "cv_auc": roc_auc_score(y, p),
                     "cv_logloss": log_loss(y, p, labels=[0, 1]), "dropped_next": worst,
                     "features": current})
        cols = [c for c in cols if names[c] != worst]
    path = pd.DataFrame(rows)
    best = (path.cv_auc.idxmax() if criterion == "auc" else path.cv_logloss.idxmin())
    return EliminationResult(path, int(path.n_features[best]), list(path.features[best]),
                             initial)


def ranking_comparison(X_train, y_train, X_test, y_test, feature_names: list[str], *, k: int,
                       xgb_params: dict, seed: int, threshold: float | str = 0.5,
                       validation_size: float = 0.25, return_proba: bool = False):
    """Table 3: top-``k`` features by XGBoost gain, RF importance and LR coefficients.

    Each ranking's top ``k`` features are evaluated twice on the test split: with the
    ranking's own model (the paper's reading) and with the same XGBoost model (isolating the
    choice of features). LR coefficients are taken on standardised columns.

    ``threshold`` is the decision cut-off, or ``"validation"``: every model is then fitted on
    the training rows less a stratified ``validation_size`` share, and its cut-off is chosen on
    that share (:func:`fedlib.vertical.baselines.choose_threshold`), as the chapter does for
    an imbalanced label. The frame has a ``threshold`` and a ``predicted classes`` column
    (1 = the model predicts a single class on the test rows). With ``return_proba`` the
    test-row probabilities are returned too, keyed ``(ranking, evaluated with)``.
    """
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X_train, X_test = np.asarray(X_train, float), np.asarray(X_test, float)
    y_train = np.asarray(y_train).astype(int)
    names = list(feature_names)
    k = min(k, len(names))
    scaler = StandardScaler().fit(X_train)
    Zt, Zs = scaler.transform(X_train), scaler.transform(X_test)
    if threshold == "validation":
        fit, val = train_test_split(np.arange(len(y_train)), test_size=validation_size,
                                    stratify=y_train, random_state=seed)
    elif isinstance(threshold, str):
        raise ValueError(f"threshold must be a number or 'validation', got {threshold!r}")
    else:
        fit, val = np.arange(len(y_train)), None
    models = {
        "XGBoost (XMP)": lambda: xgb_model(xgb_params, seed),
        "RF": lambda: RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=1),
        "LR": lambda: LogisticRegression(max_iter=2000),
    }
    ranks = {
        "XGBoost (XMP)": _avg_gain(models["XGBoost (XMP)"]().fit(X_train, y_train), names),
        "RF": pd.Series(models["RF"]().fit(X_train, y_train).feature_importances_, index=names),
        "LR": pd.Series(np.abs(models["LR"]().fit(Zt, y_train).coef_[0]), index=names),
    }
    rows, probas = [], {}
    for method, score in ranks.items():
        top = score.sort_values(ascending=False).index[:k].tolist()
        idx = [names.index(f) for f in top]
        for evaluator in (method, "XGBoost (XMP)"):
            if (method, evaluator) in probas:
                continue
            lin = evaluator == "LR"
            Xa, Xb = (Zt, Zs) if lin else (X_train, X_test)
            m = models[evaluator]().fit(Xa[fit][:, idx], y_train[fit])
            p = m.predict_proba(Xb[:, idx])[:, 1]
            thr = (float(threshold) if val is None else
                   choose_threshold(y_train[val], m.predict_proba(Xa[val][:, idx])[:, 1]))
            probas[(method, evaluator)] = p
            rows.append({"ranking": method, "evaluated with": evaluator, "k": k,
                         **credit_metrics(y_test, p, threshold=thr), "threshold": thr,
                         "predicted classes": predicted_classes(p, thr), "features": top})
    out = pd.DataFrame(rows).reset_index(drop=True)
    return (out, probas) if return_proba else out
