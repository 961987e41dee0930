"""Paper-vs-ours claims and their verdicts, in the ``claims`` format of ``results.json``.

Each chapter closes with one :class:`Claim` per number in the paper digest. A claim's verdict is
one of :data:`VERDICTS`:

``reproduced``
    ours is within the tolerance of the paper's value (or of its range, e.g. "88–89 %"), or,
    for a pure direction claim ("A > B"), ours has the paper's sign;
``direction reproduced``
    outside the tolerance but the same ordering or sign: for a direction claim that also states
    a size, the sign agrees; for a value claim with baselines, ours moves away from our baseline
    in the same direction as the paper's value moves away from the paper's baseline (e.g. DP
    accuracy below standard-FL accuracy in both);
``not reproduced``
    neither;
``not checkable``
    the paper's data or setting is not available, or ours could not be computed; the note
    says why.

Kinds: ``"abs"`` (|ours − paper| ≤ tolerance), ``"rel"`` (|ours − paper| ≤ tolerance·|paper|),
``"direction"`` (paper is the sign of A − B, as ``">"``/``"<"`` or a signed number; ours is our
A − B) and ``"not_checkable"``.

References: DESIGN.md "How a chapter is run" (verdicts and the ``results.json`` claims rows).
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``); used by every chapter.

Examples
--------
>>> verdict((0.88, 0.89), 0.875, kind="abs", tolerance=0.01)
'reproduced'
>>> verdict(0.855, 0.80, kind="abs", tolerance=0.02, paper_baseline=0.91, ours_baseline=0.90)
'direction reproduced'
>>> verdict(">", -0.01, kind="direction")
'not reproduced'
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

__all__ = ["KINDS", "VERDICTS", "Claim", "claims_frame", "claims_records", "verdict"]

VERDICTS: tuple[str, ...] = ("reproduced", "direction reproduced", "not reproduced",
                             "not checkable")
KINDS: tuple[str, ...] = ("abs", "rel", "direction", "not_checkable")

PaperValue = float | tuple[float, float] | str | None


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _interval(paper: PaperValue) -> tuple[float, float]:
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


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _direction_sign(paper: PaperValue) -> int:
    if paper in (">", "<"):
        return 1 if paper == ">" else -1
    lo, hi = _interval(paper)
    return _sign((lo + hi) / 2)


def verdict(paper: PaperValue, ours: float | None, *,
            kind: Literal["abs", "rel", "direction", "not_checkable"],
            tolerance: float | None = None, paper_baseline: float | None = None,
            ours_baseline: float | None = None) -> str:
    """The verdict of one claim; see the module docstring for the rules.

    Parameters
    ----------
    paper
        The paper's value, a ``(low, high)`` range, or for ``kind="direction"`` the sign of
        A − B (``">"``, ``"<"`` or a signed number, whose size counts only with a tolerance).
    ours
        Our value (for a direction claim: our A − B). ``None``/NaN gives ``not checkable``.
    kind
        ``"abs"``, ``"rel"``, ``"direction"`` or ``"not_checkable"``.
    tolerance
        Required for ``abs`` and ``rel``; optional for ``direction`` (then a signed numeric
        ``paper`` within tolerance is ``reproduced`` and a matching sign only ``direction
        reproduced``).
    paper_baseline, ours_baseline
        For value claims: the reference each value is compared with (e.g. standard-FL
        accuracy), to award ``direction reproduced`` when the value misses the tolerance.

    >>> verdict(0.91, 0.905, kind="rel", tolerance=0.01)
    'reproduced'
    >>> verdict(None, None, kind="not_checkable")
    'not checkable'
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "not_checkable" or _missing(ours) or (_missing(paper) and kind != "direction"):
        return "not checkable"
    ours = float(ours)
    if tolerance is not None and (math.isnan(tolerance) or tolerance < 0):
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if kind == "direction":
        if _missing(paper):
            raise ValueError("a direction claim needs the paper's sign ('>', '<' or a number)")
        same_sign = _direction_sign(paper) == _sign(ours) != 0
        if not same_sign:
            return "not reproduced"
        if tolerance is None or isinstance(paper, str):
            return "reproduced"
        lo, hi = _interval(paper)
        gap = max(lo - ours, ours - hi, 0.0)
        return "reproduced" if gap <= tolerance else "direction reproduced"
    if tolerance is None:
        raise ValueError(f"kind={kind!r} needs a tolerance")
    lo, hi = _interval(paper)
    gap = max(lo - ours, ours - hi, 0.0)
    allowed = tolerance if kind == "abs" else tolerance * max(abs(lo), abs(hi))
    if gap <= allowed + 1e-12:
        return "reproduced"
    if paper_baseline is not None and ours_baseline is not None:
        paper_move = _sign((lo + hi) / 2 - float(paper_baseline))
        ours_move = _sign(ours - float(ours_baseline))
        if paper_move != 0 and paper_move == ours_move:
            return "direction reproduced"
    return "not reproduced"


