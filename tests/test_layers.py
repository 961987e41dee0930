"""fedlib's packages import only downwards, at module level, without cycles.

The layer order is :data:`LAYERS` (ARCHITECTURE.md, "fedlib", prints the same line and a test
checks it does). A module may import from its own package or from a package in a lower layer;
packages in the same layer are peers and import nothing from each other. Every import of a
fedlib module is at module level: an import inside a function or class body hides a cycle or
an upward dependency until the function runs. The checks read the sources with :mod:`ast`, so
they need none of the heavy libraries the modules load.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FEDLIB = ROOT / "fedlib"

#: fedlib's subpackages, bottom layer first. Packages in one layer must not import each other.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"core"}),
    frozenset({"crypto", "data", "evaluate", "privacy"}),
    frozenset({"fl"}),
    frozenset({"flower", "survival", "vertical"}),
    frozenset({"book"}),
    frozenset({"papers"}),
)
LEVEL = {package: level for level, layer in enumerate(LAYERS) for package in layer}


def render_layers(layers: tuple[frozenset[str], ...] = LAYERS) -> str:
    """The layer order as one line, e.g. ``core < {crypto, data} < fl``."""
    return " < ".join(next(iter(layer)) if len(layer) == 1 else "{" + ", ".join(sorted(layer)) + "}"
                      for layer in layers)


def module_name(path: Path, root: Path = ROOT) -> str:
    """Dotted name of a source file: ``fedlib/fl/party.py`` -> ``fedlib.fl.party``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def fedlib_imports(source: str, module: str, *, is_package: bool
                   ) -> Iterator[tuple[ast.stmt, str, bool]]:
    """Each import of a fedlib module in ``source``: ``(node, target, nested)``.

    ``target`` is the imported module's dotted name (relative imports resolved against
    ``module``; ``from fedlib.x import y`` gives ``fedlib.x.y`` when ``y`` is a submodule on
    disk, else ``fedlib.x``); ``nested`` is true inside a function or class body.
    """
    package = module if is_package else module.rpartition(".")[0]

    def walk(node: ast.AST, nested: bool) -> Iterator[tuple[ast.stmt, str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "fedlib":
                        yield child, alias.name, nested
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    target = child.module or ""
                if target.split(".")[0] == "fedlib":
                    for alias in child.names:
                        yield child, submodule_or_package(target, alias.name), nested
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                         | ast.ClassDef)
            yield from walk(child, inner)

    yield from walk(ast.parse(source), False)


def submodule_or_package(target: str, name: str) -> str:
    """``fedlib.survival`` + ``loaders`` -> ``fedlib.survival.loaders`` if that module exists."""
    candidate = FEDLIB.parent.joinpath(*target.split("."), name)
    if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
        return f"{target}.{name}"
    return target


def package_of(module: str) -> str | None:
    """The layered subpackage a module belongs to (``fedlib.fl.party`` -> ``fl``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def import_violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Why the fedlib imports of ``source`` (the text of ``module``) break the rules, if they do.

    >>> import_violations("from fedlib.fl.party import Party", "fedlib.crypto.psi")
    ['fedlib.crypto.psi:1 imports fedlib.fl.party: crypto may not import fl (upwards)']
    """
    problems = []
    importer = package_of(module)
    for node, target, nested in fedlib_imports(source, module, is_package=is_package):
        where = f"{module}:{node.lineno} imports {target}"
        if nested:
            problems.append(f"{where} inside a function or class body; import it at module level")
        imported = package_of(target)
        if importer is None or imported is None or imported == importer:
            continue
        if importer not in LEVEL or imported not in LEVEL:
            unknown = importer if importer not in LEVEL else imported
            problems.append(f"{where}: package {unknown!r} is not in the layer list")
        elif LEVEL[imported] == LEVEL[importer]:
            problems.append(f"{where}: {importer} and {imported} are peers and may not "
                            "import each other")
        elif LEVEL[imported] > LEVEL[importer]:
            problems.append(f"{where}: {importer} may not import {imported} (upwards)")
    return problems


def first_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph ``edges`` as a closed path, or None.

    >>> first_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    ['a', 'b', 'c', 'a']
    >>> first_cycle({"a": {"b"}, "b": set()}) is None
    True
    """
    state: dict[str, str] = {}   # "open" while on the current path, "done" once explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "_build" not in p.parts)


FEDLIB_SOURCES = sources(FEDLIB)


# --- the checker itself fails on wrong imports -------------------------------------------


@pytest.mark.parametrize(("source", "module", "expected"), [
    ("from fedlib.fl.party import Party", "fedlib.crypto.secagg", "crypto may not import fl"),
    ("from ..fl import party", "fedlib.crypto.secagg", "crypto may not import fl"),
    ("import fedlib.book.cli", "fedlib.survival.data", "survival may not import book"),
    ("from fedlib.privacy.dpsgd import train_local", "fedlib.crypto.ckks",
     "crypto and privacy are peers"),
    ("from fedlib.vertical.gbdt import HistGBDT", "fedlib.survival.model",
     "survival and vertical are peers"),
    ("from fedlib.data.registry import load_dataset", "fedlib.core.transcript",
     "core may not import data"),
    ("from fedlib import fl", "fedlib.evaluate.metrics", "evaluate may not import fl"),
    ("def f():\n    from fedlib.core.transcript import Transcript\n", "fedlib.fl.federation",
     "inside a function or class body"),
    ("class A:\n    from fedlib.fl import models\n", "fedlib.fl.party",
     "inside a function or class body"),
    ("def f():\n    if True:\n        from . import models\n", "fedlib.fl.party",
     "inside a function or class body"),
    ("from fedlib.core import Transcript", "fedlib.newpkg.tool", "not in the layer list"),
])
def test_checker_rejects_a_wrong_import(source, module, expected):
    problems = import_violations(source, module)
    assert len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize(("source", "module", "is_package"), [
    ("from fedlib.core.transcript import Transcript", "fedlib.crypto.psi", False),
    ("from fedlib.data.registry import load_dataset\nfrom fedlib.crypto import secagg",
     "fedlib.fl.prepare", False),
    ("from .metrics import classification_metrics", "fedlib.evaluate", True),
    ("from fedlib.fl.models import predict_proba", "fedlib.vertical.reputation", False),
    ("import numpy as np\ndef f():\n    import torch\n", "fedlib.privacy.dpsgd", False),
])
def test_checker_accepts_downward_module_level_imports(source, module, is_package):
    assert import_violations(source, module, is_package=is_package) == []


def test_relative_imports_resolve_against_the_package():
    found = [t for _, t, _ in fedlib_imports("from ..core import transcript\nfrom . import prf",
                                             "fedlib.crypto.secagg", is_package=False)]
    assert found == ["fedlib.core.transcript", "fedlib.crypto.prf"]


# --- fedlib follows the rules -----------------------------------------------------------


def test_every_fedlib_package_is_in_the_layer_list():
    packages = {p.name for p in FEDLIB.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LEVEL)


def test_fedlib_imports_go_downwards_at_module_level():
    problems = [problem for path in FEDLIB_SOURCES
                for problem in import_violations(path.read_text(), module_name(path),
                                                 is_package=path.name == "__init__.py")]
    assert problems == [], "\n".join(problems)


def test_core_imports_nothing_else_from_fedlib():
    outside = [f"{module_name(path)} imports {target}"
               for path in sources(FEDLIB / "core")
               for _, target, _ in fedlib_imports(path.read_text(), module_name(path),
                                                  is_package=path.name == "__init__.py")
               if package_of(target) != "core"]
    assert outside == []


def test_fedlib_modules_import_each_other_without_cycles():
    edges: dict[str, set[str]] = {}
    for path in FEDLIB_SOURCES:
        module = module_name(path)
        edges[module] = {target for _, target, _ in fedlib_imports(
            path.read_text(), module, is_package=path.name == "__init__.py")} - {module}
    assert first_cycle(edges) is None


@pytest.mark.parametrize("folder", ["chapters", "bench"])
def test_chapters_and_benchmarks_import_fedlib_at_the_top(folder):
    nested = [f"{path.relative_to(ROOT)}:{node.lineno} imports {target}"
              for path in sources(ROOT / folder)
              for node, target, inside in fedlib_imports(path.read_text(), "__main__",
                                                         is_package=False)
              if inside]
    assert nested == []


def test_architecture_md_states_the_layer_order():
    assert f"`{render_layers()}`" in (ROOT / "ARCHITECTURE.md").read_text()
