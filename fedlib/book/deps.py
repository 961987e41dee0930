"""Is the environment already installed? Lets ``make`` skip pip (and the network) when it is.

Run as a script from the repository root, before ``fedlib`` itself is installed::

    python fedlib/book/deps.py   # exit 0: every requirement of pyproject.toml (+ dev) is met

Uses only the standard library and ``packaging`` (absent in a brand-new venv, which then simply
counts as "not installed").

References: the project's Makefile (install step).

Examples
--------
>>> unmet(["pip>=1"]), unmet(["surely-not-a-package-xyz"])
([], ['surely-not-a-package-xyz'])
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

__all__ = ["requirements", "unmet"]


def requirements(pyproject: Path, extras: tuple[str, ...] = ("dev",)) -> list[str]:
    """The dependency strings of ``pyproject.toml`` plus the given optional extras."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project.get("dependencies", []))
    for extra in extras:
        reqs += project.get("optional-dependencies", {}).get(extra, [])
    return reqs


def unmet(reqs: list[str]) -> list[str]:
    """The requirements that are not installed at a matching version."""
    from packaging.requirements import Requirement

    out = []
    for text in reqs:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(text)
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            out.append(f"{text} (installed {version})")
    return out


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    try:
        metadata.version("fedlib")
        missing = unmet(requirements(root / "pyproject.toml"))
    except (ImportError, metadata.PackageNotFoundError):
        return 1
    for m in missing:
        print(f"unmet: {m}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
