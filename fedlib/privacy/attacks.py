"""Empirical privacy attacks: membership inference and gradient inversion.

Two attacks the book runs against its own models to show what a privacy mechanism buys:

* **Membership inference** (:func:`membership_inference`): the loss-threshold attack of
  Yeom et al. (2018) — training examples tend to have lower loss than unseen ones — scored
  threshold-free as a ROC curve over equal numbers of members and non-members. With a
  reference model trained without the targets, the score becomes the *difficulty-calibrated*
  loss of Watson et al. (2022): loss_ref(x) − loss_target(x), which removes the part of the
  loss explained by how hard an example is for any model. Framework-agnostic: the model is any
  function returning probabilities.
* **Gradient inversion for logistic regression** (:func:`invert_logistic_gradient`): one
  example's features are recovered *exactly* from its gradient, the leak behind "the server
  sees each plaintext update" in chapter 2; :func:`batch_gradient_leakage` shows what a batch
  mean gives away, :func:`inversion_error_vs_noise` what DP noise does to the attack and
  :func:`attack_update_payload` what the same attack gets from what the server actually
  received (a plaintext or noisy vector, or a CKKS ciphertext it cannot decrypt).

Written here because the attacks are a few lines on top of scikit-learn's ROC code; the
libraries that ship them (ML Privacy Meter, ART) are not dependencies of the book.

References: Yeom, Giacomelli, Fredrikson, Jha 2018, "Privacy risk in machine learning",
§3.2 (loss threshold, advantage = TPR − FPR); Watson et al. 2022, "On the importance of
difficulty calibration in membership inference attacks"; Zhu, Liu, Han 2019 "Deep leakage
from gradients" and Phong et al. 2018 §3 (exact input recovery from a linear layer's gradient);
paper 000 §6.3 (MIA risk vs ε); paper 001 §3 (what the aggregator sees). Introduced in
chapter 2 (``chapters/02_dp_vs_ckks.py``); membership inference in chapter 1.

Examples
--------
>>> x = np.array([0.5, -1.0, 2.0])
>>> w, b, y = np.array([0.1, 0.2, -0.3]), 0.05, 1.0
>>> r = 1 / (1 + np.exp(-(w @ x + b))) - y          # dℓ/dz for BCE with a sigmoid
>>> invert_logistic_gradient(r * x, r)
array([ 0.5, -1. ,  2. ])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import tenseal as ts
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = [
    "GradientInversionError",
    "attack_update_payload",
    "batch_gradient_leakage",
    "invert_logistic_gradient",
    "inversion_error_vs_noise",
    "logistic_gradient",
    "membership_inference",
    "per_example_loss",
]

_EPS = 1e-12


class GradientInversionError(ValueError):
    """The gradient carries (numerically) no information about the input."""


# --------------------------------------------------------------------------------------------
# Membership inference
# --------------------------------------------------------------------------------------------

def per_example_loss(predict_proba: Callable[[Any], Any], X, y) -> np.ndarray:
    """Cross-entropy of each example under a model given as a probability function.

    ``predict_proba(X)`` may return P(y=1) of shape ``(n,)``, or class probabilities of shape
    ``(n, k)`` (then ``y`` indexes the column, as in scikit-learn's ``predict_proba``).

    >>> per_example_loss(lambda X: np.full(len(X), 0.8), np.zeros((2, 1)), [1, 0]).round(3)
    array([0.223, 1.609])
    """
    y = np.asarray(y).astype(np.int64).ravel()
    p = np.asarray(predict_proba(X), dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.shape[0] != len(y):
        raise ValueError(f"predict_proba returned {p.shape[0]} rows for {len(y)} labels")
    if p.ndim == 1:
        if not set(np.unique(y).tolist()) <= {0, 1}:
            raise ValueError("1-D probabilities need binary labels in {0, 1}")
        p_true = np.where(y == 1, p, 1.0 - p)
    else:
        if y.min() < 0 or y.max() >= p.shape[1]:
            raise ValueError(f"labels must index the {p.shape[1]} probability columns")
        p_true = p[np.arange(len(y)), y]
    return -np.log(np.clip(p_true, _EPS, 1.0))


def _take(X, idx: np.ndarray):
    return X.iloc[idx] if isinstance(X, pd.DataFrame | pd.Series) else np.asarray(X)[idx]


def membership_inference(predict_proba: Callable[[Any], Any], X_members, y_members,
                         X_nonmembers, y_nonmembers, *, n: int | None = None,
                         seed: int | np.random.Generator = 0,
                         reference_predict_proba: Callable[[Any], Any] | None = None,
                         ) -> dict[str, float]:
    """Loss-threshold membership inference on equal numbers of members and non-members.

    Parameters
    ----------
    predict_proba
        The target model, as a function from features to probabilities (see
        :func:`per_example_loss`).
    X_members, y_members
        Training rows of the target model.
    X_nonmembers, y_nonmembers
        Rows from the same distribution that the model never saw (e.g. the test split).
    n
        Rows per side; default the smaller side. Both sides are subsampled to the same size
        without replacement, so a 50 % baseline means "no leakage".
    seed
        Seed or generator for the subsample.
    reference_predict_proba
        Optional model trained without the targets; the score then is the calibrated
        loss_ref − loss_target (Watson et al. 2022) instead of −loss_target (Yeom et al.).

    Returns
    -------
    dict
        ``auc`` (ROC-AUC of the membership score; 0.5 = no leakage), ``advantage``
        (max over thresholds of TPR − FPR, Yeom's membership advantage), ``accuracy``
        (balanced accuracy at that threshold, = (1 + advantage) / 2), ``yeom_accuracy``
        (accuracy with Yeom's threshold, the mean member loss, which an attacker that knows
        the training loss can use without any non-member), ``n_per_side``.

    References: Yeom et al. 2018 §3.2; Watson et al. 2022; paper 000 §6.3. Introduced in
    chapter 1.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); y = (rng.random(200) < 0.5).astype(int)
    >>> res = membership_inference(lambda X: np.full(len(X), 0.5), X[:100], y[:100],
    ...                            X[100:], y[100:])
    >>> res["auc"], res["advantage"]
    (0.5, 0.0)
    """
    rng = np.random.default_rng(seed)
    n_mem, n_non = len(y_members), len(y_nonmembers)
    if len(X_members) != n_mem or len(X_nonmembers) != n_non:
        raise ValueError("X and y must have the same number of rows for members and non-members")
    m = min(n_mem, n_non) if n is None else int(n)
    if m < 1 or m > min(n_mem, n_non):
        raise ValueError(f"n must be in [1, {min(n_mem, n_non)}] (rows per side), got {n}")
    idx_m = np.sort(rng.choice(n_mem, size=m, replace=False))
    idx_n = np.sort(rng.choice(n_non, size=m, replace=False))
    Xm, ym = _take(X_members, idx_m), np.asarray(y_members)[idx_m]
    Xn, yn = _take(X_nonmembers, idx_n), np.asarray(y_nonmembers)[idx_n]

    loss_m = per_example_loss(predict_proba, Xm, ym)
    loss_n = per_example_loss(predict_proba, Xn, yn)
    score_m, score_n = -loss_m, -loss_n
    if reference_predict_proba is not None:
        score_m = score_m + per_example_loss(reference_predict_proba, Xm, ym)
        score_n = score_n + per_example_loss(reference_predict_proba, Xn, yn)
    membership = np.r_[np.ones(m), np.zeros(m)]
    score = np.r_[score_m, score_n]
    fpr, tpr, _ = roc_curve(membership, score)
    advantage = float(np.max(tpr - fpr))
    # Yeom's attacker: "member iff loss <= average training loss".
    tau = loss_m.mean()
    yeom_acc = 0.5 * (np.mean(loss_m <= tau) + np.mean(loss_n > tau))
    return {
        "auc": float(roc_auc_score(membership, score)),
        "advantage": advantage,
        "accuracy": 0.5 * (1.0 + advantage),
        "yeom_accuracy": float(yeom_acc),
        "n_per_side": int(m),
    }


# --------------------------------------------------------------------------------------------
# Gradient inversion (logistic regression)
# --------------------------------------------------------------------------------------------

def logistic_gradient(X, y, *, weight, bias: float) -> tuple[np.ndarray, float]:
    """Mean BCE gradient (∇w, ∇b) of a sigmoid linear model over the rows of ``X``.

    >>> logistic_gradient(np.ones((1, 2)), [1], weight=np.zeros(2), bias=0.0)
    (array([-0.5, -0.5]), -0.5)
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64).ravel()
    w = np.asarray(weight, dtype=np.float64).ravel()
    if X.shape[0] != len(y) or X.shape[1] != len(w):
        raise ValueError(f"shapes do not fit: X {X.shape}, y {y.shape}, weight {w.shape}")
    residual = 1.0 / (1.0 + np.exp(-(X @ w + float(bias)))) - y
    return residual @ X / len(y), float(residual.mean())


