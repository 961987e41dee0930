"""Paillier encryption of gradients and hessians for SecureBoost, on ``phe`` + ``gmpy2``.

Keys, encryption and decryption are ``phe``'s (which uses ``gmpy2`` automatically when it
is installed: :data:`HAVE_GMPY2`). What this module adds is what makes SecureBoost fast:

* **packing**: the gradient ``g``, the hessian ``h`` and a row count are fixed-point encoded
  with offsets (so every slot is non-negative and a sum never borrows from the slot above)
  and stacked into ONE plaintext, ``(g + G_off) << (h_bits + c_bits) | (h + H_off) << c_bits
  | 1``. One encryption and one ciphertext addition then carry both sums, and the count slot
  tells the key holder how many offsets to subtract. Capacity: each slot has room for the
  sum over ``max_rows`` rows (:class:`GHPacker`); the total must fit under ``|n| - 1``
  bits, which :meth:`GHPacker.check_capacity` verifies.
* **multi-bucket packing** (:meth:`GHPacker.slots`, :meth:`GHPacker.decode_packed`): a
  bucket sum occupies ``slot_bits`` bits, far fewer than the plaintext holds (about 110 of
  2,047 at 2048 bits), so the passive party stacks ``k = plaintext_bits // slot_bits`` bucket
  sums into one ciphertext before it answers (Horner's rule with multiplications by
  ``2^slot_bits``, :meth:`fedlib.crypto.he.HEBackend.pack`) and one decryption yields ``k``
  bucket sums (17 at 2048 bits and 2,500 rows, 5 for OU).
* **precomputed obfuscators**: a Paillier encryption ``c = (1 + n m) r^n mod n^2`` is
  dominated by the power ``r^n mod n^2`` (the ``(1 + n m)`` part is one multiplication).
  ``r^n`` does not depend on the message, so :class:`ObfuscatorPool` computes it ahead of
  time (idle time, or a process pool), and the online encryption is one modular product.

Randomness here is cryptographic (:mod:`secrets`, the OS generator) and deliberately not
seedable; results stay deterministic because decryption is exact.

References: paper 003 (Xu et al.), §3.3 "Secure Multi-Party Computation" (Paillier on
gradient sums); Cheng et al. 2021, SecureBoost; Paillier 1999. Introduced in chapter 4
(``chapters/04_vertical_secureboost_xmp.py``).

Examples
--------
>>> pk, sk = make_keypair(n_bits=512, demo=True)
>>> packer = GHPacker(max_rows=4, frac_bits=16)
>>> packed = packer.encode([0.5, -0.25], [0.25, 0.125])
>>> c = encrypt_packed(pk, packed, obfuscators=ObfuscatorPool(pk).fill(2).take(2))
>>> packer.decode_sum(decrypt_raw(sk, [add_ciphertexts(pk, c)])[0])
(0.25, 0.375, 2)
"""

from __future__ import annotations

import math
import multiprocessing
import secrets
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field

import gmpy2
import numpy as np
from phe import paillier
from phe import util as _phe_util

__all__ = [
    "HAVE_GMPY2",
    "MIN_SECURE_BITS",
    "GHPacker",
    "KeySizeError",
    "ObfuscatorPool",
    "MP_CONTEXT",
    "add_ciphertexts",
    "bucket_sums",
    "ciphertext_nbytes",
    "decrypt_raw",
    "encrypt_packed",
    "make_keypair",
    "rerandomize",
    "sub_ciphertext",
]

#: ``phe`` switches to gmpy2 powmod/invert when gmpy2 imports (about 7x faster at 2048 bits).
HAVE_GMPY2: bool = bool(_phe_util.HAVE_GMP)
#: Smallest modulus accepted without ``demo=True`` (NIST SP 800-57: 2048-bit factoring ≈ 112-bit security).
MIN_SECURE_BITS = 2048


#: Start method of every worker process here. Not ``fork``: a forked child copies the locks
#: held by the parent's other threads (PyTorch, OpenMP, BLAS in a Jupyter kernel) without
#: the threads that would release them, and can wait forever (issue 12: chapter 4 hung).
#: ``spawn`` starts a fresh interpreter that imports only this module's dependencies.
MP_CONTEXT = multiprocessing.get_context("spawn")


class KeySizeError(ValueError):
    """A key shorter than :data:`MIN_SECURE_BITS` was requested without ``demo=True``."""


