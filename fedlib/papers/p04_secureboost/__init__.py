"""Paper of chapter 04 (vertical SecureBoost with XMP): parameters, claims, one module per part.

Besides ``params`` and ``claims`` (see :mod:`fedlib.papers`), the chapter's cells call ``data``
(the parties, PSI alignment, the split), ``selection`` (XMP: PCA, mRMR, backward elimination,
Table 3), ``models`` (the compared models of Fig. 3), ``tuning`` (every model tuned alike),
``secureboost`` (the encrypted run against its plaintext twin), ``leakage`` (what each party
learns), ``comparison`` (Fig. 3 and Table 4), ``screening`` (§3.4, Fig. 4) and ``report`` (the
findings).
"""

__all__: list[str] = []
