"""Paper of chapter 02 (see :mod:`fedlib.papers`): one module per part of the chapter.

``params`` (the schema), ``claims`` (the paper's numbers), ``data`` (the five banks),
``training`` (the privacy modes, one federation's training, runs over seeds), ``tuning``,
``experiment`` (one mode per federation, cost, subgroups, the mixed assignment, Table 6),
``privacy`` (collusion, CKKS's security level, the DP audit, attacks), ``figures`` and
``report``.
"""

__all__: list[str] = []
