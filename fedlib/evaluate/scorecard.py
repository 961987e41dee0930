"""Paper-vs-ours claims and the rule that turns our evidence into a verdict.

Each chapter closes with one :class:`Claim` per number in the paper digest. ``ours`` is an
:class:`~fedlib.evaluate.uncertainty.Estimate`: a value with its basis (``seeds``,
``bootstrap``, ``exact`` or ``input``) and, for measured values, a confidence interval. The
verdict is one of :data:`VERDICTS`; only :data:`SCORED` verdicts count in the book's headline
numbers, the others are shown beside them:

``reproduced``
    *direction claim* ("A > B"; ``ours`` is our A − B): the interval of the difference
    excludes 0 on the paper's side. *level claim* on the paper's own data: the paper's value
    (or range) lies in our interval widened by the claim's tolerance.
``contradicted``
    the interval excludes 0 on the other side, or the paper's value lies outside our widened
    interval.
``inconclusive``
    the interval of a difference covers 0, or a measured value has no interval (one seed).
``by construction``
    our number was set from the paper's (``basis="input"``): a generator target, a threshold
    tuned to hit the paper's count. Never evidence.
``different data``
    a level claim measured on data (or hardware) that is not the paper's: shown side by side,
    not scored. Direction claims are scored on any data: an ordering is what should carry over.
``not checkable``
    the paper's data or setting is not available, or ours could not be computed; the note says
    why.

An exact quantity (``basis="exact"``) has no noise: its interval is the point itself.

References: issue 8 of the project (the verdict rule); Efron & Tibshirani (1993) for the
bootstrap interval. Introduced in chapter 1 (``chapters/01_fmtl_dp_secagg.py``); used by every
chapter.

Examples
--------
>>> from fedlib.evaluate.uncertainty import Estimate
>>> verdict(">", Estimate.seeds([0.02, 0.03, 0.025]), kind="direction")
'reproduced'
>>> verdict(">", Estimate.seeds([0.02, -0.03, 0.01]), kind="direction")
'inconclusive'
>>> verdict(0.91, Estimate.seeds([0.90, 0.905, 0.895]), kind="abs", tolerance=0.01,
...         same_data=True)
'reproduced'
>>> verdict(0.91, Estimate.seeds([0.90, 0.905, 0.895]), kind="abs", tolerance=0.01,
...         same_data=False)
'different data'
>>> verdict(14.13, Estimate.exact(4799.0), kind="rel", tolerance=0.05, same_data=True)
'contradicted'
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from .uncertainty import Estimate

__all__ = ["KINDS", "SCORED", "UNSCORED", "VERDICTS", "Claim", "claims_frame", "format_ours",
           "claims_records", "verdict"]

SCORED: tuple[str, ...] = ("reproduced", "contradicted", "inconclusive")
UNSCORED: tuple[str, ...] = ("by construction", "different data", "not checkable")
VERDICTS: tuple[str, ...] = SCORED + UNSCORED
KINDS: tuple[str, ...] = ("abs", "rel", "direction", "not_checkable")

PaperValue = float | tuple[float, float] | str | None
Kind = Literal["abs", "rel", "direction", "not_checkable"]


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _paper_range(paper: PaperValue) -> tuple[float, float]:
    if isinstance(paper, tuple | list):
        if len(paper) != 2:
            raise ValueError(f"a paper range must be (low, high), got {paper!r}")
        lo, hi = float(paper[0]), float(paper[1])
        if lo > hi:
            raise ValueError(f"a paper range must have low <= high, got {paper!r}")
        return lo, hi
    if isinstance(paper, str):
        raise ValueError(f"paper value {paper!r} is a direction; use kind='direction'")
    return float(paper), float(paper)


def _paper_sign(paper: PaperValue) -> int:
    if paper in (">", "<"):
        return 1 if paper == ">" else -1
    lo, hi = _paper_range(paper)
    mid = (lo + hi) / 2
    if mid == 0:
        raise ValueError("a direction claim needs a non-zero paper sign ('>', '<' or a number)")
    return 1 if mid > 0 else -1


def verdict(paper: PaperValue, ours: Estimate | None, *, kind: Kind,
            tolerance: float | None = None, same_data: bool | None = None) -> str:
    """The verdict of one claim; see the module docstring for the rule.

    Parameters
    ----------
    paper
        The paper's value, a ``(low, high)`` range, or for ``kind="direction"`` the sign of
        A − B (``">"``, ``"<"`` or a signed number; only its sign counts).
    ours
        Our :class:`~fedlib.evaluate.uncertainty.Estimate` (for a direction claim: of A − B,
        paired over seeds or bootstrap resamples). ``None`` or NaN gives ``not checkable``.
    kind
        ``"abs"`` or ``"rel"`` (level claims), ``"direction"`` or ``"not_checkable"``.
    tolerance
        Level claims: how far the paper's value may lie outside our interval (absolute, or
        relative to the paper's value for ``rel``). Justify it in the claim's note.
    same_data
        Level claims: whether ours was measured on the paper's own data. Required for level
        claims, so that no level is scored by accident on other data.

    >>> verdict("<", Estimate.bootstrap(lambda d: d.mean(), [-0.2, -0.1, -0.3] * 20),
    ...         kind="direction")
    'reproduced'
    >>> verdict(0.9, Estimate.input(0.9), kind="abs", tolerance=0.0, same_data=True)
    'by construction'
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if ours is not None and not isinstance(ours, Estimate):
        raise TypeError(f"ours must be an Estimate (Estimate.seeds / .bootstrap / .exact / "
                        f".input) or None, got {type(ours).__name__} {ours!r}")
    if kind == "not_checkable" or ours is None or _missing(ours.value):
        return "not checkable"
    if ours.basis == "input":
        return "by construction"
    if tolerance is not None and (math.isnan(tolerance) or tolerance < 0):
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if kind == "direction":
        if _missing(paper):
            raise ValueError("a direction claim needs the paper's sign ('>', '<' or a number)")
        sign = _paper_sign(paper)
        bounds = ours.bounds()
        if bounds is None:
            return "inconclusive"
        lo, hi = sorted((sign * bounds[0], sign * bounds[1]))
        if lo > 0:
            return "reproduced"
        if hi < 0 or (hi == 0 and not ours.measured):   # an exact tie contradicts "A > B"
            return "contradicted"
        return "inconclusive"
    if same_data is None:
        raise ValueError(f"a level claim (kind={kind!r}) must say whether ours was measured on "
                         "the paper's data: pass same_data=True or False")
    if _missing(paper):
        return "not checkable"
    if tolerance is None:
        raise ValueError(f"kind={kind!r} needs a tolerance")
    if not same_data:
        return "different data"
    bounds = ours.bounds()
    if bounds is None:
        return "inconclusive"
    plo, phi = _paper_range(paper)
    allowed = tolerance if kind == "abs" else tolerance * max(abs(plo), abs(phi))
    overlap = bounds[0] - allowed <= phi + 1e-12 and plo <= bounds[1] + allowed + 1e-12
    return "reproduced" if overlap else "contradicted"


