"""requirements.lock agrees with pyproject.toml (issue 12): every requirement, runtime and dev,
is locked at a version its specifier admits, every locked package carries a hash, torch is the
CPU build, and no CUDA package slipped in. The checker is first shown to catch disagreements on
small synthetic pairs."""

import hashlib
import os
from pathlib import Path

import pytest
from packaging.version import Version

from fedlib.book.deps import (
    canonical,
    lock_mismatches,
    lock_problems,
    parse_lock,
    read_lock,
    requirements,
)

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"

SYNTHETIC_LOCK = """\
#
# a small lock in pip-compile's format
#
numpy==2.1.0 \\
    --hash=sha256:aa \\
    --hash=sha256:bb
    # via fedlib (pyproject.toml)
Sf_HEU==0.5.2b0 \\
    --hash=sha256:cc
pandas==2.0.3 \\
    --hash=sha256:dd
pytest==8.3.0
"""


def test_parse_joins_blocks_and_normalises_names():
    lock = parse_lock(SYNTHETIC_LOCK)
    assert set(lock) == {"numpy", "sf-heu", "pandas", "pytest"}
    assert lock["numpy"].hashes == ("sha256:aa", "sha256:bb")
    assert lock["sf-heu"].version == "0.5.2b0"
    assert lock["pytest"].hashes == ()
    assert lock["numpy"].text.startswith("numpy==2.1.0 \\\n    --hash=sha256:aa")


def test_parse_rejects_anything_but_exact_pins():
    with pytest.raises(ValueError, match="exact pin"):
        parse_lock("numpy>=2\n")
    with pytest.raises(ValueError, match="exact pin"):
        parse_lock("--find-links /somewhere\nnumpy==2.1.0\n")


def test_checker_accepts_a_consistent_pair():
    lock = parse_lock(SYNTHETIC_LOCK)
    reqs = ["numpy>=1.26,<3", "sf-heu>=0.5.2b0", "pandas>=2.0"]
    assert lock_problems(reqs, lock, unhashed=frozenset({"pytest"})) == []


def test_checker_catches_an_inconsistent_pair():
    lock = parse_lock(SYNTHETIC_LOCK)
    reqs = ["numpy>=1.26,<2",          # locked 2.1.0: outside
            "pandas>=2.1",             # locked 2.0.3: outside
            "opacus>=1.5",             # not locked
            "sf_heu>=0.5.2b0",         # fine (other spelling of the name)
            "tomli>=2; python_version < '3.0'"]  # marker false here: ignored
    problems = lock_problems(reqs, lock)
    assert problems == [
        "numpy>=1.26,<2: locked at 2.1.0, outside the specifier",
        "pandas>=2.1: locked at 2.0.3, outside the specifier",
        "opacus>=1.5: not in the lock",
        "pytest==8.3.0: no hash in the lock",
    ]


def test_mismatches_name_what_is_not_installed_as_locked():
    lock = parse_lock("pytest==0.0.1 \\\n    --hash=sha256:aa\n"
                      "surely-not-a-package-xyz==1.0 \\\n    --hash=sha256:bb\n")
    out = lock_mismatches(lock)
    assert out[0] == "pytest==0.0.1 (installed " + __import__("pytest").__version__ + ")"
    assert out[1] == "surely-not-a-package-xyz==1.0 (not installed)"


# --- the project's own lock ------------------------------------------------------------------

def test_lock_agrees_with_pyproject():
    assert lock_problems(requirements(ROOT / "pyproject.toml"), read_lock(LOCK)) == []


def test_lock_holds_the_cpu_builds_only():
    lock = read_lock(LOCK)
    torch = Version(lock["torch"].version)
    assert torch.public == "2.13.0" and torch.local == "cpu"
    cuda = [n for n in lock if n.startswith(("nvidia-", "cuda-", "triton"))]
    assert cuda == [], f"a CUDA package is locked: {cuda}"
    assert "xgboost-cpu" in lock and "xgboost" not in lock


def test_installed_environment_matches_the_lock():
    """The tests run in what `make test` installed: exactly the lock."""
    assert lock_mismatches(read_lock(LOCK)) == []


def test_torch_hash_is_the_local_cpu_wheel():
    """Where pip takes torch from a local folder (PIP_FIND_LINKS), the locked hash is that
    file's: the wheel pip really installs here."""
    entry = read_lock(LOCK)["torch"]
    dirs = [Path(d) for d in os.environ.get("PIP_FIND_LINKS", "").split() if Path(d).is_dir()]
    wheels = [w for d in dirs for w in d.glob("torch-*.whl")
              if canonical(w.name.split("-")[0]) == "torch"
              and w.name.split("-")[1] == entry.version]
    if not wheels:
        pytest.skip("no local torch wheel of the locked version on this machine")
    for wheel in wheels:
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert f"sha256:{digest}" in entry.hashes, wheel
