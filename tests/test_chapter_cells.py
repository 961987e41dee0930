"""Chapters narrate: no code cell holds more than 30 lines of code (ARCHITECTURE.md; longer
logic lives in the library, where it is tested; the parameters come in groups of cells)."""

from __future__ import annotations

import jupytext
import pytest

from fedlib.book.chapters import CHAPTERS

MAX_CODE_LINES = 30
PRESENT = [c for c in CHAPTERS if c.exists()]


def code_lines(source: str) -> int:
    """Lines that are neither blank nor comments."""
    return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


def long_cells(path) -> list[tuple[int, int]]:
    """(index, code lines) of every code cell over the limit."""
    cells = [c for c in jupytext.read(path).cells if c.cell_type == "code"]
    return [(i, code_lines(c.source)) for i, c in enumerate(cells)
            if code_lines(c.source) > MAX_CODE_LINES]


@pytest.mark.parametrize("chapter", PRESENT, ids=[c.id for c in PRESENT])
def test_no_code_cell_is_longer_than_30_lines(chapter):
    assert long_cells(chapter.source_path()) == []


def test_the_count_skips_comments_and_flags_a_long_cell(tmp_path):
    assert code_lines("a = 1\n\n# why\nb = 2  # inline\n") == 2
    nb = tmp_path / "nb.py"
    nb.write_text('# %% tags=["parameters"]\n' + "x = 1\n" * 30 + "\n# %%\n" + "y = 2\n" * 31)
    assert long_cells(nb) == [(1, 31)]
