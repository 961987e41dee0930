"""One interface for the additively homomorphic schemes SecureBoost can run on.

SecureBoost needs five things from its encryption: encrypt a vector of non-negative
integers, add ciphertexts per histogram bucket, subtract (histogram subtraction), multiply by
a public power of two (to stack bucket sums in one plaintext, :meth:`HEBackend.pack`) and
decrypt. Three backends give them, selected by ``he_backend``:

``phe``
    Paillier (1999) in pure Python on ``gmpy2`` (:mod:`fedlib.crypto.paillier`): the
    **reference**, small and readable, used to cross-check the others (same trees).
``zpaillier`` (default)
    The same Paillier scheme through SecretFlow HEU's C++ implementation (``sf-heu``,
    schema ``z-paillier``): identical ciphertext space ``Z*_{n^2}`` and decryption, with
    faster encryption and HEU's own thread pool (no Python processes).
``ou``
    Okamoto–Uchiyama (1998) through HEU (what SecretFlow's own SecureBoost uses): modulus
    ``n = p^2 q``, ciphertexts mod ``n`` (half of Paillier's), plaintexts below ``p``
    (about a third of the key's bits), 10-30x faster encryption and decryption.

**Security basis** (each at 2048-bit moduli, the library's minimum; NIST SP 800-57 puts
2048-bit factoring at about 112-bit security):

* Paillier (``phe``, ``zpaillier``): semantic security under the *decisional composite
  residuosity* assumption (DCRA) for ``n = pq``; one-wayness rests on the composite
  residuosity class problem. Both are implied by factoring: whoever factors ``n`` decrypts.
* Okamoto–Uchiyama (``ou``): one-wayness is *equivalent to factoring* ``n = p^2 q``;
  semantic security rests on the *p-subgroup* assumption. Moduli of the form ``p^2 q`` are
  less studied than RSA moduli and can be attacked by lattice factoring methods for
  ``p^r q``, whose advantage at ``r = 2`` is small; at 2048 bits OU is a standard choice in
  industrial vertical federated learning (SecretFlow), not a formally equal one.

Ciphertexts are opaque: ``phe`` uses ``list[int]`` (what :mod:`fedlib.crypto.paillier`
works on), HEU backends :class:`HeuCiphertexts` (a ``heu.numpy.CiphertextArray`` column with
its wire size). Code outside this module only calls the methods.

Parallelism: HEU runs its batch operations on its own C++ thread pool, which is safe inside
a Jupyter kernel (no fork). ``phe`` is pure Python; with ``n_jobs > 1`` it uses worker
processes started with ``spawn`` (:data:`fedlib.crypto.paillier.MP_CONTEXT`): forking a
process whose other threads (PyTorch, OpenMP, BLAS) hold a lock copies the lock held
forever — the chapter-4 deadlock of issue 12.

References: Paillier 1999; Okamoto & Uchiyama 1998, "A new public-key cryptosystem as secure
as factoring"; Cheng et al. 2021 (SecureBoost); paper 003 (Xu et al.) §3.3, eqs. 9–15.
Introduced in chapter 4 (``chapters/04_vertical_secureboost_xmp.py``).

Examples
--------
>>> he = make_backend("phe", key_bits=512, demo=True)
>>> c = he.encrypt([3, 4])
>>> he.decrypt(he.sub(he.take(c, [1]), he.take(c, [0])))
[1]
"""

from __future__ import annotations

from collections.abc import Sequence

import heu.numpy as hnp
import numpy as np

from fedlib.crypto import paillier as _pl

__all__ = ["BACKENDS", "SCHEMES", "SECURITY", "HEBackend", "HeuBackend", "HeuCiphertexts",
           "PheBackend", "make_backend"]

BACKENDS = ("phe", "zpaillier", "ou")

#: One sentence per backend on what its security rests on (chapter 4 prints it).
SECURITY = {
    "phe": "Paillier: semantically secure under the decisional composite residuosity "
           "assumption for n = pq (whoever factors n can decrypt)",
    "zpaillier": "Paillier (HEU's implementation): semantically secure under the decisional "
                 "composite residuosity assumption for n = pq (whoever factors n can decrypt)",
    "ou": "Okamoto-Uchiyama: one-way if and only if factoring n = p^2 q is hard, "
          "semantically secure under the p-subgroup assumption (a less studied modulus "
          "shape than Paillier's n = pq)",
}

SCHEMES = {"phe": "Paillier", "zpaillier": "Paillier", "ou": "Okamoto-Uchiyama"}