@dataclass(frozen=True)
class Claim:
    """One number (or ordering) from the paper, our evidence beside it, and its verdict.

    Attributes
    ----------
    id
        Short ASCII key, unique in the chapter (``"acc_standard"``).
    claim
        The claim in words, as the paper states it.
    paper, ours, tolerance, kind, same_data
        See :func:`verdict`.
    note
        Why a claim is not checkable, why the tolerance is what it is, or what differs in our
        setting.

    >>> Claim("acc_he", "HE-FL accuracy ≈ 90 %", 0.90, Estimate.seeds([0.897, 0.9, 0.903]),
    ...       tolerance=0.02, same_data=True).verdict
    'reproduced'
    """

    id: str
    claim: str
    paper: PaperValue
    ours: Estimate | None
    tolerance: float | None = None
    kind: Kind = "abs"
    note: str = ""
    same_data: bool | None = None

    def __post_init__(self) -> None:
        if not self.id or not self.id.isascii():
            raise ValueError(f"claim id must be a non-empty ASCII string, got {self.id!r}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "not_checkable" and not self.note:
            raise ValueError(f"claim {self.id!r} is not checkable: say why in note")
        try:
            self.verdict  # noqa: B018 - validate the arguments now, where the claim is made
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"claim {self.id!r}: {exc}") from None

    @property
    def verdict(self) -> str:
        return verdict(self.paper, self.ours, kind=self.kind, tolerance=self.tolerance,
                       same_data=self.same_data)

    @property
    def scored(self) -> bool:
        return self.verdict in SCORED

    def to_record(self) -> dict[str, Any]:
        """The ``results.json`` claims row: JSON-safe (ranges as lists, NaN as ``None``)."""
        def clean(x: Any) -> Any:
            if isinstance(x, tuple | list):
                return [clean(v) for v in x]
            if _missing(x):
                return None
            return x if isinstance(x, str) else float(x)

        est = self.ours
        return {"id": self.id, "claim": self.claim, "paper": clean(self.paper),
                "ours": None if est is None else clean(est.value),
                "ours_interval": None if est is None or est.interval is None
                else clean(est.interval),
                "n_runs": None if est is None else int(est.n_runs),
                "basis": None if est is None else est.basis,
                "tolerance": clean(self.tolerance), "kind": self.kind,
                "verdict": self.verdict, "note": self.note}


