"""Helpers of the chapter-section tests: collect what sections glue, and what the prose quotes.

A section function glues its numbers for the page; under test, :func:`collect_glue` swaps
``glue`` in the modules that call it for a recorder, and :func:`unglued_quotes` names every
``{glue:text}``/``{glue:md}``/``{glue:figure}`` the chapter's markdown quotes that neither a
section nor the chapter's own ``glue("...")`` calls provide (what would be a build warning).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest


def collect_glue(mp: pytest.MonkeyPatch, package: str, modules: Iterable[str]) -> dict:
    """Replace ``glue`` in ``package.<module>`` for each module; return the dict it fills."""
    glued: dict = {}
    for module in modules:
        mp.setattr(f"{package}.{module}.glue",
                   lambda name, value, display=False: glued.__setitem__(name, value))
    return glued


def unglued_quotes(chapter: Path, glued: Iterable[str]) -> set[str]:
    """Glue names the chapter's prose quotes that nothing glues."""
    text = chapter.read_text()
    quoted = set(re.findall(r"\{glue:(?:text|md)\}`([A-Za-z0-9_]+)", text))
    quoted |= set(re.findall(r":::\{glue:figure\} ([A-Za-z0-9_]+)", text))
    in_chapter = set(re.findall(r'glue\("([A-Za-z0-9_]+)"', text))
    return quoted - in_chapter - set(glued)
