"""Chapters narrate (issue 10 item 5): each chapter holds at most its budget of code lines.

The four chapters held 1,670 code lines; the issue asks for at most half. A line counts when it
is neither blank nor a comment and sits in a code cell, parameter cells included (the rule of
tests/test_chapter_cells.py). The work lives in each paper's ``experiment.py``, where it is
tested; a chapter's cell calls it.
"""

from __future__ import annotations

import jupytext
import pytest

from fedlib.book.chapters import CHAPTERS

BUDGET = {"03_fsl_bdp_survival.py": 200, "04_vertical_secureboost_xmp.py": 265}


def code_lines(source: str) -> int:
    """Lines that are neither blank nor comments."""
    return sum(1 for line in source.splitlines()
               if line.strip() and not line.strip().startswith("#"))


def chapter_code_lines(path) -> int:
    """Code lines of every code cell of a jupytext chapter, parameter cells included."""
    return sum(code_lines(c.source) for c in jupytext.read(path).cells if c.cell_type == "code")


_BY_FILE = {c.source_path().name: c for c in CHAPTERS}


@pytest.mark.parametrize("name", sorted(BUDGET))
def test_chapter_is_within_its_code_budget(name):
    assert name in _BY_FILE, f"{name} is not a chapter of the book"
    assert chapter_code_lines(_BY_FILE[name].source_path()) <= BUDGET[name]


def test_the_count_takes_every_code_cell_and_skips_markdown(tmp_path):
    nb = tmp_path / "nb.py"
    nb.write_text('# %% tags=["parameters"]\nx = 1  # meaning\n\n# %% [markdown]\n# prose\n'
                  "\n# %%\n# why\ny = 2\nz = 3\n")
    assert chapter_code_lines(nb) == 3
