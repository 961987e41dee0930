"""``glue`` for chapters: myst-nb's glue, with NumPy scalars turned into Python numbers.

MyST-NB formats ``{glue:text}`name:.3f``` by parsing the value's ``text/plain`` repr, and
NumPy 2 writes ``np.float64(0.5)`` there, which breaks the format at build time (a warning,
so ``-W`` fails the book). Every chapter glues through this function instead.

Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``); used by every chapter.

>>> _plain(np.float64(0.25)), _plain(np.int64(3)), _plain("text")
(0.25, 3, 'text')
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["glue"]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` under ``name`` for ``{glue:text}`` / ``{glue:figure}`` in the book."""
    from myst_nb import glue as myst_glue

    myst_glue(name, _plain(value), display=display)
