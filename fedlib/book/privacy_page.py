"""The privacy-claims audit page, generated from the chapters' ``results.json``.

What goes where is decided by what a row *is*, never by its position:

* a **privacy-budget claim** is a claim whose id starts with :data:`EPSILON_CLAIM_PREFIX`
  (``epsilon_``): its paper value and ours are ε. A claim about accuracy *at* some ε (e.g.
  "AUC at ε = 0.1 is 0.715") is not one, and stays on the scorecard only;
* an **ε a run spent** is a metric whose name starts with ``epsilon``; ``epsilon_<method>``
  names its accountant (:data:`fedlib.privacy.accountants.METHOD_NAMES`), a bare ``epsilon``
  is the ε the chapter reports as its own accountant computed it. A ``null`` value is an
  accountant that failed and is shown as *failed*, never as another accountant's number;
* an ε is compared with its **target**: the ``epsilon=<x>`` / ``eps=<x>`` in its setting, else
  the chapter's ``target_epsilon`` parameter. An ε above its target is flagged;
* a **cryptographic check** is a claim whose id starts with the name of a protocol in
  :data:`PROTOCOLS` (``secagg_``, ``ckks_``, ``mixed_he_``, ``psi_``, ``paillier_``,
  ``secureboost_``).

The page closes with the protocol checks the test suite runs, read from ``book/security.md``.

Examples
--------
>>> is_epsilon_claim({"id": "epsilon_full_batch_sigma1.2"}), is_epsilon_claim({"id": "eps01_gap"})
(True, False)
>>> epsilon_target({"setting": "epsilon=1"}, {"target_epsilon": 10.0})
1.0
>>> epsilon_target({"setting": "final accountant"}, {"target_epsilon": 10.0})
10.0
>>> protocol_of("secureboost_lossless"), protocol_of("acc_he")
('SecureBoost (Paillier)', None)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from fedlib.book.chapters import Chapter
from fedlib.book.pagekit import (
    chapter_heading,
    chapter_results,
    fmt_value,
    md_table,
    note_cell,
    notes_block,
    shared_notes,
)
from fedlib.evaluate.scorecard import fmt_number, format_ours, format_paper
from fedlib.privacy.accountants import METHOD_NAMES

__all__ = [
    "EPSILON_CLAIM_PREFIX",
    "PROTOCOLS",
    "epsilon_target",
    "is_epsilon_claim",
    "protocol_of",
    "render_privacy_audit",
    "security_checks",
]

EPSILON_CLAIM_PREFIX = "epsilon_"

#: Claim-id prefix → the protocol a cryptographic check is about.
PROTOCOLS = {"secagg_": "secure aggregation", "ckks_": "CKKS",
             "mixed_he_": "CKKS (mixed assignment)", "psi_": "PSI",
             "paillier_": "Paillier", "secureboost_": "SecureBoost (Paillier)"}

_TARGET = re.compile(r"\beps(?:ilon)?\s*=\s*([0-9]+(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?)", re.I)
#: Relative slack before an ε counts as above its target (float noise of a calibration only).
TARGET_SLACK = 1e-6


def is_epsilon_claim(claim: dict) -> bool:
    """Whether a claim states a privacy budget (its id starts with ``epsilon_``)."""
    return str(claim["id"]).startswith(EPSILON_CLAIM_PREFIX)


def protocol_of(claim_id: str) -> str | None:
    """The protocol a claim checks, from its id prefix; ``None`` for other claims."""
    return next((name for prefix, name in PROTOCOLS.items()
                 if str(claim_id).startswith(prefix)), None)


def epsilon_target(metric: dict, parameters: dict) -> float | None:
    """The ε a run aimed at.

    ``epsilon=<x>`` in the metric's setting, else the chapter's ``target_epsilon`` parameter,
    else ``None`` (e.g. an audit of the paper's settings).
    """
    match = _TARGET.search(str(metric.get("setting", "")))
    if match:
        return float(match.group(1))
    target = parameters.get("target_epsilon")
    return float(target) if isinstance(target, int | float) and target > 0 else None


def _accountant(metric: str) -> str:
    """Display name of the accountant behind an ``epsilon_<method>`` metric."""
    method = str(metric).removeprefix("epsilon").lstrip("_")
    return METHOD_NAMES.get(method, method) if method else "as reported"


def _spent_table(spent: list[dict], parameters: dict) -> list[str]:
    """One row per run (experiment, mode, setting, party), one ε column per accountant.

    Then the target and whether any accountant's ε exceeds it.
    """
    accountants = list(dict.fromkeys(_accountant(m["metric"]) for m in spent))
    runs: dict[tuple, dict] = {}
    for m in spent:
        key = (m["experiment"], m["mode"], m["setting"], m["party"])
        runs.setdefault(key, {})[_accountant(m["metric"])] = m
    rows = []
    for key, by in runs.items():
        target = epsilon_target(next(iter(by.values())), parameters)
        values = [m["value"] for m in by.values() if m["value"] is not None]
        cells = ["failed" if a in by and by[a]["value"] is None
                 else fmt_value(by[a]["value"]) if a in by else "–" for a in accountants]
        if target is None:
            check = "no target"
        elif not values:
            check = "**failed**: no ε to compare"
        elif max(values) > target * (1 + TARGET_SLACK):
            check = f"**above target** ({fmt_number(max(values))} > {fmt_number(target)})"
        else:
            check = "within target"
        rows.append([*key, *cells, target, check])
    headers = ["experiment", "mode", "setting", "party", *(f"ε ({a})" for a in accountants),
               "target ε", "check"]
    return md_table(headers, rows)


def _epsilon_claims_table(claims: list[dict]) -> list[str]:
    notes = shared_notes(claims, min_rows=2)
    return [*notes_block(notes, claims), *md_table(
        ["claim (stated ε and settings)", "paper ε", "our ε", "verdict", "note"],
        ([c["claim"], format_paper(c), format_ours(c), f"**{c['verdict']}**",
          note_cell(c["note"], notes)] for c in claims))]


def _crypto_table(claims: list[dict]) -> list[str]:
    return md_table(["protocol", "what was tested", "paper", "result", "verdict", "note"],
                    ([protocol_of(c["id"]), c["claim"], format_paper(c), format_ours(c),
                      f"**{c['verdict']}**", c["note"] or "–"] for c in claims))


def _chapter_section(ch: Chapter, doc: dict, root: Path) -> list[str]:
    claims = [c for c in doc["claims"] if is_epsilon_claim(c)]
    spent = [m for m in doc["metrics"] if str(m["metric"]).startswith("epsilon")]
    crypto = [c for c in doc["claims"] if protocol_of(c["id"])]
    lines = [chapter_heading(ch, root), "", f"Parameter set `{doc['parameter_set']}`.", ""]
    if not (claims or spent or crypto):
        return [*lines, "This run recorded no ε and no cryptographic check.", ""]
    if claims:
        lines += ["### Stated ε beside recomputed ε", "", *_epsilon_claims_table(claims)]
    if spent:
        lines += ["### ε by accountant", "",
                  "Every ε the run recorded, one column per accountant (*failed*: the "
                  "accountant could not compute it), beside the ε the run aimed at.", "",
                  *_spent_table(spent, doc["parameters"])]
    if crypto:
        lines += ["### Cryptographic checks", "", *_crypto_table(crypto)]
    return lines


def security_checks(security_md: Path) -> list[tuple[str, list[str]]]:
    r"""The protections of ``book/security.md`` with the tests each names, in page order.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "s.md"
    >>> _ = p.write_text("## PSI (chapter 4)\n`tests/test_psi.py::test_typed_ids` ok\n")
    >>> security_checks(p)
    [('PSI (chapter 4)', ['tests/test_psi.py::test_typed_ids'])]
    """
    if not security_md.is_file():
        return []
    out: list[tuple[str, list[str]]] = []
    for line in security_md.read_text().splitlines():
        if line.startswith("## "):
            out.append((line[3:].strip(), []))
        elif out:
            for test in re.findall(r"`(tests/test_\w+\.py::test_\w+)`", line):
                if test not in out[-1][1]:
                    out[-1][1].append(test)
    return [(name, tests) for name, tests in out if tests]


def _security_section(root: Path) -> list[str]:
    checks = security_checks(root / "book" / "security.md")
    if not checks:
        return []
    rows = [[name, len(tests), "; ".join(t.split("::")[1].removeprefix("test_").replace("_", " ")
                                         for t in tests)] for name, tests in checks]
    return ["## Protocol checks run by the test suite", "",
            "What `make test` checks of each protection, as listed with its threat model on "
            "the {doc}`security` page (test names in words):", "",
            *md_table(["protection", "tests", "what they check"], rows)]


def render_privacy_audit(root: Path, chapters: Iterable[Chapter]) -> str:
    """Markdown of the privacy audit page: per chapter, then the test suite's protocol checks.

    Per chapter: its privacy-budget claims (stated ε beside ours), every ε its run recorded by
    accountant against its target, and its cryptographic checks.
    """
    lines: list[str] = []
    for ch, doc, _ in chapter_results(root, chapters):
        lines += (_chapter_section(ch, doc, root) if doc is not None
                  else [chapter_heading(ch, root), "", f"Not run yet: `fedbook run {ch.id}`.", ""])
    lines += _security_section(root)
    return "\n".join(lines or ["No chapter has run yet.", ""]) + "\n"

