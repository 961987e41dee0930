"""Helpers shared by the book tests: a throw-away project root holding the fixture chapter."""

import importlib.util
import shutil
from pathlib import Path

from fedlib.book.chapters import Chapter

FIXTURE = Path(__file__).parent


def fixture_root(tmp_path: Path) -> tuple[Path, Chapter]:
    """Copy the fixture chapter into ``tmp_path`` and return (root, test-only registry entry)."""
    root = tmp_path / "proj"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    spec = importlib.util.spec_from_file_location("fixture_schema", root / "fixture_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return root, Chapter("99", "99_fixture", "Fixture chapter", module.FixtureParams)
