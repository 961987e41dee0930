"""One package per reproduced paper: what the chapter needs that is the paper's own.

Each ``pNN_<name>`` package holds ``params.py`` (the chapter's typed parameter schema, the single
source of its defaults), ``claims.py`` (every number of the paper's digest as a claim with the
rule that scores it) and one small module per part of the chapter (its data, runs, tables,
figures and findings; ``experiment.py``, where there is one, holds the runs and sweeps), so the
chapter's cells narrate and call; each package's docstring lists its modules. The layer sits
above :mod:`fedlib.book`, whose parameter base class and glue it uses; the book finds a
chapter's schema by import path (:mod:`fedlib.book.chapters`), never by importing this package.
"""

__all__: list[str] = []