def make_keypair(*, n_bits: int = 2048, demo: bool = False):
    """Generate a Paillier key pair with ``phe``.

    Parameters
    ----------
    n_bits
        Bit length of the modulus ``n``. Below 2048 only with ``demo=True`` (tests, doctests).
    demo
        Allow insecure short keys; never use for real data.

    Returns
    -------
    (phe.PaillierPublicKey, phe.PaillierPrivateKey)

    >>> make_keypair(n_bits=1024)
    Traceback (most recent call last):
    ...
    fedlib.crypto.paillier.KeySizeError: n_bits=1024 is below the 2048-bit minimum for Paillier; pass demo=True for a test key
    """
    if not isinstance(n_bits, int | np.integer) or n_bits < 256:
        raise KeySizeError(f"n_bits must be an integer >= 256, got {n_bits!r}")
    if n_bits < MIN_SECURE_BITS and not demo:
        raise KeySizeError(
            f"n_bits={n_bits} is below the {MIN_SECURE_BITS}-bit minimum for Paillier; "
            "pass demo=True for a test key"
        )
    return paillier.generate_paillier_keypair(n_length=int(n_bits))


def ciphertext_nbytes(public_key) -> int:
    """Bytes of one ciphertext on the wire: an integer below ``n^2`` (transcript sizes).

    >>> pk, _ = make_keypair(n_bits=512, demo=True)
    >>> ciphertext_nbytes(pk)
    128
    """
    return (public_key.nsquare.bit_length() + 7) // 8


