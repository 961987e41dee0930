"""What a node keeps for its party between messages, in its ``Context.state``.

Why ``Context.state``. On the local engine a party is one object for the whole run: its DP
accountant composes every round and an FMTL institution (:class:`~fedlib.fl.fmtl.FMTLParty`,
paper 000 eq. 1) keeps its personal model ``W_i`` and offset ``V_i``. On Flower nothing of a
party object outlives a message: a 1.42 SuperNode starts a new ``ClientApp`` process for
every message, and the simulation hands a node's messages to whichever Ray actor is free,
each holding its own copy of the parties, so that state would be lost or mixed between
copies. What Flower does keep per node is the ``Context``'s ``state`` (a ``RecordDict``): it
stays with the node, goes with every message the node handles and comes back with the
reply, and never goes to the server.

What a node keeps (:func:`node_state`), one flat dict of NumPy arrays and plain scalars:

- the party's own state, if it keeps one (:class:`StatefulParty`: ``state()`` /
  ``load_state(state)``, e.g. FMTL's ``W_i``, ``V_i``), under ``party.<key>``;
- the ledgers of its privacy accountants (:mod:`fedlib.flower.ledgers`: DP segments, the
  Bayesian accountant's step inputs, the BDP distances), under ``<attribute>.<field>``.

It is written to two records of ``Context.state``: the arrays to the ``ArrayRecord``
:data:`NODE_ARRAYS` (``np.save`` bytes, so a float64 vector comes back bit for bit) and the
scalars to the ``ConfigRecord`` :data:`NODE_CONFIG`. Every way a node trains
(:func:`fedlib.flower.client.fit_on_node`: a plain ``train``, SecAgg+'s masked stage, the
book's secure aggregation's masked phase) calls :func:`restore_node_state` before the
party trains and :func:`save_node_state` after; ``evaluate`` restores the party's own state
only. The party object is never trusted across messages: a node that has saved nothing yet
starts from the state the party had when its ``ClientApp`` was built (its *initial* state;
``{}`` when none is given: a party that never trained), so a run equals the local engine
only if Flower did carry the state.

What the server sees is the ledgers' report (:func:`~fedlib.flower.ledgers.ledger_report`,
scalar fit metrics: a DP accountant's segments, a Bayesian accountant's ε per order), never
the party's own state nor anything pickled.

Flower is imported only by :func:`write_node_state` when no record types are handed in, so
the conversions work (and are tested) without it.

>>> arrays, scalars = split_state({"party.params": np.arange(3.0), "party.fmtl": True})
>>> sorted(arrays), scalars
(['party.params'], {'party.fmtl': True})
>>> join_state(arrays, scalars)["party.params"].tolist()
[0.0, 1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fedlib.flower.env import offline
from fedlib.flower.ledgers import (
    ledger_holder,
    ledger_report,
    ledger_state,
    load_ledger_report,
    load_ledger_state,
)

__all__ = ["NODE_ARRAYS", "NODE_CONFIG", "PARTY", "StatefulParty", "join_state",
           "load_node_state", "mirror_report", "node_state", "read_node_state",
           "restore_node_state", "save_node_state", "split_state", "write_node_state"]

#: The ``ArrayRecord`` of a node's ``Context.state`` that holds the arrays of its party's state.
NODE_ARRAYS = "fedlib.node.arrays"
#: The ``ConfigRecord`` of a node's ``Context.state`` that holds the scalars.
NODE_CONFIG = "fedlib.node.config"
#: The prefix of the party's own entries (the rest are its ledgers).
PARTY = "party."
_SCALARS = (bool, int, float, str)


@runtime_checkable
class StatefulParty(Protocol):
    """A party whose own state must survive from one round to the next."""

    def state(self) -> dict[str, Any]:
        """The state as NumPy arrays and bool, int, float or str values."""

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Replace the state by ``state`` (as :meth:`state` gives it; ``{}``: none yet)."""


