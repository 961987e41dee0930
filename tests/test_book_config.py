"""The Jupyter Book configuration as Jupyter Book resolves it, the toc, and a real offline build.

Jupyter Book accepts misspelled keys silently, so these tests read the *resolved* Sphinx
configuration rather than the YAML text.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from jupyter_book.config import get_final_config

from fedlib.book.chapters import CHAPTERS
from fedlib.book.cli import build_html
from fedlib.book.pages import (
    render_performance,
    render_privacy_audit,
    render_scorecard,
    render_status,
    write_generated,
)
from fedlib.book.results import ResultsWriter
from fedlib.evaluate import Claim, Estimate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config():
    cfg, _ = get_final_config(
        user_yaml=ROOT / "_config.yml", cli_config={"latex_individualpages": False},
        sourcedir=ROOT, validate=True, raise_on_invalid=True,
    )
    return cfg


def test_build_never_executes(config):
    assert config["nb_execution_mode"] == "off"
    assert config["nb_execution_raise_on_error"] is True
    assert config["nb_execution_allow_errors"] is False


def test_py_chapters_are_jupytext_and_only_toc_files_build(config):
    assert config["nb_custom_formats"] == {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
    assert config["external_toc_exclude_missing"] is True  # only_build_toc_files
    for pattern in [".*", "**/.*", ".venv", "fedlib", "tests", "data", "parameters", "bench",
                    "chapters", "README.md", "**.ipynb_checkpoints"]:
        assert pattern in config["exclude_patterns"]


def test_offline(config):
    assert config["intersphinx_mapping"] == {}
    assert "sphinx-mathjax-offline" in config["extensions"]
    theme = config["html_theme_options"]
    assert not any(v for k, v in theme["launch_buttons"].items() if k != "notebook_interface")
    assert not theme["use_repository_button"] and not theme["use_issues_button"]
    assert not theme["use_edit_page_button"]
    assert config["comments_config"] == {"hypothesis": False, "utterances": False}
    assert not any("plotly" in e or "widget" in e for e in config["extensions"])


def test_myst_extensions_and_bibliography(config):
    assert {"amsmath", "dollarmath", "colon_fence", "deflist", "substitution"} <= set(
        config["myst_enable_extensions"]
    )
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    assert (ROOT / "book" / "references.bib").is_file()


def test_toc_names_every_registered_chapter():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert [f.removeprefix("book/chapters/") for f in files if f.startswith("book/chapters/")] \
        == [c.name for c in CHAPTERS]
    for f in [toc["root"], *files]:
        if not f.startswith("book/chapters/"):
            assert (ROOT / f"{f}.md").is_file(), f


def _project(tmp_path: Path) -> Path:
    """A copy of the book's sources with chapter 01 'run' (fake) and chapter 02 not run."""
    root = tmp_path / "proj"
    (root / "book").mkdir(parents=True)
    for name in ["_config.yml", "_toc.yml"]:
        shutil.copy(ROOT / name, root / name)
    for f in (ROOT / "book").glob("*.md"):
        shutil.copy(f, root / "book" / f.name)
    shutil.copy(ROOT / "book" / "references.bib", root / "book" / "references.bib")
    (root / "chapters").mkdir()
    (root / "chapters" / "01_fmtl_dp_secagg.py").write_text("# %%\n")
    (root / "chapters" / "02_dp_vs_ckks.py").write_text("# %%\n")
    out = root / "book" / "chapters"
    out.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Chapter one\n\nMath: $\\varepsilon = 1$"),
        # would fail the build if Jupyter Book executed notebooks
        nbformat.v4.new_code_cell('raise RuntimeError("the build must not execute cells")'),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    nbformat.write(nb, out / "01_fmtl_dp_secagg.ipynb")
    w = ResultsWriter("01", "smoke", {"seed": 1}, seed=1)
    w.add_claims([
        Claim("auc", "FMTL AUC | avg", 0.744, Estimate.seeds([0.73, 0.74, 0.735]),
              tolerance=0.02, same_data=True),
        Claim("std", "std 35 % lower", 0.35, Estimate.input(0.35), tolerance=0.0,
              same_data=True),
        Claim("eps_main", "ε = 8 at σ = 1", 8.0, Estimate.exact(80.0), kind="rel",
              tolerance=0.4, same_data=True)])
    w.add_metric(experiment="main", mode="dp", setting="sigma=1", party="all", round=3,
                 metric="epsilon_rdp", value=2.5)
    w.add_metric(experiment="main", mode="dp", setting="sigma=2", party="all", round=3,
                 metric="epsilon_prv", value=None)
    w.add_metric(experiment="main", mode="he", setting="mean", party="all", round=None,
                 metric="client s/epoch", value=0.25)
    w.write(out / "01_fmtl_dp_secagg.results.json")
    return root


