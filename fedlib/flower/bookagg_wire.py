"""The book's secure-aggregation messages as the plain values a Flower ``ConfigRecord`` holds.

The protocol's messages (:mod:`fedlib.crypto.secagg`) are nested dicts keyed by client
names; a Flower ``ConfigRecord`` holds scalars and flat lists of one type. Each function here
turns one message into such a flat dict (parallel lists: names, then the bytes or ints that
go with them) or back, checking that the lists match, so that a malformed message fails with
a message naming the field instead of a ``KeyError`` deep in the protocol. Nothing here
imports Flower: the callers in :mod:`fedlib.flower.bookagg` wrap the dicts in records, and
the tests read them without Flower.

>>> MESSAGE_TYPE["masked"]
'train.bookagg_masked'
>>> shares_from_record(shares_record({"bank-2": b"ct"}))
{'bank-2': b'ct'}
>>> unmask_from_record(unmask_record({"s_sk": {"a": b"1"}, "b": {"b": b"2"}}))
{'s_sk': {'a': b'1'}, 'b': {'b': b'2'}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedlib.crypto.secagg import PHASES, SecAggProtocolError

__all__ = ["ACTION", "MESSAGE_TYPE", "PHASE_OF_MESSAGE_TYPE", "PROTOCOL_RECORD", "STATE_RECORD",
           "roster_from_record", "roster_record", "shares_from_record", "shares_record",
           "survivors_from_record", "unmask_from_record", "unmask_record"]

#: The ``ClientApp`` action that answers each phase of :data:`fedlib.crypto.secagg.PHASES`.
ACTION = {phase: f"bookagg_{phase}" for phase in PHASES}
#: The message type the server sends for each phase: ``train.<action>`` (Flower routes it).
MESSAGE_TYPE = {phase: f"train.{action}" for phase, action in ACTION.items()}
PHASE_OF_MESSAGE_TYPE = {kind: phase for phase, kind in MESSAGE_TYPE.items()}
#: The ``ConfigRecord`` of a message that carries the protocol's fields.
PROTOCOL_RECORD = "fedlib.bookagg"
#: The ``ConfigRecord`` of a node's ``Context.state`` that keeps its client between phases.
STATE_RECORD = "fedlib.bookagg.client"


def _pairs(record: Mapping[str, Any], names: str, values: str) -> list[tuple[str, Any]]:
    """``zip(record[names], record[values])``, refusing missing fields or unequal lengths."""
    missing = [k for k in (names, values) if k not in record]
    if missing:
        raise SecAggProtocolError(f"secure-aggregation message lacks {missing}")
    keys, vals = list(record[names]), list(record[values])
    if len(keys) != len(vals) or len(set(keys)) != len(keys):
        raise SecAggProtocolError(f"{names!r} ({len(keys)}) and {values!r} ({len(vals)}) must "
                                  "be lists of equal length, with distinct names")
    return list(zip(keys, vals, strict=True))


def roster_record(roster: Mapping[str, Mapping[str, Any]]) -> dict[str, list]:
    """Phase 0's roster ``{name: {"index", "c_pk", "s_pk"}}`` as four parallel lists.

    >>> roster_record({"a": {"index": 1, "c_pk": b"c", "s_pk": b"s"}})["roster_index"]
    [1]
    """
    return {"roster_names": list(roster),
            "roster_index": [int(e["index"]) for e in roster.values()],
            "roster_c_pk": [bytes(e["c_pk"]) for e in roster.values()],
            "roster_s_pk": [bytes(e["s_pk"]) for e in roster.values()]}


def roster_from_record(record: Mapping[str, Any]) -> dict[str, dict]:
    """The roster :func:`roster_record` flattened, in its order."""
    index = dict(_pairs(record, "roster_names", "roster_index"))
    c_pk = dict(_pairs(record, "roster_names", "roster_c_pk"))
    s_pk = dict(_pairs(record, "roster_names", "roster_s_pk"))
    return {v: {"index": int(index[v]), "c_pk": bytes(c_pk[v]), "s_pk": bytes(s_pk[v])}
            for v in index}


def shares_record(ciphertexts: Mapping[str, bytes]) -> dict[str, list]:
    """Encrypted shares keyed by peer (sent, or forwarded) as ``peers`` and ``ciphertexts``."""
    return {"peers": list(ciphertexts), "ciphertexts": [bytes(c) for c in ciphertexts.values()]}


def shares_from_record(record: Mapping[str, Any]) -> dict[str, bytes]:
    """The ciphertexts :func:`shares_record` flattened, keyed by peer."""
    return {str(v): bytes(c) for v, c in _pairs(record, "peers", "ciphertexts")}


def survivors_from_record(record: Mapping[str, Any]) -> list[str]:
    """Phase 3's announced ``U3`` (field ``survivors``)."""
    if "survivors" not in record:
        raise SecAggProtocolError("unmask request lacks 'survivors'")
    return [str(v) for v in record["survivors"]]


def unmask_record(reply: Mapping[str, Mapping[str, bytes]]) -> dict[str, list]:
    """A survivor's ``{"s_sk": {owner: share}, "b": {owner: share}}`` as four lists."""
    out: dict[str, list] = {}
    for what in ("s_sk", "b"):
        out[f"{what}_owners"] = list(reply[what])
        out[f"{what}_shares"] = [bytes(s) for s in reply[what].values()]
    return out


def unmask_from_record(record: Mapping[str, Any]) -> dict[str, dict[str, bytes]]:
    """The reply :func:`unmask_record` flattened, as the server's unmasking reads it."""
    return {what: {str(v): bytes(s) for v, s in _pairs(record, f"{what}_owners",
                                                        f"{what}_shares")}
            for what in ("s_sk", "b")}
