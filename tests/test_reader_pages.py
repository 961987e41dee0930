"""The page checks of issue 13: the static HTML checks, the browser check, the table display
and the Sphinx extension each find what they must, and let a clean page pass."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document

from fedlib.book.htmlcheck import CLOSING_SECTION, check_page, check_site
from fedlib.book.sphinx_reader import caption_alt_text, drop_thebe_scripts
from fedlib.book.tables import frame_html

CLEAN = (f"<main><h1>1. A chapter</h1><h2>1.1. {CLOSING_SECTION}</h2>"
         "<table><tr><th>claim</th><th>verdict</th></tr><tr><td>AUC</td><td>reproduced</td></tr>"
         "</table><img src='../_images/ab12.png' alt='Test AUC of each institution'></main>")


def whats(html: str, chapter: bool = True) -> list[str]:
    return [p.what for p in check_page(html, "page.html", chapter=chapter)]


def test_a_clean_chapter_passes():
    assert whats(CLEAN) == []


@pytest.mark.parametrize("bad, what", [
    ("<td>reproduced</td>", None),
    ("<td>NaN</td>", "NaN in a claims table"),
    ("<td>the paper's number was…</td>", "truncated cell in a claims table"),
])
def test_claims_table_cells(bad, what):
    found = whats(CLEAN.replace("<td>reproduced</td>", bad))
    assert (what in found) if what else found == []


def test_pandas_truncation_and_nan_in_any_table():
    page = CLEAN.replace("</main>", "<table><tr><th>x</th></tr><tr><td>decryption refused: the..."
                                    "</td></tr><tr><td>NaN</td></tr></table></main>")
    assert set(whats(page)) == {"truncated cell in a table", "NaN in a table"}


@pytest.mark.parametrize("text, what", [
    ("written to /tmp/tmpx1y2z3/out.ipynb", "temporary path"),
    ("&lt;FederationRun object at 0x7f3a2c1d&gt;", "object repr"),
])
def test_noise_in_the_text(text, what):
    assert whats(CLEAN.replace("</main>", f"<p>{text}</p></main>")) == [what]


@pytest.mark.parametrize("alt, what", [
    ("", "image without alt text"),
    ("../../_images/4a833c7f3aee60493cabf7b423.png", "image alt text is a file name"),
    ("4a833c7f3aee60493cabf7b4", "image alt text is a file name"),
])
def test_alt_text(alt, what):
    assert whats(CLEAN.replace("alt='Test AUC of each institution'", f"alt='{alt}'")) == [what]


def test_a_chapter_needs_its_closing_section():
    page = CLEAN.replace(CLOSING_SECTION, "Exercises")
    assert whats(page) == ["no closing section"]
    assert whats(page, chapter=False) == []


def test_check_site_needs_a_built_book(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="fedbook build"):
        check_site(tmp_path)


def test_frame_html_is_whole_and_readable():
    long = "decryption refused: " + "x" * 200
    html = frame_html(pd.DataFrame({"what": [long, None], "value": [1660791.0, float("nan")]}))
    assert long in html and "NaN" not in html and "1,660,791" in html and "e+06" not in html
    assert "<th>0</th>" not in html          # a plain range index is not shown
    labelled = frame_html(pd.DataFrame({"v": [0.5]}, index=pd.Index(["FMTL"], name="model")))
    assert "FMTL" in labelled and "model" in labelled


def _doctree(rst: str) -> nodes.document:
    doc = new_document("test", get_default_settings(Parser))
    Parser().parse(rst, doc)
    return doc


def test_caption_becomes_alt_text_unless_one_is_given():
    doc = _doctree(".. figure:: a.png\n\n   Test AUC of each\n   institution.\n\n"
                   ".. figure:: b.png\n   :alt: written by hand\n\n   A caption.\n")
    caption_alt_text(None, doc, "test")
    assert [i["alt"] for i in doc.findall(nodes.image)] == ["Test AUC of each institution.",
                                                            "written by hand"]


def test_thebe_scripts_are_dropped():
    class Js(str):
        def __new__(cls, name, body=""):
            obj = super().__new__(cls, name)
            obj.attributes = {"body": body}
            return obj

    context = {"script_files": [Js("_static/doctools.js"), Js("", 'const THEBE_JS_URL = "x"'),
                                Js("_static/sphinx-thebe.js")]}
    drop_thebe_scripts(None, "p", "page.html", context, None)
    assert context["script_files"] == ["_static/doctools.js"]


def _browser_ready() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return shutil.which("chromium") is not None


@pytest.mark.skipif(not _browser_ready(),
                    reason="needs Chromium and Playwright: `make browser-check` installs them")
def test_the_browser_check_finds_network_requests_script_errors_and_raw_tex(tmp_path: Path):
    from fedlib.book.browsercheck import check_in_browser

    good = tmp_path / "book" / "good.html"
    bad = tmp_path / "book" / "bad.html"
    good.parent.mkdir(parents=True)
    good.write_text("<html><body><main><p>plain text; a regex only in code: <code>\\(x\\)</code>"
                    "</p></main></body></html>")
    bad.write_text("<html><body><main><p>$$a^2$$ is raw</p>"
                   "<img src='https://cdn.example.org/x.png' alt='remote'>"
                   "<script>undefinedFunction()</script></main></body></html>")
    reports = {r.page: r for r in check_in_browser(tmp_path, pages=[good, bad])}
    assert reports["book/good.html"].problems == []
    found = {p.what for p in reports["book/bad.html"].problems}
    # the blocked request also shows as a console error ("Failed to load resource")
    assert {"request leaves file://", "uncaught exception", "raw TeX left by MathJax"} <= found
