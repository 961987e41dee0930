"""A party's privacy accountants as plain numbers: what its node keeps, what the server sees.

A book party's trainer (or, in chapter 1, its institution) keeps its privacy accountants in
attributes (:data:`LEDGER_ATTRS`): a :class:`~fedlib.privacy.accountants.PartyAccountant`
(``accountant``, ``dp_accountant``: DP-SGD, eqs. 6-7 of paper 003), a
:class:`~fedlib.privacy.bdp.BayesianAccountant` (``bdp_accountant``: Bayesian DP, eq. 9 of
paper 003) and the BDP step's median Monte-Carlo distances (``distances``, a diagnostic). On
Flower nothing of a party object outlives a message (:mod:`fedlib.flower.state`), so each
accountant travels as numbers, in two forms with two audiences:

**The ledger** (:func:`ledger_state`, :func:`load_ledger_state`) stays on the party's node,
in its ``Context.state``: the inputs of every step, from which a fresh accountant is rebuilt
by replaying them through the accountant's own public methods, bit for bit.

- ``PartyAccountant``: its segments (noise multiplier σ, sampling rate q, steps).
- ``BayesianAccountant``: the ``M`` Monte-Carlo distances ``Δ^(m)`` of every step (Algorithm
  2 lines 14-20; none for a step of the analytical fallback), replayed through
  :meth:`~fedlib.privacy.bdp.BayesianAccountant.step`. Its settings (q, σ, C, β, γ, n_k,
  orders, rules) are the party's configuration, not state: a replay takes them from the
  accountant the party object already has. The node trains with a
  :class:`ReplayableBayesianAccountant`, which keeps each step's distances for the ledger.
- ``distances``: the list itself.

**The report** (:func:`ledger_report`, :func:`load_ledger_report`) goes to the server in the
fit metrics, one scalar per metric (Flower's ``MetricRecord`` holds no strings and the legacy
``FitRes`` that SecAgg+ relays no lists), and only holds what the server may see:

- ``PartyAccountant``: its segments, the public facts an ε is computed from.
- ``BayesianAccountant``: its ε per Rényi order for every bound and composition it can be
  asked (eq. 9), and its step counts; the server's party object gets a
  :class:`ReportedBayesianAccountant`, which answers ``epsilon()`` exactly as the node's
  accountant would. The distances themselves stay on the node: they are computed from the
  party's rows (gradients of its own examples), so unlike σ and q they are not public.
- ``distances``: nothing, for the same reason.

Nothing here is pickled: a server that unpickled what a node sent would run whatever code
that node chose. Flower is never imported here.

>>> from fedlib.privacy.accountants import PartyAccountant
>>> class Trainer: accountant = PartyAccountant("a")
>>> t = Trainer(); t.accountant.record(noise_multiplier=1.1, sample_rate=0.5, steps=4)
>>> sorted(ledger_state(t))
['accountant.rate', 'accountant.sigma', 'accountant.steps']
>>> u = Trainer(); u.accountant = PartyAccountant("a")
>>> load_ledger_report(u, ledger_report(t)); u.accountant.segments == t.accountant.segments
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fedlib.privacy.accountants import PartyAccountant
from fedlib.privacy.bdp import BOUNDS, COMPOSITIONS, BayesianAccountant, BayesianDPError

__all__ = ["LEDGER_ATTRS", "ReplayableBayesianAccountant", "ReportedBayesianAccountant",
           "accountant_from_report", "bayesian_settings", "ledger_holder", "ledger_report",
           "ledger_state", "load_ledger_report", "load_ledger_state"]

#: The attributes of a trainer (or institution) that hold its accountants, in this order.
LEDGER_ATTRS = ("accountant", "dp_accountant", "bdp_accountant", "distances")
_KINDS = "PartyAccountant, BayesianAccountant or a list of floats"


def ledger_holder(party: Any) -> Any | None:
    """What keeps a book party's accountants, else ``None``.

    The trainer of a :class:`~fedlib.fl.party.PartyClient` or :class:`~fedlib.fl.party.Party`
    (chapters 2 and 3: DP-SGD, the survival trainer's DP and BDP), or the
    :class:`~fedlib.fl.fmtl.FMTLClient` of an :class:`~fedlib.fl.fmtl.FMTLParty` (chapter 1:
    the accountant belongs to the institution); the first of them with one of
    :data:`LEDGER_ATTRS` set.
    """
    inner = getattr(party, "party", party)
    for holder in (getattr(inner, "trainer", None), getattr(party, "client", None)):
        if holder is not None and any(getattr(holder, a, None) is not None
                                      for a in LEDGER_ATTRS):
            return holder
    return None


def _kept(holder: Any | None) -> dict[str, Any]:
    """The holder's accountants by attribute name (those it has)."""
    if holder is None:
        return {}
    return {a: getattr(holder, a) for a in LEDGER_ATTRS if getattr(holder, a, None) is not None}


def _unknown(attr: str, value: Any) -> TypeError:
    return TypeError(f"{attr} is a {type(value).__name__}: a party's ledger is carried between "
                     f"messages only for a {_KINDS}")


# -- Bayesian DP: replayed from its steps' distances, reported as its ε per order -------------
def bayesian_settings(accountant: BayesianAccountant) -> dict[str, Any]:
    """The constructor arguments of ``accountant`` (its configuration, no step).

    >>> acc = BayesianAccountant(sample_rate=0.1, noise_multiplier=1.0, clip_norm=1.0,
    ...                          beta=1e-5, gamma=1e-5, n_rows=500, orders=[2, 4])
    >>> BayesianAccountant(**bayesian_settings(acc)).orders.tolist()
    [2, 4]
    """
    return {"sample_rate": accountant.sample_rate, "noise_multiplier": accountant.noise_multiplier,
            "clip_norm": accountant.clip_norm, "beta": accountant.beta, "gamma": accountant.gamma,
            "n_rows": accountant.n_rows, "orders": [int(o) for o in accountant.orders],
            "cost": accountant.cost, "bound": accountant.bound,
            "composition": accountant.composition, "total_steps": accountant.total_steps,
            "min_rows": accountant.min_rows, "defer": accountant.defer}


class ReplayableBayesianAccountant(BayesianAccountant):
    """A :class:`~fedlib.privacy.bdp.BayesianAccountant` that keeps the inputs of its steps.

    :attr:`inputs` holds, per step, the ``M`` distances it was given (a float64 copy), or
    ``None`` for a step of the analytical fallback; replaying them through :meth:`step` on an
    accountant with the same settings gives the same state, hence the same ε.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.inputs: list[np.ndarray | None] = []

    def step(self, pairwise_sq_distances: Any) -> np.ndarray:
        """Record the step (as the parent does) and keep its distances."""
        cost = super().step(pairwise_sq_distances)      # a refused step is not kept
        self.inputs.append(None if self.uses_fallback
                           else np.array(pairwise_sq_distances, dtype=np.float64))
        return cost


def _bayesian_inputs(attr: str, accountant: BayesianAccountant) -> list[np.ndarray | None]:
    if isinstance(accountant, ReplayableBayesianAccountant):
        return accountant.inputs
    if accountant.estimated_steps == 0:             # nothing, or fallback steps only
        return [None] * accountant.steps
    raise ValueError(f"{attr} has {accountant.estimated_steps} Monte-Carlo steps whose "
                     "distances were not kept: a Bayesian accountant is carried between "
                     "messages as the inputs of its steps, so it must be a "
                     "ReplayableBayesianAccountant from its first step")


def _replay_bayesian(template: BayesianAccountant, inputs: list[np.ndarray | None]
                     ) -> ReplayableBayesianAccountant:
    accountant = ReplayableBayesianAccountant(**bayesian_settings(template))
    for distances in inputs:
        accountant.step(distances)
    return accountant


class ReportedBayesianAccountant(BayesianAccountant):
    """A node's Bayesian accountant as the server sees it: its ε per order, not its steps.

    Built from the server's own settings and a node's report (:func:`ledger_report`): its
    :attr:`steps`, :attr:`estimated_steps` and, for every bound and composition, the vector
    ``ε_μ(λ)`` of eq. 9 over the orders. :meth:`epsilon`, :meth:`best_order` and
    :attr:`delta` are the parent's, on those vectors, so they give what the node's
    accountant gives. It has no steps of its own (:attr:`history` is empty, :attr:`total_cost`
    zero) and refuses new ones.
    """

    def __init__(self, settings: Mapping[str, Any], *, steps: int, estimated_steps: int,
                 per_order: Mapping[tuple[str, str], np.ndarray]) -> None:
        super().__init__(**settings)
        self.steps, self.estimated_steps = int(steps), int(estimated_steps)
        self._per_order = {k: np.asarray(v, dtype=np.float64) for k, v in per_order.items()}

    def epsilon_per_order(self, *, bound: str | None = None,
                          composition: str | None = None) -> np.ndarray:
        """The reported ``ε_μ(λ)`` for every order (eq. 9)."""
        b, comp = self._resolve(bound, composition)
        return self._per_order[(b, comp)].copy()

    def step(self, pairwise_sq_distances: Any) -> np.ndarray:
        """Refused: the steps are accounted on the party's node."""
        raise BayesianDPError("this accountant is a node's report of its ε; the steps are "
                              "accounted on the party's node")


def _rules() -> list[tuple[str, str]]:
    """Every (bound, composition) a Bayesian accountant answers."""
    return [(b, c) for b in BOUNDS for c in COMPOSITIONS
            if not (c == "per_step" and b == "hoeffding")]   # never a bound (bdp.py refuses)


def _bayesian_report(attr: str, accountant: BayesianAccountant) -> dict[str, int | float]:
    out: dict[str, int | float] = {f"{attr}.steps": int(accountant.steps),
                                   f"{attr}.estimated_steps": int(accountant.estimated_steps)}
    for b, c in _rules():
        per = accountant.epsilon_per_order(bound=b, composition=c)
        out |= {f"{attr}.eps.{b}.{c}.{j}": float(v) for j, v in enumerate(per)}
    return out


def _reported_bayesian(attr: str, template: BayesianAccountant,
                       report: Mapping[str, Any]) -> ReportedBayesianAccountant:
    n = template.orders.size
    per_order = {(b, c): np.array([report[f"{attr}.eps.{b}.{c}.{j}"] for j in range(n)])
                 for b, c in _rules()}
    return ReportedBayesianAccountant(bayesian_settings(template),
                                      steps=report[f"{attr}.steps"],
                                      estimated_steps=report[f"{attr}.estimated_steps"],
                                      per_order=per_order)


# -- DP: its segments, both on the node and to the server --------------------------------------
def _segments(attr: str, accountant: PartyAccountant) -> dict[str, np.ndarray]:
    s = accountant.segments
    return {f"{attr}.sigma": np.array([x.noise_multiplier for x in s], dtype=np.float64),
            f"{attr}.rate": np.array([x.sample_rate for x in s], dtype=np.float64),
            f"{attr}.steps": np.array([x.steps for x in s], dtype=np.int64)}


def _replay_segments(attr: str, template: PartyAccountant, sigmas: Any, rates: Any,
                     steps: Any) -> PartyAccountant:
    sigmas, rates, steps = (list(v) for v in (sigmas, rates, steps))
    if not len(sigmas) == len(rates) == len(steps):
        raise ValueError(f"{attr}: a DP ledger needs as many noise multipliers, rates and step "
                         f"counts, got {len(sigmas)}, {len(rates)}, {len(steps)}")
    accountant = PartyAccountant(party=template.party)
    for sigma, rate, n in zip(sigmas, rates, steps, strict=True):
        accountant.record(noise_multiplier=float(sigma), sample_rate=float(rate), steps=int(n))
    return accountant


# -- the two forms -----------------------------------------------------------------------------
def ledger_state(holder: Any | None) -> dict[str, np.ndarray]:
    """The holder's ledgers as the node keeps them: NumPy arrays under ``<attr>.<field>``."""
    out: dict[str, np.ndarray] = {}
    for attr, value in _kept(holder).items():
        if isinstance(value, PartyAccountant):
            out |= _segments(attr, value)
        elif isinstance(value, BayesianAccountant):
            inputs = _bayesian_inputs(attr, value)
            out[f"{attr}.lengths"] = np.array([0 if d is None else d.size for d in inputs],
                                              dtype=np.int64)
            out[f"{attr}.inputs"] = np.concatenate(
                [np.zeros(0)] + [d.ravel() for d in inputs if d is not None]).astype(np.float64)
        elif isinstance(value, list):
            out[f"{attr}.values"] = np.array(value, dtype=np.float64)
        else:
            raise _unknown(attr, value)
    return out


def load_ledger_state(holder: Any | None, state: Mapping[str, Any]) -> None:
    """Give the holder the accountants ``state`` holds (:func:`ledger_state`'s form).

    Every accountant the holder has is replaced, by an empty one when ``state`` has none for
    it: what the object held from an earlier message never counts.
    """
    for attr, value in _kept(holder).items():
        if isinstance(value, PartyAccountant):
            new: Any = _replay_segments(attr, value, *(state.get(f"{attr}.{k}", ())
                                                       for k in ("sigma", "rate", "steps")))
        elif isinstance(value, BayesianAccountant):
            lengths = [int(n) for n in state.get(f"{attr}.lengths", ())]
            flat = np.asarray(state.get(f"{attr}.inputs", np.zeros(0)), dtype=np.float64)
            if sum(lengths) != flat.size:
                raise ValueError(f"{attr}: the steps' lengths add up to {sum(lengths)}, the "
                                 f"ledger holds {flat.size} distances")
            ends = np.cumsum(lengths)
            new = _replay_bayesian(value, [flat[e - n:e].copy() if n else None
                                           for n, e in zip(lengths, ends, strict=True)])
        elif isinstance(value, list):
            new = [float(v) for v in state.get(f"{attr}.values", ())]
        else:
            raise _unknown(attr, value)
        setattr(holder, attr, new)


def ledger_report(holder: Any | None) -> dict[str, int | float]:
    """What the server may see of the holder's accountants, as scalar fit metrics.

    ``<attr>.segments`` = k and ``<attr>.sigma.i``, ``.rate.i``, ``.steps.i`` (i < k) for a
    DP accountant; ``<attr>.steps``, ``<attr>.estimated_steps`` and
    ``<attr>.eps.<bound>.<composition>.j`` (order j) for a Bayesian one; nothing for the
    distances. ``{}`` for a party without accountants.
    """
    out: dict[str, int | float] = {}
    for attr, value in _kept(holder).items():
        if isinstance(value, PartyAccountant):
            segments = value.segments
            out[f"{attr}.segments"] = len(segments)
            for i, s in enumerate(segments):
                out |= {f"{attr}.sigma.{i}": float(s.noise_multiplier),
                        f"{attr}.rate.{i}": float(s.sample_rate),
                        f"{attr}.steps.{i}": int(s.steps)}
        elif isinstance(value, BayesianAccountant):
            out |= _bayesian_report(attr, value)
        elif not isinstance(value, list):
            raise _unknown(attr, value)
    return out


def load_ledger_report(holder: Any | None, report: Mapping[str, Any]) -> None:
    """Give the holder (a server's party object) the accountants a node reported.

    An accountant the report does not mention (an older node, or a fit that failed before
    it) is left as it is; the distances always are (they are not reported).
    """
    for attr, value in _kept(holder).items():
        if isinstance(value, PartyAccountant) and f"{attr}.segments" in report:
            k = range(int(report[f"{attr}.segments"]))
            setattr(holder, attr, _replay_segments(
                attr, value, *([report[f"{attr}.{f}.{i}"] for i in k]
                               for f in ("sigma", "rate", "steps"))))
        elif isinstance(value, BayesianAccountant) and f"{attr}.steps" in report:
            setattr(holder, attr, _reported_bayesian(attr, value, report))


def accountant_from_report(report: Mapping[str, Any], attr: str = "accountant",
                           party: str = "") -> PartyAccountant:
    """The DP accountant ``attr`` of a node's report, replayed (empty if it has none).

    What a server without party objects (a deployed ``ServerApp``, a test) reads from a
    round's fit metrics.
    """
    k = range(int(report.get(f"{attr}.segments", 0)))
    return _replay_segments(attr, PartyAccountant(party), *(
        [report[f"{attr}.{f}.{i}"] for i in k] for f in ("sigma", "rate", "steps")))
