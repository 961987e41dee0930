"""Shamir t-of-n secret sharing over a prime field, for secure-aggregation dropout recovery.

A secret ``s`` (a 32-byte X25519 private key or self-mask seed, read as an integer) becomes the
constant term of a random polynomial ``f`` of degree ``t-1`` over GF(p); party ``i`` gets the
share ``(i, f(i))``. Any ``t`` shares give ``s = f(0)`` by Lagrange interpolation; any ``t-1``
shares are consistent with every secret, so they reveal nothing about it.

Why hand-written: there is no well-maintained Python library for Shamir sharing over an
arbitrary prime field (the few on PyPI are unmaintained, fix the field to 2^127-1 or GF(256)
byte-wise, or draw coefficients from ``random``). The algorithm is a few lines; what matters
is done here explicitly: coefficients come from :mod:`secrets` (or an injected entropy source
for reproducible tests), the field is the Mersenne prime ``2^521 - 1`` (large enough to hold
any 256-bit secret without splitting it), and inputs are checked.

References: Shamir (1979), "How to share a secret"; Bonawitz et al. (2017), §3 ("Secret
Sharing") and §4 (shares of ``s_u^SK`` and ``b_u``). Introduced in chapter 1
(``chapters/01_fmtl_dp_secagg.py``).

Examples
--------
>>> shares = split(123456789, threshold=3, n_shares=5)
>>> reconstruct(shares[1:4])
123456789
>>> reconstruct([shares[0], shares[4], shares[2]])
123456789
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["PRIME", "Share", "random_below", "reconstruct", "split"]

#: The field GF(2^521 - 1): a Mersenne prime > 2^256, so one field element holds a secret.
PRIME = 2**521 - 1

#: An entropy source: ``n -> n`` random bytes (default :func:`secrets.token_bytes`).
Entropy = Callable[[int], bytes]


@dataclass(frozen=True)
class Share:
    """One point ``(x, y)`` on the sharing polynomial, ``x`` ≥ 1 the holder's index."""

    x: int
    y: int

    def to_bytes(self, prime: int = PRIME) -> bytes:
        """Fixed-width encoding: 4-byte ``x`` then ``y`` in ``ceil(bits(p)/8)`` bytes."""
        return self.x.to_bytes(4, "big") + self.y.to_bytes(_width(prime), "big")

    @classmethod
    def from_bytes(cls, data: bytes, prime: int = PRIME) -> Share:
        """The share encoded by :meth:`to_bytes` (raises on a wrong length)."""
        if len(data) != 4 + _width(prime):
            raise ValueError(f"data: {len(data)} bytes; a share is {4 + _width(prime)} bytes")
        return cls(int.from_bytes(data[:4], "big"), int.from_bytes(data[4:], "big"))


def _width(prime: int) -> int:
    return (prime.bit_length() + 7) // 8


def random_below(bound: int, entropy: Entropy | None = None) -> int:
    """Uniform integer in ``[0, bound)``.

    :func:`secrets.randbelow`, or rejection sampling on an injected entropy source (tests
    use a seeded one for reproducibility).

    >>> 0 <= random_below(7) < 7
    True
    """
    if bound < 1:
        raise ValueError(f"bound={bound}: must be at least 1")
    if entropy is None:
        return secrets.randbelow(bound)
    bits = (bound - 1).bit_length()
    while True:
        cand = int.from_bytes(entropy((bits + 7) // 8), "big") & ((1 << bits) - 1)
        if cand < bound:
            return cand


def split(
    secret: int,
    *,
    threshold: int,
    n_shares: int,
    prime: int = PRIME,
    entropy: Entropy | None = None,
) -> list[Share]:
    """Split ``secret`` into ``n_shares`` shares at x = 1..n, any ``threshold`` of which recover it.

    Parameters
    ----------
    secret
        Integer in ``[0, prime)``.
    threshold
        ``t``: number of shares needed, ``1 ≤ t ≤ n_shares``.
    n_shares
        ``n``: number of shares, ``n < prime``.
    prime
        Field modulus; must be prime (not checked beyond size: the default is 2^521 - 1).
    entropy
        Source of random bytes for the coefficients; default :mod:`secrets`.
    """
    if not 0 <= secret < prime:
        raise ValueError(f"secret: must be an integer in [0, prime); got {secret.bit_length()} bits")
    if not 1 <= n_shares < prime:
        raise ValueError(f"n_shares={n_shares}: must be in [1, prime)")
    if not 1 <= threshold <= n_shares:
        raise ValueError(f"threshold={threshold}: must be in [1, n_shares={n_shares}]")
    coeffs = [secret] + [random_below(prime, entropy) for _ in range(threshold - 1)]
    shares = []
    for x in range(1, n_shares + 1):
        y = 0
        for c in reversed(coeffs):  # Horner
            y = (y * x + c) % prime
        shares.append(Share(x, y))
    return shares


def reconstruct(shares: Sequence[Share], *, prime: int = PRIME) -> int:
    """Lagrange-interpolate ``f(0)`` from shares with distinct ``x``.

    With at least ``t`` shares of a degree-``t-1`` polynomial this is the secret; with fewer
    it is an unrelated field element (the scheme cannot tell, which is the point of it).
    """
    if not shares:
        raise ValueError("shares: need at least one share")
    xs = [s.x % prime for s in shares]
    if len(set(xs)) != len(xs) or 0 in xs:
        raise ValueError(f"shares: x coordinates must be distinct and non-zero, got {xs}")
    secret = 0
    for i, si in enumerate(shares):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * (-xj) % prime
                den = den * (xs[i] - xj) % prime
        secret = (secret + si.y * num * pow(den, -1, prime)) % prime
    return secret
