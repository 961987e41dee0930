"""Simulated dropouts on Flower: a client mod that makes a party fail a chosen message.

The local engine drops a party in a protocol phase (``dropouts[phase] = {names}``, phases of
:data:`fedlib.crypto.secagg.PHASES`). On Flower a party drops when its ``ClientApp`` answers
a message with an error: the server's ``Grid`` returns an error reply, which both the book's
``ServerApp`` (:func:`~fedlib.flower.server.run_strategy`) and Flower's
``SecAggPlusWorkflow`` treat as a node that is gone. :func:`dropout_mod` raises
:class:`SimulatedDropout` for the parties a plan names, in the round (the message's
``group_id``) and the phase it names:

- under SecAgg+ each phase is one of its four stages (:data:`STAGE_OF_PHASE`); a party that
  drops in ``"masked"`` never trains nor uploads, one that drops in ``"unmask"`` uploaded
  its masked vector but sends no shares;
- without a protocol every ``train`` message is the one upload, so a party named under any
  phase fails it (as the local engine's "trains but never uploads").

A dropped party comes back in the next round (the plan names rounds one by one), as in the
local engine.

>>> plan = normalise_plan({2: {"masked": ["bank-1"]}})
>>> plan
{2: {'masked': frozenset({'bank-1'})}}
>>> drops(plan, 2, "masked", "bank-1"), drops(plan, 1, "masked", "bank-1")
(True, False)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from fedlib.crypto.secagg import PHASES
from fedlib.flower.client import PARTITION_ID

__all__ = ["STAGE_OF_PHASE", "DropoutPlan", "SimulatedDropout", "dropout_mod", "drops",
           "normalise_plan"]

#: The book's protocol phases and the SecAgg+ stage (``flwr``'s ``Stage``) each one is.
STAGE_OF_PHASE = {"advertise": "setup", "share": "share_keys",
                  "masked": "collect_masked_vectors", "unmask": "unmask"}
_PHASE_OF_STAGE = {stage: phase for phase, stage in STAGE_OF_PHASE.items()}
_SECAGG_CONFIGS, _STAGE = "secaggplus_configs", "stage"  # flwr's RECORD_KEY_CONFIGS, Key.STAGE

#: round → phase → names of the parties that drop there.
DropoutPlan = dict[int, dict[str, frozenset[str]]]


class SimulatedDropout(RuntimeError):
    """Raised by :func:`dropout_mod`: the party is gone for this message."""


def normalise_plan(plan: Mapping[int, Mapping[str, Collection[str]]] | None) -> DropoutPlan:
    """Check a plan's phases and freeze it (a plan travels to the nodes inside the app)."""
    out: DropoutPlan = {}
    for rnd, phases in (plan or {}).items():
        unknown = set(phases) - set(PHASES)
        if unknown:
            raise ValueError(f"dropouts[{rnd}]: phases {sorted(unknown)} are not in {PHASES}")
        out[int(rnd)] = {phase: frozenset(names) for phase, names in phases.items() if names}
    return out


def drops(plan: DropoutPlan, rnd: int, phase: str | None, name: str) -> bool:
    """Whether ``name`` drops in round ``rnd`` at ``phase`` (``None``: any phase)."""
    phases = plan.get(rnd, {})
    if phase is None:
        return any(name in names for names in phases.values())
    return name in phases.get(phase, frozenset())


def dropout_mod(plan: Mapping[int, Mapping[str, Collection[str]]],
                names: Sequence[str]) -> Any:
    """A Flower client mod that fails the messages ``plan`` names.

    Parameters
    ----------
    plan
        round → phase → party names (see the module docstring).
    names
        The party names in node order: node ``partition-id = k`` runs ``names[k]``.

    Returns
    -------
    callable
        ``mod(message, context, call_next)``; put it first in the ``ClientApp``'s mods, so
        that it acts before SecAgg+'s own mod.
    """
    plan, names = normalise_plan(plan), list(names)

    def mod(msg: Any, context: Any, call_next: Any) -> Any:
        if msg.metadata.message_type == "train" and msg.metadata.group_id.isdigit():
            configs = msg.content.config_records.get(_SECAGG_CONFIGS)
            phase = None if configs is None else _PHASE_OF_STAGE.get(str(configs.get(_STAGE)))
            name = names[int(context.node_config[PARTITION_ID])]
            if drops(plan, int(msg.metadata.group_id), phase, name):
                raise SimulatedDropout(f"{name} drops out in round {msg.metadata.group_id}"
                                       + ("" if phase is None else f", phase {phase!r}"))
        return call_next(msg, context)

    return mod
