"""A Sphinx extension for what the reader gets: alt text from captions, no unused scripts.

* **Alt text.** Figures glued from a notebook (``{glue:figure}``) reach the page as images whose
  only alt text is their hashed file name, which a screen reader reads out and which says
  nothing. The caption the chapter wrote under the figure is the description a reader needs, so
  it is copied into the image's ``alt`` when the image has none (an ``:alt:`` written by hand
  wins).
* **No thebe.** Jupyter Book always loads ``sphinx_thebe`` (live code cells on Binder), even with
  ``launch_buttons.thebe: false``; its configuration script is added once per read phase, so a
  page can carry it twice and the browser reports "Identifier 'THEBE_JS_URL' has already been
  declared", and it names a CDN address. The book is static and offline, so its scripts are
  dropped from every page.

Loaded from ``_config.yml`` (``sphinx.extra_extensions``). Introduced for issue 13 (alt text,
a browser check with no console errors).
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes

__all__ = ["caption_alt_text", "drop_thebe_scripts", "setup"]


def caption_alt_text(app: Any, doctree: nodes.document, docname: str) -> None:
    """Set ``alt`` of each image inside a captioned figure from the caption, if not set."""
    for figure in doctree.findall(nodes.figure):
        captions = list(figure.findall(nodes.caption))
        if not captions:
            continue
        text = re.sub(r"\s+", " ", captions[0].astext()).strip()
        for image in figure.findall(nodes.image):
            if not image.get("alt"):
                image["alt"] = text


def _is_thebe(script: Any) -> bool:
    body = getattr(script, "attributes", {}).get("body", "") or ""
    return "THEBE_JS_URL" in body or "thebe" in str(script)


def drop_thebe_scripts(app: Any, pagename: str, templatename: str, context: dict,
                       doctree: Any) -> None:
    """Remove sphinx-thebe's scripts from the page being written."""
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]


def setup(app: Any) -> dict[str, Any]:
    """Register the handlers; the extension keeps no state, so builds may run in parallel."""
    app.connect("doctree-resolved", caption_alt_text)
    app.connect("html-page-context", drop_thebe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
