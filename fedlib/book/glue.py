"""``glue`` for chapters: myst-nb's glue, made safe for NumPy scalars and matplotlib figures.

MyST-NB formats ``{glue:text}`name:.3f``` by parsing the value's ``text/plain`` repr, and
NumPy 2 writes ``np.float64(0.5)`` there, which breaks the format at build time (a warning,
so ``-W`` fails the book). A matplotlib figure glued without the inline backend becomes the
text ``<Figure size ...>``. Every chapter glues through this function instead: scalars become
Python numbers and figures become SVG images, whatever backend the kernel runs. SVG keeps lines
and text sharp at any zoom, and the page shows the figure at its own size in points, so a
figure drawn at the column width with 10 pt fonts is read at 10 pt (a PNG is squeezed to the
column and its fonts with it).

Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``); used by every chapter.

>>> _plain(np.float64(0.25)), _plain(np.int64(3)), _plain("text")
(0.25, 3, 'text')
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from IPython.display import SVG

__all__ = ["glue"]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if type(value).__name__ == "Figure" and hasattr(value, "savefig"):
        buffer = io.BytesIO()
        # No padding around the tight box: the figure is drawn exactly the column wide
        # (fedlib.evaluate.figures.COLUMN_WIDTH_IN) with its own margins, and matplotlib's
        # default 0.1 in pad would make it 2 % wider, so the browser would shrink it, fonts too.
        value.savefig(buffer, format="svg", bbox_inches="tight", pad_inches=0)
        return SVG(data=buffer.getvalue())
    return value


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` under ``name`` for ``{glue:text}`` / ``{glue:figure}`` in the book."""
    from myst_nb import glue as myst_glue

    myst_glue(name, _plain(value), display=display)
