"""Models shared by the chapters, and their parameters as one flat vector.

Federated protocols move *vectors*: CKKS packs all parameters into one ciphertext, secure
aggregation masks one vector, DP clips one vector. :func:`get_flat_params` and
:func:`set_flat_params` are the single place where a torch model becomes such a vector.

References: paper 001 §4 "Model configuration" (logistic regression: one linear layer +
sigmoid); paper 000 §5 (MLP). Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> model = LogisticRegression(n_features=12, seed=0)
>>> vec = get_flat_params(model)
>>> vec.shape
(13,)
>>> set_flat_params(model, vec * 0)
>>> float(predict_proba(model, np.ones((2, 12), dtype=np.float32))[0])
0.5
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["MLP", "LogisticRegression", "get_flat_params", "predict_proba", "set_flat_params"]


class LogisticRegression(nn.Module):
    """One linear layer; :meth:`forward` returns the logit, the sigmoid is in the loss.

    Keeping the sigmoid out of ``forward`` lets training use ``BCEWithLogitsLoss`` (stable)
    while :func:`predict_proba` applies it.
    """

    #: ``forward`` is the layer stack (up to a reshape), so DP-SGD may compute per-example
    #: gradients from the stack (:func:`fedlib.privacy.per_example.linear_stack`).
    forward_is_stack = True

    def __init__(self, n_features: int, *, seed: int) -> None:
        super().__init__()
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        self.linear = nn.Linear(n_features, 1)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            bound = 1.0 / np.sqrt(n_features)
            self.linear.weight.uniform_(-bound, bound, generator=generator)
            self.linear.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logit of each row of ``x``."""
        return self.linear(x).squeeze(-1)


class MLP(nn.Module):
    """A ReLU multilayer perceptron with one logit output (binary classification)."""

    #: ``forward`` is the layer stack (up to a reshape), so DP-SGD may compute per-example
    #: gradients from the stack (:func:`fedlib.privacy.per_example.linear_stack`).
    forward_is_stack = True

    def __init__(self, n_features: int, hidden: Sequence[int] = (64, 32), *, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        with torch.no_grad():
            for layer in self.net:
                if isinstance(layer, nn.Linear):
                    bound = 1.0 / np.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logit of each row of ``x``."""
        return self.net(x).squeeze(-1)


def get_flat_params(model: nn.Module) -> np.ndarray:
    """All trainable parameters, concatenated in ``model.parameters()`` order, as float64."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy().copy()


def set_flat_params(model: nn.Module, vector: np.ndarray) -> None:
    """Load a flat vector (from :func:`get_flat_params` of the same architecture) in place."""
    vector = np.asarray(vector)
    expected = sum(p.numel() for p in model.parameters())
    if vector.shape != (expected,):
        raise ValueError(f"parameter vector has shape {vector.shape}, the model needs ({expected},)")
    offset = 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(torch.from_numpy(vector[offset:offset + n]).reshape(p.shape).to(p.dtype))
            offset += n


def predict_proba(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """Predicted probability of the positive class for each row of ``X``."""
    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(np.asarray(X, dtype=np.float32)))
    return torch.sigmoid(logits).double().numpy()
