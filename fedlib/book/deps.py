r"""Is the environment already installed? Lets ``make`` skip pip (and the network) when it is.

Run as a script from the repository root, before ``fedlib`` itself is installed::

    python fedlib/book/deps.py               # exit 0: every package of requirements.lock is
                                             # installed at its locked version, and every
                                             # requirement of pyproject.toml (+ dev) is met
    python fedlib/book/deps.py --entry torch # print torch's block of the lock (the Makefile
                                             # installs it first, hash-checked)

``requirements.lock`` is the reproduction's lock: exact versions with hashes of everything
``pip install -e '.[dev]'`` installs on Python 3.11, Linux x86_64, written by ``make lock``
(pip-tools) from pyproject.toml. :func:`lock_problems` is the check that the two agree
(tests/test_lock.py runs it).

Uses only the standard library and, once something is installed, ``packaging`` (absent in a
brand-new venv, which then simply counts as "not installed").

References: the project's Makefile (install and ``lock`` steps).

Examples
--------
>>> unmet(["pip>=1"]), unmet(["surely-not-a-package-xyz"])
([], ['surely-not-a-package-xyz'])
>>> parse_lock("numpy==2.1.0 \\\n    --hash=sha256:ab\n    # via fedlib\n")["numpy"].version
'2.1.0'
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = [
    "LockEntry",
    "canonical",
    "lock_mismatches",
    "lock_problems",
    "parse_lock",
    "read_lock",
    "requirements",
    "unmet",
]

LOCK_NAME = "requirements.lock"


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


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares it: ``Sf_HEU`` and ``sf-heu`` are one package.

    >>> canonical("Sf_HEU"), canonical("ruamel.yaml")
    ('sf-heu', 'ruamel-yaml')
    """
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class LockEntry:
    """One package of the lock: its exact version, its hashes and its block of lines."""

    name: str
    version: str
    hashes: tuple[str, ...]
    text: str


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;\\]+)")


def parse_lock(text: str) -> dict[str, LockEntry]:
    r"""The entries of a pip requirements file of exact pins (the format ``pip-compile`` writes).

    Continuation lines (``\``) are joined and comments dropped. A line that is not an exact
    ``name==version`` pin raises ``ValueError``: a lock holds nothing else.
    """
    entries: dict[str, LockEntry] = {}
    block: list[str] = []
    for raw in [*text.splitlines(), ""]:
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line:
            block.append(raw)
        if line.endswith("\\") or not block:
            continue
        joined = " ".join(b.split(" #", 1)[0].rstrip().rstrip("\\").strip() for b in block)
        m = _PIN.match(joined)
        if m is None:
            raise ValueError(f"not an exact pin in the lock: {joined!r}")
        hashes = tuple(re.findall(r"--hash=(\S+)", joined))
        name = canonical(m.group(1))
        entries[name] = LockEntry(name, m.group(3), hashes, "\n".join(block))
        block = []
    return entries


def read_lock(path: Path) -> dict[str, LockEntry]:
    """:func:`parse_lock` of a file."""
    return parse_lock(Path(path).read_text())


def lock_problems(reqs: list[str], lock: dict[str, LockEntry],
                  unhashed: frozenset[str] = frozenset()) -> list[str]:
    """Where a lock and the requirements it was made from disagree (empty: they agree).

    Every requirement (whose marker holds here) must be locked at a version its specifier
    admits, and every locked package must carry at least one hash, except those named in
    ``unhashed``.
    """
    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version

    out = []
    for text in reqs:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        entry = lock.get(canonical(req.name))
        if entry is None:
            out.append(f"{text}: not in the lock")
            continue
        try:
            Version(entry.version)
        except InvalidVersion:
            out.append(f"{text}: locked version {entry.version!r} is not a version")
            continue
        if req.specifier and not req.specifier.contains(entry.version, prereleases=True):
            out.append(f"{text}: locked at {entry.version}, outside the specifier")
    for name, entry in sorted(lock.items()):
        if not entry.hashes and name not in unhashed:
            out.append(f"{name}=={entry.version}: no hash in the lock")
    return out


def lock_mismatches(lock: dict[str, LockEntry]) -> list[str]:
    """The locked packages that are not installed at exactly their locked version."""
    from packaging.version import Version

    out = []
    for name, entry in sorted(lock.items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            out.append(f"{name}=={entry.version} (not installed)")
            continue
        if Version(installed) != Version(entry.version):
            out.append(f"{name}=={entry.version} (installed {installed})")
    return out


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[2]
    lock_path = root / LOCK_NAME
    if argv[:1] == ["--entry"] and len(argv) == 2:
        entry = read_lock(lock_path).get(canonical(argv[1]))
        if entry is None:
            print(f"{argv[1]} is not in {LOCK_NAME}", file=sys.stderr)
            return 2
        print(entry.text)
        return 0
    try:
        metadata.version("fedlib")
        lock = read_lock(lock_path)
        reqs = requirements(root / "pyproject.toml")
        missing = lock_mismatches(lock)
        unmet_reqs = unmet(reqs)
        stale = lock_problems(reqs, lock)
    except (ImportError, metadata.PackageNotFoundError):
        return 1
    for m in missing:
        print(f"not as locked: {m}", file=sys.stderr)
    for m in unmet_reqs:
        print(f"unmet: {m}", file=sys.stderr)
    for m in stale:
        print(f"{LOCK_NAME} disagrees with pyproject.toml ({m}): `make lock` rewrites it",
              file=sys.stderr)
    return 1 if missing or unmet_reqs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
