"""Cryptographic protections: CKKS (TenSEAL), secure aggregation, Paillier (phe) and the
homomorphic backends for SecureBoost (phe, HEU z-paillier, HEU OU), RSA-blind PSI.

Submodules are imported on first use of a name, so ``import fedlib.crypto`` stays cheap and
loading TenSEAL or phe happens only for the chapter that needs it.
"""

from __future__ import annotations

from fedlib._lazy import lazy_exports

_EXPORTS = {
    "fedlib.crypto.ckks": ["CKKSAggregator", "CKKSKeyHolder", "CKKSParameterError", "CKKSParams",
                           "CKKSPayloadError", "CKKSProtection", "CKKSSecretKeyError",
                           "encrypt_vector"],
    "fedlib.crypto.secagg": ["SecureAggregation", "SecureAggregationAborted",
                             "SecureAggregationRound", "per_client_noise_std",
                             "surviving_noise_std"],
    "fedlib.crypto.fixedpoint": ["ClippedValuesError", "ClippedValuesWarning", "FixedPointCodec",
                                 "RingOverflowError"],
    "fedlib.crypto.he": ["BACKENDS", "SECURITY", "HEBackend", "make_backend"],
    "fedlib.crypto.paillier": ["GHPacker", "KeySizeError", "ObfuscatorPool", "encrypt_packed",
                               "make_keypair"],
    "fedlib.crypto.psi": ["DuplicateIDError", "PSIResult", "rsa_blind_psi"],
}
__all__, __getattr__ = lazy_exports("fedlib.crypto", _EXPORTS)
