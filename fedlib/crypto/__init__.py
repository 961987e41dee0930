"""Cryptographic protections: CKKS (TenSEAL), secure aggregation, Paillier (phe), RSA-blind PSI.

Submodules are imported on first use of a name, so ``import fedlib.crypto`` stays cheap and
loading TenSEAL or phe happens only for the chapter that needs it.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "fedlib.crypto.ckks": ["CKKSAggregator", "CKKSKeyHolder", "CKKSParameterError", "CKKSParams",
                           "CKKSPayloadError", "CKKSProtection", "CKKSSecretKeyError",
                           "encrypt_vector"],
    "fedlib.crypto.secagg": ["SecureAggregation", "SecureAggregationAborted",
                             "SecureAggregationRound", "per_client_noise_std",
                             "surviving_noise_std"],
    "fedlib.crypto.fixedpoint": ["FixedPointCodec", "RingOverflowError"],
    "fedlib.crypto.paillier": ["GHPacker", "KeySizeError", "ObfuscatorPool", "encrypt_packed",
                               "make_keypair"],
    "fedlib.crypto.psi": ["DuplicateIDError", "PSIResult", "rsa_blind_psi"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'fedlib.crypto' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
