"""A book party's personal state kept in its node's ``Context.state`` between messages.

Some parties keep state of their own from round to round: an FMTL institution
(:class:`~fedlib.fl.fmtl.FMTLParty`, paper 000 eq. 1) keeps its personal model ``W_i`` and,
for the ``"joint"`` step, its personal offset ``V_i``; the model it is evaluated with is
built from them. The local engine keeps them in the party object. On Flower nothing of a
party object outlives a message (a 1.42 SuperNode starts a new ``ClientApp`` process per
message; the simulation hands a node's messages to whichever Ray actor is free, each with its
own copy of the parties), so that state would be lost, or mixed between copies. What Flower
keeps per node is the ``Context``'s ``state`` (a ``RecordDict``), which stays with the node
and never goes to the server.

The protocol (:class:`StatefulParty`): a party that keeps state has ``state()``, a dict of
NumPy arrays and plain scalars (bool, int, float, str), and ``load_state(state)``, which
replaces its state by such a dict (``{}``: a party that never trained). The
``ClientApp`` (:func:`fedlib.flower.client.node_client_app`) calls
:func:`restore_party_state` before every ``train`` and ``evaluate`` and
:func:`save_party_state` after every ``train``: the arrays go to the node's ``ArrayRecord``
:data:`STATE_ARRAYS` (``np.save`` bytes, so a float64 vector comes back bit for bit) and the
scalars to its ``ConfigRecord`` :data:`STATE_CONFIG`. The party's in-memory state is never
trusted across messages: a node without a saved state loads ``{}``, so a run equals the
local engine only if Flower did carry the state. A DP accountant is not part of this state;
it has its own ledger (:mod:`fedlib.flower.state`), because its segments also go to the
server.

Flower is imported only by :func:`save_party_state` when no record types are handed in, so
the protocol and the conversion work (and are tested) without it.

>>> import numpy as np
>>> arrays, scalars = split_state({"params": np.arange(3.0), "fmtl": True})
>>> sorted(arrays), scalars
(['params'], {'fmtl': True})
>>> join_state(arrays, scalars)["params"].tolist()
[0.0, 1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fedlib.flower.env import offline

__all__ = ["STATE_ARRAYS", "STATE_CONFIG", "StatefulParty", "join_state", "read_party_state",
           "restore_party_state", "save_party_state", "split_state"]

#: The ``ArrayRecord`` of a node's ``Context.state`` that holds its party's arrays.
STATE_ARRAYS = "fedlib.party.arrays"
#: The ``ConfigRecord`` of a node's ``Context.state`` that holds its party's scalars.
STATE_CONFIG = "fedlib.party.config"
_SCALARS = (bool, int, float, str)


@runtime_checkable
class StatefulParty(Protocol):
    """A party whose state must survive from one round to the next."""

    def state(self) -> dict[str, Any]:
        """The state as NumPy arrays and bool, int, float or str values."""

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Replace the state by ``state`` (as :meth:`state` gives it; ``{}``: none yet)."""


def split_state(state: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A party's state as its arrays and its scalars (what the two Flower records hold).

    NumPy scalars become Python ones; anything else (``None``, a list, an object) is an error
    naming the entry, before anything is written.
    """
    arrays, scalars = {}, {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"party state keys must be str, got {key!r}")
        if isinstance(value, np.ndarray):
            arrays[key] = value
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, _SCALARS):
            raise TypeError(f"party state[{key!r}] = {value!r}: a party's state holds NumPy "
                            "arrays and bool, int, float or str values (leave out what it "
                            "does not have yet)")
        scalars[key] = value
    return arrays, scalars


def join_state(arrays: Mapping[str, Any], scalars: Mapping[str, Any]) -> dict[str, Any]:
    """The party's state from its two records (inverse of :func:`split_state`).

    ``arrays`` may hold Flower ``Array`` objects (their ``numpy()``) or NumPy arrays.
    """
    both = sorted(set(arrays) & set(scalars))
    if both:
        raise ValueError(f"party state entries {both} are both an array and a scalar")
    out = {k: np.array(v.numpy() if hasattr(v, "numpy") else v, copy=True)
           for k, v in arrays.items()}
    return out | dict(scalars)


def read_party_state(records: Any) -> dict[str, Any]:
    """The party state a node's ``Context.state`` holds (``{}`` if it holds none)."""
    return join_state(records.array_records.get(STATE_ARRAYS, {}),
                      records.config_records.get(STATE_CONFIG, {}))


def restore_party_state(party: Any, records: Any) -> dict[str, Any] | None:
    """Load into ``party`` the state its node's ``Context.state`` holds (``{}`` if none).

    Called before every message the party answers, so that what the party object happens to
    hold from an earlier message (in the same Ray actor, or nothing in a new process) never
    counts. Returns the state loaded; ``None`` for a party that keeps no state.
    """
    if not isinstance(party, StatefulParty):
        return None
    state = read_party_state(records)
    party.load_state(state)
    return state


def _flower_records() -> tuple[Callable[[dict], Any], Callable[[dict], Any]]:
    """Builders of Flower's named ``ArrayRecord`` and ``ConfigRecord``."""
    offline()
    from flwr.app import Array, ArrayRecord, ConfigRecord  # optional extra [flower]

    return (lambda arrays: ArrayRecord({k: Array(np.asarray(v)) for k, v in arrays.items()}),
            ConfigRecord)


def save_party_state(party: Any, records: Any,
                     record_types: tuple[Callable[[dict], Any], Callable[[dict], Any]]
                     | None = None) -> dict[str, Any] | None:
    """Write ``party.state()`` into its node's ``Context.state``; return it.

    Both records are rewritten every time, so an entry the party no longer has disappears.
    ``record_types`` builds the two records from dicts (default: Flower's ``ArrayRecord``
    and ``ConfigRecord``; a test without Flower passes ``(dict, dict)``). A party that keeps
    no state writes nothing and returns ``None``.
    """
    if not isinstance(party, StatefulParty):
        return None
    state = party.state()
    arrays, scalars = split_state(state)
    make_arrays, make_config = _flower_records() if record_types is None else record_types
    records.array_records[STATE_ARRAYS] = make_arrays(arrays)
    records.config_records[STATE_CONFIG] = make_config(scalars)
    return state
