"""The Jupyter Book configuration as Jupyter Book resolves it, the toc, and a real offline build.

Jupyter Book accepts misspelled keys silently, so these tests read the *resolved* Sphinx
configuration rather than the YAML text.
"""

import json
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
    README_END,
    README_START,
    render_findings,
    render_performance,
    render_privacy_audit,
    render_scorecard,
    render_status,
    update_readme,
    write_generated,
)
from fedlib.book.results import ResultsWriter
from fedlib.evaluate import Claim, Estimate
from fedlib.evaluate.scorecard import verdict_badge

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
    w = ResultsWriter("01", "smoke", {"seed": 1, "target_epsilon": 10.0}, seed=1)
    shared = "measured on other data; levels do not transfer to the paper's file"
    w.add_claims([
        Claim("auc", "FMTL AUC | avg", 0.744, Estimate.seeds([0.73, 0.74, 0.735]),
              tolerance=0.02, same_data=True),
        Claim("std", "std 35 % lower", 0.35, Estimate.input(0.35), tolerance=0.0,
              same_data=True),
        Claim("epsilon_main", "ε = 8 at σ = 1", 8.0, Estimate.exact(80.0), kind="rel",
              tolerance=0.4, same_data=True),
        # about accuracy *at* an ε: not a privacy-budget claim
        Claim("eps01_auc", "FMTL AUC at ε = 0.1 is 0.715", 0.715, Estimate.exact(0.70),
              tolerance=0.02, same_data=True),
        Claim("fmtl_beats_fedavg", "FMTL AUC > FedAvg AUC", ">",
              Estimate.seeds([0.01, 0.02, 0.015]), kind="direction"),
        Claim("rows", "1,660,791 loans", 1_660_791.0, Estimate.exact(6166.0), tolerance=0.0,
              same_data=False, note=shared),
        Claim("tiny", "parameter drift below 1e-4", 0.0, Estimate.exact(5.1776e-05),
              tolerance=1e-4, same_data=False, note=shared),
        Claim("features", "59 features", 59.0, Estimate.exact(60.0), tolerance=0.0,
              same_data=False, note=shared),
        Claim("secureboost_lossless", "SecureBoost is lossless", 1.0, Estimate.exact(1.0),
              tolerance=0.0, same_data=True, note="node by node against the plaintext twin")])
    w.add_finding("FMTL ends below FedAvg at every institution.")
    w.add_metric(experiment="main", mode="dp", setting="sigma=1", party="all", round=3,
                 metric="epsilon_rdp", value=2.5)
    w.add_metric(experiment="main", mode="dp", setting="sigma=1", party="all", round=3,
                 metric="epsilon_prv", value=None)
    w.add_metric(experiment="table3", mode="Federated (BDP)", setting="final accountant",
                 party="max over clients", metric="epsilon", value=10.82)
    w.add_metric(experiment="sweep", mode="FMTL", setting="epsilon=0.5", party="all",
                 metric="epsilon_rdp", value=0.5)
    for mode, client, server in (("standard", 0.46, 0.042), ("he (ckks)", 16.3, 16.1)):
        w.add_metric(experiment="timing", mode=mode, setting="3 repeats", party="all",
                     metric="client_ms_per_epoch_median", value=client)
        w.add_metric(experiment="timing", mode=mode, setting="3 repeats", party="server",
                     metric="server_ms_median", value=server)
    w.add_metric(experiment="main", mode="FMTL", metric="roc_auc", value=0.7)
    w.add_timing("peak_rss_mib", 538.9)
    w.write(out / "01_fmtl_dp_secagg.results.json")
    return root


def _present(root: Path) -> list:
    return [c for c in CHAPTERS if c.exists(root)]


def test_scorecard_is_readable(tmp_path):
    root = _project(tmp_path)
    card = render_scorecard(root, _present(root))
    assert "| 1 | 4 | 1 | 0 | 1 | 3 | 0 |" in card              # verdict counts per chapter
    assert "## Chapter 1: Federated multi-task learning" in card
    assert "Scored: 4 reproduced, 1 contradicted of 5 scored." in card
    scored, unscored = card.split("### Not scored")
    assert "| FMTL AUC \\| avg | 0.744 | 0.735 [0.7226, 0.7474] (3 seeds) | " \
           + verdict_badge("reproduced") + " |" \
        in scored
    assert "std 35 % lower" in unscored and "std 35 % lower" not in scored
    # the note shared by three claims is written once, the rows name it
    assert card.count("levels do not transfer") == 1
    assert "- (a) measured on other data; levels do not transfer to the paper's file " \
           "(3 claims)" in card
    assert "| 1,660,791 loans | 1,660,791 | 6,166 (exact) | " + verdict_badge("different data") \
           + " | see note (a) |" \
        in card
    assert "5.178 × 10⁻⁵" in card and "e-05" not in card and "e+06" not in card
    # a direction claim says which side of 0 the named difference falls on, never a bare ">"
    assert "| FMTL AUC > FedAvg AUC | difference > 0 | 0.015" in card
    assert "| > |" not in card and "A > B" not in card
    assert "Not run yet: `fedbook run 02`" in card
    # grouped: the paper's orderings (headline) come before the levels behind them
    assert "| group | claim | paper | ours | verdict | note |" in card
    assert scored.index("| headline | FMTL AUC > FedAvg AUC") < scored.index("| supporting |")


