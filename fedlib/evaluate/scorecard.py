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
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from .uncertainty import Estimate

__all__ = ["GROUPS", "KINDS", "SCORED", "UNSCORED", "VERDICTS", "ClaimsTable", "Claim", "claim_group",
           "claims_frame", "note_html", "verdict_badge",
           "claims_records", "fmt_number", "format_ours", "format_paper", "verdict"]

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
        """The claim's verdict, one of :data:`VERDICTS` (see :func:`verdict`)."""
        return verdict(self.paper, self.ours, kind=self.kind, tolerance=self.tolerance,
                       same_data=self.same_data)

    @property
    def scored(self) -> bool:
        """Whether the verdict counts in the score (one of :data:`SCORED`)."""
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


def fmt_number(x: Any, digits: int = 4) -> str:
    """A number for a table: ``digits`` significant digits in fixed-point notation.

    Thousands are separated and trailing zeros dropped; only magnitudes below 10⁻⁴ use a power
    of ten (never ``e-05``). ``None`` and NaN give ``–``.

    >>> [fmt_number(v) for v in (0.73501, 1660791.0, 2015.35, 5.1776e-05, 128.0, None, -0.5)]
    ['0.735', '1,660,791', '2,015', '5.178 × 10⁻⁵', '128', '–', '-0.5']
    """
    if _missing(x):
        return "–"
    x = float(x)
    if not math.isfinite(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    if abs(x) < 1e-4:
        mantissa, exp = f"{x:.{digits - 1}e}".split("e")
        sup = str(int(exp)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
        return f"{mantissa.rstrip('0').rstrip('.')} × 10{sup}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(x))), 0)
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_paper(record: dict[str, Any]) -> str:
    """``paper`` of a claims row as text.

    A direction claim says which side of 0 our difference (the A − B its claim names) must
    fall on, never a bare ``>``.

    >>> format_paper({"paper": ">", "kind": "direction"})
    'difference > 0'
    >>> format_paper({"paper": -6.22, "kind": "direction"}), format_paper({"paper": [1.25, 2.5]})
    ('-6.22 (difference < 0)', '1.25–2.5')
    """
    paper = record.get("paper")
    if paper in (">", "<"):
        return f"difference {paper} 0"
    if isinstance(paper, list | tuple):
        text = f"{fmt_number(paper[0])}–{fmt_number(paper[1])}"
    else:
        text = fmt_number(paper)
    if record.get("kind") == "direction" and not _missing(paper) \
            and not isinstance(paper, list | tuple):
        return f"{text} (difference {'>' if float(paper) > 0 else '<'} 0)"
    return text


#: Background colour of each verdict's badge in the chapters' claims tables.
VERDICT_COLOURS = {"reproduced": "#d4edda", "contradicted": "#f8d7da", "inconclusive": "#fff3cd",
                   "by construction": "#e2e3e5", "different data": "#e2e3e5",
                   "not checkable": "#e2e3e5"}


#: Claim groups, in reading order (see :func:`claim_group`).
GROUPS: tuple[str, ...] = ("headline", "supporting", "descriptive")


def claim_group(record: dict[str, Any]) -> str:
    """Which group a claims row belongs to, from what it is (no hand labels that can drift).

    *headline*, an ordering the paper concludes (a direction claim: A beats B); *descriptive*,
    a number we set from the paper or a description of the data (basis ``input`` or verdict
    *by construction*); *supporting*, every other measured level behind the conclusions.

    >>> claim_group({"kind": "direction", "basis": "seeds", "verdict": "inconclusive"})
    'headline'
    >>> claim_group({"kind": "level", "basis": "input", "verdict": "by construction"})
    'descriptive'
    >>> claim_group({"kind": "level", "basis": "exact", "verdict": "reproduced"})
    'supporting'
    """
    if record.get("kind") == "direction":
        return "headline"
    if record.get("basis") == "input" or record.get("verdict") == "by construction":
        return "descriptive"
    return "supporting"


def verdict_badge(verdict: str) -> str:
    """The verdict as a coloured badge (inline HTML), as every claims table shows it.

    >>> verdict_badge("reproduced")[:40]
    "<span style='background:#d4edda;padding:"
    """
    return (f"<span style='background:{VERDICT_COLOURS.get(verdict, '#eee')};padding:0 .4em;"
            f"border-radius:.3em;white-space:nowrap'>{verdict}</span>")


def note_html(note: str) -> str:
    """A note as its first sentence (the one-line reason), the rest folded in ``<details>``.

    Folding keeps long notes from making the table a wall of text.

    >>> note_html("Seeds differ. The paper used 5 seeds; we ran 3.")   # short: kept whole
    'Seeds differ. The paper used 5 seeds; we ran 3.'
    >>> note_html("Seeds differ. " + "x" * 120)[:48]
    'Seeds differ. <details><summary>more</summary>xx'
    """
    first = re.match(r"(.+?[.;:])\s+(?=\S)", note)
    if not first or len(note) <= 120:
        return note
    return f"{first.group(1)} <details><summary>more</summary>{note[first.end():]}</details>"


class ClaimsTable(pd.DataFrame):
    """The chapter's claims table: a DataFrame (``.verdict``, ``len``) with its own HTML.

    The HTML shows every row and every character (no "…", no NaN, no internal ``id`` column)
    with the verdict as a coloured badge, the rows grouped headline / supporting / descriptive
    under a heading row each (:func:`claim_group`), and each note's first sentence, the rest
    folded under "more". Any operation on it returns a plain DataFrame.
    """

    @property
    def _constructor(self) -> type:
        return pd.DataFrame

    def _repr_html_(self) -> str:
        import html

        cols = [c for c in self.columns if c not in ("id", "group")]
        head = "".join(f"<th style='text-align:left'>{html.escape(str(c))}</th>" for c in cols)
        rows, group = [], None
        for _, r in self.iterrows():
            if "group" in self.columns and r["group"] != group:
                group = r["group"]
                rows.append(f"<tr><th colspan='{len(cols)}' style='text-align:left'>"
                            f"{html.escape(str(group))} claims</th></tr>")
            cells = []
            for c in cols:
                text = html.escape("–" if _missing(r[c]) else str(r[c]))
                if c == "note":
                    text = note_html(text)
                if c == "verdict":
                    text = verdict_badge(text)
                cells.append(f"<td style='text-align:left;vertical-align:top'>{text}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        return (f"<table class='claims-table'><thead><tr>{head}</tr></thead><tbody>"
                + "".join(rows) + "</tbody></table>")


def claims_frame(claims: Iterable[Claim]) -> ClaimsTable:
    """One row per claim for the chapter's closing table, shown in full (:class:`ClaimsTable`).

    Columns: claim, paper, ours (with its interval and basis), verdict, note; as text
    formatted by :func:`fmt_number`.

    >>> t = claims_frame([Claim("a", "x", 1.0, Estimate.exact(1.0), tolerance=0.1,
    ...                         same_data=True)])
    >>> t["verdict"].tolist(), "<th" in t._repr_html_() and ">id<" not in t._repr_html_()
    (['reproduced'], True)
    """
    out = [{"id": r["id"], "group": claim_group(r), "claim": r["claim"],
            "paper": format_paper(r), "ours": format_ours(r), "verdict": r["verdict"],
            "note": r["note"]} for r in claims_records(claims)]
    # grouped headline / supporting / descriptive, the chapter's own order kept within a group
    out.sort(key=lambda row: GROUPS.index(row["group"]))
    return ClaimsTable(out, columns=["id", "group", "claim", "paper", "ours", "verdict", "note"])


def format_ours(record: dict[str, Any]) -> str:
    """``ours`` of a claims row as text: value, interval and basis.

    Numbers are formatted by :func:`fmt_number`.

    >>> format_ours({"ours": 0.71, "ours_interval": [0.69, 0.73], "n_runs": 3,
    ...              "basis": "seeds"})
    '0.71 [0.69, 0.73] (3 seeds)'
    >>> format_ours({"ours": 0.01, "ours_interval": [-0.01, 0.03], "n_runs": 3,
    ...              "basis": "seeds+bootstrap"})
    '0.01 [-0.01, 0.03] (3 seeds + test-row bootstrap)'
    >>> format_ours({"ours": 1660791.0, "ours_interval": None, "n_runs": 1, "basis": "exact"})
    '1,660,791 (exact)'
    """
    if record.get("ours") is None:
        return "–"
    text = fmt_number(record["ours"])
    if record.get("ours_interval"):
        lo, hi = record["ours_interval"]
        text += f" [{fmt_number(lo)}, {fmt_number(hi)}]"
    basis = record.get("basis")
    how = {"seeds": f"{record.get('n_runs')} seed" + ("s" if record.get("n_runs") != 1 else ""),
           "bootstrap": "bootstrap",
           "seeds+bootstrap": f"{record.get('n_runs')} seeds + test-row bootstrap",
           "exact": "exact", "input": "set from the paper"}
    return f"{text} ({how.get(basis, basis)})"
