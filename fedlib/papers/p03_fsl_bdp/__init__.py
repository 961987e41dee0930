"""Paper of chapter 03 (FSL-BDP survival): parameters, claims and one module per chapter part.

Besides ``params`` and ``claims`` (see :mod:`fedlib.papers`), the chapter's cells call
``datasets`` (the data, Table 2), ``tuning`` (every method tuned alike), ``privacy`` (DP and BDP
calibrated to the same ε), ``experiment`` (the runs: Table 3, the ε sweep, the synthetic data),
``table3`` (Table 3 beside the paper), ``figures`` (Figs. 8, 9 and 11), ``expected_loss``
(§5.3's ECL), ``attacks`` (membership inference) and ``report`` (claims and findings).
"""

__all__: list[str] = []