def invert_logistic_gradient(grad_w, grad_b, *, min_abs_grad_b: float = 1e-12) -> np.ndarray:
    """Recover the input of one example exactly from its logistic-regression gradient.

    For z = wᵀx + b, p = σ(z) and the binary cross-entropy
    ℓ = −[y log p + (1 − y) log(1 − p)], the chain rule gives ∂ℓ/∂z = p − y, hence

        ∇_w ℓ = (p − y) · x,    ∇_b ℓ = p − y,    so    x = ∇_w ℓ / ∇_b ℓ.

    The ratio does not depend on w, b, y, nor on any positive or negative common factor, so it
    also works on a model *update* after one plain SGD step (Δw = −η∇_w ℓ, Δb = −η∇_b ℓ),
    and on a clipped gradient (clipping rescales both parts alike). It breaks with weight
    decay (∇_w gains λw), with several local steps (the update mixes several gradients) and
    with noise (see :func:`inversion_error_vs_noise`). For a softmax layer with rows
    ∇_{W_k} = (p_k − y_k) x any row works; the row with the largest |∇_{b_k}| is used because
    dividing by it loses the least precision.

    Parameters
    ----------
    grad_w
        Gradient of the weights, shape ``(d,)`` (or ``(k, d)`` for a k-output layer).
    grad_b
        Gradient of the bias, a scalar (or shape ``(k,)``).
    min_abs_grad_b
        If |∇_b| is below this, p ≈ y: the example is already fitted, its gradient is
        (numerically) zero and says nothing about x, and :class:`GradientInversionError`
        is raised instead of returning rounding noise.

    References: Phong et al. 2018 §3; Zhu et al. 2019. Introduced in chapter 2.

    >>> invert_logistic_gradient(np.array([[0.2, 0.4], [-0.1, -0.2]]), np.array([0.2, -0.1]))
    array([1., 2.])
    """
    gw = np.asarray(grad_w, dtype=np.float64)
    gb = np.atleast_1d(np.asarray(grad_b, dtype=np.float64))
    if gw.ndim == 1:
        gw = gw[None, :]
    if gw.ndim != 2 or gw.shape[0] != gb.shape[0] or gb.ndim != 1:
        raise ValueError(f"grad_w of shape {np.shape(grad_w)} does not fit grad_b of shape "
                         f"{np.shape(grad_b)}; expected (d,) with a scalar or (k, d) with (k,)")
    k = int(np.argmax(np.abs(gb)))
    if not np.abs(gb[k]) >= min_abs_grad_b:
        raise GradientInversionError(
            f"|grad_b| = {abs(gb[k]):.3g} < min_abs_grad_b = {min_abs_grad_b:g}: the example is "
            "already fitted (p ≈ y) and its gradient carries no information about x")
    return gw[k] / gb[k]


