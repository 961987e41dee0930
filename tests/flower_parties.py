"""Small parties the Flower test modules share (chapters 1 and 2 in miniature)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from fedlib.fl.models import LogisticRegression
from fedlib.fl.party import LogisticDPSGDTrainer, Party, PartyClient
from fedlib.privacy.accountants import PartyAccountant


class Institution(SimpleNamespace):
    """What :func:`fedlib.fl.fmtl.make_clients` reads of a prepared institution (PartyData)."""

    @property
    def n_rows(self) -> int:
        return len(self.X)


def dp_banks(seed: int = 0, n: int = 60, d: int = 4) -> list[PartyClient]:
    """Three DP banks (closed-form DP-SGD, Poisson batches), each with its own accountant."""
    rng = np.random.default_rng(seed)
    model = LogisticRegression(d, seed=0)
    out = []
    for k in range(3):
        X = rng.normal(size=(n + 20 * k, d)).astype(np.float32)
        y = (X[:, 0] + rng.normal(0, 0.5, len(X)) > 0).astype(np.float32)
        trainer = LogisticDPSGDTrainer(epochs=2, lr=0.5, batch_size=16, noise_multiplier=1.1,
                                       clip_norm=1.0, accountant=PartyAccountant(f"bank-{k}"),
                                       noise_seed=100 + k)
        out.append(PartyClient(Party(f"bank-{k + 1}", X, y, trainer), model))
    return out
