"""How an update is protected on its way to the server, as one interface.

Every protection that hides individual updates from the server (plaintext as the null case,
CKKS encryption, pairwise-masked secure aggregation) is an :class:`UpdateProtection`: the party
turns its vector into a payload (``protect``), the server combines payloads without any secret
(``aggregate``), and the key holders turn the combined payload back into the sum (``recover``).
Differential privacy is not one of these: it happens inside local training (DP-SGD) or as a
clip-and-noise step on the vector *before* ``protect``, so DP composes with any protection.

References: ARCHITECTURE.md, "The data flow" (clip → noise → encode → mask or encrypt).
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import numpy as np
>>> p = PlaintextProtection()
>>> agg = p.aggregate([p.protect("a", np.ones(3)), p.protect("b", np.ones(3))])
>>> p.recover(agg)
array([2., 2., 2.])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["PlaintextProtection", "UpdateProtection"]


@runtime_checkable
class UpdateProtection(Protocol):
    """The three steps of a protected sum.

    ``kind`` is the transcript kind of the payloads a party sends (``"plaintext"``,
    ``"ciphertext"``, ``"masked"``). ``aggregate`` must need no secret: it is what the
    server runs. ``recover`` is run by whoever holds the key (a client, or the clients
    jointly in secure aggregation) and returns the plain **sum** of the protected vectors.
    """

    kind: str

    def protect(self, party: str, vector: np.ndarray) -> Any: ...

    def aggregate(self, payloads: Sequence[Any]) -> Any: ...

    def recover(self, aggregate: Any) -> np.ndarray: ...


class PlaintextProtection:
    """No protection: the server sees each vector as it is (standard FL)."""

    kind = "plaintext"

    def protect(self, party: str, vector: np.ndarray) -> np.ndarray:
        return np.asarray(vector, dtype=np.float64).copy()

    def aggregate(self, payloads: Sequence[np.ndarray]) -> np.ndarray:
        if not payloads:
            raise ValueError("cannot aggregate an empty list of updates")
        return np.sum(np.stack(payloads), axis=0)

    def recover(self, aggregate: np.ndarray) -> np.ndarray:
        return np.asarray(aggregate, dtype=np.float64)
