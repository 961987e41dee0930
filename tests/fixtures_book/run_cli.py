"""``fedbook`` on the fixture chapter, as a separate process (for the signal tests).

Usage: ``python run_cli.py ROOT fedbook-args...``; ROOT is a copy made by ``fixture_root``.
"""

import importlib.util
import sys
from pathlib import Path

from fedlib.book.chapters import Chapter
from fedlib.book.cli import main

root = Path(sys.argv[1])
spec = importlib.util.spec_from_file_location("fixture_schema", root / "fixture_schema.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
chapter = Chapter("99", "99_fixture", "Fixture chapter", module.FixtureParams)
sys.exit(main(sys.argv[2:], root=root, registry=[chapter]))
