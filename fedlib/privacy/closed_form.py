"""Closed-form per-example gradients of logistic regression (and least squares).

For one ``Linear(d, 1)`` layer on the logit ``z = w·x + b`` the loss gradient at the logit is
the residual ``r = sigmoid(z) - y`` (binary cross-entropy on the logit; ``2 (z - y)`` for the
squared error), so example ``i``'s gradient is ``r_i [x_i, 1]`` and its norm is
``|r_i| sqrt(||x_i||^2 + 1)``: clipping (Abadi et al. 2016, Alg. 1) needs no per-example
autograd. :data:`RESIDUALS` is that maths for the ``closed_form`` backend of
:mod:`fedlib.privacy.per_example` (torch, on the DP step of :mod:`fedlib.privacy.dp_step`);
:func:`logistic_sgd` is chapter 2's whole (DP-)SGD loop in numpy float64 (``engine:
closed_form``), which keeps its own seeded numpy streams so that chapter's numbers stay what
they were.

References: paper 001 (chapter 2) §4.3 (DP-SGD, C = 1.0, g̃ = g + N(0, σ²C²)); Abadi et al.
2016, Alg. 1. Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> r = RESIDUALS["bce"](torch.zeros(2, 1), torch.tensor([[1.0], [0.0]]))
>>> r.ravel().tolist()
[-0.5, 0.5]
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["RESIDUALS", "logistic_sgd"]

#: The loss gradient at the logit, ``dL/dz`` per row, for a loss name of
#: :data:`fedlib.privacy.dpsgd.LOSSES` (summed over rows): binary cross-entropy on the logit
#: (``"bce"``) and the squared error (``"mse"``).
RESIDUALS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "bce": lambda z, y: torch.sigmoid(z) - y,
    "mse": lambda z, y: 2.0 * (z - y),
}


def logistic_sgd(w: np.ndarray, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float,
                 batch_size: int | None, seed: int, noise_multiplier: float | None = None,
                 clip_norm: float | None = None, noise_seed: int | None = None
                 ) -> tuple[np.ndarray, int]:
    """(DP-)SGD on the logistic loss with closed-form per-example gradients.

    ``w`` holds the weights then the bias. The per-example gradient of the logistic loss is
    ``(sigmoid(w·x + b) - y) [x, 1]``, so its norm is ``|r| sqrt(|x|² + 1)``: clipping needs no
    per-example autograd. With ``noise_multiplier`` set this is DP-SGD exactly as
    :func:`fedlib.privacy.dpsgd.train_local_dp` runs it through Opacus (clip factor
    ``min(1, C / (norm + 1e-6))``, N(0, σ²C²) added to the clipped sum, division by the expected
    batch size; Poisson-sampled batches when ``batch_size`` is set); without it, plain SGD on
    the mean loss (shuffled batches), as :func:`~fedlib.privacy.dpsgd.train_local`. Noise and
    batches come from separate seeded streams (the same split as ``dpsgd``), in float64.

    Returns the new parameter vector and the number of steps taken.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2)); y = (X[:, 0] > 0).astype(float)
    >>> w, steps = logistic_sgd(np.zeros(3), X, y, epochs=50, lr=1.0, batch_size=None, seed=0,
    ...                         noise_multiplier=1.0, clip_norm=1.0, noise_seed=7)
    >>> steps, bool(w[0] > 1)
    (50, True)
    """
    private = noise_multiplier is not None
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    w = np.array(w, dtype=np.float64)
    if w.shape != (d + 1,):
        raise ValueError(f"w has shape {w.shape}, expected ({d + 1},)")
    if batch_size is not None and batch_size >= n:
        batch_size = None
    if private and noise_seed is None:
        entropy = secrets.randbits(128)
    elif private:
        entropy = [int(noise_seed), int(seed)]
    else:
        entropy = int(seed)
    batch_rng, noise_rng = (np.random.default_rng(s)
                            for s in np.random.SeedSequence(entropy).spawn(2))
    sq = np.einsum("ij,ij->i", X, X) + 1.0
    row_norm = np.sqrt(sq)
    steps = 0

    def batches():
        if batch_size is None:
            for _ in range(epochs):
                yield None
            return
        per_epoch = -(-n // batch_size)
        for _ in range(epochs):
            if private:                    # Poisson sampling, as the RDP accountant assumes
                for _ in range(per_epoch):
                    yield np.flatnonzero(batch_rng.random(n) < batch_size / n)
            else:
                perm = batch_rng.permutation(n)
                yield from (perm[i:i + batch_size] for i in range(0, n, batch_size))

    for idx in batches():
        Xb, yb, nb = (X, y, row_norm) if idx is None else (X[idx], y[idx], row_norm[idx])
        r = 1.0 / (1.0 + np.exp(-(Xb @ w[:-1] + w[-1]))) - yb
        if private:
            r = r * np.minimum(1.0, clip_norm / (np.abs(r) * nb + 1e-6))
            g = np.append(Xb.T @ r, r.sum())
            g += noise_rng.normal(0.0, noise_multiplier * clip_norm, size=d + 1)
            g /= n if batch_size is None else batch_size
        else:
            g = np.append(Xb.T @ r, r.sum()) / max(len(yb), 1)
        w -= lr * g
        steps += 1
    return w, steps
