"""Chapters narrate: each chapter holds at most its budget of code lines (issue 10, item 5).

The four chapters held 1,670 code lines when the issue was filed; it asks for at most half.
A code line is a non-blank, non-comment line of a code cell, parameter cells included (the
rule of tests/test_chapter_cells.py); the work lives in the paper's package
(``fedlib/papers/pNN_*/``).
"""

from __future__ import annotations

import jupytext
import pytest

from fedlib.book.chapters import CHAPTERS

#: Code lines allowed per chapter source (``chapters/<name>``).
BUDGET = {"01_fmtl_dp_secagg.py": 190, "02_dp_vs_ckks.py": 140, "03_fsl_bdp_survival.py": 200,
          "04_vertical_secureboost_xmp.py": 265}
#: Half the 1,670 code lines the four chapters held when issue 10 was filed.
TOTAL_BUDGET = 835


def code_lines(source: str) -> int:
    """Lines that are neither blank nor comments."""
    return sum(1 for line in source.splitlines()
               if line.strip() and not line.strip().startswith("#"))


def chapter_code_lines(path) -> int:
    """Code lines over every code cell of a jupytext chapter, parameter cells included."""
    return sum(code_lines(c.source) for c in jupytext.read(path).cells
               if c.cell_type == "code")


BY_NAME = {c.source_path().name: c for c in CHAPTERS}


@pytest.mark.parametrize("name", sorted(BUDGET))
def test_chapter_is_within_its_code_budget(name):
    path = BY_NAME[name].source_path()
    assert path.exists(), f"{name}: no such chapter"
    assert chapter_code_lines(path) <= BUDGET[name], (
        f"{name} has {chapter_code_lines(path)} code lines, budget {BUDGET[name]}: move the "
        "plumbing into the paper's package (fedlib/papers/pNN_*/)")


def test_the_book_is_within_half_its_original_code():
    total = sum(chapter_code_lines(c.source_path()) for c in CHAPTERS if c.source_path().exists())
    assert total <= TOTAL_BUDGET, f"the chapters hold {total} code lines, budget {TOTAL_BUDGET}"


def test_the_count_takes_every_code_cell_and_skips_markdown_and_comments(tmp_path):
    nb = tmp_path / "nb.py"
    nb.write_text('# %% tags=["parameters"]\nx = 1  # meaning\n\n# %% [markdown]\n# prose\n'
                  "# more prose\n\n# %%\n# why\ny = 2\nz = 3\n")
    assert chapter_code_lines(nb) == 3
