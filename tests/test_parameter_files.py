"""Every chapter's smoke, default and paper parameter files validate against its schema; the
chapter's own parameters cell holds exactly the schema's keys; and the schema is the single
source of the default values: the cell and ``default.yml`` hold the schema's defaults."""

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
    assert set(_cell_values(chapter)) == set(chapter.load_schema().model_fields)


def _cell_values(chapter) -> dict:
    text = chapter.source_path().read_text()
    cell = text.split('# %% tags=["parameters"]', 1)[1].split("\n# %%", 1)[0]
    return {t.id: ast.literal_eval(node.value) for node in ast.parse(cell).body
            if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}


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
