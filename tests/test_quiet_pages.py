"""Chapter pages carry no noise: no injected-parameters cell, no temporary path, no repr, no
progress bar, and the bookkeeping cells are folded away (issue 13, item 4).

The runner check executes only the tiny fixture chapter; the chapter checks read the sources.
"""

import json
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from fedlib.book.runner import run_chapter

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_book.helpers import fixture_root  # noqa: E402

CHAPTERS = sorted((Path(__file__).parents[1] / "chapters").glob("[0-9][0-9]_*.py"))
BOOKKEEPING = ("results.write(", "results.add_metric(", "results.add_claim(", "glue(")
HIDDEN = {"remove-input", "hide-input", "remove-cell"}


def _tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    root, chapter = fixture_root(tmp_path_factory.mktemp("quiet"))
    src = root / "chapters" / "99_fixture.py"
    # Print the path the chapter was handed, as the chapters used to: it must not name the
    # run's temporary folder in the saved notebook.
    src.write_text(src.read_text().replace(
        "w.write(P.results_path)", 'w.write(P.results_path)\nprint("written to", P.results_path)'))
    result = run_chapter(chapter, "smoke", root=root, progress=False)
    return result, nbformat.read(result.notebook, as_version=4)


def test_injected_parameters_cell_is_removed_from_the_page(executed):
    _, nb = executed
    injected = [c for c in nb.cells if "injected-parameters" in _tags(c)]
    assert len(injected) == 1  # kept in the notebook, as the record of the values used
    assert "remove-cell" in _tags(injected[0])  # MyST-NB drops it from the page


def test_no_temporary_path_in_the_notebook(executed):
    result, nb = executed
    text = json.dumps(nb)
    assert ".run-99" not in text
    assert "book/chapters/99_fixture.results.json" in text  # where results.json ended up
    assert result.results.is_file()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_sources_are_quiet(path):
    nb = jupytext.read(path, fmt="py:percent")
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        src, tags = cell.source, _tags(cell)
        assert "results written to" not in src and not re.search(r"print\(.*results_path", src)
        if "results.write(" in src:
            assert tags & HIDDEN, f"{path.name}: the results.write cell must hide its input"
        # A call returning a value must not end a cell: its repr would be the cell's output.
        last = src.rstrip().splitlines()[-1] if src.strip() else ""
        assert not last.startswith(("results.write(", "results.add_finding(")), (
            f"{path.name}: a cell ending in {last!r} prints the returned object's repr")
        if "tqdm(" in src:
            assert "remove-stderr" in tags, f"{path.name}: a tqdm cell must be remove-stderr:\n{src}"
        # A cell made only of bookkeeping shows nothing a reader needs.
        lines = [ln for ln in src.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        starts = [ln for ln in lines if not ln.startswith((" ", ")", "]", "}"))]
        if starts and all(ln.startswith(BOOKKEEPING + ("for ",)) for ln in starts) and any(
                ln.lstrip().startswith(BOOKKEEPING) for ln in lines):
            assert tags & HIDDEN, f"{path.name}: a bookkeeping cell must hide its input:\n{src}"
