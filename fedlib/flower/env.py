"""Keep Flower and Ray off the network before either is imported.

Flower reads ``FLWR_TELEMETRY_ENABLED`` when its telemetry module is first imported and checks
for updates unless ``FLWR_DISABLE_UPDATE_CHECK=1``; Ray's simulation backend may report usage
statistics unless ``RAY_USAGE_STATS_ENABLED=0``. The book never reaches the network, so every
entry point of :mod:`fedlib.flower` calls :func:`offline` before its first ``import flwr``.

>>> import os
>>> offline(); os.environ["FLWR_TELEMETRY_ENABLED"]
'0'
"""

from __future__ import annotations

import os

__all__ = ["OFFLINE", "offline"]

#: Environment variables that switch Flower's and Ray's phone-home features off.
OFFLINE = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1",
           "RAY_USAGE_STATS_ENABLED": "0"}


def offline() -> None:
    """Set :data:`OFFLINE` in this process (and so in the Ray workers it starts)."""
    os.environ.update(OFFLINE)
