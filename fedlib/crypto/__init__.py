"""Cryptographic protections, one module each; import names from the module.

- :mod:`fedlib.crypto.ckks`: CKKS encryption of updates (TenSEAL).
- :mod:`fedlib.crypto.secagg`: pairwise-masked secure aggregation with dropout recovery, built
  on :mod:`~fedlib.crypto.fixedpoint`, :mod:`~fedlib.crypto.prf` and
  :mod:`~fedlib.crypto.shamir`.
- :mod:`fedlib.crypto.paillier` and :mod:`fedlib.crypto.he`: Paillier (phe) and the
  homomorphic backends for SecureBoost (phe, HEU z-paillier, HEU OU).
- :mod:`fedlib.crypto.psi`: RSA-blind private set intersection.

The package re-exports nothing: each module loads a heavy library (TenSEAL, phe, gmpy2,
cryptography), and ``import fedlib.crypto`` should load none of them.
"""
