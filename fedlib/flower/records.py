"""The book's round messages as Flower records.

A book party and a book strategy exchange a flat parameter vector, a config dict and a
metrics dict (:class:`~fedlib.fl.strategies.FitInstruction`,
:class:`~fedlib.fl.strategies.FitResult`). On Flower they travel in a ``RecordDict``: the
vector as a one-array ``ArrayRecord`` (``np.save`` bytes, so a float64 vector arrives bit for
bit), the config as a ``ConfigRecord`` and the metrics as a ``MetricRecord``.

Every function imports ``flwr`` inside its body: the optional extra ``[flower]`` brings it,
and the module must import without it.

>>> plain_config({"round": np.int64(2), "weight": np.float64(0.5), "name": "a"})
{'round': 2, 'weight': 0.5, 'name': 'a'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fedlib.flower.env import offline

__all__ = ["ARRAYS", "CONFIG", "METRICS", "PAYLOAD", "pack", "pack_payload", "plain_config",
           "unpack_metrics", "unpack_payload", "unpack_vector"]

ARRAYS, CONFIG, METRICS = "arrays", "config", "metrics"
#: The ``ConfigRecord`` of a reply that carries a protected update (bytes) instead of a vector.
PAYLOAD = "payload"


def plain_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config with NumPy scalars turned into Python ones (what Flower's records accept)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, bool | int | float | str | bytes):
            raise TypeError(f"config[{key!r}] = {value!r}: a Flower record holds bool, int, "
                            "float, str or bytes")
        out[key] = value
    return out


def pack(*, vector: np.ndarray | None = None, config: Mapping[str, Any] | None = None,
         metrics: Mapping[str, Any] | None = None) -> Any:
    """A ``RecordDict`` with the vector, the config and the metrics that are given."""
    offline()
    from flwr.app import ArrayRecord, ConfigRecord, MetricRecord, RecordDict  # optional extra

    content = RecordDict()
    if vector is not None:
        content[ARRAYS] = ArrayRecord([np.asarray(vector)])
    if config is not None:
        content[CONFIG] = ConfigRecord(plain_config(config))
    if metrics is not None:
        content[METRICS] = MetricRecord(plain_config(metrics))
    return content


def unpack_vector(content: Any) -> np.ndarray:
    """The flat parameter vector of a ``RecordDict`` made by :func:`pack`."""
    (vector,) = content[ARRAYS].to_numpy_ndarrays()
    return vector


def unpack_metrics(content: Any, key: str = METRICS) -> dict[str, Any]:
    """A metrics (or config) record of a ``RecordDict`` as a plain dict (empty if absent)."""
    return dict(content[key]) if key in content else {}


def pack_payload(content: Any, payload: bytes) -> Any:
    """Replace the vector of a reply's ``RecordDict`` by a protected payload (bytes).

    The plain vector is removed, so it never leaves the node; a CKKS ciphertext travels as
    one ``bytes`` value of a ``ConfigRecord``.
    """
    offline()
    from flwr.app import ConfigRecord  # optional extra [flower]

    if not isinstance(payload, bytes | bytearray):
        raise TypeError(f"a protected payload travels as bytes, got {type(payload).__name__}")
    del content[ARRAYS]
    content[PAYLOAD] = ConfigRecord({PAYLOAD: bytes(payload)})
    return content


def unpack_payload(content: Any) -> bytes | None:
    """The protected payload of a reply made by :func:`pack_payload`, or ``None``."""
    return bytes(content[PAYLOAD][PAYLOAD]) if PAYLOAD in content else None