@dataclass(frozen=True)
class GHPacker:
    """Fixed-point packing of (gradient, hessian, count) into one Paillier plaintext.

    Each value ``x`` with ``|x| <= bound`` becomes ``round(x * 2**frac_bits) + offset`` with
    ``offset = ceil(bound * 2**frac_bits)``, a non-negative integer below ``2 * offset + 1``.
    A slot holds the sum over up to ``max_rows`` rows, so it gets
    ``bit_length(max_rows * (2 * offset))`` bits; the count slot ``bit_length(max_rows)``.
    Sums are exact in fixed point: the decoded sum equals the sum of the rounded values.

    Parameters
    ----------
    max_rows
        Largest number of rows that will ever be summed into one plaintext.
    g_bound, h_bound
        Bounds on ``|g|`` and ``|h|`` (logistic loss: 1 and 0.25). Checked on encode.
    frac_bits
        Fixed-point fraction bits (resolution ``2**-frac_bits``).

    >>> p = GHPacker(max_rows=1000, frac_bits=40)
    >>> p.plaintext_bits
    112
    """

    max_rows: int
    g_bound: float = 1.0
    h_bound: float = 1.0
    frac_bits: int = 40
    _scale: int = field(init=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.max_rows, int | np.integer) or self.max_rows < 1:
            raise ValueError(f"max_rows must be a positive integer, got {self.max_rows!r}")
        for name in ("g_bound", "h_bound"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        if not 1 <= self.frac_bits <= 200:
            raise ValueError(f"frac_bits must be in [1, 200], got {self.frac_bits!r}")
        object.__setattr__(self, "_scale", 1 << self.frac_bits)

    @property
    def g_offset(self) -> int:
        """Offset ``ceil(g_bound * 2**frac_bits)``: makes every encoded gradient non-negative."""
        return math.ceil(self.g_bound * self._scale)

    @property
    def h_offset(self) -> int:
        """Offset ``ceil(h_bound * 2**frac_bits)``: makes every encoded hessian non-negative."""
        return math.ceil(self.h_bound * self._scale)

    @property
    def count_bits(self) -> int:
        """Bits of the count slot (room for ``max_rows``)."""
        return int(self.max_rows).bit_length()

    @property
    def h_bits(self) -> int:
        """Bits of the hessian slot (room for a sum over ``max_rows`` rows)."""
        return (int(self.max_rows) * 2 * self.h_offset).bit_length()

    @property
    def g_bits(self) -> int:
        """Bits of the gradient slot (room for a sum over ``max_rows`` rows)."""
        return (int(self.max_rows) * 2 * self.g_offset).bit_length()

    @property
    def plaintext_bits(self) -> int:
        """Bits one packed sum over ``max_rows`` rows can occupy."""
        return self.g_bits + self.h_bits + self.count_bits

    @property
    def slot_bits(self) -> int:
        """Width of one bucket-sum slot in multi-bucket packing (= :attr:`plaintext_bits`)."""
        return self.plaintext_bits

    def slots(self, room_bits: int) -> int:
        """Bucket sums one plaintext of ``room_bits`` usable bits holds (>= 1, or raises).

        >>> GHPacker(max_rows=2500, h_bound=0.25, frac_bits=40).slots(2047)
        17
        """
        k = int(room_bits) // self.slot_bits
        if k < 1:
            raise ValueError(f"packing needs {self.slot_bits} bits per bucket sum "
                             f"(max_rows={self.max_rows}, frac_bits={self.frac_bits}) but the "
                             f"plaintext holds {room_bits}; use fewer rows, fewer fraction "
                             "bits or a longer key")
        return k

    def decode_packed(self, value: int, k: int, used: int | None = None) -> list:
        """Unpack ``k`` stacked bucket sums into ``(G, H, count)`` triples.

        The first bucket sits in the highest slot; ``used`` keeps only the first ``used``
        slots (the last packed group may be padded).

        >>> p = GHPacker(max_rows=4, frac_bits=8)
        >>> a, b = p.encode([0.5, -0.25], [0.25, 0.5])
        >>> p.decode_packed((a << p.slot_bits) | b, 2)
        [(0.5, 0.25, 1), (-0.25, 0.5, 1)]
        """
        value, s = int(value), self.slot_bits
        if value >> (k * s):
            raise ValueError("packed value has bits above its k slots: capacity exceeded")
        mask = (1 << s) - 1
        out = [self.decode_sum((value >> (s * (k - 1 - j))) & mask) for j in range(k)]
        return out if used is None else out[:used]

    def check_capacity(self, public_key) -> None:
        """Raise if a packed sum over ``max_rows`` rows could wrap around ``n``.

        ``public_key`` is a ``phe`` key or the usable plaintext bits as an ``int``.
        """
        room = int(public_key) if isinstance(public_key, int) else public_key.n.bit_length() - 1
        if self.plaintext_bits > room:
            raise ValueError(
                f"packing needs {self.plaintext_bits} bits (max_rows={self.max_rows}, "
                f"frac_bits={self.frac_bits}) but the key leaves {room}; use fewer rows, "
                "fewer fraction bits or a longer key"
            )

    def _fixed(self, x, bound: float, name: str) -> list[int]:
        x = np.asarray(x, dtype=np.float64).ravel()
        if x.size > self.max_rows:
            raise ValueError(f"{name} has {x.size} rows, more than max_rows={self.max_rows}")
        if not np.all(np.isfinite(x)) or np.any(np.abs(x) > bound):
            raise ValueError(f"{name} must be finite with |{name}| <= {bound}; "
                             f"got max |{name}| = {np.nanmax(np.abs(x))}")
        # np.rint on the scaled float then int(): exact for frac_bits + log2(bound) < 53.
        return [int(v) for v in np.rint(np.ldexp(x, self.frac_bits))]

    def to_fixed(self, x, *, bound: float | None = None, name: str = "x") -> list[int]:
        """Signed fixed-point integers ``round(x * 2**frac_bits)`` (used unpacked, naive mode)."""
        return self._fixed(x, self.g_bound if bound is None else bound, name)

    def encode(self, g, h) -> list[int]:
        """Pack per-row ``g`` and ``h`` into one non-negative integer each."""
        gi = self._fixed(g, self.g_bound, "g")
        hi = self._fixed(h, self.h_bound, "h")
        if len(gi) != len(hi):
            raise ValueError(f"g and h must have the same length, got {len(gi)} and {len(hi)}")
        hs, gs = self.count_bits, self.count_bits + self.h_bits
        go, ho = self.g_offset, self.h_offset
        return [((a + go) << gs) | ((b + ho) << hs) | 1 for a, b in zip(gi, hi, strict=True)]

    def decode_sum(self, value: int) -> tuple[float, float, int]:
        """Unpack a decrypted sum of packed rows into ``(G, H, count)``."""
        value = int(value)
        cnt = value & ((1 << self.count_bits) - 1)
        hsum = (value >> self.count_bits) & ((1 << self.h_bits) - 1)
        gsum = value >> (self.count_bits + self.h_bits)
        if cnt > self.max_rows or gsum >> self.g_bits:
            raise ValueError("packed sum overflows its slots: more rows than max_rows were summed")
        g = (gsum - cnt * self.g_offset) / self._scale
        h = (hsum - cnt * self.h_offset) / self._scale
        return g, h, cnt

    def decode_signed(self, value: int, public_key) -> float:
        """Decode one unpacked signed fixed-point sum (naive mode; negatives wrap mod n)."""
        value = int(value)
        if value > public_key.n // 2:
            value -= public_key.n
        return value / self._scale


def _random_unit(n: int) -> int:
    while True:
        r = secrets.randbelow(n - 1) + 1
        if math.gcd(r, n) == 1:
            return r


def _obfuscators(n: int, count: int) -> list:
    nsq = gmpy2.mpz(n) * n
    return [gmpy2.powmod(_random_unit(n), n, nsq) for _ in range(count)]


def _chunks(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts) if base + (i < extra) > 0]


