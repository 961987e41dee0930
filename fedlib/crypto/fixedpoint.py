"""Fixed-point encoding of float vectors into the ring Z_{2^64} used by secure aggregation.

Pairwise masks only cancel exactly in a finite ring, so each party's float vector is clipped to
``[-clip, clip]``, scaled by ``2^frac_bits``, rounded to the nearest integer and stored as a
two's-complement ``uint64``. Addition of encodings is then ordinary ``uint64`` addition, which
numpy wraps modulo ``2^64`` without a check, and a sum is decoded by reading it back as a signed
``int64`` and dividing by ``2^frac_bits``.

Why ``2^64`` and not a prime field: masks must be *exactly* uniform over the ring, and with a
power-of-two modulus every 8 bytes of a cryptographic keystream are one uniform element (no
rejection sampling, no modular reduction bias), while ``uint64`` vector arithmetic is native
and wraps for free. A prime field would need rejection sampling and Python integers or
``%`` after every add.

Error bound. Within the clipping range one coordinate is off by at most ``2^-(frac_bits+1)``
(round to nearest), so a sum of ``n`` encodings decodes to within ``n * 2^-(frac_bits+1)`` of
the sum of the *clipped* inputs (:meth:`FixedPointCodec.sum_error_bound`). Values outside
``[-clip, clip]`` are saturated to the range (an update clipped for DP already lies inside it).

Capacity. The decoded sum is exact only while ``|sum of n encodings| < 2^63``; every encoding
is at most ``round(clip * 2^frac_bits)`` in magnitude, so ``n`` may be at most
:attr:`FixedPointCodec.max_summands`; :meth:`FixedPointCodec.check_capacity` raises otherwise.

References: Bonawitz et al. (2017), "Practical Secure Aggregation for Privacy-Preserving
Machine Learning", §3 (inputs in Z_R) and §4; paper 000 (Nagaraj 2024) §4.3. Introduced in
chapter 1 (``chapters/01_fmtl_dp_secagg.py``).

Examples
--------
>>> import numpy as np
>>> codec = FixedPointCodec(frac_bits=16, clip=8.0)
>>> enc = codec.encode(np.array([1.5, -0.25])) + codec.encode(np.array([0.5, -1.0]))
>>> codec.decode(enc, n_summands=2)
array([ 2.  , -1.25])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["RING_BITS", "ClippedValuesError", "ClippedValuesWarning", "FixedPointCodec",
           "RingOverflowError"]

#: The ring is Z_{2^RING_BITS}; fixed because numpy ``uint64`` arithmetic wraps at exactly 2^64.
RING_BITS = 64
# float64 has a 53-bit significand: beyond this np.rint no longer rounds to the nearest
# integer of the *exact* scaled value, and the stated error bound would be false.
_MAX_SCALED = 2.0**52


class RingOverflowError(ValueError):
    """The sum of the encodings would not fit in the signed range of the ring."""


class ClippedValuesWarning(UserWarning):
    """Values were saturated to ``±clip`` when encoded (the decoded sum differs from the sum)."""


class ClippedValuesError(ValueError):
    """Values outside ``[-clip, clip]`` with ``on_clip="raise"``."""


@dataclass(frozen=True)
class FixedPointCodec:
    """Encode floats as ``round(clip(x) * 2^frac_bits) mod 2^64``.

    Parameters
    ----------
    frac_bits
        Fractional bits ``f``; resolution ``2^-f``. 1 ≤ f ≤ 52.
    clip
        Coordinates are saturated to ``[-clip, clip]`` before encoding; ``clip * 2^f`` must be
        below ``2^52`` so that float64 rounding is exact.
    """

    frac_bits: int = 24
    clip: float = 1024.0

    def __post_init__(self) -> None:
        if not isinstance(self.frac_bits, int | np.integer) or not 1 <= self.frac_bits <= 52:
            raise ValueError(f"frac_bits={self.frac_bits!r}: must be an integer in [1, 52]")
        if not (np.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"clip={self.clip!r}: must be a finite positive number")
        if self.clip * self.scale >= _MAX_SCALED:
            raise ValueError(
                f"clip={self.clip!r} with frac_bits={self.frac_bits}: clip * 2^frac_bits "
                f"= {self.clip * self.scale:.3g} must be below 2^52 for exact float64 rounding"
            )

    @property
    def scale(self) -> float:
        """``2^frac_bits``."""
        return float(2**self.frac_bits)

    @property
    def max_abs_encoding(self) -> int:
        """Largest magnitude an encoded coordinate can have (as a signed integer)."""
        return int(np.rint(self.clip * self.scale))

    @property
    def max_summands(self) -> int:
        """Most encodings whose sum still decodes exactly (``|sum| ≤ 2^63 - 1``)."""
        return (2 ** (RING_BITS - 1) - 1) // self.max_abs_encoding

    def check_capacity(self, n_summands: int) -> None:
        """Raise :class:`RingOverflowError` if ``n_summands`` encodings could overflow."""
        if n_summands < 1:
            raise ValueError(f"n_summands={n_summands}: must be at least 1")
        if n_summands > self.max_summands:
            raise RingOverflowError(
                f"n_summands={n_summands}: a sum of that many values in [-{self.clip}, "
                f"{self.clip}] at 2^{self.frac_bits} scale can overflow Z_2^{RING_BITS}; at "
                f"most {self.max_summands} are allowed (lower clip or frac_bits)"
            )

    def encode(self, x: np.ndarray, *, on_clip: str = "warn") -> np.ndarray:
        """Clip, scale, round and wrap ``x`` into ``uint64`` ring elements.

        Coordinates outside ``[-clip, clip]`` are saturated, which changes the sum; they are
        counted (:meth:`count_clipped`) and ``on_clip`` says what happens then: ``"warn"``
        (a :class:`ClippedValuesWarning` with the count), ``"raise"``
        (:class:`ClippedValuesError`) or ``"ignore"``.
        """
        if on_clip not in ("warn", "raise", "ignore"):
            raise ValueError(f"on_clip={on_clip!r}: must be 'warn', 'raise' or 'ignore'")
        x = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError("x: contains NaN or infinity; cannot encode it in a ring")
        n_clipped = self.count_clipped(x)
        if n_clipped and on_clip != "ignore":
            msg = (f"{n_clipped} of {x.size} values lie outside [-{self.clip}, {self.clip}] "
                   f"(largest |x| = {float(np.max(np.abs(x))):.4g}) and were saturated; raise "
                   "clip (and check capacity) or scale the input")
            if on_clip == "raise":
                raise ClippedValuesError(msg)
            warnings.warn(msg, ClippedValuesWarning, stacklevel=2)
        clipped = np.clip(x, -self.clip, self.clip)
        return np.rint(clipped * self.scale).astype(np.int64).view(np.uint64)

    def count_clipped(self, x: np.ndarray) -> int:
        """How many coordinates of ``x`` :meth:`encode` would saturate to ``±clip``.

        >>> FixedPointCodec(frac_bits=8, clip=1.0).count_clipped(np.array([0.5, -2.0, 3.0]))
        2
        """
        return int(np.count_nonzero(np.abs(np.asarray(x, dtype=np.float64)) > self.clip))

    def decode(self, total: np.ndarray, *, n_summands: int = 1) -> np.ndarray:
        """Read a ring element (a sum of ``n_summands`` encodings) back as floats."""
        self.check_capacity(n_summands)
        total = np.asarray(total)
        if total.dtype != np.uint64:
            raise ValueError(f"total: dtype {total.dtype}; expected uint64 ring elements")
        return total.view(np.int64).astype(np.float64) / self.scale

    def sum_error_bound(self, n_summands: int) -> float:
        """Worst-case per-coordinate error of a decoded sum vs. the sum of clipped inputs."""
        return n_summands * 2.0 ** -(self.frac_bits + 1)