class HEBackend:
    """What SecureBoost asks of a scheme (see the module docstring); subclasses implement it.

    Attributes: ``name`` (a key of :data:`BACKENDS`), ``scheme``, ``security`` (one
    sentence), ``key_bits``, ``plaintext_bits`` (every non-negative integer below
    ``2**plaintext_bits`` encrypts and decrypts exactly), ``ciphertext_nbytes`` (wire size of
    one ciphertext), ``has_secret`` (the key holder's object or the public view).
    """

    name: str
    #: Cost of one ciphertext subtraction in ciphertext additions (bench/bench_vertical.py,
    #: 2048 bits): a subtraction inverts a ciphertext, an addition is one modular product.
    #: Histogram subtraction pays only when the node has more rows than this times the
    #: buckets per feature.
    sub_cost_in_adds: float = 40.0
    key_bits: int
    plaintext_bits: int
    ciphertext_nbytes: int
    has_secret: bool

    @property
    def scheme(self) -> str:
        """The scheme's name (``Paillier`` or ``Okamoto-Uchiyama``)."""
        return SCHEMES[self.name]

    @property
    def security(self) -> str:
        """One sentence on the assumption the scheme's security rests on."""
        return SECURITY[self.name]

    def _need_secret(self):
        if not self.has_secret:
            raise PermissionError("this is a public-key view: only the key holder decrypts")

    def close(self) -> None:
        """Release worker processes (only ``phe`` with ``n_jobs > 1`` has any)."""

    def pack(self, cts, k: int, shift_bits: int):
        """Stack ``k`` consecutive ciphertexts into one: ``Σ_j m_j 2^{shift·(k-1-j)}``.

        Horner's rule on ciphertexts, ``acc ← acc·2^shift + c_j`` (one multiplication by a
        public power of two and one addition per slot). The last group is padded with zero
        slots at the low end. Needs every ``m_j < 2^shift``; the caller checks the capacity
        ``k · shift <= plaintext_bits``.
        """
        raise NotImplementedError


