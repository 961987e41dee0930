"""Paper 003's evaluation metrics and the credit models it compares against.

* :func:`credit_metrics` — error rate, accuracy, precision, recall, F1, KS and AUC
  (eqs. 25–30). KS is ``max_t |TPR(t) − FPR(t)|`` over all thresholds (eq. 28 at the best
  cut-off, the usual credit-scoring definition); AUC counts ties as ½ (eq. 30), which is what
  :func:`sklearn.metrics.roc_auc_score` does.
* :class:`LSSVMClassifier` — least-squares SVM (Suykens & Vandewalle 1999), the paper's
  "LS-SVM" baseline [35]. scikit-learn has no LS-SVM; it differs from :class:`sklearn.svm.SVC`
  (squared loss with equality constraints → one linear system, every point a support vector)
  and from kernel ridge (the bias term is unregularised and fitted jointly), so it is written
  here: solve ``[[0, 1ᵀ], [1, K + I/γ]] [b; α] = [0; y]`` with labels ±1 and an RBF kernel
  (by one Cholesky factor of ``K + I/γ``, see :meth:`LSSVMClassifier.fit`).
* :class:`WoEScorecard` — the bank's "traditional" model: quantile bins per feature, weight
  of evidence per bin, logistic regression on the WoE values, and points on the usual
  scale (``base_points`` at ``base_odds`` good:bad, ``pdo`` points to double the odds).

References: paper 003 (Xu et al.), §4.1 eqs. 25–30, §4.3 (Fig. 3, Table 4); Suykens &
Vandewalle 1999 (LS-SVM); Siddiqi 2006, *Credit Risk Scorecards* (WoE scorecards).
Introduced in chapter 4 (``chapters/04_vertical_secureboost_xmp.py``).

Examples
--------
>>> m = credit_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
>>> m["auc"], m["ks"], m["error_rate"]
(0.75, 0.5, 0.5)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = ["LSSVMClassifier", "WoEScorecard", "choose_threshold", "credit_metrics",
           "is_imbalanced", "ks_statistic", "points", "predicted_classes"]


def ks_statistic(y_true, y_score) -> float:
    """Kolmogorov–Smirnov separation ``max |TPR − FPR|`` (eq. 28 at the best threshold).

    >>> ks_statistic([0, 1], [0.2, 0.8])
    1.0
    """
    fpr, tpr, _ = roc_curve(np.asarray(y_true).astype(int), np.asarray(y_score, float))
    return float(np.max(np.abs(tpr - fpr)))


def is_imbalanced(y, *, min_rate: float) -> bool:
    """True when the positive rate of ``y`` lies outside ``[min_rate, 1 - min_rate]``.

    >>> is_imbalanced([0] * 97 + [1] * 3, min_rate=0.15), is_imbalanced([0, 1], min_rate=0.15)
    (True, False)
    """
    rate = float(np.mean(np.asarray(y, float)))
    return not (min_rate <= rate <= 1 - min_rate)


def choose_threshold(y_val, p_val) -> float:
    """The cut-off that maximises Youden's J = TPR − FPR on validation rows.

    Maximising J is maximising balanced accuracy, which, unlike accuracy, does not reward
    predicting the majority class on an imbalanced label. Predicted default is
    ``p >= threshold`` (as in :func:`credit_metrics`). Returns 0.5 if the validation rows
    hold one class only.

    >>> choose_threshold([0, 0, 0, 1, 1], [0.01, 0.02, 0.05, 0.04, 0.2])
    0.04
    """
    y = np.asarray(y_val).astype(int).ravel()
    p = np.asarray(p_val, float).ravel()
    if len(y) != len(p) or not 0 < y.sum() < len(y):
        return 0.5
    fpr, tpr, thr = roc_curve(y, p)
    ok = np.isfinite(thr) & (thr <= 1.0)
    j = np.where(ok, tpr - fpr, -np.inf)
    return float(thr[int(np.argmax(j))])


def predicted_classes(y_prob, threshold: float) -> int:
    """How many classes a model predicts on these rows at ``threshold`` (1 = degenerate).

    >>> predicted_classes([0.1, 0.2, 0.3], 0.5)
    1
    """
    return len(np.unique(np.asarray(y_prob, float) >= threshold))


def credit_metrics(y_true, y_prob, *, threshold: float = 0.5) -> dict[str, float]:
    """Eqs. 25–30 with the positive class = default, predicted default when ``p >= threshold``."""
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(y_prob, dtype=float).ravel()
    if len(y) != len(p) or len(y) == 0:
        raise ValueError(f"y_true ({len(y)}) and y_prob ({len(p)}) must be non-empty and equal")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("y_true must hold 0/1 labels")
    yhat = (p >= threshold).astype(int)
    tp = int(((yhat == 1) & (y == 1)).sum())
    fp = int(((yhat == 1) & (y == 0)).sum())
    fn = int(((yhat == 0) & (y == 1)).sum())
    both = 0 < y.sum() < len(y)
    return {
        "error_rate": float((yhat != y).mean()),
        "accuracy": float((yhat == y).mean()),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "ks": ks_statistic(y, p) if both else float("nan"),
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
    }


class LSSVMClassifier:
    """Least-squares SVM with an RBF kernel (see the module docstring for why hand-written).

    Parameters
    ----------
    gamma_reg
        Regularisation ``γ`` (larger fits the training data more closely).
    kernel_width
        RBF ``σ²`` in ``exp(−‖x − z‖² / σ²)``; ``None`` uses the number of features (inputs
        are assumed standardised).

    ``predict_proba`` maps the decision value through a logistic function fitted on the
    training decisions (Platt scaling), so thresholds and scores are comparable with the
    other models; ranking metrics (AUC, KS) do not depend on it.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2)); y = (X[:, 0] > 0).astype(int)
    >>> float(((LSSVMClassifier().fit(X, y).predict_proba(X)[:, 1] > 0.5) == y).mean()) > 0.9
    True
    """

    def __init__(self, *, gamma_reg: float = 1.0, kernel_width: float | None = None):
        if gamma_reg <= 0:
            raise ValueError(f"gamma_reg={gamma_reg} must be > 0")
        if kernel_width is not None and kernel_width <= 0:
            raise ValueError(f"kernel_width={kernel_width} must be > 0")
        self.gamma_reg, self.kernel_width = gamma_reg, kernel_width

    def _kernel(self, A, B) -> np.ndarray:
        d2 = (A**2).sum(1)[:, None] + (B**2).sum(1)[None, :] - 2 * A @ B.T
        return np.exp(-np.maximum(d2, 0) / self.sigma2_)

    def fit(self, X, y) -> LSSVMClassifier:
        """Solve ``[[0, 1ᵀ], [1, H]] [b; α] = [0; t]`` with ``H = K + I/γ``.

        The bordered system is indefinite, but ``H`` is symmetric positive definite (an RBF
        kernel matrix plus ``I/γ``), so eliminating ``b`` leaves two solves with one
        Cholesky factor: ``H η = 1``, ``H ν = t``,
        ``b = 1ᵀν / 1ᵀη``, ``α = ν − b η``. Same solution as the bordered solve, several
        times faster (Cholesky instead of a symmetric-indefinite factorisation).
        """
        X = np.asarray(X, float)
        t = np.where(np.asarray(y).astype(int) == 1, 1.0, -1.0)
        n = len(X)
        self.sigma2_ = float(self.kernel_width or X.shape[1])
        K = self._kernel(X, X)
        factor = cho_factor(K + np.eye(n) / self.gamma_reg, lower=True)
        eta, nu = cho_solve(factor, np.column_stack([np.ones(n), t])).T
        self.b_ = float(nu.sum() / eta.sum())
        self.alpha_, self.X_ = nu - self.b_ * eta, X
        # The training decisions from K already computed (decision_function would redo it).
        self._platt = LogisticRegression().fit((K @ self.alpha_ + self.b_)[:, None], t > 0)
        return self

    def decision_function(self, X) -> np.ndarray:
        """The LS-SVM decision value ``Σ α_i K(x_i, x) + b`` for each row of ``X``."""
        return self._kernel(np.asarray(X, float), self.X_) @ self.alpha_ + self.b_

    def predict_proba(self, X) -> np.ndarray:
        """Two columns like scikit-learn: P(good), P(default)."""
        return self._platt.predict_proba(self.decision_function(X)[:, None])


def points(p_default, *, base_points: float = 600.0, base_odds: float = 50.0,
           pdo: float = 20.0) -> np.ndarray:
    """Credit score: ``base_points`` at good:bad odds ``base_odds``, +``pdo`` per doubling.

    >>> points([1 / 51]).round(6).tolist()
    [600.0]
    """
    p = np.clip(np.asarray(p_default, float), 1e-9, 1 - 1e-9)
    factor = pdo / np.log(2)
    return base_points + factor * (np.log((1 - p) / p) - np.log(base_odds))


class WoEScorecard:
    """Traditional logistic scorecard: quantile bins → weight of evidence → logistic regression.

    ``WoE = ln(share of goods in bin / share of bads in bin)`` with ``smoothing`` added to
    each count so an empty class does not give an infinite value. ``iv_`` holds each
    feature's information value.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2)); y = (X[:, 0] + 0.5 * rng.normal(size=400) > 0.5).astype(int)
    >>> sc = WoEScorecard(n_bins=5).fit(X, y)
    >>> bool(sc.iv_.iloc[0] > sc.iv_.iloc[1])
    True
    """

    def __init__(self, *, n_bins: int = 5, smoothing: float = 0.5, C: float = 1.0):
        if n_bins < 2:
            raise ValueError(f"n_bins={n_bins} must be >= 2")
        self.n_bins, self.smoothing, self.C = n_bins, smoothing, C

    def _bin(self, X) -> np.ndarray:
        return np.column_stack([np.searchsorted(e, X[:, j], side="left")
                                for j, e in enumerate(self.edges_)])

    def fit(self, X, y, feature_names: list[str] | None = None) -> WoEScorecard:
        """Quantile-bin each feature, compute each bin's WoE and the IVs, regress on the WoE."""
        X = np.asarray(X, float)
        y = np.asarray(y).astype(int)
        names = feature_names or [f"x{j}" for j in range(X.shape[1])]
        qs = np.linspace(0, 1, self.n_bins + 1)[1:-1]
        self.edges_ = [np.unique(np.quantile(X[:, j], qs)) for j in range(X.shape[1])]
        B = self._bin(X)
        good, bad = (y == 0).sum(), (y == 1).sum()
        self.woe_, iv = [], []
        for j, e in enumerate(self.edges_):
            nb = len(e) + 1
            g = np.bincount(B[:, j], weights=(y == 0), minlength=nb) + self.smoothing
            b = np.bincount(B[:, j], weights=(y == 1), minlength=nb) + self.smoothing
            dg, db = g / (good + nb * self.smoothing), b / (bad + nb * self.smoothing)
            w = np.log(dg / db)
            self.woe_.append(w)
            iv.append(float(np.sum((dg - db) * w)))
        self.iv_ = pd.Series(iv, index=names)
        self.lr_ = LogisticRegression(C=self.C, max_iter=2000).fit(self._woe(X), y)
        return self

    def _woe(self, X) -> np.ndarray:
        B = self._bin(np.asarray(X, float))
        return np.column_stack([w[B[:, j]] for j, w in enumerate(self.woe_)])

    def predict_proba(self, X) -> np.ndarray:
        """Two columns like scikit-learn: P(good), P(default)."""
        return self.lr_.predict_proba(self._woe(X))