def claims_records(claims: Iterable[Claim]) -> list[dict[str, Any]]:
    """The ``claims`` list of ``results.json``; raises on duplicate ids.

    >>> claims_records([Claim("a", "x", (1, 2), Estimate.exact(1.5), tolerance=0,
    ...                       same_data=True)])[0]["paper"]
    [1.0, 2.0]
    """
    records = [c.to_record() for c in claims]
    ids = [r["id"] for r in records]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"claim ids must be unique, duplicated: {dupes}")
    return records


def claims_frame(claims: Iterable[Claim]) -> pd.DataFrame:
    """One row per claim for the chapter's closing table: claim, paper, ours (with its
    interval and basis), verdict, note.

    >>> claims_frame([Claim("a", "x", 1.0, Estimate.exact(1.0), tolerance=0.1,
    ...                     same_data=True)])["verdict"].tolist()
    ['reproduced']
    """
    rows = claims_records(claims)
    out = []
    for r in rows:
        paper = r["paper"]
        if isinstance(paper, list):
            paper = f"{paper[0]:g}–{paper[1]:g}"
        elif isinstance(paper, float):
            paper = f"{paper:.4g}"
        out.append({"id": r["id"], "claim": r["claim"], "paper": paper,
                    "ours": format_ours(r), "verdict": r["verdict"], "note": r["note"]})
    return pd.DataFrame(out, columns=["id", "claim", "paper", "ours", "verdict", "note"])


def format_ours(record: dict[str, Any]) -> str:
    """``ours`` of a claims row as text: value, interval and basis.

    >>> format_ours({"ours": 0.71, "ours_interval": [0.69, 0.73], "n_runs": 3,
    ...              "basis": "seeds"})
    '0.71 [0.69, 0.73] (3 seeds)'
    >>> format_ours({"ours": 5.0, "ours_interval": None, "n_runs": 1, "basis": "exact"})
    '5 (exact)'
    """
    if record.get("ours") is None:
        return "–"
    text = f"{record['ours']:.4g}"
    if record.get("ours_interval"):
        lo, hi = record["ours_interval"]
        text += f" [{lo:.4g}, {hi:.4g}]"
    basis = record.get("basis")
    how = {"seeds": f"{record.get('n_runs')} seed" + ("s" if record.get("n_runs") != 1 else ""),
           "bootstrap": "bootstrap", "exact": "exact", "input": "set from the paper"}
    return f"{text} ({how.get(basis, basis)})"
