"""Checks of the built HTML book as a reader sees it, without a browser.

What a reviewer of the book reported and what must never come back (issue 13): ``NaN`` or a
truncated cell ("…", "...") in a claims table, ``NaN`` in any table, a temporary-directory path
or an object repr (``<... object at 0x7f...>``) anywhere on a page, an image whose alt text is a
file name or hash, and a chapter without its closing section. :func:`check_site` reads every
page under ``book/_build/html`` and returns one :class:`Problem` per finding;
``fedbook check-html`` prints them and fails when there is any. The browser half (MathJax
rendered, no console error, nothing leaves ``file://``) is :mod:`fedlib.book.browsercheck`.

Examples
--------
>>> page = ('<main><h1>Ch</h1><table><tr><th>claim</th><th>verdict</th></tr>'
...         '<tr><td>AUC</td><td>NaN</td></tr></table><img src="a.png" alt="a1b2c3d4e5f6.png">'
...         '<p>/tmp/tmpab12cd34/out.ipynb</p></main>')
>>> [p.what for p in check_page(page, "x.html", chapter=False)]
['NaN in a claims table', 'NaN in a table', 'temporary path', 'image alt text is a file name']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup

__all__ = ["CLOSING_SECTION", "Problem", "check_page", "check_site", "html_pages"]

#: The heading every chapter closes with (ARCHITECTURE.md, "Each chapter closes in words").
CLOSING_SECTION = "What reproduces, what does not, and why"

_TEMP_PATH = re.compile(r"(/tmp/|/var/folders/|\\Temp\\|/private/var/)\S*")
_OBJECT_REPR = re.compile(r"object at 0x[0-9a-f]+")
_FILE_LIKE_ALT = re.compile(r"^(\S*/)?[\w.-]*\.(png|jpe?g|svg|gif)$|^[0-9a-f]{12,}", re.I)
_TRUNCATED = re.compile(r"…|\.\.\.")


@dataclass(frozen=True)
class Problem:
    """One finding: the page, what is wrong, and the text around it."""

    page: str
    what: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.page}: {self.what}: {self.excerpt!r}"


def _excerpt(text: str, match: re.Match[str], width: int = 60) -> str:
    return re.sub(r"\s+", " ", text[max(match.start() - width, 0):match.end() + width]).strip()


def _is_claims_table(table) -> bool:
    headers = {th.get_text(" ", strip=True).lower() for th in table.find_all("th")}
    return "verdict" in headers


def _table_problems(main, page: str) -> Iterable[Problem]:
    for table in main.find_all("table"):
        cells = [c.get_text(" ", strip=True) for c in table.find_all(["td", "th"])]
        claims = _is_claims_table(table)
        for cell in cells:
            if claims and cell == "NaN":
                yield Problem(page, "NaN in a claims table", cell)
            if claims and _TRUNCATED.search(cell):
                yield Problem(page, "truncated cell in a claims table", cell)
        if "NaN" in cells:
            yield Problem(page, "NaN in a table", " | ".join(cells[:6]))
        # pandas cuts a long cell to its display width and ends it with "..."
        cut = [c for c in cells if not claims and c.endswith("...")]
        if cut:
            yield Problem(page, "truncated cell in a table", cut[0])


def check_page(html: str, page: str, *, chapter: bool) -> list[Problem]:
    """Every problem on one page (``chapter``: also require the closing section)."""
    soup = BeautifulSoup(html, "html.parser")
    main = soup.find("main") or soup
    text = main.get_text(" ")
    problems = list(_table_problems(main, page))
    problems += [Problem(page, "temporary path", _excerpt(text, m)) for m in _TEMP_PATH.finditer(text)]
    problems += [Problem(page, "object repr", _excerpt(text, m)) for m in _OBJECT_REPR.finditer(text)]
    for img in main.find_all("img"):
        alt = (img.get("alt") or "").strip()
        if not alt:
            problems.append(Problem(page, "image without alt text", img.get("src", "")))
        elif _FILE_LIKE_ALT.search(alt):
            problems.append(Problem(page, "image alt text is a file name", alt))
    if chapter:
        headings = [h.get_text(" ", strip=True) for h in main.find_all(["h2", "h3"])]
        if not any(CLOSING_SECTION in h for h in headings):
            problems.append(Problem(page, "no closing section", f"missing '{CLOSING_SECTION}'"))
    return problems


def html_pages(html_root: Path) -> list[Path]:
    """The book's pages: the chapters and the front and back matter.

    Sphinx's own search and index pages are not among them.
    """
    return sorted(p for p in (html_root / "book").rglob("*.html"))


def check_site(html_root: Path) -> list[Problem]:
    """Every problem on every page of the book built under ``html_root``."""
    if not (html_root / "index.html").exists():
        raise FileNotFoundError(f"no built book at {html_root}: run `fedbook build` first")
    problems: list[Problem] = []
    for path in html_pages(html_root):
        name = str(path.relative_to(html_root))
        problems += check_page(path.read_text(encoding="utf-8"), name,
                               chapter=path.parent.name == "chapters")
    return problems
