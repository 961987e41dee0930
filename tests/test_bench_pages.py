"""Bench summaries, the cost-growth figures, the README's bench block and chapter profiles,
on fixture summaries and a fixture chapter (no benchmark or book chapter runs here)."""

import cProfile
import json
import pstats
import sys
from pathlib import Path

import numpy as np
import pytest

from fedlib.book import chapter_profile
from fedlib.book.bench import headline_of, load_bench_summaries, write_bench_summary
from fedlib.book.bench_figures import (
    GROWTH_FIGURES,
    dpsgd_batch_figure,
    dpsgd_frame,
    secagg_clients_figure,
    secagg_frame,
    secureboost_frame,
    secureboost_rows_figure,
    write_growth_figures,
)
from fedlib.book.bench_readme import (
    BENCH_END,
    BENCH_START,
    describe_headline,
    render_bench_block,
    update_bench_readme,
)
from fedlib.book.chapter_profile import (
    load_profiles,
    owner_of,
    profile_chapter,
    summarize_profile,
    write_profile,
)
from fedlib.book.cli import main
from fedlib.book.perf_page import profile_section, render_performance, summary_table
from fedlib.book.runner import ChapterRunError
from fedlib.evaluate.figures import COLUMN_WIDTH_IN, figure_problems
from fedlib.vertical.gbdt import HistGBDT

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_book.helpers import fixture_root  # noqa: E402

# What bench_dpsgd.py will write (another branch): exactly these keys per row.
DPSGD_ROWS = [{"model": m, "backend": b, "batch": n, "plain_us": 40.0 * n ** 0.5,
               "dp_us": 40.0 * n ** 0.5 * (2 + n / 64), "ratio": 2 + n / 64}
              for m in ("logreg", "mlp") for b in ("opacus", "closed-form")
              for n in (16, 64, 256)]
