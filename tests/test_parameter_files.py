"""Every chapter's smoke, default and paper parameter files validate against its schema, and
the chapter's own parameters cell holds exactly the schema's keys."""

from __future__ import annotations

import ast

import pytest

from fedlib.book.chapters import CHAPTERS, PARAMETER_SETS
from fedlib.book.params import load_yaml, validate_params

PRESENT = [c for c in CHAPTERS if c.exists()]


@pytest.mark.parametrize("chapter", PRESENT, ids=[c.id for c in PRESENT])
@pytest.mark.parametrize("which", PARAMETER_SETS)
def test_parameter_file_validates(chapter, which):
    values = load_yaml(chapter.parameter_file(which))
    validate_params(chapter.load_schema(), values, source=f"{chapter.name}/{which}.yml")


@pytest.mark.parametrize("chapter", PRESENT, ids=[c.id for c in PRESENT])
def test_parameters_cell_matches_the_schema(chapter):
    text = chapter.source_path().read_text()
    cell = text.split('# %% tags=["parameters"]', 1)[1].split("\n# %%", 1)[0]
    names = {t.id for node in ast.parse(cell).body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    assert names == set(chapter.load_schema().model_fields)
