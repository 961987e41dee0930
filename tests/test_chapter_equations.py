"""The key equations of chapters 1 and 2 are labelled, and every {eq} reference has its label.

The book builds with Sphinx -W, where a reference to an undefined label fails the build; this
finds it without a build. A label is a ``$$ ... $$ (label)`` block (MyST dollarmath) or a
``{math}`` directive with ``:label:``.
"""

from __future__ import annotations

import re

import jupytext
import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from fedlib.book.chapters import CHAPTERS

#: The paper's key equations each chapter must label (issue 10, item 5).
KEY_EQUATIONS = {
    "01_fmtl_dp_secagg.py": {"eq-01-fmtl", "eq-01-update", "eq-01-dp"},
    "02_dp_vs_ckks.py": {"eq-02-fedavg", "eq-02-dpsgd", "eq-02-ckks"},
}
BY_NAME = {c.source_path().name: c for c in CHAPTERS}


def labels_and_references(markdown: str) -> tuple[set[str], set[str]]:
    """Equation labels defined in ``markdown`` and the labels its {eq} roles reference."""
    md = MarkdownIt().use(dollarmath_plugin, allow_labels=True, allow_space=True,
                          allow_digits=True, double_inline=True)
    labels = {t.info for t in md.parse(markdown) if t.type == "math_block_label"}
    labels |= set(re.findall(r"(?m)^:label:\s*(\S+)", markdown))
    return labels, set(re.findall(r"\{eq\}`([^`]+)`", markdown))


def chapter_markdown(path) -> str:
    return "\n\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "markdown")


@pytest.mark.parametrize("name", sorted(KEY_EQUATIONS))
def test_key_equations_are_labelled_and_referenced(name):
    labels, refs = labels_and_references(chapter_markdown(BY_NAME[name].source_path()))
    assert refs - labels == set(), f"{name}: referenced but not defined"
    assert KEY_EQUATIONS[name] <= labels, f"{name}: key equations not labelled"
    assert KEY_EQUATIONS[name] <= refs, f"{name}: key equations never referenced"


def test_an_undefined_reference_is_found():
    labels, refs = labels_and_references(
        "$$a = b$$ (eq-x)\n\nSee {eq}`eq-x` and {eq}`eq-y`.\n\n```{math}\n:label: eq-z\nc\n```")
    assert labels == {"eq-x", "eq-z"} and refs - labels == {"eq-y"}
