"""Fixtures shared by the test modules.

``flwr``: Flower is an optional extra (``make flower-test`` installs it in ``.venv-flower``;
``pip install -e '.[flower]'`` in an environment of your own); a test that needs it takes
this fixture and is skipped, with that reason, where Flower is not installed. Flower is made
offline (no telemetry, no update check) before its first import.
"""

from __future__ import annotations

import pytest

from fedlib.flower.env import offline

#: Why a Flower test was skipped.
FLOWER_SKIP = "Flower is optional: pip install -e '.[flower]'"


@pytest.fixture(scope="session")
def flwr():
    """The ``flwr`` module, or a skip where the optional extra is not installed."""
    offline()
    return pytest.importorskip("flwr", reason=FLOWER_SKIP)
