"""A party's DP accountant kept in its node's ``Context.state`` between messages.

On the local engine a DP party keeps one :class:`~fedlib.privacy.accountants.PartyAccountant`
for the whole run, so the ε it reports composes every round. On Flower nothing of a party
object outlives a message: a 1.42 SuperNode starts a new ``ClientApp`` process for every
message, and the simulation hands a node's messages to whichever Ray actor is free, each
holding its own copy of the parties. What Flower does keep per node is the ``Context``'s
``state`` (a ``RecordDict``), which travels with every message of that node and comes back
with the reply. So before a party trains, :func:`restore_accountant` gives its trainer a
fresh accountant replayed from the node's state (an empty one in the first round), and after
it trained :func:`save_accountant` writes the accountant's segments (noise multiplier,
sample rate, steps) back. The party's in-memory accountant is never trusted across
messages, so a run composes the same ε as the local engine only if Flower did carry the
state. Other state a party keeps (an FMTL institution's personal model) travels the same way
through :mod:`fedlib.flower.party_state`.

The segments also go to the server in the fit metrics, one number per metric
(``dp_segments`` = k, then ``dp_sigma_i``, ``dp_rate_i``, ``dp_steps_i`` for i < k:
Flower's ``MetricRecord`` holds no strings and its legacy ``FitRes``, which SecAgg+ uses, no
lists; :func:`accountant_metrics`, :func:`accountant_from_metrics`): the noise multiplier,
sampling rate and step count are the public facts an ε is computed from, not private data.

Flower is never imported here: a ``RecordDict`` is passed in, and a ``ConfigRecord`` is made
with the class of the record already there or handed in.

>>> from fedlib.privacy.accountants import PartyAccountant
>>> acc = PartyAccountant("a"); acc.record(noise_multiplier=1.1, sample_rate=0.5, steps=4)
>>> accountant_from_metrics(accountant_metrics(acc)).segments == acc.segments
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fedlib.privacy.accountants import PartyAccountant

__all__ = ["ACCOUNTANT_RECORD", "accountant_from_metrics", "accountant_metrics",
           "restore_accountant", "save_accountant", "trainer_of"]

#: The ``ConfigRecord`` of a node's ``Context.state`` that holds its party's DP ledger.
ACCOUNTANT_RECORD = "fedlib.accountant"
_KEYS = ("noise_multipliers", "sample_rates", "steps")


def trainer_of(party: Any) -> Any | None:
    """What keeps a book party's :class:`PartyAccountant` (its ``accountant``), else ``None``.

    The DP trainer of a :class:`~fedlib.fl.party.PartyClient` or a
    :class:`~fedlib.fl.party.Party`, or the :class:`~fedlib.fl.fmtl.FMTLClient` of an
    :class:`~fedlib.fl.fmtl.FMTLParty` (chapter 1: the accountant belongs to the
    institution).
    """
    inner = getattr(party, "party", party)
    for holder in (getattr(inner, "trainer", None), getattr(party, "client", None)):
        if isinstance(getattr(holder, "accountant", None), PartyAccountant):
            return holder
    return None


def _ledger(accountant: PartyAccountant) -> dict[str, list]:
    """The ledger as three lists (σ, q, steps per segment), as a ``ConfigRecord`` holds it."""
    segments = accountant.segments
    return {_KEYS[0]: [float(s.noise_multiplier) for s in segments],
            _KEYS[1]: [float(s.sample_rate) for s in segments],
            _KEYS[2]: [int(s.steps) for s in segments]}


def _replay(ledger: Mapping[str, Any], party: str) -> PartyAccountant:
    accountant = PartyAccountant(party=party)
    sigmas, rates, steps = (list(ledger.get(k, [])) for k in _KEYS)
    if not len(sigmas) == len(rates) == len(steps):
        raise ValueError(f"a DP ledger needs as many noise multipliers, rates and step counts, "
                         f"got {len(sigmas)}, {len(rates)}, {len(steps)}")
    for sigma, rate, n in zip(sigmas, rates, steps, strict=True):
        accountant.record(noise_multiplier=float(sigma), sample_rate=float(rate), steps=int(n))
    return accountant


def accountant_metrics(accountant: PartyAccountant) -> dict[str, int | float]:
    """The fit metrics that carry the ledger: ``dp_segments`` and σ, q, steps of each."""
    out: dict[str, int | float] = {"dp_segments": len(accountant.segments)}
    for i, s in enumerate(accountant.segments):
        out |= {f"dp_sigma_{i}": float(s.noise_multiplier), f"dp_rate_{i}": float(s.sample_rate),
                f"dp_steps_{i}": int(s.steps)}
    return out


def accountant_from_metrics(metrics: Mapping[str, Any], party: str = "") -> PartyAccountant:
    """A :class:`PartyAccountant` replayed from :func:`accountant_metrics` (empty if absent)."""
    k = range(int(metrics.get("dp_segments", 0)))
    return _replay({_KEYS[0]: [metrics[f"dp_sigma_{i}"] for i in k],
                    _KEYS[1]: [metrics[f"dp_rate_{i}"] for i in k],
                    _KEYS[2]: [metrics[f"dp_steps_{i}"] for i in k]}, party)


def restore_accountant(party: Any, state: Any) -> PartyAccountant | None:
    """Give the party's DP trainer the accountant its node's ``state`` holds.

    A new, empty accountant if the state has none; ``None`` for a party without a DP accountant.
    """
    trainer = trainer_of(party)
    if trainer is None:
        return None
    record = state.config_records.get(ACCOUNTANT_RECORD, {})
    trainer.accountant = _replay(record, getattr(party, "name", ""))
    return trainer.accountant


def save_accountant(party: Any, state: Any, record: Callable[[dict], Any] | None = None
                    ) -> dict[str, int | float]:
    """Write the party's ledger into its node's ``state``; return it as fit metrics.

    ``record`` builds Flower's ``ConfigRecord`` from a dict (the caller, which imports
    Flower, passes the class). A party without a DP accountant writes nothing and returns
    ``{}``.
    """
    trainer = trainer_of(party)
    if trainer is None:
        return {}
    ledger = _ledger(trainer.accountant)
    if ledger[_KEYS[0]]:
        state.config_records[ACCOUNTANT_RECORD] = record(ledger) if record else ledger
    return accountant_metrics(trainer.accountant)