def test_privacy_audit_holds_only_epsilon_and_flags_targets(tmp_path):
    root = _project(tmp_path)
    audit = render_privacy_audit(root, _present(root))
    assert "| ε = 8 at σ = 1 | 8 | 80 (exact) | **contradicted** |" in audit
    assert "FMTL AUC" not in audit and "0.715" not in audit     # not ε claims
    # one column per accountant; a failed accountant shows "failed", never a number
    assert "| main | dp | sigma=1 | all | 2.5 | failed | – | 10 | within target |" in audit
    # 10.82 against target_epsilon 10 is flagged; a setting's own ε is its target
    assert "| table3 | Federated (BDP) | final accountant | max over clients | – | – | 10.82 " \
           "| 10 | **above target** (10.82 > 10) |" in audit
    assert "| sweep | FMTL | epsilon=0.5 | all | 0.5 | – | – | 0.5 | within target |" in audit
    # cryptographic checks, from the claims, and the test suite's protocol checks
    assert "| SecureBoost (Paillier) | SecureBoost is lossless | 1 | 1 (exact) | " \
           "**reproduced** |" in audit
    assert "## Protocol checks run by the test suite" in audit
    assert "| Private set intersection (chapter 4) |" in audit


def test_performance_page_is_wide_with_chart_and_bench(tmp_path):
    from fedlib.book.bench import write_bench_summary
    from fedlib.book.perf_page import write_performance_chart

    root = _project(tmp_path)
    perf = render_performance(root, _present(root))
    assert "| mode | client time per epoch, median (ms) | server time, median (ms) |" in perf
    assert "| standard | 0.46 | 0.042 |" in perf and "| he (ckks) | 16.3 | 16.1 |" in perf
    assert "_median" not in perf and "peak_rss_mib" not in perf
    assert "| Chapter 1: Federated multi-task learning" in perf and "| 538.9 |" in perf
    assert "epsilon" not in perf and "roc_auc" not in perf and "FMTL AUC" not in perf
    assert "No benchmark summary in `bench/results/`" in perf
    chart = write_performance_chart(root, _present(root), root / "book/_generated/c.png")
    assert chart.stat().st_size > 10_000
    write_bench_summary("toy", "Toy bench", [{"case": "13 params", "metric": "CKKS / plain",
                                              "value": 4635.2, "unit": "×"}], root=root)
    perf = render_performance(root, _present(root), chart=chart)
    assert "```{figure} _generated/c.png" in perf and ":alt: " in perf
    assert "### Toy bench" in perf and "| 13 params | 4,635 |" in perf


def test_status_page_has_commit_units_and_dates(tmp_path):
    root = _project(tmp_path)
    status = render_status(root, _present(root))
    assert "Built from git commit `unknown (not a git checkout)`" in status
    assert "| 1: Federated multi-task learning" in status and "`smoke`" in status
    assert "| 2: " in status and "not run" in status
    assert "(file time)" in status                              # no timestamp in results.json
    assert "### Peak memory" in status and "| peak memory | 538.9 |" in status
    seconds = status.split("### Timings")[1].split("### Peak memory")[0]
    assert "mib" not in seconds.lower() and "| total time |" in seconds
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "-c", "user.email=a@b", "-c", "user.name=a", "commit",
                    "-q", "--allow-empty", "-m", "x"], check=True)
    assert "(clean tree)`" in render_status(root, _present(root))


def test_generated_pages_and_toc(tmp_path):
    root = _project(tmp_path)
    present = _present(root)
    findings = render_findings(root, present)
    assert "| Chapter 1: Federated multi-task learning with DP and secure aggregation " \
           "(`smoke`) | FMTL ends below FedAvg at every institution. | 4 reproduced, " \
           "1 contradicted of 5 scored | 1 by construction, 3 different data |" \
        in findings
    toc = yaml.safe_load(write_generated(root).read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert "book/chapters/01_fmtl_dp_secagg" in files
    assert "book/_generated/missing/02_dp_vs_ckks" in files  # placeholder, not a broken link
    assert not any("03_" in f or "04_" in f for f in files)  # no source yet: not listed
    assert (root / "book/_generated/missing/02_dp_vs_ckks.md").is_file()
    assert (root / "book/_generated/performance_costs.png").is_file()
    assert (root / "book/_generated/verdicts.svg").is_file()
    assert "_generated/verdicts.svg" in (root / "book/_generated/scorecard.md").read_text()
    assert "run time |" in (root / "book/_generated/findings.md").read_text()


def test_chapter_heading_uses_the_title_the_toc_shows(tmp_path):
    root = _project(tmp_path)
    (root / "chapters" / "01_fmtl_dp_secagg.py").write_text("# %% [markdown]\n# # FMTL, DP "
                                                          "and SecAgg\n")
    assert "## Chapter 1: FMTL, DP and SecAgg" in render_scorecard(root, _present(root))
    assert "| Chapter 1: FMTL, DP and SecAgg (`smoke`) |" in render_findings(root, _present(root))


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

def test_readme_block_is_written_only_from_default_runs(tmp_path):
    root = _project(tmp_path)
    (root / "README.md").write_text(f"intro\n{README_START}\nold\n{README_END}\nrest\n")
    assert not update_readme(root)                       # the fixture's run is a smoke run
    assert "old" in (root / "README.md").read_text()
    path = root / "book" / "chapters" / "01_fmtl_dp_secagg.results.json"
    doc = json.loads(path.read_text())
    doc["parameter_set"] = "default"
    path.write_text(json.dumps(doc))
    assert not update_readme(root)                       # chapter 02 has not run
    assert update_readme(root, [c for c in CHAPTERS if c.id == "01"])
    text = (root / "README.md").read_text()
    assert "old" not in text and "FMTL ends below FedAvg" in text
    assert text.startswith("intro\n") and text.endswith(f"{README_END}\nrest\n")