def batch_gradient_leakage(X, y, *, weight, bias: float) -> dict[str, Any]:
    """What the gradient-ratio attack learns from the *mean* gradient of a batch.

    With residuals r_i = p_i − y_i, the mean gradient is (1/n) Σ r_i x_i and (1/n) Σ r_i, so

        x̂ = ∇_w / ∇_b = Σ_i α_i x_i,    α_i = r_i / Σ_j r_j,    Σ_i α_i = 1:

    an affine (when all labels agree: convex) combination of the rows, weighted towards the
    badly fitted ones. A client with one row gives its row away; a client with several rows
    gives away a residual-weighted mean of them, still an aggregate of its private data. This
    is what an honest-but-curious server learns from a plaintext update of a client that
    does one full-batch gradient step.

    Returns
    -------
    dict
        ``reconstruction`` (x̂), ``weights`` (α), ``weighted_mean`` (Σ α_i x_i computed
        directly, equal to x̂ up to rounding), ``nearest_row`` (index of the closest row),
        ``nearest_distance`` and ``mean_distance`` (distance of x̂ to the plain row mean).

    References: Phong et al. 2018 §3. Introduced in chapter 2.

    >>> out = batch_gradient_leakage([[1.0, 0.0], [0.0, 1.0]], [1, 1], weight=[0.0, 0.0], bias=0.0)
    >>> out["reconstruction"], out["weights"]
    (array([0.5, 0.5]), array([0.5, 0.5]))
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64).ravel()
    w = np.asarray(weight, dtype=np.float64).ravel()
    grad_w, grad_b = logistic_gradient(X, y, weight=w, bias=bias)
    x_hat = invert_logistic_gradient(grad_w, grad_b)
    residual = 1.0 / (1.0 + np.exp(-(X @ w + float(bias)))) - y
    alpha = residual / residual.sum()
    dist = np.linalg.norm(X - x_hat, axis=1)
    return {
        "reconstruction": x_hat,
        "weights": alpha,
        "weighted_mean": alpha @ X,
        "nearest_row": int(np.argmin(dist)),
        "nearest_distance": float(dist.min()),
        "mean_distance": float(np.linalg.norm(X.mean(axis=0) - x_hat)),
    }


def inversion_error_vs_noise(x, y: float, *, weight, bias: float, noise_multipliers,
                             clip_norm: float, n_trials: int = 20,
                             seed: int | np.random.Generator = 0) -> pd.DataFrame:
    """Relative reconstruction error of the gradient-ratio attack on a clipped, noised gradient.

    Per trial: the single-example gradient g = (∇w, ∇b) is clipped to L2 norm ``clip_norm``
    (which alone does not stop the attack: the ratio survives rescaling), Gaussian noise of
    standard deviation ``noise_multiplier · clip_norm`` is added to every coordinate as in the
    Gaussian mechanism of DP-SGD, and x̂ = g̃_w / g̃_b is compared with x.

    Returns
    -------
    pandas.DataFrame
        ``noise_multiplier, trial, relative_error`` (‖x̂ − x‖ / ‖x‖; ``inf`` when the noisy
        ∇b is exactly 0). Noise multiplier 0 gives errors at rounding level.

    References: Abadi et al. 2016 (clip + Gaussian noise); paper 001 §3 (DP on gradients).
    Introduced in chapter 2.

    >>> df = inversion_error_vs_noise([1.0, 2.0], 1, weight=[0.1, 0.1], bias=0.0,
    ...                               noise_multipliers=[0.0, 1.0], clip_norm=1.0, n_trials=3)
    >>> bool(df.query("noise_multiplier == 0").relative_error.max() < 1e-12)
    True
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if not np.isfinite(clip_norm) or clip_norm <= 0:
        raise ValueError(f"clip_norm must be a positive finite number, got {clip_norm}")
    sigmas = np.atleast_1d(np.asarray(noise_multipliers, dtype=np.float64))
    if (sigmas < 0).any() or not np.isfinite(sigmas).all():
        raise ValueError(f"noise_multipliers must be finite and >= 0, got {sigmas.tolist()}")
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if not np.linalg.norm(x) > 0:
        raise ValueError("x must be non-zero (the error is relative to ‖x‖)")
    rng = np.random.default_rng(seed)
    gw, gb = logistic_gradient(x[None, :], [y], weight=weight, bias=bias)
    g = np.r_[gw, gb]
    g = g * min(1.0, clip_norm / max(np.linalg.norm(g), _EPS))
    rows = []
    for sigma in sigmas:
        for trial in range(n_trials):
            noisy = g + rng.normal(0.0, sigma * clip_norm, size=g.shape)
            if noisy[-1] == 0:
                err = np.inf
            else:
                err = np.linalg.norm(noisy[:-1] / noisy[-1] - x) / np.linalg.norm(x)
            rows.append({"noise_multiplier": float(sigma), "trial": trial,
                         "relative_error": float(err)})
    return pd.DataFrame(rows)


