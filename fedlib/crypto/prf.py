r"""Key derivation and the pseudorandom generator behind secure-aggregation masks.

Bonawitz et al. expand every 32-byte seed (a pairwise key agreement or a self-mask seed ``b_u``)
into a mask as long as the model vector with a PRG. Here:

* :func:`derive_key` runs a raw X25519 shared secret through HKDF-SHA256 (RFC 5869) with a
  context string, giving a 32-byte seed; raw Diffie-Hellman outputs are not uniform bytes and
  must not be used as keys directly;
* :func:`expand_mask` keys ChaCha20 with the **whole** 32-byte seed and reads its keystream as
  little-endian ``uint64`` words. Z_{2^64} is a power-of-two ring, so each word is an exactly
  uniform ring element (no rejection, no modulo bias);
* :func:`expand_mod` is the general case for a modulus that is not a power of two (used for
  tests and for prime-field elements): rejection sampling on keystream words, so the output
  stays exactly uniform.

No numpy RNG is ever seeded from a (truncated) secret: numpy generators are not cryptographic
and their 64/128-bit seeds would throw away most of the 256-bit key.

References: Bonawitz et al. (2017), §4 (PRG, key agreement, "KA.agree" composed with a KDF);
RFC 5869 (HKDF); RFC 8439 (ChaCha20). Introduced in chapter 1 (``chapters/01_fmtl_dp_secagg.py``).

Examples
--------
>>> seed = derive_key(b"\x01" * 32, info=b"demo")
>>> mask = expand_mask(seed, 4)
>>> mask.dtype, mask.shape, bool((mask == expand_mask(seed, 4)).all())
(dtype('uint64'), (4,), True)
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SEED_BYTES", "derive_key", "expand_mask", "expand_mod", "keystream"]

#: Length of every seed and symmetric key (256 bits, the ChaCha20 key size).
SEED_BYTES = 32


def _check_seed(seed: bytes) -> None:
    if not isinstance(seed, bytes | bytearray) or len(seed) != SEED_BYTES:
        raise ValueError(f"seed: must be {SEED_BYTES} bytes, got {type(seed).__name__} "
                         f"of length {len(seed) if hasattr(seed, '__len__') else '?'}")


def derive_key(secret: bytes, *, info: bytes, length: int = SEED_BYTES) -> bytes:
    """HKDF-SHA256 of ``secret`` bound to the context ``info`` (no salt: fresh keys per round)."""
    if not secret:
        raise ValueError("secret: must be non-empty bytes")
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def keystream(seed: bytes, nbytes: int, *, stream: int = 0) -> bytes:
    """``nbytes`` of ChaCha20 keystream under the full 32-byte ``seed``.

    ``stream`` selects an independent stream (it fills the 96-bit nonce; the 32-bit block
    counter starts at 0), for domain separation when one seed feeds several masks.
    """
    _check_seed(seed)
    if nbytes < 0:
        raise ValueError(f"nbytes={nbytes}: must be non-negative")
    if not 0 <= stream < 2**96:
        raise ValueError(f"stream={stream}: must be in [0, 2^96)")
    # ChaCha20's 32-bit block counter allows 2^32 * 64 bytes per stream; far beyond any model.
    if nbytes > 2**32 * 64:
        raise ValueError(f"nbytes={nbytes}: exceeds one ChaCha20 stream (2^38 bytes)")
    nonce = (0).to_bytes(4, "little") + stream.to_bytes(12, "little")
    encryptor = Cipher(algorithms.ChaCha20(bytes(seed), nonce), mode=None).encryptor()
    return encryptor.update(bytes(nbytes))


def expand_mask(seed: bytes, length: int, *, stream: int = 0) -> np.ndarray:
    """A uniform mask in Z_{2^64}^length: the keystream read as little-endian ``uint64``."""
    if length < 0:
        raise ValueError(f"length={length}: must be non-negative")
    return np.frombuffer(keystream(seed, 8 * length, stream=stream), dtype="<u8").astype(np.uint64)


def expand_mod(seed: bytes, length: int, modulus: int, *, stream: int = 0) -> list[int]:
    """``length`` exactly uniform integers in ``[0, modulus)`` by rejection sampling.

    Candidates are keystream chunks of ``ceil(log2 modulus)`` bits (top bits masked off); a
    candidate ``≥ modulus`` is discarded, so each accepted value is uniform.

    >>> vals = expand_mod(bytes(32), 1000, 10)
    >>> min(vals) >= 0 and max(vals) < 10
    True
    """
    if modulus < 2:
        raise ValueError(f"modulus={modulus}: must be at least 2")
    bits = (modulus - 1).bit_length()
    width = (bits + 7) // 8
    top = (1 << bits) - 1
    out: list[int] = []
    # Acceptance probability is > 1/2, so twice the need plus slack almost never refills.
    offset = 0
    buf = b""
    while len(out) < length:
        if offset + width > len(buf):
            need = max(2 * (length - len(out)) + 16, 16) * width
            buf = keystream(seed, len(buf) + need, stream=stream)
        cand = int.from_bytes(buf[offset:offset + width], "little") & top
        offset += width
        if cand < modulus:
            out.append(cand)
    return out
