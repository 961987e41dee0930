"""Paper of chapter 01 (see :mod:`fedlib.papers`): one module per part of the chapter.

``params`` (the schema), ``claims`` and ``rows`` (the paper's numbers and the held-out rows
they are scored on), ``data`` (the four institutions), ``lab`` (the institutions, settings and
runs every section makes), ``tuning`` (validation tuning, the λ sweep), ``experiment`` (Table 2,
what the server saw, the imbalance ablation), ``privacy`` (the ε sweep, the accountant,
dropouts), ``risk`` (fairness and the risk matrix), ``figures`` and ``report``.
"""

__all__: list[str] = []