@dataclass(frozen=True)
class Claim:
    """One number (or ordering) from the paper, ours beside it, and the rule that judges it.

    Attributes
    ----------
    id
        Short ASCII key, unique in the chapter (``"acc_standard"``).
    claim
        The claim in words, as the paper states it.
    paper, ours, tolerance, kind, paper_baseline, ours_baseline
        See :func:`verdict`.
    note
        Why a claim is not checkable, or what differs in our setting.

    >>> Claim("acc_he", "HE-FL accuracy ≈ 90 %", 0.90, 0.897, tolerance=0.02).verdict
    'reproduced'
    """

    id: str
    claim: str
    paper: PaperValue
    ours: float | None
    tolerance: float | None = None
    kind: Literal["abs", "rel", "direction", "not_checkable"] = "abs"
    note: str = ""
    paper_baseline: float | None = None
    ours_baseline: float | None = None

    def __post_init__(self) -> None:
        if not self.id or not self.id.isascii():
            raise ValueError(f"claim id must be a non-empty ASCII string, got {self.id!r}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "not_checkable" and not self.note:
            raise ValueError(f"claim {self.id!r} is not checkable: say why in note")

    @property
    def verdict(self) -> str:
        return verdict(self.paper, self.ours, kind=self.kind, tolerance=self.tolerance,
                       paper_baseline=self.paper_baseline, ours_baseline=self.ours_baseline)

    def to_record(self) -> dict[str, Any]:
        """The ``results.json`` claims row: JSON-safe (ranges as lists, NaN as ``None``)."""
        def clean(x: Any) -> Any:
            if isinstance(x, tuple | list):
                return [clean(v) for v in x]
            if _missing(x):
                return None
            return x if isinstance(x, str) else float(x)

        return {"id": self.id, "claim": self.claim, "paper": clean(self.paper),
                "ours": clean(self.ours), "tolerance": clean(self.tolerance),
                "kind": self.kind, "verdict": self.verdict, "note": self.note}


def claims_records(claims: Iterable[Claim]) -> list[dict[str, Any]]:
    """The ``claims`` list of ``results.json``; raises on duplicate ids.

    >>> claims_records([Claim("a", "x", (1, 2), 1.5, tolerance=0)])[0]["paper"]
    [1.0, 2.0]
    """
    records = [c.to_record() for c in claims]
    ids = [r["id"] for r in records]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"claim ids must be unique, duplicated: {dupes}")
    return records


def claims_frame(claims: Iterable[Claim]) -> pd.DataFrame:
    """One row per claim (id, claim, paper, ours, tolerance, kind, verdict, note), for tables.

    Ranges are shown as ``"0.88–0.89"`` so the column stays printable.

    >>> claims_frame([Claim("a", "x", 1.0, 1.0, tolerance=0.1)])["verdict"].tolist()
    ['reproduced']
    """
    rows = claims_records(claims)
    for r in rows:
        if isinstance(r["paper"], list):
            r["paper"] = f"{r['paper'][0]:g}–{r['paper'][1]:g}"
    return pd.DataFrame(rows, columns=["id", "claim", "paper", "ours", "tolerance", "kind",
                                       "verdict", "note"])
