"""The chapter runner on a tiny fixture chapter: outputs, failures, overrides, the kernel."""

import json
import sys
from pathlib import Path

import nbformat
import pytest

from fedlib.book.results import load_results, validate_results
from fedlib.book.runner import ChapterRunError, run_chapter

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_book.helpers import fixture_root  # noqa: E402


def _stdout(nb) -> str:
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One successful run with overrides, under a bogus user-level python3 kernelspec."""
    tmp = tmp_path_factory.mktemp("runner")
    root, chapter = fixture_root(tmp)
    # A stale kernelspec named python3 must not hijack the run: the runner always uses the
    # interpreter it runs in.
    bogus = tmp / "jupyter" / "kernels" / "python3"
    bogus.mkdir(parents=True)
    (bogus / "kernel.json").write_text(json.dumps(
        {"argv": ["/nonexistent/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "stale", "language": "python"}))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(tmp / "jupyter"))
    try:
        result = run_chapter(
            chapter, "smoke", [("rounds", "4"), ("rate", "2.5e-1")], root=root, progress=False
        )
    finally:
        mp.undo()
    return root, chapter, result


def test_success_installs_notebook_and_results(ran):
    root, chapter, result = ran
    out = root / "book" / "chapters"
    assert result.notebook == out / "99_fixture.ipynb" and result.notebook.is_file()
    assert result.results == out / "99_fixture.results.json"
    assert not list(out.glob(".run-*"))  # the temporary directory is gone
    doc = load_results(result.results)
    assert doc["chapter"] == "99" and doc["parameter_set"] == "smoke+overrides"
    assert doc["parameters"] == {
        "seed": 42, "rounds": 4, "rate": 0.25, "fail": False, "data_path": None,
        "parameter_set": "smoke+overrides",
    }
    # NaN metric written as null, rounds 1..4 plus the final row
    assert [m["round"] for m in doc["metrics"]] == [1, 2, 3, 4, None]
    assert doc["metrics"][-1]["value"] is None
    assert result.seconds > 0


def test_results_match_the_design_format(ran):
    _, _, result = ran
    text = result.results.read_text()
    assert "NaN" not in text
    doc = json.loads(text)
    validate_results(doc)
    assert list(doc) == ["chapter", "parameter_set", "parameters", "seed", "dataset", "metrics",
                         "claims", "findings", "timings", "versions"]
    assert doc["dataset"]["parties"] == [{"name": "A", "rows": 10, "positive_rate": 0.3}]
    assert set(doc["claims"][0]) == {"id", "claim", "paper", "ours", "ours_interval", "n_runs",
                                     "basis", "tolerance", "kind", "verdict", "note"}
    assert {"total_s", "train_s"} <= set(doc["timings"])
    assert doc["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))


def test_overrides_parse_types_and_kernel_is_this_interpreter(ran):
    _, _, result = ran
    nb = nbformat.read(result.notebook, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert "rounds = 4\n" in injected[0].source and "rate = 0.25\n" in injected[0].source
    text = _stdout(nb)
    assert "types: int float bool" in text
    assert f"executable: {sys.executable}" in text


def test_failure_keeps_previous_outputs_and_reports_the_cell(ran):
    root, chapter, result = ran
    before = {p: p.read_bytes() for p in (result.notebook, result.results)}
    with pytest.raises(ChapterRunError) as info:
        run_chapter(chapter, "smoke", [("fail", "true")], root=root, progress=False)
    msg = str(info.value)
    assert "chapter 99 (99_fixture) failed in cell" in msg
    assert "RuntimeError: fixture failure on purpose" in msg
    assert 'raise RuntimeError("fixture failure on purpose")' in msg  # the cell's source
    assert "Traceback" in msg and "\x1b[" not in msg
    assert {p: p.read_bytes() for p in before} == before
    assert not list((root / "book" / "chapters").glob(".run-*"))


def test_chapter_without_results_is_a_failure(tmp_path):
    root, chapter = fixture_root(tmp_path)
    src = root / "chapters" / "99_fixture.py"
    src.write_text(src.read_text().replace("w.write(P.results_path)", "pass"))
    with pytest.raises(ChapterRunError, match="wrote no results.json"):
        run_chapter(chapter, "default", root=root, progress=False)
    assert not (root / "book" / "chapters" / "99_fixture.ipynb").exists()
