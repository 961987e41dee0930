"""How an update is protected on its way to the server, as one interface.

Every protection that hides individual updates from the server (plaintext as the null case,
CKKS encryption, pairwise-masked secure aggregation) is an :class:`UpdateProtection`: the party
turns its vector into a payload (``protect``), the server combines payloads without any secret
(``aggregate``), and the key holders turn the combined payload back into the sum (``recover``).
Differential privacy is not one of these: it happens inside local training (DP-SGD) or as a
clip-and-noise step on the vector *before* ``protect``, so DP composes with any protection.

The protocol lives in :mod:`fedlib.core` because both sides of it sit in different layers: the
round loop (:mod:`fedlib.fl`) calls it and the cryptography (:mod:`fedlib.crypto`) implements
it, and neither may import the other's layer for it. The concrete protections stay with their
mathematics: :class:`fedlib.fl.protection.PlaintextProtection`,
:class:`fedlib.crypto.ckks.CKKSProtection`, :class:`fedlib.crypto.secagg.SecureAggregation`.

References: ARCHITECTURE.md, "The data flow" (clip → noise → encode → mask or encrypt).
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
A class with the three methods and a ``kind`` satisfies the protocol without inheriting it:

>>> import numpy as np
>>> class Doubling:
...     kind = "plaintext"
...     def protect(self, party, vector): return 2 * np.asarray(vector)
...     def aggregate(self, payloads): return sum(payloads)
...     def recover(self, aggregate): return aggregate / 2
>>> isinstance(Doubling(), UpdateProtection)
True
>>> isinstance(object(), UpdateProtection)
False
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["UpdateProtection"]


@runtime_checkable
class UpdateProtection(Protocol):
    """The three steps of a protected sum.

    ``kind`` is the transcript kind of the payloads a party sends (``"plaintext"``,
    ``"ciphertext"``, ``"masked"``). ``aggregate`` must need no secret: it is what the
    server runs. ``recover`` is run by whoever holds the key (a client, or the clients
    jointly in secure aggregation) and returns the plain **sum** of the protected vectors.
    """

    kind: str

    def protect(self, party: str, vector: np.ndarray) -> Any:
        """What ``party`` sends the server in place of ``vector``."""

    def aggregate(self, payloads: Sequence[Any]) -> Any:
        """The server's combination of the parties' payloads (needs no secret)."""

    def recover(self, aggregate: Any) -> np.ndarray:
        """The plain sum of the protected vectors, recovered by whoever holds the key."""
