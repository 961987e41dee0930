"""Whether Flower is installed, and what a chapter's ``fl_engine`` may be — without Flower.

A chapter's schema checks ``fl_engine: flower`` before any kernel starts, so this module
imports neither Flower nor the heavy modules of :mod:`fedlib.flower.engine`.

>>> check_fl_engine("local")
'local'
"""

from __future__ import annotations

import importlib.util

__all__ = ["ENGINES", "FLOWER_MISSING", "check_fl_engine", "flower_available"]

#: The values of a chapter's ``fl_engine`` parameter.
ENGINES = ("local", "flower")

#: What to do when Flower is missing (the optional extra ``[flower]``).
FLOWER_MISSING = ("fl_engine 'flower' needs Flower (flwr), which is not installed in this "
                  "Python: run `make flower-test` (it builds .venv-flower) or "
                  "`pip install -e '.[flower]'`, then run the chapter with that Python "
                  "(e.g. .venv-flower/bin/python -m fedlib.book.cli run 02 -p fl_engine "
                  "flower); or use fl_engine 'local'")


def flower_available() -> bool:
    """Whether Flower (``flwr``) can be imported here (found without importing it)."""
    return importlib.util.find_spec("flwr") is not None


def check_fl_engine(name: str) -> str:
    """``name`` if it is an engine this Python can run; else a ``ValueError`` saying why."""
    if name not in ENGINES:
        raise ValueError(f"fl_engine={name!r}: allowed values are {ENGINES}")
    if name == "flower" and not flower_available():
        raise ValueError(FLOWER_MISSING)
    return name