SECAGG_ROWS = [{"clients": n, "threshold": n // 2 + 1, "dropouts": d, "dim": 10_000,
                "plain_ms": 0.05 * n, "secagg_ms": 2.0 * n * n * (1.3 if d else 1.0),
                "ratio": 40.0 * n * (1.3 if d else 1.0), "max_abs_err": 1e-7}
               for n in (5, 10, 20, 50) for d in (0, max(1, n // 10))]
SECUREBOOST_ROWS = [{"rows": n, "model": m, "backend": b, "fit_s": s * n / 250,
                     "same_trees": True}
                    for n in (250, 500, 1000)
                    for m, b, s in (("plaintext HistGBDT", "plaintext", 0.003),
                                    ("XGBoost (hist)", "plaintext", 0.05),
                                    ("SecureBoost (phe)", "phe", 9.0),
                                    ("SecureBoost (zpaillier)", "zpaillier", 1.5),
                                    ("SecureBoost (ou)", "ou", 0.4))]


# --- summaries ---------------------------------------------------------------------------------

def test_summary_keeps_wide_rows_machine_and_headline(tmp_path):
    rows = [{"batch": np.int64(64), "ratio": np.float64(2.5), "same": True, "note": None,
             "err": float("nan")}]
    path = write_bench_summary("toy", "Toy", rows, root=tmp_path,
                               headline={"metric": "DP / plain", "value": 2.5, "unit": "×"})
    doc = json.loads(path.read_text())
    assert doc["rows"] == [{"batch": 64, "ratio": 2.5, "same": True, "note": None, "err": None}]
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["python"].startswith("3.")
    assert doc["script"] == "bench/bench_toy.py" and doc["written_at"][:2] == "20"
    assert headline_of(doc) == {"metric": "DP / plain", "value": 2.5, "unit": "×"}
    assert not list(path.parent.glob("*.tmp"))


@pytest.mark.parametrize("rows, match", [
    ([{"case": "a", "metric": "t", "value": 1.0}], "lacks"),          # long form without unit
    ([{"batch": 8, "sizes": [1, 2]}], "only numbers"),                 # not a scalar
    ([{}], "empty"),
])
def test_summary_rejects_malformed_rows(tmp_path, rows, match):
    with pytest.raises(ValueError, match=match):
        write_bench_summary("toy", "Toy", rows, root=tmp_path)


def test_summary_rejects_a_bad_name_and_a_headline_without_value(tmp_path):
    with pytest.raises(ValueError, match="lower-case"):
        write_bench_summary("Bad name", "x", [{"a": 1}], root=tmp_path)
    with pytest.raises(ValueError, match="lacks"):
        write_bench_summary("ok", "x", [{"a": 1}], root=tmp_path,
                            headline={"metric": "m", "unit": "×"})


def test_headline_is_derived_from_ratios_when_not_given():
    assert headline_of({"rows": DPSGD_ROWS}) == {"metric": "ratio", "value": 6.0, "unit": "×",
                                                 "low": 2.25, "n": 12}
    long = [{"case": c, "metric": "CKKS / plain", "value": v, "unit": "×"}
            for c, v in (("13", 300.0), ("10k", 40.0))]
    assert headline_of({"rows": long})["metric"] == "CKKS / plain"
    assert headline_of({"rows": [{"case": "a", "metric": "t", "value": 1, "unit": "ms"}]}) is None


def test_long_and_wide_rows_become_one_table():
    headers, body = summary_table([{"case": "13", "metric": "ratio", "value": 3.0, "unit": "×"},
                                   {"case": "13", "metric": "time", "value": 2.0, "unit": "ms"}])
    assert headers == ["case", "ratio (×)", "time (ms)"] and body == [["13", 3.0, 2.0]]
    headers, body = summary_table(SECUREBOOST_ROWS[:1])
    assert headers == ["rows", "model", "backend", "fit s", "same trees"]
    assert body[0][-1] == "yes"


# --- cost-growth figures -----------------------------------------------------------------------

@pytest.mark.parametrize("frame, draw, rows, n_series", [
    (secureboost_frame, secureboost_rows_figure, SECUREBOOST_ROWS, 5),
    (secagg_frame, secagg_clients_figure, SECAGG_ROWS, 4),
    (dpsgd_frame, dpsgd_batch_figure, DPSGD_ROWS, 8),
])
def test_growth_figures_meet_the_standard(frame, draw, rows, n_series):
    data = frame(rows)
    assert list(data.columns) == ["x", "y", "series"] and data["series"].nunique() == n_series
    fig = draw(data)
    assert fig.get_figwidth() == pytest.approx(COLUMN_WIDTH_IN)
    assert figure_problems(fig) == []
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == [f"{x:,}" for x in sorted(data["x"].unique())]  # the sizes measured


def test_dpsgd_frame_reads_the_agreed_keys_and_names_what_is_missing():
    data = dpsgd_frame(DPSGD_ROWS)
    point = data[(data["x"] == 64) & (data["series"] == "mlp (opacus), DP-SGD")]
    assert point["y"].item() == pytest.approx(40.0 * 8 * 3)
    with pytest.raises(ValueError, match="dp_us"):
        dpsgd_frame([{k: v for k, v in r.items() if k != "dp_us"} for r in DPSGD_ROWS])


def test_performance_page_plots_present_sweeps_and_says_which_are_missing(tmp_path):
    root = tmp_path
    write_bench_summary("dpsgd", "DP-SGD step versus plain step", DPSGD_ROWS, root=root)
    write_bench_summary("secagg", "Secure aggregation", [
        {k: v for k, v in r.items() if k != "secagg_ms"} for r in SECAGG_ROWS], root=root)
    growth = write_growth_figures(root, root / "book" / "_generated")
    assert growth["growth_dpsgd"] == root / "book/_generated/growth_dpsgd.svg"
    assert growth["growth_dpsgd"].read_text().lstrip().startswith("<?xml")
    assert "bench/results/secureboost.json" in growth["growth_secureboost"]
    assert "bench_vertical.py" in growth["growth_secureboost"]
    assert "secagg_ms" in growth["growth_secagg"]  # a malformed summary: said, not raised
    page = render_performance(root, [], growth=growth)
    assert "## How cost grows" in page and "```{figure} _generated/growth_dpsgd.svg" in page
    assert "No `bench/results/secureboost.json` in this build, so no figure" in page
    assert "### DP-SGD step versus plain step" in page and "| model | backend | batch |" in page
    no_growth = render_performance(tmp_path / "empty", [])
    assert all(f"`bench/results/{g.bench}.json`" in no_growth for g in GROWTH_FIGURES)


# --- the README's bench block ------------------------------------------------------------------

README = f"""# Project

Intro with a number typed by a human: 42.

## Benchmarks

Some prose.

{BENCH_START}
stale block
{BENCH_END}

## After
Tail text | with a pipe.
"""


def test_bench_readme_block_is_rewritten_and_nothing_else(tmp_path):
    (tmp_path / "README.md").write_text(README)
    write_bench_summary("secagg", "Secure aggregation round versus plaintext sum", SECAGG_ROWS,
                        root=tmp_path, headline={"metric": "secure / plaintext round time",
                                                 "case": "50 clients, 5 dropped",
                                                 "value": 2600.0, "unit": "×"})
    write_bench_summary("dpsgd", "DP-SGD step", DPSGD_ROWS, root=tmp_path)
    assert main(["bench-readme"], root=tmp_path) == 0
    text = (tmp_path / "README.md").read_text()
    head, rest = text.split(BENCH_START)
    block, tail = rest.split(BENCH_END)
    assert head == README.split(BENCH_START)[0] and tail == README.split(BENCH_END)[1]
    assert "stale" not in block
    assert "| DP-SGD step (`bench/bench_dpsgd.py`) | ratio: 2.25–6× over 12 cases |" in block
    assert "secure / plaintext round time: 2,600× (50 clients, 5 dropped)" in block
    cores = load_bench_summaries(tmp_path)[0]["machine"]["cores"]
    assert f"| {cores} cores, " in block and block.count("| 20") == 2  # the run's date
    assert update_bench_readme(tmp_path) and (tmp_path / "README.md").read_text() == text


def test_bench_readme_without_markers_or_summaries(tmp_path):
    (tmp_path / "README.md").write_text("# No block\n")
    assert main(["bench-readme"], root=tmp_path) == 1
    assert (tmp_path / "README.md").read_text() == "# No block\n"
    assert "No benchmark has run" in render_bench_block([])
    assert describe_headline({"rows": [{"a": 1}]}) == "–"


def test_the_repository_readme_has_one_bench_block():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert text.count(BENCH_START) == 1 and text.count(BENCH_END) == 1
    assert text.index("## Benchmarks") < text.index(BENCH_START) < text.index(BENCH_END)


# --- profiles ----------------------------------------------------------------------------------

def test_owner_of_tells_fedlib_libraries_builtins_and_cells_apart():
    assert owner_of("<chapter 04 cell 3>", "<module>") == ("chapter", "chapter cells")
    assert owner_of("~", "<built-in method numpy.core._multiarray_umath.dot>") == \
        ("library", "numpy")
    assert owner_of("~", "<built-in method builtins.exec>") == ("builtins", "builtins")
    assert owner_of("/v/lib/python3.11/site-packages/torch/nn/module.py", "f") == \
        ("library", "torch")
    assert owner_of(HistGBDT.fit.__code__.co_filename, "fit") == ("fedlib", "fedlib.vertical")


def test_summarize_profile_names_fedlib_functions_by_qualified_name():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 3)), rng.integers(0, 2, 200)
    prof = cProfile.Profile()
    prof.runcall(lambda: HistGBDT(n_estimators=2, max_depth=2).fit(X, y))
    doc = summarize_profile(pstats.Stats(prof), top=5)
    names = [f["function"] for f in doc["functions"]]
    assert names[0] == "fedlib.vertical.gbdt.HistGBDT.fit" and len(names) == 5
    cum = [f["cumulative_s"] for f in doc["functions"]]
    assert cum == sorted(cum, reverse=True) and 0 < doc["functions"][0]["share"] <= 1.0
    shares = [lib["share"] for lib in doc["libraries"]]
    assert shares == sorted(shares, reverse=True) and sum(shares) <= 1.0 + 1e-9
    assert "fedlib.vertical" in {lib["package"] for lib in doc["libraries"]}
    comprehensions = [n for n in names if "<" in n]
    assert all(n.count(".<") == 1 and not n.startswith("fedlib.vertical.gbdt.<")
               for n in comprehensions)


def test_comprehensions_are_named_inside_their_function():
    src = chapter_profile._FEDLIB / "book" / "chapter_profile.py"
    line = next(i for i, text in enumerate(src.read_text().splitlines(), 1)
                if "exact = [name for" in text)
    assert chapter_profile._fedlib_name(str(src), line, "<listcomp>") == \
        "fedlib.book.chapter_profile._fedlib_name.<listcomp>"
    assert chapter_profile._fedlib_name(str(src), line, "mystery") == \
        "fedlib.book.chapter_profile.mystery"


def test_profile_runs_the_fixture_chapter_in_process(tmp_path):
    root, chapter = fixture_root(tmp_path)
    doc = profile_chapter(chapter, "smoke", [("rounds", "3")], root=root, top=4)
    assert doc["chapter"] == "99" and doc["parameter_set"] == "smoke+overrides"
    assert doc["wall_s"] >= doc["profiled_s"] > 0 and len(doc["functions"]) <= 4
    assert doc["cpu_s"] > 0 and doc["chapter_timings"]["train_s"] == 0.01
    assert any(f["function"].startswith("fedlib.book.results.ResultsWriter.")
               for f in doc["functions"])
    assert not (root / "book" / "chapters").exists()  # the book's outputs are untouched
    assert str(root) not in sys.path
    path = write_profile(doc, root)
    assert path == root / "bench/profiles/99_fixture.json"
    assert load_profiles(root)["99_fixture"]["functions"] == doc["functions"]
    page = "\n".join(profile_section(root, [chapter]))
    assert "### Chapter 99: Fixture chapter" in page
    assert "`fedbook profile 99 --params smoke+overrides`" in page
    assert f"| `{doc['functions'][0]['function']}` |" in page
    assert "| package | time in its own code (s) | share of the run |" in page


def test_profile_reports_the_failing_cell(tmp_path):
    root, chapter = fixture_root(tmp_path)
    with pytest.raises(ChapterRunError, match="fixture failure on purpose"):
        profile_chapter(chapter, "smoke", [("fail", "true")], root=root)
    assert "No profile in `bench/profiles/`" in "\n".join(profile_section(root, [chapter]))


def test_profile_command_writes_the_json(tmp_path, capsys):
    root, chapter = fixture_root(tmp_path)
    assert main(["profile", "99", "--params", "smoke", "--top", "3"], root=root,
                registry=[chapter]) == 0
    out = capsys.readouterr().out
    assert "fedlib function" in out and "bench/profiles/99_fixture.json" in out
    assert len(json.loads((root / "bench/profiles/99_fixture.json").read_text())["functions"]) \
        <= 3
