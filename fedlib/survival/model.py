"""The FSL-BDP hazard network: Input -> 128 -> 64 -> 64 -> 32 -> 32 -> T, SELU, sigmoid output.

``forward`` returns the *logits* ``f_l(x)``; the sigmoid of eq. 2-3 is applied by
:func:`~fedlib.survival.likelihood.discrete_time_nll` (through log-sigmoid, for numerical
stability) and by :meth:`HazardNet.hazards` / :func:`predict_survival`. This is the same
function as a network with a sigmoid output layer, computed stably.

Weights use LeCun-normal initialisation (``N(0, 1/fan_in)``, zero biases), the initialisation
under which SELU networks are self-normalising (Klambauer et al. 2017); PyTorch's default
(Kaiming-uniform with ``a = sqrt(5)``) is not. Only ``Linear`` and ``SELU`` layers are used, so
the model works unchanged with Opacus and with ``torch.func`` per-sample gradients.

References: Amed, Sen & Banerjee (2026), FSL-BDP, eq. 3 and sec. 4.3 (architecture);
Klambauer et al. (2017), "Self-normalizing neural networks". Introduced in chapter 3
(``chapters/03_fsl_bdp_survival.py``).

Examples
--------
>>> import numpy as np
>>> net = HazardNet(n_features=5, n_intervals=24, seed=0)
>>> S = predict_survival(net, np.zeros((3, 5), dtype=np.float32))
>>> S.shape, bool((np.diff(S, axis=1) <= 0).all())
((3, 24), True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from fedlib.survival.likelihood import survival_from_logits

__all__ = ["PAPER_HIDDEN", "HazardNet", "predict_hazards", "predict_survival"]

#: Hidden widths of the paper's six-layer network (sec. 4.3).
PAPER_HIDDEN: tuple[int, ...] = (128, 64, 64, 32, 32)


class HazardNet(nn.Module):
    """Feed-forward discrete-time hazard network (eq. 3).

    Parameters
    ----------
    n_features : int
        Input dimension ``d``.
    n_intervals : int
        Number of output intervals ``T``.
    hidden : sequence of int
        Hidden widths; default the paper's ``(128, 64, 64, 32, 32)``.
    seed : int, optional
        Seeds a private ``torch.Generator`` for the initial weights (the global RNG is left
        alone). ``None`` draws from the global generator.

    Examples
    --------
    >>> net = HazardNet(n_features=3, n_intervals=4, seed=1)
    >>> net(torch.zeros(2, 3)).shape
    torch.Size([2, 4])
    >>> sum(p.numel() for p in net.parameters())
    16196
    """

    #: ``forward`` is the layer stack (up to a reshape), so DP-SGD may compute per-example
    #: gradients from the stack (:func:`fedlib.privacy.per_example.linear_stack`).
    forward_is_stack = True

    def __init__(self, n_features: int, n_intervals: int, *,
                 hidden: Sequence[int] = PAPER_HIDDEN, seed: int | None = None) -> None:
        super().__init__()
        for name, v in (("n_features", n_features), ("n_intervals", n_intervals)):
            if int(v) != v or v < 1:
                raise ValueError(f"{name}={v!r}: must be an integer >= 1")
        if any(int(h) != h or h < 1 for h in hidden):
            raise ValueError(f"hidden={tuple(hidden)!r}: widths must be integers >= 1")
        self.n_features = int(n_features)
        self.n_intervals = int(n_intervals)
        widths = [self.n_features, *map(int, hidden)]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(fan_in, fan_out), nn.SELU()]
        layers.append(nn.Linear(widths[-1], self.n_intervals))
        self.net = nn.Sequential(*layers)
        gen = None if seed is None else torch.Generator().manual_seed(int(seed))
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, mean=0.0, std=m.in_features ** -0.5, generator=gen)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``f_l(x)``, shape ``[n, T]``."""
        return self.net(x)

    def hazards(self, x: torch.Tensor) -> torch.Tensor:
        """Hazards ``h_l(x) = sigmoid(f_l(x))`` in ``(0, 1)``, shape ``[n, T]``."""
        return torch.sigmoid(self.forward(x))


def _predict(model: nn.Module, X, batch_size: int, fn) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X has shape {X.shape}: need a 2-D array [n, d]")
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, X.shape[0], batch_size):
                out.append(fn(model(torch.from_numpy(X[start:start + batch_size]))).numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out, axis=0).astype(np.float64) if out else np.empty((0, 0))


def predict_survival(model: nn.Module, X, *, batch_size: int = 8192) -> np.ndarray:
    """Survival curves ``S_l(x)`` for every row of ``X``: ``np.ndarray [n, T]``.

    Column ``l - 1`` is the probability of surviving intervals ``1..l``, i.e. ``S`` at cut
    point ``tau_l``. Non-increasing along each row by construction (log-space cumsum).

    Examples
    --------
    >>> net = HazardNet(n_features=2, n_intervals=3, hidden=(4,), seed=0)
    >>> predict_survival(net, np.ones((1, 2))).shape
    (1, 3)
    """
    return _predict(model, X, batch_size, survival_from_logits)


def predict_hazards(model: nn.Module, X, *, batch_size: int = 8192) -> np.ndarray:
    """Hazards ``h_l(x)``: ``np.ndarray [n, T]`` (monthly PDs conditional on survival).

    >>> net = HazardNet(n_features=2, n_intervals=3, hidden=(4,), seed=0)
    >>> bool(((predict_hazards(net, np.ones((5, 2))) > 0) & (predict_hazards(net, np.ones((5, 2))) < 1)).all())
    True
    """
    return _predict(model, X, batch_size, torch.sigmoid)