class PheBackend(HEBackend):
    """Paillier on ``phe`` + ``gmpy2``: ciphertexts are Python ints (the reference)."""

    name = "phe"
    sub_cost_in_adds = 7.0  # gmpy2.invert vs one product mod n^2, measured

    def __init__(self, public_key, private_key=None, *, n_jobs: int = 1):
        self.public_key, self._sk, self.n_jobs = public_key, private_key, int(n_jobs)
        self.key_bits = int(public_key.n.bit_length())
        self.plaintext_bits = self.key_bits - 1
        self.ciphertext_nbytes = _pl.ciphertext_nbytes(public_key)
        self.has_secret = private_key is not None
        self.pool: _pl.ObfuscatorPool | None = None
        self._executor = None

    @classmethod
    def generate(cls, key_bits: int = 2048, *, demo: bool = False, n_jobs: int = 1):
        """A fresh ``key_bits`` Paillier key pair as the key holder's backend."""
        return cls(*_pl.make_keypair(n_bits=key_bits, demo=demo), n_jobs=n_jobs)

    def public(self) -> PheBackend:
        """The same backend without the private key (what a passive party gets)."""
        return PheBackend(self.public_key, n_jobs=self.n_jobs)

    def _workers(self):
        """The backend's pool of spawned workers (``None`` when ``n_jobs == 1``).

        One pool per backend object, started on first use and kept until :meth:`close`
        (spawning costs ~0.5 s a worker; paid once per fit).
        """
        if self.n_jobs > 1 and self._executor is None:
            from concurrent.futures import ProcessPoolExecutor

            self._executor = ProcessPoolExecutor(self.n_jobs, mp_context=_pl.MP_CONTEXT)
        return self._executor

    def precompute(self, count: int) -> None:
        """Compute ``count`` obfuscators ``r^n mod n^2`` ahead (offline phase)."""
        self.pool = _pl.ObfuscatorPool(self.public_key).fill(count, n_jobs=self.n_jobs,
                                                             executor=self._workers())

    def encrypt(self, plaintexts: Sequence[int]) -> list[int]:
        """Encrypt non-negative integers below ``2**plaintext_bits``, one ciphertext each."""
        obf = None
        if self.pool is not None and len(self.pool) >= len(plaintexts):
            obf = self.pool.take(len(plaintexts))
        return _pl.encrypt_packed(self.public_key, list(plaintexts), obfuscators=obf,
                                  n_jobs=self.n_jobs, executor=self._workers())

    def decrypt(self, cts, *, signed: bool = False) -> list[int]:
        """Decrypt ciphertexts (key holder only).

        Parameters
        ----------
        cts : list of int
            Ciphertexts from this key's :meth:`encrypt` or arithmetic on them.
        signed : bool
            Read plaintexts above ``n // 2`` as negative (``m - n``).

        Returns
        -------
        list of int
            One plaintext per ciphertext.
        """
        self._need_secret()
        out = _pl.decrypt_raw(self._sk, cts)
        if signed:
            n = int(self.public_key.n)
            out = [v - n if v > n // 2 else v for v in out]
        return out

    def take(self, cts, idx) -> list[int]:
        """The ciphertexts at positions ``idx``, in that order."""
        return [cts[int(i)] for i in idx]

    def sub(self, a, b) -> list[int]:
        """Element-wise ciphertext difference: encrypts ``a_i - b_i`` (mod ``n``)."""
        return [_pl.sub_ciphertext(self.public_key, x, y) for x, y in zip(a, b, strict=True)]

    def rerandomize(self, cts) -> list[int]:
        """The same plaintexts under fresh randomness (hides how a sum was formed)."""
        return _pl.rerandomize(self.public_key, list(cts))

    def bucket_sums(self, cts, rows: np.ndarray, bins: np.ndarray, n_buckets: int) -> list[int]:
        """Per-feature bucket sums over ``rows``: ``F·n_buckets`` ciphertexts, feature-major.

        Parameters
        ----------
        cts
            One ciphertext per row of the whole data set.
        rows
            Indices of the node's rows.
        bins
            Bin index of every row and feature, shape ``(rows of the data set, F)``.
        n_buckets
            Buckets per feature (the largest bin count; shorter features get empty buckets).
        """
        return _pl.bucket_sums(self.public_key, cts, rows, bins, n_buckets, n_jobs=self.n_jobs,
                               executor=self._workers())

    def close(self) -> None:
        """Shut down the worker processes, if any."""
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def pack(self, cts, k: int, shift_bits: int) -> list[int]:
        """Stack ``k`` consecutive ciphertexts into one (see :meth:`HEBackend.pack`)."""
        import gmpy2

        nsq = gmpy2.mpz(self.public_key.nsquare)
        shift = 1 << int(shift_bits)
        out = []
        for start in range(0, len(cts), k):
            group = list(cts[start:start + k]) + [1] * (k - len(cts[start:start + k]))
            acc = gmpy2.mpz(group[0])
            for c in group[1:]:
                # acc^(2^shift) · c: shifts the plaintext left by `shift` bits, adds c's.
                acc = gmpy2.powmod(acc, shift, nsq) * c % nsq
            out.append(int(acc))
        return out

    def length(self, cts) -> int:
        """Number of ciphertexts in ``cts``."""
        return len(cts)


class HeuCiphertexts:
    """A column of HEU ciphertexts and its size on the wire (for the transcript)."""

    __slots__ = ("array", "nbytes_each")

    def __init__(self, array, nbytes_each: int):
        self.array, self.nbytes_each = array, int(nbytes_each)

    def __len__(self) -> int:
        return int(self.array.rows)

    def nbytes_on_wire(self) -> int:
        """Bytes these ciphertexts take on the wire."""
        return len(self) * self.nbytes_each


class HeuBackend(HEBackend):
    """Paillier (``zpaillier``) or Okamoto–Uchiyama (``ou``) through SecretFlow HEU."""

    _SCHEMA = {"zpaillier": "z-paillier", "ou": "ou"}
    sub_cost_in_adds = 40.0  # HEU: 37 (z-paillier) and 43 (OU) additions, measured

    def __init__(self, name: str, kit, *, key_bits: int, has_secret: bool):
        if name not in self._SCHEMA:
            raise ValueError(f"HEU backend must be one of {sorted(self._SCHEMA)}, got {name!r}")
        self._hnp = hnp
        self.name, self.kit, self.has_secret = name, kit, has_secret
        self._enc, self._ev = kit.encryptor(), kit.evaluator()
        self._codec = kit.bigint_encoder()
        bound_bits = kit.public_key().plaintext_bound().bit_count()
        # HEU plaintexts are signed, |m| < bound; non-negative m < 2^(bits-1) always fit.
        self.plaintext_bits = int(bound_bits) - 1
        self.key_bits = int(key_bits)
        # Paillier ciphertexts live mod n^2, OU's mod n.
        self.ciphertext_nbytes = (2 if name == "zpaillier" else 1) * ((self.key_bits + 7) // 8)

    @classmethod
    def generate(cls, name: str, key_bits: int = 2048, *, demo: bool = False) -> HeuBackend:
        """The key holder's backend on a fresh ``key_bits`` key pair (``zpaillier`` or ``ou``)."""
        if key_bits < _pl.MIN_SECURE_BITS and not demo:
            raise _pl.KeySizeError(f"key_bits={key_bits} is below the {_pl.MIN_SECURE_BITS}-"
                                   "bit minimum; pass demo=True for a test key")
        if name == "ou" and key_bits < 1024:
            raise _pl.KeySizeError(f"HEU's OU needs key_bits >= 1024, got {key_bits}")
        if name not in cls._SCHEMA:
            raise ValueError(f"HEU backend must be one of {sorted(cls._SCHEMA)}, got {name!r}")
        kit = hnp.setup(cls._SCHEMA[name], int(key_bits))
        return cls(name, kit, key_bits=key_bits, has_secret=True)

    def public(self) -> HeuBackend:
        """The same backend without the private key (what a passive party gets)."""
        return HeuBackend(self.name, self._hnp.setup(self.kit.public_key()),
                          key_bits=self.key_bits, has_secret=False)

    def _wrap(self, arr) -> HeuCiphertexts:
        return HeuCiphertexts(arr, self.ciphertext_nbytes)

    def _plain(self, ints) -> object:
        col = np.empty((len(ints), 1), dtype=object)
        col[:, 0] = [int(v) for v in ints]
        return self.kit.array(col, self._codec)

    def encrypt(self, plaintexts: Sequence[int]) -> HeuCiphertexts:
        """Encrypt non-negative integers below ``2**plaintext_bits`` into one HEU column."""
        return self._wrap(self._enc.encrypt(self._plain(plaintexts)))

    def decrypt(self, cts: HeuCiphertexts, *, signed: bool = False) -> list[int]:
        """Decrypt to signed integers (key holder only; ``signed`` is there for the interface)."""
        # HEU decrypts to signed integers already; `signed` is accepted for the interface.
        self._need_secret()
        if len(cts) == 0:
            return []
        out = self.kit.decryptor().decrypt(cts.array).to_numpy(self._codec)
        return [int(v) for v in out.ravel()]

    def take(self, cts: HeuCiphertexts, idx) -> HeuCiphertexts:
        """The ciphertexts at positions ``idx``, in that order."""
        return self._wrap(cts.array[[int(i) for i in idx]])

    def sub(self, a: HeuCiphertexts, b: HeuCiphertexts) -> HeuCiphertexts:
        """Element-wise ciphertext difference: encrypts ``a_i - b_i``."""
        return self._wrap(self._ev.sub(a.array, b.array))

    def rerandomize(self, cts: HeuCiphertexts) -> HeuCiphertexts:
        """The same plaintexts under fresh randomness (adds an encryption of zero)."""
        # Adding a fresh encryption of zero replaces the randomness carried by a sum.
        zeros = self._enc.encrypt(self._plain([0] * len(cts)))
        return self._wrap(self._ev.add(cts.array, zeros))

    def bucket_sums(self, cts: HeuCiphertexts, rows: np.ndarray, bins: np.ndarray,
                    n_buckets: int) -> HeuCiphertexts:
        """HEU's ``feature_wise_bucket_sum`` over the rows marked in a 0/1 mask (C++)."""
        if n_buckets > 127:
            raise ValueError(f"HEU bucket sums take int8 bin indices: at most 127 bins, "
                             f"got {n_buckets}")
        mask = np.zeros((1, len(cts)), dtype=np.int8)
        mask[0, np.asarray(rows, dtype=np.int64)] = 1
        order = np.ascontiguousarray(bins, dtype=np.int8)
        return self._wrap(self._ev.feature_wise_bucket_sum(cts.array, mask, order,
                                                           int(n_buckets), False))

    def pack(self, cts: HeuCiphertexts, k: int, shift_bits: int) -> HeuCiphertexts:
        """Stack ``k`` consecutive ciphertexts into one (see :meth:`HEBackend.pack`)."""
        total = len(cts)
        groups = -(-total // k)
        # HEU arrays cannot be concatenated, so the last group's missing slots repeat
        # ciphertext 0 (selection with repeated indices). The key holder ignores slots past
        # `total`; they hold a sum it decrypts anyway, in slot 0, so they reveal nothing new.
        idx = list(range(total)) + [0] * (groups * k - total)
        shift = self._plain([1 << int(shift_bits)] * groups)
        acc = cts.array[idx[0::k]]
        for j in range(1, k):
            acc = self._ev.add(self._ev.mul(acc, shift), cts.array[idx[j::k]])
        return self._wrap(acc)

    def length(self, cts) -> int:
        """Number of ciphertexts in ``cts``."""
        return len(cts)


def make_backend(name: str, *, key_bits: int = 2048, demo: bool = False,
                 n_jobs: int = 1) -> HEBackend:
    """Generate keys for ``name`` in :data:`BACKENDS` and return the key holder's backend.

    Parameters
    ----------
    name
        ``"phe"``, ``"zpaillier"`` or ``"ou"``.
    key_bits
        Modulus size; below 2048 bits raises unless ``demo``.
    demo
        Allow a short test key (tests and doctests only: not secure).
    n_jobs
        Worker processes for ``phe`` (HEU backends use their own thread pool).
    """
    if name == "phe":
        return PheBackend.generate(key_bits, demo=demo, n_jobs=n_jobs)
    if name in ("zpaillier", "ou"):
        return HeuBackend.generate(name, key_bits, demo=demo)
    raise ValueError(f"he_backend must be one of {BACKENDS}, got {name!r}")
