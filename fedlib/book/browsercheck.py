r"""Open every page of the built book in a real, offline browser and check what a reader gets.

The static checks (:mod:`fedlib.book.htmlcheck`) read the HTML; only a browser can tell that
MathJax actually typeset the equations, that no script failed, and that no page asks the
network for anything (the book must work on a laptop with no connection). Each page is opened
from ``file://`` in headless Chromium (Debian's ``chromium`` package, driven by Playwright's
Python package; Playwright's own browser download is never used), every request that is not
``file:`` or ``data:`` is blocked and reported, console errors and uncaught exceptions are
reported, and after MathJax's start-up promise settles no raw ``$$`` or ``\(`` may remain in
the text outside code. Chapter pages are saved as full-page screenshots (CI keeps them as artefacts).

Chromium runs with background networking, component updates and sync off and a fresh profile,
so that it does not try to reach Google's hosts by itself (those attempts are not the book's and
would flood the report).

Introduced for issue 13 (a real browser in CI); run by ``fedbook check-html --browser``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from fedlib.book.htmlcheck import Problem, html_pages

__all__ = ["CHROMIUM_ARGS", "BrowserUnavailable", "PageReport", "check_in_browser", "find_chromium"]

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

# Wait for MathJax 3 to finish typesetting (pages without maths have no MathJax object).
_MATHJAX_DONE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    return document.querySelectorAll('mjx-container').length;
  }
  return -1;
}"""


# The rendered text outside code: a regex like r"\((.*)\)" in a code cell is not maths.
_PROSE_TEXT = """() => {
  const root = (document.querySelector('main') || document.body).cloneNode(true);
  root.querySelectorAll('pre, code, script, style, mjx-container').forEach(n => n.remove());
  return root.innerText;
}"""


class BrowserUnavailable(RuntimeError):
    """No Chromium or no Playwright: says how to install them."""


@dataclass
class PageReport:
    """What the browser saw on one page."""

    page: str
    typeset: int
    problems: list[Problem]


def find_chromium() -> str:
    """Path of the system Chromium, or :class:`BrowserUnavailable` naming the package."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserUnavailable("no Chromium found: install Debian's `chromium` package "
                             "(`make browser-check` does it) or put a Chromium on PATH")


def _check_one(context, path: Path, html_root: Path, shots: Path | None) -> PageReport:
    name = str(path.relative_to(html_root))
    problems: list[Problem] = []
    page = context.new_page()

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            problems.append(Problem(name, "request leaves file://", url))
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(
        Problem(name, "console error", m.text)))
    page.on("pageerror", lambda e: problems.append(Problem(name, "uncaught exception", str(e))))
    page.goto(path.resolve().as_uri(), wait_until="load")
    typeset = page.evaluate(_MATHJAX_DONE)
    text = page.evaluate(_PROSE_TEXT)
    for raw in ("$$", "\\(", "\\["):
        if raw in text:
            at = text.index(raw)
            problems.append(Problem(name, "raw TeX left by MathJax", text[max(at - 40, 0):at + 40]))
    if shots is not None and path.parent.name == "chapters":
        shots.mkdir(parents=True, exist_ok=True)
        # JPEG: a full chapter is ~10 MB as PNG, a few MB at this quality, still readable.
        page.screenshot(path=str(shots / f"{path.stem}.jpg"), full_page=True, type="jpeg",
                        quality=40)
    page.close()
    return PageReport(name, typeset, problems)


def check_in_browser(html_root: Path, *, screenshots: Path | None = None,
                     pages: list[Path] | None = None) -> list[PageReport]:
    """Open each page of the book under ``html_root`` (or ``pages``) offline in Chromium."""
    chromium = find_chromium()
    try:
        from playwright.sync_api import sync_playwright  # optional: the [dev] extra brings it
    except ImportError as err:
        raise BrowserUnavailable("Playwright is not installed: pip install -e '.[dev]'") from err
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      service_workers="block")
        try:
            return [_check_one(context, p, html_root, screenshots)
                    for p in (pages or html_pages(html_root))]
        finally:
            browser.close()
