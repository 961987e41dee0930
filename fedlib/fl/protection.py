"""The null protection: the server sees each update as it is (standard FL).

It satisfies :class:`fedlib.core.protection.UpdateProtection` like the cryptographic
protections do (:class:`fedlib.crypto.ckks.CKKSProtection`,
:class:`fedlib.crypto.secagg.SecureAggregation`), so a round loop treats "no protection" as
one more choice rather than a special case.

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

import numpy as np

__all__ = ["PlaintextProtection"]


class PlaintextProtection:
    """No protection: the server sees each vector as it is (standard FL)."""

    kind = "plaintext"

    def protect(self, party: str, vector: np.ndarray) -> np.ndarray:
        """The vector itself, as a float64 copy."""
        return np.asarray(vector, dtype=np.float64).copy()

    def aggregate(self, payloads: Sequence[np.ndarray]) -> np.ndarray:
        """The element-wise sum of the updates."""
        if not payloads:
            raise ValueError("cannot aggregate an empty list of updates")
        return np.sum(np.stack(payloads), axis=0)

    def recover(self, aggregate: np.ndarray) -> np.ndarray:
        """The sum as float64: nothing to undo."""
        return np.asarray(aggregate, dtype=np.float64)