def test_generated_pages_and_toc(tmp_path):
    root = _project(tmp_path)
    present = [c for c in CHAPTERS if c.exists(root)]
    card = render_scorecard(root, present)
    assert "Scored: 1 reproduced, 1 contradicted of 2 scored. Not scored: 1 by construction" \
        in card
    assert "| FMTL AUC \\| avg | 0.744 | 0.735 [0.7226, 0.7474] (3 seeds) | reproduced |" in card
    assert "Not run yet: `fedbook run 02`" in card
    status = render_status(root, present)
    assert "| 01 " in status and "`smoke`" in status and "| 02 " in status
    audit = render_privacy_audit(root, present)
    assert "| ε = 8 at σ = 1 | 8 | 80 | contradicted |" in audit      # privacy claims only
    assert "FMTL AUC" not in audit
    assert "| main | dp | sigma=1 | all | Opacus RDP | 2.5 |" in audit    # ε spent, by whom
    assert "| main | dp | sigma=2 | all | Opacus PRV | failed |" in audit  # no stand-in value
    perf = render_performance(root, present)
    assert "| main | he | mean | client s/epoch | 0.25 |" in perf and "peak_rss_mib" in perf
    assert "epsilon_rdp" not in perf and "FMTL AUC" not in perf
    toc = yaml.safe_load(write_generated(root).read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert "book/chapters/01_fmtl_dp_secagg" in files
    assert "book/_generated/missing/02_dp_vs_ckks" in files  # placeholder, not a broken link
    assert not any("03_" in f or "04_" in f for f in files)  # no source yet: not listed
    assert (root / "book/_generated/missing/02_dp_vs_ckks.md").is_file()


def test_offline_strict_build(tmp_path):
    """The real build: -W -n, no execution, MathJax served locally, placeholders render."""
    if not Path(sys.executable).with_name("jupyter-book").exists():
        pytest.skip("jupyter-book not installed in this interpreter's environment")
    root = _project(tmp_path)
    toc = write_generated(root)
    assert build_html(root, toc, quiet=True) == 0
    html = root / "book" / "_build" / "html"
    assert (html / "index.html").is_file()
    page = (html / "book" / "chapters" / "01_fmtl_dp_secagg.html").read_text()
    assert "the build must not execute cells" in page
    assert 'src="../../_static/mathjax/tex-chtml.js"' in page
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    for f in html.rglob("*.html"):
        text = f.read_text()
        assert "cdn.jsdelivr.net" not in text and "mathjax@" not in text, f
    assert "FMTL AUC" in (html / "book" / "scorecard.html").read_text()
    assert (html / "book" / "_generated" / "missing" / "02_dp_vs_ckks.html").is_file()


def test_cli_list_runs():
    proc = subprocess.run([sys.executable, "-m", "fedlib.book.cli", "list"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    # two lines per chapter: id, name and title; then its last run (or "not run")
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 * len(CHAPTERS)
    assert all(ln.strip().startswith(("run ", "not run")) for ln in lines[1::2])


def test_security_page_cites_only_tests_that_exist():
    """Every statement of book/security.md names its test; each named test must exist."""
    import ast
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "book" / "security.md").read_text()
    cited = set(re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", text))
    assert len(cited) >= 20
    defined: dict[str, set[str]] = {}
    for path, _ in cited:
        tree = ast.parse((root / path).read_text())
        defined[path] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    missing = sorted(f"{p}::{t}" for p, t in cited if t not in defined[p])
    assert not missing, f"security.md cites tests that do not exist: {missing}"
    toc = (root / "_toc.yml").read_text()
    assert "book/security" in toc