class ObfuscatorPool:
    """Precomputed ``r^n mod n^2`` values, each used for exactly one encryption.

    Computing ``r^n mod n^2`` is the expensive part of a Paillier encryption, and it does
    not depend on the message, so a party computes a stock of them ahead of time
    (``fill``, optionally in ``n_jobs`` processes) and encryption becomes one product.
    ``take`` removes what it returns: reusing an obfuscator would link two ciphertexts.

    >>> pk, _ = make_keypair(n_bits=512, demo=True)
    >>> pool = ObfuscatorPool(pk).fill(3)
    >>> len(pool), len(pool.take(2)), len(pool)
    (3, 2, 1)
    """

    def __init__(self, public_key):
        self.public_key = public_key
        self._stock: list = []

    def __len__(self) -> int:
        return len(self._stock)

    def fill(self, count: int, *, n_jobs: int = 1,
             executor: Executor | None = None) -> ObfuscatorPool:
        """Add ``count`` obfuscators to the stock and return the pool.

        ``n_jobs > 1`` splits them over spawned workers (``executor``: an existing pool, so
        its start-up is paid once per fit).
        """
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        n = int(self.public_key.n)
        if n_jobs > 1 and count >= 2 * n_jobs:
            own = executor is None
            ex = ProcessPoolExecutor(max_workers=n_jobs, mp_context=MP_CONTEXT) if own \
                else executor
            try:
                for part in ex.map(_obfuscators, [n] * n_jobs, _chunks(count, n_jobs)):
                    self._stock.extend(part)
            finally:
                if own:
                    ex.shutdown()
        else:
            self._stock.extend(_obfuscators(n, count))
        return self

    def take(self, count: int) -> list:
        """Remove and return ``count`` obfuscators (each is used for one encryption only)."""
        if count > len(self._stock):
            raise ValueError(f"pool holds {len(self._stock)} obfuscators, {count} requested; "
                             "fill() it first")
        out, self._stock = self._stock[:count], self._stock[count:]
        return out


def encrypt_packed(public_key, plaintexts: Sequence[int], *, obfuscators=None,
                   n_jobs: int = 1, executor: Executor | None = None) -> list[int]:
    """Encrypt non-negative integers below ``n``: ``c = (1 + n m) r^n mod n^2``.

    With ``obfuscators`` (from :class:`ObfuscatorPool`) each encryption is one modular
    product; without, each one computes a fresh ``r^n mod n^2`` (in ``n_jobs`` processes
    when ``n_jobs > 1``). Returns Python ints (what goes on the wire).
    """
    n = gmpy2.mpz(public_key.n)
    nsq = n * n
    if obfuscators is None:
        pool = ObfuscatorPool(public_key).fill(len(plaintexts), n_jobs=n_jobs,
                                               executor=executor)
        obfuscators = pool.take(len(plaintexts))
    if len(obfuscators) != len(plaintexts):
        raise ValueError(f"need one obfuscator per plaintext: {len(obfuscators)} for "
                         f"{len(plaintexts)}")
    out = []
    for m, rn in zip(plaintexts, obfuscators, strict=True):
        if not 0 <= m < n:
            raise ValueError(f"plaintext must be in [0, n), got {m}")
        out.append(int((1 + n * m) * rn % nsq))
    return out


def add_ciphertexts(public_key, ciphertexts: Sequence[int]) -> int:
    """Homomorphic sum: the product of ciphertexts mod ``n^2`` (1 = an encryption of 0)."""
    nsq = gmpy2.mpz(public_key.nsquare)
    acc = gmpy2.mpz(1)
    for c in ciphertexts:
        acc = acc * c % nsq
    return int(acc)


def sub_ciphertext(public_key, a: int, b: int) -> int:
    """Homomorphic difference ``E(x - y)`` from ``E(x)``, ``E(y)`` (histogram subtraction)."""
    nsq = gmpy2.mpz(public_key.nsquare)
    return int(gmpy2.mpz(a) * gmpy2.invert(gmpy2.mpz(b), nsq) % nsq)