def split_state(state: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A node's state as its arrays and its scalars (what the two Flower records hold).

    NumPy scalars become Python ones; anything else (``None``, a list, an object) is an error
    naming the entry, before anything is written.
    """
    arrays, scalars = {}, {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"node state keys must be str, got {key!r}")
        if isinstance(value, np.ndarray):
            arrays[key] = value
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, _SCALARS):
            raise TypeError(f"state[{key!r}] = {value!r}: a party's state holds NumPy arrays "
                            "and bool, int, float or str values (leave out what it does not "
                            "have yet)")
        scalars[key] = value
    return arrays, scalars


def join_state(arrays: Mapping[str, Any], scalars: Mapping[str, Any]) -> dict[str, Any]:
    """The node's state from its two records (inverse of :func:`split_state`).

    ``arrays`` may hold Flower ``Array`` objects (their ``numpy()``) or NumPy arrays; every
    array is a writable copy (Ray hands an actor read-only views of its object store).
    """
    both = sorted(set(arrays) & set(scalars))
    if both:
        raise ValueError(f"state entries {both} are both an array and a scalar")
    out = {k: np.array(v.numpy() if hasattr(v, "numpy") else v, copy=True)
           for k, v in arrays.items()}
    return out | dict(scalars)


def node_state(party: Any) -> dict[str, Any]:
    """Everything a node keeps for ``party``: its own state (``party.*``) and its ledgers."""
    own = party.state() if isinstance(party, StatefulParty) else {}
    return {f"{PARTY}{k}": v for k, v in own.items()} | ledger_state(ledger_holder(party))


def load_node_state(party: Any, state: Mapping[str, Any], *, ledgers: bool = True) -> None:
    """Give ``party`` the state ``state`` holds (:func:`node_state`'s form); ``{}``: none.

    ``ledgers=False`` loads the party's own state only (what ``evaluate`` needs; replaying a
    Bayesian ledger costs one accounting step per recorded step).
    """
    if isinstance(party, StatefulParty):
        party.load_state({k[len(PARTY):]: v for k, v in state.items() if k.startswith(PARTY)})
    if ledgers:
        load_ledger_state(ledger_holder(party), state)


def read_node_state(records: Any) -> dict[str, Any] | None:
    """The state a node's ``Context.state`` holds, or ``None`` if it has saved none yet."""
    arrays = records.array_records.get(NODE_ARRAYS)
    scalars = records.config_records.get(NODE_CONFIG)
    if arrays is None and scalars is None:
        return None
    return join_state(arrays or {}, scalars or {})


def restore_node_state(party: Any, records: Any, initial: Mapping[str, Any] | None = None, *,
                       ledgers: bool = True) -> dict[str, Any]:
    """Load into ``party`` what its node's ``Context.state`` holds; return it.

    A node that has saved nothing yet gives ``initial`` (the party's state when its
    ``ClientApp`` was built; ``None``: ``{}``). Called before every message the party
    answers, so that what the party object happens to hold from an earlier message (in the
    same Ray actor, or nothing in a new process) never counts.
    """
    state = read_node_state(records)
    if state is None:
        state = join_state(*split_state(initial or {}))
    load_node_state(party, state, ledgers=ledgers)
    return state


def _flower_records() -> tuple[Callable[[dict], Any], Callable[[dict], Any]]:
    """Builders of Flower's named ``ArrayRecord`` and ``ConfigRecord``."""
    offline()
    from flwr.app import Array, ArrayRecord, ConfigRecord  # optional extra [flower]

    return (lambda arrays: ArrayRecord({k: Array(np.asarray(v)) for k, v in arrays.items()}),
            ConfigRecord)


def write_node_state(records: Any, state: Mapping[str, Any],
                     record_types: tuple[Callable[[dict], Any], Callable[[dict], Any]]
                     | None = None) -> None:
    """Write ``state`` into a node's ``Context.state`` (both records rewritten).

    ``record_types`` builds the two records from dicts (default: Flower's ``ArrayRecord`` and
    ``ConfigRecord``; a test without Flower passes ``(dict, dict)``).
    """
    arrays, scalars = split_state(state)
    make_arrays, make_config = _flower_records() if record_types is None else record_types
    records.array_records[NODE_ARRAYS] = make_arrays(arrays)
    records.config_records[NODE_CONFIG] = make_config(scalars)


def save_node_state(party: Any, records: Any,
                    record_types: tuple[Callable[[dict], Any], Callable[[dict], Any]]
                    | None = None) -> dict[str, int | float]:
    """Write ``party``'s state into its node's ``Context.state``; return the ledgers' report.

    The report (:func:`~fedlib.flower.ledgers.ledger_report`) is what the node adds to its fit
    metrics for the server: ``{}`` for a party without accountants.
    """
    write_node_state(records, node_state(party), record_types)
    return ledger_report(ledger_holder(party))


def mirror_report(party: Any, metrics: Mapping[str, Any]) -> None:
    """Give a server's party object the accountants its node reported in ``metrics``."""
    load_ledger_report(ledger_holder(party), metrics)
