"""CKKS homomorphic aggregation of model updates with TenSEAL (HE-FL).

The paper's HE-FL mode: every client packs *all* its model parameters into one CKKS
ciphertext (poly_modulus_degree 8192, coefficient modulus [60, 40, 40, 60] bits, scale 2^40),
the server adds the ciphertexts without any key, and the key-holding clients decrypt the sum.
Roles map onto objects so that the secret never reaches the server object:

* :class:`CKKSKeyHolder` (clients that hold the secret key) makes the context, hands out
  :meth:`~CKKSKeyHolder.public_context` and decrypts;
* :func:`encrypt_vector` is what a client runs with the public context;
* :class:`CKKSAggregator` is the server: it refuses a context that carries a secret key;
* :class:`CKKSProtection` wires the three into :class:`fedlib.core.protection.UpdateProtection`.

Aggregation is additions only, so no relinearisation keys and no Galois (rotation) keys are
needed: the paper's "minimal rotation keys for ciphertext summation" are not needed at all,
because the sum runs across ciphertexts (slot-wise), never across the slots of one ciphertext.
The public context therefore carries the public key only.

References: paper 001 ("Privacy-preserving FL for credit risk: DP vs homomorphic
encryption"), Sect. 3 "Homomorphic encryption in federated learning" (c_agg = sum_i c_i,
w_agg = Dec(c_agg)), Sect. 4.4 / Table 2 (CKKS configuration) and the CKKS ablation (Table 6).
Parameter limits: Microsoft SEAL ``util/hestdparms.h`` (HomomorphicEncryption.org standard,
128-bit classical security, ternary secret). Introduced in chapter 2
(``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import numpy as np
>>> holder = CKKSKeyHolder(CKKSParams())
>>> server = CKKSAggregator(holder.public_context())
>>> c1 = encrypt_vector(holder.public_context(), np.array([1.0, 2.0, 3.0]))
>>> c2 = encrypt_vector(holder.public_context(), np.array([0.5, 0.5, 0.5]))
>>> np.round(holder.decrypt(server.sum([c1, c2])), 6)
array([1.5, 2.5, 3.5])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tenseal as ts

__all__ = [
    "SEAL_MAX_COEFF_BITS_128",
    "CKKSAggregator",
    "CKKSKeyHolder",
    "CKKSParameterError",
    "CKKSParams",
    "CKKSPayloadError",
    "CKKSProtection",
    "CKKSSecretKeyError",
    "encrypt_vector",
    "round_to_grid",
]

#: Largest total coefficient-modulus bit count per poly_modulus_degree for 128-bit classical
#: security with a ternary secret (SEAL ``SEAL_HE_STD_PARMS_128_TC``). SEAL (and so TenSEAL)
#: has no entry above 32768, which is why that is the largest degree accepted here.
SEAL_MAX_COEFF_BITS_128: dict[int, int] = {
    1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881,
}
#: SEAL's largest user prime (``SEAL_USER_MOD_BIT_COUNT_MAX``).
_MAX_PRIME_BITS = 60
#: Per-summand constant of the stated error bound, in units of N / scale (see ``error_bound``).
_NOISE_FACTOR = 2.0**10
#: Largest per-summand decryption error measured, in units of N / scale (``error_bound``).
_MEASURED_MAX_FACTOR = 1.4
#: How far the release grid must sit above the largest measured error (per summand).
_GRID_MARGIN = 16.0


class CKKSParameterError(ValueError):
    """CKKS parameters that SEAL would reject or that cannot hold the vector."""


class CKKSPayloadError(ValueError):
    """A ciphertext or vector that cannot be used (corrupt, wrong size, non-finite)."""


class CKKSSecretKeyError(ValueError):
    """A secret key was handed to a party that must not hold one (the server)."""


@dataclass(frozen=True)
class CKKSParams:
    """CKKS encryption parameters, checked against SEAL's limits before any key generation.

    Parameters
    ----------
    poly_modulus_degree
        Ring dimension N, a power of two in [1024, 32768]; a ciphertext holds N/2 slots.
    coeff_mod_bit_sizes
        Bit sizes of the RNS primes: the first holds the integer part at decryption, the
        middle ones are consumed by rescaling, the last is SEAL's special key-switching prime.
    scale_bits
        log2 of the encoding scale: the fractional precision of every encrypted value.

    Examples
    --------
    >>> CKKSParams().slots
    4096
    >>> CKKSParams(coeff_mod_bit_sizes=(60, 60, 60, 60))
    Traceback (most recent call last):
    ...
    fedlib.crypto.ckks.CKKSParameterError: coeff_mod_bit_sizes=(60, 60, 60, 60) totals 240 bits, above SEAL's 128-bit-security maximum of 218 bits for poly_modulus_degree=8192; drop or shrink primes, or use poly_modulus_degree=16384 (up to 438 bits)
    """

    poly_modulus_degree: int = 8192
    coeff_mod_bit_sizes: tuple[int, ...] = (60, 40, 40, 60)
    scale_bits: int = 40

    def __post_init__(self) -> None:
        # A list would make the frozen dataclass unhashable and silently mutable.
        object.__setattr__(self, "coeff_mod_bit_sizes", tuple(self.coeff_mod_bit_sizes))
        self.validate()

    @property
    def slots(self) -> int:
        """Number of real values one ciphertext holds (N / 2)."""
        return self.poly_modulus_degree // 2

    @property
    def scale(self) -> float:
        """The encoding scale Δ = 2^scale_bits."""
        return 2.0**self.scale_bits

    def validate(self, vector_length: int | None = None) -> None:
        """Raise :class:`CKKSParameterError` naming the parameter if SEAL would reject it.

        ``vector_length``, when given, must fit in one ciphertext (the paper packs all model
        parameters into a single ciphertext).
        """
        n = self.poly_modulus_degree
        if (
            isinstance(n, bool)
            or not isinstance(n, int | np.integer)
            or n not in SEAL_MAX_COEFF_BITS_128
        ):
            raise CKKSParameterError(
                f"poly_modulus_degree={n!r} must be a power of two in TenSEAL/SEAL's supported "
                f"range {sorted(SEAL_MAX_COEFF_BITS_128)}"
            )
        bits = self.coeff_mod_bit_sizes
        if len(bits) < 2 or not all(isinstance(b, int | np.integer) for b in bits):
            raise CKKSParameterError(
                f"coeff_mod_bit_sizes={bits!r} must be at least two integers: a data prime "
                "and the special key-switching prime (TenSEAL always generates key-switching keys)"
            )
        # A prime p = 1 (mod 2N) exists only above 2N, so smaller primes cannot be found.
        min_bits = int(math.log2(2 * n)) + 1
        bad = [b for b in bits if not min_bits <= b <= _MAX_PRIME_BITS]
        if bad:
            raise CKKSParameterError(
                f"coeff_mod_bit_sizes={bits!r}: every prime must have between {min_bits} and "
                f"{_MAX_PRIME_BITS} bits for poly_modulus_degree={n} (got {bad})"
            )
        total, limit = sum(bits), SEAL_MAX_COEFF_BITS_128[n]
        if total > limit:
            bigger = next((d for d in sorted(SEAL_MAX_COEFF_BITS_128) if
                           SEAL_MAX_COEFF_BITS_128[d] >= total), None)
            hint = (f"use poly_modulus_degree={bigger} (up to {SEAL_MAX_COEFF_BITS_128[bigger]} "
                    "bits)" if bigger else "no supported degree allows that many bits")
            raise CKKSParameterError(
                f"coeff_mod_bit_sizes={bits!r} totals {total} bits, above SEAL's "
                f"128-bit-security maximum of {limit} bits for poly_modulus_degree={n}; "
                f"drop or shrink primes, or {hint}"
            )
        sb = self.scale_bits
        inner = bits[1:-1]
        if isinstance(sb, bool) or not isinstance(sb, int | np.integer) or sb < 1:
            raise CKKSParameterError(f"scale_bits={sb!r} must be a positive integer")
        if inner and sb > min(inner):
            raise CKKSParameterError(
                f"scale_bits={sb} is larger than the smallest inner prime ({min(inner)} bits of "
                f"coeff_mod_bit_sizes={bits!r}); a rescale would then not restore the scale"
            )
        if sb >= bits[0]:
            raise CKKSParameterError(
                f"scale_bits={sb} must be below the first prime ({bits[0]} bits of "
                f"coeff_mod_bit_sizes={bits!r}), which must also hold the integer part"
            )
        if vector_length is not None:
            if vector_length < 1:
                raise CKKSParameterError(f"vector_length={vector_length} must be at least 1")
            if vector_length > self.slots:
                fits = next((d for d in sorted(SEAL_MAX_COEFF_BITS_128) if d // 2 >= vector_length),
                            None)
                hint = (f"use poly_modulus_degree>={fits}" if fits else
                        "split the vector over several ciphertexts")
                raise CKKSParameterError(
                    f"vector_length={vector_length} exceeds the {self.slots} slots of one "
                    f"ciphertext at poly_modulus_degree={n}; {hint}"
                )

    def error_bound(self, n_summands: int, max_abs: float) -> float:
        """Stated absolute error of decrypt(sum of ``n_summands`` fresh encryptions).

        Per coordinate, for inputs with ``|x| <= max_abs``, the bound is
        ``n_summands * (2**10 * N / Δ + max_abs * 2**-40)``: about ``7.6e-6 * n`` with the
        paper's parameters. Why: SEAL encrypts at the key level and divides by the special
        prime, so a fresh ciphertext carries rounding noise whose slot-wise size grows like
        N / Δ; measured here (8192, 2^40, 327,680 slots) its standard deviation is
        ``0.12 * N / Δ`` (1.2e-9) and the largest error 1.1e-8 (about ``1.4 * N / Δ``), the
        same for |x| from 1 to 1e6. The constant 2^10 leaves a factor of ~700 over the
        largest error seen; the ``max_abs`` term covers double-precision rounding in the
        encoder's FFT. Additions add errors, so the bound grows linearly (the worst case;
        typical errors grow like sqrt(n)). The bound does not cover plaintext multiplications
        (weights): see :meth:`CKKSAggregator.sum`.

        >>> f"{CKKSParams().error_bound(5, 100.0):.2e}"
        '3.81e-05'
        """
        if isinstance(n_summands, bool) or not isinstance(n_summands, int | np.integer) \
                or n_summands < 1:
            raise ValueError(f"n_summands={n_summands!r} must be a positive integer")
        if not (math.isfinite(max_abs) and max_abs >= 0):
            raise ValueError(f"max_abs={max_abs!r} must be a finite number >= 0")
        # The sum is decoded modulo the product of the data primes; beyond half of it wraps.
        data_bits = sum(self.coeff_mod_bit_sizes[:-1])
        if n_summands * max_abs * self.scale >= 2.0 ** (data_bits - 2):
            raise CKKSParameterError(
                f"a sum of n_summands={n_summands} values up to max_abs={max_abs} at "
                f"scale_bits={self.scale_bits} overflows the {data_bits}-bit data modulus"
            )
        per = _NOISE_FACTOR * self.poly_modulus_degree / self.scale + max_abs * 2.0**-40
        return float(n_summands * per)


def _make_context(params: CKKSParams) -> ts.Context:
    """Generate a fresh CKKS context holding the secret key (TenSEAL key generation)."""
    params.validate()
    try:
        ctx = ts.context(
            ts.SCHEME_TYPE.CKKS,
            poly_modulus_degree=int(params.poly_modulus_degree),
            coeff_mod_bit_sizes=[int(b) for b in params.coeff_mod_bit_sizes],
        )
    except (ValueError, RuntimeError) as exc:
        raise CKKSParameterError(
            f"TenSEAL rejected poly_modulus_degree={params.poly_modulus_degree}, "
            f"coeff_mod_bit_sizes={params.coeff_mod_bit_sizes}, scale_bits={params.scale_bits}: "
            f"{exc}"
        ) from exc
    ctx.global_scale = params.scale
    return ctx


def _load_context(data: bytes | ts.Context, what: str) -> ts.Context:
    if isinstance(data, ts.Context):
        return data
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"{what} must be serialized TenSEAL context bytes or a tenseal.Context, "
                        f"got {type(data).__name__}")
    try:
        return ts.context_from(bytes(data))
    except (ValueError, RuntimeError) as exc:
        raise CKKSPayloadError(f"{what} is not a serialized TenSEAL context: {exc}") from exc


def _slots_of(ctx: ts.Context) -> int:
    return ctx.seal_context().data.first_context_data().parms().poly_modulus_degree() // 2


def _as_vector(vector: np.ndarray, slots: int) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float64)
    if v.ndim != 1:
        raise CKKSPayloadError(f"vector must be 1-D (flatten the model first), got shape {v.shape}")
    if v.size == 0 or v.size > slots:
        raise CKKSParameterError(
            f"vector of length {v.size} does not fit one ciphertext of {slots} slots "
            f"(poly_modulus_degree={2 * slots}); use a larger poly_modulus_degree"
        )
    if not np.all(np.isfinite(v)):
        raise CKKSPayloadError("vector contains NaN or infinite values, which CKKS cannot encode")
    return v


def _load_vector(ctx: ts.Context, data: bytes, index: int) -> ts.CKKSVector:
    if not isinstance(data, bytes | bytearray):
        raise CKKSPayloadError(f"ciphertext {index} must be bytes, got {type(data).__name__}")
    try:
        return ts.ckks_vector_from(ctx, bytes(data))
    except (ValueError, RuntimeError) as exc:
        raise CKKSPayloadError(
            f"ciphertext {index} is not a CKKS vector under this context: {exc}") from exc


def encrypt_vector(public_context: bytes | ts.Context, vector: np.ndarray) -> bytes:
    """Client side: encrypt a whole parameter vector into ONE serialized CKKS ciphertext.

    ``public_context`` is :meth:`CKKSKeyHolder.public_context` (or a loaded context; loading
    costs ~15 ms, so pass a loaded one in loops). Encryption uses the public key, so a client
    needs no secret to encrypt. FedAvg weights should be applied here, before encryption
    (see :meth:`CKKSAggregator.sum`).

    >>> holder = CKKSKeyHolder(CKKSParams())
    >>> len(encrypt_vector(holder.public_context(), np.zeros(13))) > 300_000
    True
    """
    ctx = _load_context(public_context, "public_context")
    v = _as_vector(vector, _slots_of(ctx))
    try:
        return ts.ckks_vector(ctx, v).serialize()
    except ValueError as exc:  # e.g. SEAL's "encoded values are too large"
        raise CKKSPayloadError(f"cannot encrypt the vector: {exc}") from exc


def round_to_grid(values, grid_bits: int) -> np.ndarray:
    """Round to the nearest multiple of ``2**-grid_bits``: what a key holder releases.

    CKKS decryption returns the message plus the encryption noise. Handing that noisy
    value back to a party that holds the ciphertext (the server) is the setting of Li and
    Micciancio's passive key-recovery attack on approximate HE (EUROCRYPT 2021): the noise
    bits are a linear function of the secret key. Rounding to a grid far above the noise
    (2^-20 ≈ 9.5e-7 against a measured noise of about 1e-8 with the paper's parameters)
    removes those low-order bits from the released value. It is the cheap mitigation; a
    value within the noise of a grid midpoint can still round either way, so it is not a
    proof of IND-CPA^D security (noise flooding with a statistical-security parameter is).

    >>> round_to_grid(np.array([0.1 + 3e-9, -2.0 - 1e-8]), 20) * 2**20
    array([  104858., -2097152.])
    """
    if isinstance(grid_bits, bool) or not isinstance(grid_bits, int | np.integer) \
            or not 1 <= grid_bits <= 52:
        raise ValueError(f"grid_bits={grid_bits!r} must be an integer in [1, 52]")
    step = 2.0 ** -int(grid_bits)
    return np.round(np.asarray(values, dtype=np.float64) / step) * step


class CKKSKeyHolder:
    """The key-holding clients: generate keys, publish the public context, decrypt.

    Only a public key is generated for others: no Galois keys (aggregation rotates nothing)
    and the relinearisation keys TenSEAL makes are kept out of the public context
    (aggregation multiplies no ciphertexts).

    Parameters
    ----------
    params
        Validated before key generation, so bad parameters never cost a keygen.

    Examples
    --------
    >>> holder = CKKSKeyHolder(CKKSParams())
    >>> np.round(holder.decrypt(holder.encrypt([0.25, -4.0])), 6)
    array([ 0.25, -4.  ])
    """

    def __init__(self, params: CKKSParams | None = None, *, _context: ts.Context | None = None):
        self.params = CKKSParams() if params is None else params
        self._context = _make_context(self.params) if _context is None else _context
        if not self._context.is_private():
            raise CKKSSecretKeyError("a key holder needs a context with the secret key")
        self._public = self._context.serialize(
            save_public_key=True, save_secret_key=False,
            save_galois_keys=False, save_relin_keys=False,
        )

    @classmethod
    def from_secret_context(cls, secret_context: bytes, params: CKKSParams) -> CKKSKeyHolder:
        """Rebuild a key holder from :meth:`secret_context` bytes (another key-holding client)."""
        ctx = _load_context(secret_context, "secret_context")
        n = ctx.seal_context().data.first_context_data().parms().poly_modulus_degree()
        if n != params.poly_modulus_degree:
            raise CKKSParameterError(
                f"secret_context has poly_modulus_degree={n}, params say "
                f"{params.poly_modulus_degree}")
        ctx.global_scale = params.scale
        return cls(params, _context=ctx)

    def public_context(self) -> bytes:
        """Serialized context with the public key and no secret key: safe to send anyone."""
        return self._public

    def secret_context(self) -> bytes:
        """Serialized context WITH the secret key, for other key-holding clients only."""
        return self._context.serialize(save_secret_key=True, save_galois_keys=False,
                                       save_relin_keys=False)

    def encrypt(self, vector: np.ndarray) -> bytes:
        """Encrypt like :func:`encrypt_vector` (convenience for clients sharing the key)."""
        return encrypt_vector(self._context, vector)

    def decrypt(self, ciphertext: bytes) -> np.ndarray:
        """Decrypt one serialized ciphertext into a float64 vector."""
        return np.asarray(_load_vector(self._context, ciphertext, 0).decrypt(), dtype=np.float64)

    def __repr__(self) -> str:
        return f"CKKSKeyHolder({self.params!r})"


class CKKSAggregator:
    """The aggregation server: adds ciphertexts, never holds a secret key.

    Parameters
    ----------
    public_context
        :meth:`CKKSKeyHolder.public_context`. A context that carries a secret key is refused
        with :class:`CKKSSecretKeyError`, so the server object provably cannot decrypt.
    """

    def __init__(self, public_context: bytes | ts.Context):
        ctx = _load_context(public_context, "public_context")
        if ctx.is_private() or ctx.has_secret_key():
            raise CKKSSecretKeyError(
                "public_context carries the secret key; the aggregation server must get "
                "CKKSKeyHolder.public_context() (serialized without the secret key)")
        self._context = ctx

    @property
    def context(self) -> ts.Context:
        """The server's (public) TenSEAL context."""
        return self._context

    def sum(self, ciphertexts: Sequence[bytes],
            weights: Sequence[float] | None = None) -> bytes:
        """Homomorphic sum c_agg = Σ_i c_i (optionally Σ_i w_i c_i), serialized.

        Weights are public plaintext scalars multiplied into each ciphertext. Prefer applying
        them on the clients before encryption: a plaintext multiplication uses one level of
        the modulus chain, and TenSEAL resets the scale to 2^scale_bits after rescaling by a
        prime that is only close to 2^scale_bits, which leaves a systematic relative error
        (measured ~1.3e-7, up to 5.5e-7, with the paper's parameters) outside
        :meth:`CKKSParams.error_bound`. Unweighted sums need no rescaling at all.
        """
        if len(ciphertexts) == 0:
            raise CKKSPayloadError("ciphertexts is empty: nothing to aggregate")
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (len(ciphertexts),) or not np.all(np.isfinite(w)):
                raise ValueError(f"weights must be {len(ciphertexts)} finite numbers, got {weights!r}")
        vectors = [_load_vector(self._context, c, i) for i, c in enumerate(ciphertexts)]
        sizes = {v.size() for v in vectors}
        if len(sizes) > 1:
            raise CKKSPayloadError(f"ciphertexts hold vectors of different lengths {sorted(sizes)}")
        if weights is not None:
            vectors = [v * float(wi) for v, wi in zip(vectors, w, strict=True)]
        total = vectors[0]
        for v in vectors[1:]:
            total += v
        return total.serialize()


class CKKSProtection:
    """CKKS as an :class:`~fedlib.core.protection.UpdateProtection` (transcript kind ``ciphertext``).

    ``protect`` encrypts with the public context only, ``aggregate`` runs a
    :class:`CKKSAggregator` (no secret), ``recover`` decrypts with the key holder.

    Parameters
    ----------
    key_holder
        A :class:`CKKSKeyHolder`, or the bytes of :meth:`CKKSKeyHolder.secret_context`
        (then ``params`` must describe it).
    params
        Only used with secret-context bytes.
    release_grid_bits
        ``recover`` rounds the decrypted aggregate to multiples of ``2**-release_grid_bits``
        before it goes back to the server (:func:`round_to_grid`; default 20). The grid must
        be at least 16 times the largest measured CKKS error (``1.4 N / scale`` per summand),
        so at most 22 with the paper's parameters. ``None`` releases the raw noisy
        decryption (only to measure the CKKS error itself).

    Trust model: every client holds the same secret key (the paper's setting), so the
    server colluding with any one client can decrypt every individual update it received
    (:func:`fedlib.fl.leakage.recover_by_collusion`). Threshold or multi-key CKKS, where no
    single client can decrypt alone, would remove that; it is not implemented here.

    Examples
    --------
    >>> p = CKKSProtection(CKKSKeyHolder(CKKSParams()))
    >>> agg = p.aggregate([p.protect("a", np.ones(3)), p.protect("b", np.ones(3))])
    >>> np.round(p.recover(agg), 6)
    array([2., 2., 2.])
    """

    kind = "ciphertext"

    def __init__(self, key_holder: CKKSKeyHolder | bytes, *, params: CKKSParams | None = None,
                 release_grid_bits: int | None = 20):
        if isinstance(key_holder, bytes | bytearray):
            key_holder = CKKSKeyHolder.from_secret_context(
                bytes(key_holder), CKKSParams() if params is None else params)
        if not isinstance(key_holder, CKKSKeyHolder):
            raise TypeError("key_holder must be a CKKSKeyHolder or secret-context bytes, "
                            f"got {type(key_holder).__name__}")
        self.key_holder = key_holder
        self.params = key_holder.params
        if release_grid_bits is not None:
            round_to_grid(0.0, release_grid_bits)  # type and range check
            finest = _GRID_MARGIN * _MEASURED_MAX_FACTOR * self.params.poly_modulus_degree \
                / self.params.scale
            if 2.0 ** -release_grid_bits < finest:
                raise CKKSParameterError(
                    f"release_grid_bits={release_grid_bits} gives a grid of "
                    f"{2.0 ** -release_grid_bits:.2e}, below {_GRID_MARGIN:g} x the CKKS error "
                    f"({finest:.2e}); use at most {int(math.floor(-math.log2(finest)))}")
        self.release_grid_bits = release_grid_bits
        self.public_context = key_holder.public_context()
        # Clients encrypt with a context loaded from the public bytes, as a real client would.
        self._client_context = ts.context_from(self.public_context)
        self.aggregator = CKKSAggregator(self.public_context)

    def protect(self, party: str, vector: np.ndarray) -> bytes:
        """Party ``party`` encrypts its vector into one ciphertext."""
        try:
            return encrypt_vector(self._client_context, vector)
        except ValueError as exc:
            raise type(exc)(f"party {party!r}: {exc}") from exc

    def aggregate(self, payloads: Sequence[bytes]) -> bytes:
        """Server side homomorphic sum (no secret involved)."""
        return self.aggregator.sum(payloads)

    def recover(self, aggregate: bytes) -> np.ndarray:
        """The plain sum: key holders decrypt the aggregate and round it to the release grid.

        Rounding to the grid means no CKKS noise bits reach the server.
        """
        plain = self.key_holder.decrypt(aggregate)
        if self.release_grid_bits is None:
            return plain
        return round_to_grid(plain, self.release_grid_bits)

    def error_bound(self, n_summands: int, max_abs: float) -> float:
        """Stated absolute error of ``recover(aggregate(...))``.

        :meth:`CKKSParams.error_bound` plus half a grid step for the release rounding.
        """
        half = 0.0 if self.release_grid_bits is None else 2.0 ** -(self.release_grid_bits + 1)
        return self.params.error_bound(n_summands, max_abs) + half