def attack_update_payload(payload: Any, *, server_context: Any = None,
                          x_true=None) -> dict[str, Any]:
    r"""Run the gradient-ratio attack on what the server received for one client.

    The payload is read the way :func:`fedlib.fl.models.get_flat_params` lays out a logistic
    regression (weights then bias), so the attack is ``x̂ = v[:-1] / v[-1]``.

    * A numeric vector (``plaintext`` or ``noisy`` transcript kind) is attacked directly.
    * Ciphertext bytes (``ciphertext`` kind, :mod:`fedlib.crypto.ckks`) can only be attacked
      after decryption: with ``server_context`` (the context the server holds) the function
      tries it, which TenSEAL refuses when the context carries no secret key — the attack gets
      nothing. Without a context the server holds opaque bytes.

    Returns
    -------
    dict
        ``readable`` (bool), ``reconstruction`` (array or ``None``), ``relative_error``
        (vs ``x_true`` when given, else NaN) and ``reason``.

    References: paper 001 §3 (HE aggregation: the server adds ciphertexts without the key).
    Introduced in chapter 2.

    >>> attack_update_payload(np.array([-0.1, -0.2, -0.1]), x_true=[1.0, 2.0])["relative_error"]
    0.0
    >>> attack_update_payload(b"\x00" * 64)["readable"]
    False
    """
    vector = None
    if isinstance(payload, bytes | bytearray | memoryview):
        if server_context is None:
            return _unreadable(f"the server holds {len(payload)} opaque ciphertext bytes and "
                               "no context to read them")
        try:
            ctx = (server_context if isinstance(server_context, ts.Context)
                   else ts.context_from(bytes(server_context)))
            vector = np.asarray(ts.ckks_vector_from(ctx, bytes(payload)).decrypt())
        except (ValueError, RuntimeError) as exc:
            return _unreadable(f"decryption refused: {exc}")
    else:
        vector = np.asarray(payload, dtype=np.float64).ravel()
    if x_true is not None:
        vector = vector[: np.size(x_true) + 1]
    try:
        x_hat = invert_logistic_gradient(vector[:-1], vector[-1])
    except GradientInversionError as exc:
        return _unreadable(str(exc), readable=True)
    err = float("nan")
    if x_true is not None:
        xt = np.asarray(x_true, dtype=np.float64).ravel()
        err = float(np.linalg.norm(x_hat - xt) / max(np.linalg.norm(xt), _EPS))
    return {"readable": True, "reconstruction": x_hat, "relative_error": err,
            "reason": "numeric update: ratio attack applied"}


def _unreadable(reason: str, *, readable: bool = False) -> dict[str, Any]:
    return {"readable": readable, "reconstruction": None, "relative_error": float("nan"),
            "reason": reason}
