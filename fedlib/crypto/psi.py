"""Encrypted entity alignment: RSA blind-signature private set intersection.

The key holder (the bank in paper 003) owns an RSA key ``(n, e, d)``. The requester (the
grid operator) never sees ``d``; the key holder never sees the requester's IDs:

1. key holder → requester: the public key ``(n, e)``;
2. requester: for each ID ``y``, ``u = H(y) · r^e mod n`` with a fresh random ``r``
   (``H`` a full-domain hash to ``Z_n``); sends the blinded ``u`` (kind ``masked``);
3. key holder: ``u^d = H(y)^d · r mod n`` (CRT), sends them back (kind ``masked``);
4. requester: unblinds ``s = u^d · r^{-1} = H(y)^d``, checks ``s^e = H(y)``, keeps
   ``H'(s)`` with a second hash ``H'``;
5. key holder: sends ``H'(H(x)^d)`` for its own IDs ``x`` in random order (kind
   ``ciphertext``: without ``d`` they cannot be recomputed from guessed IDs);
6. requester: the intersection is its IDs whose tag appears in step 5. With
   ``reveal_to_key_holder`` it sends the *positions* of the matching tags (kind ``public``),
   so the key holder learns the intersection and no raw ID ever crosses the wire.

Duplicate IDs are rejected (:class:`DuplicateIDError`): a duplicate would yield two equal
tags and make the positions ambiguous, and it signals a data error upstream. ``H`` is
SHAKE-256 expanded to ``|n| + 128`` bits and reduced mod ``n`` (statistically uniform);
``H'`` is SHA-256. Both are domain-separated. The modular arithmetic is written out with
``gmpy2`` because ``cryptography`` deliberately exposes no raw (unpadded) RSA operation;
key generation is ``cryptography``'s.

References: paper 003 (Xu et al.), §3.1 "Encrypted Entity Alignment"; De Cristofaro &
Tsudik 2010, "Practical private set intersection protocols" (RSA-OPRF PSI). Introduced in
chapter 4 (``chapters/04_vertical_secureboost_xmp.py``).

Examples
--------
>>> res = rsa_blind_psi(["a", "b", "c"], ["b", "c", "d"], key_bits=1024, demo=True)
>>> res.intersection
{'grid': ['b', 'c'], 'bank': ['b', 'c']}
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import gmpy2
import numpy as np
from cryptography.hazmat.primitives.asymmetric import rsa

from fedlib.core.transcript import Transcript

__all__ = ["DEFAULT_MAX_BLINDED", "DuplicateIDError", "InvalidPublicKeyError", "PSIResult",
           "SessionLimitError", "check_public_key", "full_domain_hash", "make_rsa_key",
           "rsa_blind_psi"]

MIN_RSA_BITS = 2048
#: Blinded values the key holder signs per session unless told otherwise. Each signature is
#: one evaluation of the key holder's PRF, so a requester with no cap could sign every
#: candidate ID it can enumerate and test them against the key holder's tags.
DEFAULT_MAX_BLINDED = 100_000
_H1 = b"fedlib/psi/H/v1|"
_H2 = b"fedlib/psi/H'/v1|"


class DuplicateIDError(ValueError):
    """An ID set given to PSI contains the same ID more than once."""


def make_rsa_key(*, key_bits: int = 2048, demo: bool = False) -> rsa.RSAPrivateKey:
    """RSA key from ``cryptography`` (e = 65537); below 2048 bits only with ``demo=True``.

    >>> make_rsa_key(key_bits=1024)
    Traceback (most recent call last):
    ...
    ValueError: key_bits=1024 is below the 2048-bit minimum for RSA; pass demo=True for a test key
    """
    if key_bits < MIN_RSA_BITS and not demo:
        raise ValueError(f"key_bits={key_bits} is below the {MIN_RSA_BITS}-bit minimum for "
                         "RSA; pass demo=True for a test key")
    return rsa.generate_private_key(public_exponent=65537, key_size=key_bits)


def _id_bytes(x: Hashable) -> bytes:
    """Typed encoding of an ID: the type tag keeps ``1``, ``"1"`` and ``b"1"`` apart.

    >>> _id_bytes(1), _id_bytes("1"), _id_bytes(b"1")
    (b'int:1', b'str:1', b'bytes:1')
    """
    if isinstance(x, bool | np.bool_):
        raise TypeError(f"IDs must be str, int or bytes, got a boolean {x!r}")
    if isinstance(x, bytes):
        return b"bytes:" + x
    if isinstance(x, str):
        return b"str:" + x.encode("utf-8")
    if isinstance(x, int | np.integer):
        return b"int:" + str(int(x)).encode("ascii")
    raise TypeError(f"IDs must be str, int or bytes, got {type(x).__name__}")


class InvalidPublicKeyError(ValueError):
    """An RSA public key the requester must not use (see :func:`check_public_key`)."""


class SessionLimitError(ValueError):
    """More blinded values than the key holder signs in one session."""


_SMALL_PRIMES = [p for p in range(3, 1000, 2) if all(p % q for q in range(3, int(p**0.5) + 1, 2))]


def check_public_key(n: int, e: int, *, min_bits: int = MIN_RSA_BITS) -> None:
    """The requester's checks on the key holder's ``(n, e)`` before it blinds anything.

    What is checkable without the factors: ``n`` is odd, at least ``min_bits`` long, not
    prime, not a perfect square and has no factor below 1000; ``e`` is an odd prime with
    ``2 < e < n`` and does not divide ``n``. A prime ``e`` makes ``gcd(e, φ(n))`` either 1 or
    ``e``; the second (RSA is then not a permutation, and blinding no longer hides ``H(y)``
    perfectly) is not checkable from ``(n, e)``, but every signature is verified
    (``s^e = H(y)``) afterwards. Checking a key this way is what RSA-OPRF PSI needs when the
    requester does not trust the key holder's key generation (De Cristofaro & Tsudik 2010).

    >>> check_public_key(1000003 * 1000033, 65537, min_bits=32)
    >>> check_public_key(1000003 * 1000033, 4, min_bits=32)
    Traceback (most recent call last):
    ...
    fedlib.crypto.psi.InvalidPublicKeyError: RSA public exponent e=4 is not allowed: it must be an odd prime with 2 < e < n
    """
    n, e = int(n), int(e)
    if n.bit_length() < min_bits:
        raise InvalidPublicKeyError(f"RSA modulus has {n.bit_length()} bits; at least "
                                    f"{min_bits} are required")
    if n % 2 == 0 or gmpy2.is_prime(n) or gmpy2.is_square(n) \
            or any(n % p == 0 for p in _SMALL_PRIMES):
        raise InvalidPublicKeyError("RSA modulus n is not a product of two large primes (it is "
                                    "even, prime, a square or has a factor below 1000)")
    if not (2 < e < n and e % 2 == 1 and gmpy2.is_prime(e)) or n % e == 0:
        raise InvalidPublicKeyError(f"RSA public exponent e={e} is not allowed: it must be an "
                                    "odd prime with 2 < e < n")


def full_domain_hash(x: Hashable, n: int) -> int:
    """``H``: SHAKE-256 of the ID expanded to ``|n| + 128`` bits, reduced mod ``n``.

    >>> 0 <= full_domain_hash("C-001", 2**61 - 1) < 2**61 - 1
    True
    """
    nbytes = (n.bit_length() + 128 + 7) // 8
    return int.from_bytes(hashlib.shake_256(_H1 + _id_bytes(x)).digest(nbytes), "big") % n


def _second_hash(s: int, k: int) -> bytes:
    return hashlib.sha256(_H2 + int(s).to_bytes(k, "big")).digest()


def _check_unique(ids: Sequence, name: str) -> list:
    ids = list(ids)
    counts = Counter(_id_bytes(x) for x in ids)
    dups = [k.decode("utf-8", "replace") for k, c in counts.items() if c > 1]
    if dups:
        raise DuplicateIDError(f"{name} contains {len(dups)} duplicated ID(s), e.g. "
                               f"{dups[:3]}; de-duplicate before alignment")
    return ids


@dataclass
class PSIResult:
    """What each party learned, and what crossed the wire.

    ``intersection[party]`` is the list of common IDs in that party's own input order, or
    ``None`` for a party that does not learn it; ``sizes`` maps message labels to bytes.
    """

    intersection: dict[str, list | None]
    sizes: dict[str, int]
    transcript: Transcript
    timings: dict[str, float] = field(default_factory=dict)


class _KeyHolder:
    def __init__(self, key: rsa.RSAPrivateKey):
        priv = key.private_numbers()
        self.n, self.e = priv.public_numbers.n, priv.public_numbers.e
        self._p, self._q = gmpy2.mpz(priv.p), gmpy2.mpz(priv.q)
        self._dp, self._dq, self._qinv = (gmpy2.mpz(v) for v in (priv.dmp1, priv.dmq1, priv.iqmp))
        self.k = (self.n.bit_length() + 7) // 8

    def sign(self, u: int) -> int:
        # CRT: two half-size exponentiations, about 3x faster than u^d mod n.
        sp = gmpy2.powmod(u, self._dp, self._p)
        sq = gmpy2.powmod(u, self._dq, self._q)
        return int(sq + self._q * ((self._qinv * (sp - sq)) % self._p))


def rsa_blind_psi(key_holder_ids: Sequence, requester_ids: Sequence, *,
                  key_holder: str = "bank", requester: str = "grid",
                  reveal_to_key_holder: bool = True, key_bits: int = 2048, demo: bool = False,
                  private_key: rsa.RSAPrivateKey | None = None,
                  max_blinded: int = DEFAULT_MAX_BLINDED,
                  transcript: Transcript | None = None) -> PSIResult:
    """Run RSA blind-signature PSI between two parties (steps in the module docstring).

    Parameters
    ----------
    key_holder_ids, requester_ids
        Each party's IDs (str, int or bytes), no duplicates.
    key_holder, requester
        Party names for the transcript and the result.
    reveal_to_key_holder
        Whether the requester tells the key holder which of its IDs are common (paper:
        the grid sends the output to the bank). The requester always learns it.
    key_bits, demo
        RSA modulus size when no ``private_key`` is given (< 2048 only with ``demo``).
    private_key
        The key holder's RSA key, e.g. from a key-management platform (paper §3.1). The
        requester checks the public part (:func:`check_public_key`; below 2048 bits only
        with ``demo``).
    max_blinded
        Most blinded values the key holder signs in this session; more is refused
        (:class:`SessionLimitError`) before anything is signed. Set it to the number of
        IDs the requester is expected to hold.
    transcript
        Where messages are logged (new one by default).
    """
    khold = _check_unique(key_holder_ids, "key_holder_ids")
    req = _check_unique(requester_ids, "requester_ids")
    if isinstance(max_blinded, bool) or not isinstance(max_blinded, int | np.integer) \
            or max_blinded < 1:
        raise ValueError(f"max_blinded={max_blinded!r}: must be a positive integer")
    if key_holder == requester:
        raise ValueError(f"key_holder and requester must differ, both are {key_holder!r}")
    t = Transcript() if transcript is None else transcript
    times: dict[str, float] = {}
    first = len(t)
    t0 = time.perf_counter()
    kh = _KeyHolder(private_key if private_key is not None else
                    make_rsa_key(key_bits=key_bits, demo=demo))
    times["keygen_s"] = time.perf_counter() - t0

    n, e = t.send(sender=key_holder, receiver=requester, kind="key", payload=(kh.n, kh.e),
                  label="rsa_public_key")
    # Requester: refuse a key it cannot trust before it blinds anything.
    check_public_key(n, e, min_bits=min(MIN_RSA_BITS, 512) if demo else MIN_RSA_BITS)
    nn = gmpy2.mpz(n)
    # Requester: hash, blind.
    t0 = time.perf_counter()
    hashes = [full_domain_hash(y, n) for y in req]
    blinds = []
    for _ in req:
        r = secrets.randbelow(n - 2) + 2
        while math.gcd(r, n) != 1:
            r = secrets.randbelow(n - 2) + 2
        blinds.append(gmpy2.mpz(r))
    blinded = [int(hv * gmpy2.powmod(r, e, nn) % nn) for hv, r in zip(hashes, blinds, strict=True)]
    times["requester_blind_s"] = time.perf_counter() - t0
    received = t.send(sender=requester, receiver=key_holder, kind="masked", payload=blinded,
                      label="blinded_hashes")
    # Key holder: sign blindly, tag its own IDs.
    t0 = time.perf_counter()
    if len(received) > max_blinded:
        raise SessionLimitError(f"the requester sent {len(received)} blinded values; the key "
                                f"holder signs at most max_blinded={max_blinded} per session")
    signed = [kh.sign(u) for u in received]
    own = [(_second_hash(kh.sign(full_domain_hash(x, n)), kh.k), i) for i, x in enumerate(khold)]
    secrets.SystemRandom().shuffle(own)
    times["key_holder_sign_s"] = time.perf_counter() - t0
    signed = t.send(sender=key_holder, receiver=requester, kind="masked", payload=signed,
                    label="blind_signatures")
    tags = t.send(sender=key_holder, receiver=requester, kind="ciphertext",
                  payload=[tag for tag, _ in own], label="key_holder_tags")
    # Requester: unblind, verify, match.
    t0 = time.perf_counter()
    position = {tag: j for j, tag in enumerate(tags)}
    common, matched = [], []
    for y, hv, r, s in zip(req, hashes, blinds, signed, strict=True):
        sig = gmpy2.mpz(s) * gmpy2.invert(r, nn) % nn
        if gmpy2.powmod(sig, e, nn) != hv:
            raise ValueError("a blind signature does not verify: the key holder deviated "
                             "from the protocol")
        j = position.get(_second_hash(sig, kh.k))
        if j is not None:
            common.append(y)
            matched.append(j)
    times["requester_match_s"] = time.perf_counter() - t0
    result = {requester: common, key_holder: None}
    if reveal_to_key_holder:
        idx = t.send(sender=requester, receiver=key_holder, kind="public",
                     payload=sorted(matched), label="intersection_positions")
        mine = sorted(own[j][1] for j in idx)
        result[key_holder] = [khold[i] for i in mine]
    sizes: dict[str, int] = {}
    for m in t.messages[first:]:
        sizes[m.label] = sizes.get(m.label, 0) + m.nbytes
    sizes["total"] = sum(m.nbytes for m in t.messages[first:])
    return PSIResult(result, sizes, t, times)
