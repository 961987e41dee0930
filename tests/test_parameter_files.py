"""Every chapter's smoke, default and paper parameter files validate against its schema; the
chapter's own parameters cell holds exactly the schema's keys; and the schema is the single
source of the default values: the cell and ``default.yml`` hold the schema's defaults."""

from __future__ import annotations

import ast

import jupytext
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
    assert set(_cell_values(chapter)) == set(chapter.load_schema().model_fields)


PARAMETER_TAGS = ("parameter-group", "parameters")


def _parameter_cells(chapter) -> list:
    return [c for c in jupytext.read(chapter.source_path()).cells
            if set(PARAMETER_TAGS) & set(c.metadata.get("tags", []))]


def _cell_values(chapter) -> dict:
    return {t.id: ast.literal_eval(node.value) for cell in _parameter_cells(chapter)
            for node in ast.parse(cell.source).body
            if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}


@pytest.mark.parametrize("chapter", PRESENT, ids=[c.id for c in PRESENT])
def test_the_parameters_cell_closes_the_parameter_groups(chapter):
    """Papermill injects its values after the one cell tagged ``parameters``, so that cell must
    be the last of the consecutive parameter cells: a default set after it would win."""
    cells = [c for c in jupytext.read(chapter.source_path()).cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(cells)
              if set(PARAMETER_TAGS) & set(c.metadata.get("tags", []))]
    assert tagged == list(range(tagged[0], tagged[-1] + 1)), "parameter cells are not consecutive"
    assert [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])] \
        == [tagged[-1]]


def _differences(values: dict, defaults: dict) -> dict:
    return {k: (v, defaults.get(k, "<not in the schema>")) for k, v in values.items()
            if k not in defaults or v != defaults[k]}


@pytest.mark.parametrize("chapter", PRESENT, ids=[c.id for c in PRESENT])
def test_the_schema_is_the_single_source_of_defaults(chapter):
    defaults = {k: f.default for k, f in chapter.load_schema().model_fields.items()}
    assert _differences(_cell_values(chapter), defaults) == {}, "cell value vs schema default"
    default_yml = load_yaml(chapter.parameter_file("default"))
    assert _differences(default_yml, defaults) == {}, "default.yml value vs schema default"


def test_a_drifted_default_is_reported():
    assert _differences({"seed": 42, "epsilon": 2.0}, {"seed": 42, "epsilon": 1.0}) == {
        "epsilon": (2.0, 1.0)}
    assert _differences({"typo": 1}, {"seed": 42}) == {"typo": (1, "<not in the schema>")}