def rerandomize(public_key, ciphertexts: Sequence[int], *, obfuscators=None) -> list[int]:
    """Fresh randomness for ciphertexts: ``c · r^n mod n^2`` (same plaintext, new ``r``).

    A homomorphic sum ``∏ c_i`` carries the randomness ``∏ r_i`` of its terms, and the key
    holder can recover that randomness on decryption (``r = c^{n^{-1} mod φ(n)} mod n``). When
    the key holder produced the ``c_i`` itself (the active party in SecureBoost), it can then
    test which of its ciphertexts went into a sum. Multiplying by a fresh ``r^n`` before the
    sum leaves the party (Paillier 1999, §4; Cheng et al. 2021) breaks that link. ``phe``
    offers this only on its ``EncryptedNumber`` objects, not on the raw integers used here.

    >>> pk, sk = make_keypair(n_bits=512, demo=True)
    >>> c = encrypt_packed(pk, [7])
    >>> c2 = rerandomize(pk, c)
    >>> c2 != c, decrypt_raw(sk, c2)
    (True, [7])
    """
    nsq = gmpy2.mpz(public_key.nsquare)
    if obfuscators is None:
        obfuscators = ObfuscatorPool(public_key).fill(len(ciphertexts)).take(len(ciphertexts))
    if len(obfuscators) != len(ciphertexts):
        raise ValueError(f"need one obfuscator per ciphertext: {len(obfuscators)} for "
                         f"{len(ciphertexts)}")
    return [int(gmpy2.mpz(c) * rn % nsq) for c, rn in zip(ciphertexts, obfuscators, strict=True)]


def _bin_sums(nsq: int, cts: list[int], bins: np.ndarray, n_bins: int) -> list[int]:
    """Encrypted per-bin sums of one feature: one ciphertext product per row (1 = E(0))."""
    nsq = gmpy2.mpz(nsq)
    acc = [gmpy2.mpz(1)] * n_bins
    for b, c in zip(bins.tolist(), cts, strict=True):
        acc[b] = acc[b] * c % nsq
    return [int(v) for v in acc]


def _features_bin_sums(nsq: int, cts: list[int], block: np.ndarray, n_bins: int) -> list[int]:
    return [v for j in range(block.shape[1]) for v in _bin_sums(nsq, cts, block[:, j], n_bins)]


def bucket_sums(public_key, cts: Sequence[int], rows, bins: np.ndarray, n_buckets: int, *,
                n_jobs: int = 1, executor: Executor | None = None) -> list[int]:
    """Encrypted bucket sums of ``cts`` over ``rows``, per feature (column of ``bins``).

    Returns ``F * n_buckets`` ciphertexts, feature-major (feature ``j``'s bucket ``b`` at
    ``j * n_buckets + b``). With ``n_jobs > 1`` features are split across ``spawn`` worker
    processes (``executor`` reuses a pool across calls; see :data:`MP_CONTEXT`).

    >>> pk, sk = make_keypair(n_bits=512, demo=True)
    >>> c = encrypt_packed(pk, [1, 2, 4])
    >>> decrypt_raw(sk, bucket_sums(pk, c, [0, 1, 2], np.array([[0], [1], [0]]), 2))
    [5, 2]
    """
    rows = np.asarray(rows, dtype=np.int64)
    sub = [int(cts[i]) for i in rows]
    block = np.asarray(bins)[rows]
    nsq = int(public_key.nsquare)
    if n_jobs <= 1 or block.shape[1] < 2:
        return _features_bin_sums(nsq, sub, block, n_buckets)
    parts = np.array_split(np.arange(block.shape[1]), min(n_jobs, block.shape[1]))
    own = executor is None
    ex = ProcessPoolExecutor(n_jobs, mp_context=MP_CONTEXT) if own else executor
    try:
        futs = [ex.submit(_features_bin_sums, nsq, sub, block[:, p], n_buckets) for p in parts]
        return [v for f in futs for v in f.result()]
    finally:
        if own:
            ex.shutdown()


def decrypt_raw(private_key, ciphertexts: Sequence[int]) -> list[int]:
    """Decrypt to the plaintext integers in ``[0, n)`` (``phe``'s CRT decryption)."""
    return [int(private_key.raw_decrypt(int(c))) for c in ciphertexts]
