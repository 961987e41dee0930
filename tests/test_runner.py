"""The chapter runner on a tiny fixture chapter: outputs, failures, overrides, the kernel."""

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from fedlib.book.chapters import Chapter
from fedlib.book.cli import main
from fedlib.book.results import ResultsWriter, load_results, validate_results
from fedlib.book.rundirs import remove_stale_run_dirs
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
                         "claims", "timings", "versions"]
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


# --- signals, stale folders, the kernel's warning, `fedbook list` (issue 14 items 6 and 9) ---

_CLI = Path(__file__).parent / "fixtures_book" / "run_cli.py"
# A cell that records the kernel's pid, then sleeps when rounds == 7, so a test can signal
# the run while a cell is executing.
_SLOW_CELL = ("import os, pathlib, time\n"
              "pathlib.Path('started').write_text(str(os.getpid()))\n"
              "if P.rounds == 7:\n    time.sleep(120)\nif P.fail:")


def _cli(root, *args, **kw):
    # This checkout's fedlib first, as in the test process itself.
    path = os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, str(_CLI), str(root), *args], cwd=root,
                            env={**os.environ, "PYTHONPATH": path}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def slow_root(tmp_path_factory):
    """A fixture project whose chapter ran once through `fedbook run` (a successful run)."""
    root, _ = fixture_root(tmp_path_factory.mktemp("signals"))
    src = root / "chapters" / "99_fixture.py"
    src.write_text(src.read_text().replace("if P.fail:", _SLOW_CELL))
    out = root / "book" / "chapters"
    out.mkdir(parents=True)
    # Left by earlier runs: one SIGKILLed (its pid is gone), one of an older version (no pid,
    # untouched for two hours); a later run removes both.
    (out / f".run-99-{_dead_pid()}-abcd").mkdir()
    (out / ".run-99-legacy01").mkdir()
    os.utime(out / ".run-99-legacy01", (time.time() - 7200,) * 2)
    proc = _cli(root, "run", "99", "--params", "smoke", "--no-progress")
    stdout, stderr = proc.communicate(timeout=120)
    return root, proc.returncode, stdout, stderr


def test_run_removes_stale_folders_and_kernel_prints_no_tcp_warning(slow_root):
    root, code, stdout, stderr = slow_root
    assert code == 0, stderr
    assert "without encryption" not in stderr and stderr == ""
    assert not list((root / "book" / "chapters").glob(".run-*"))


def test_stale_folder_of_a_live_process_is_kept(tmp_path):
    live = tmp_path / f".run-02-{os.getpid()}-x"
    recent_legacy = tmp_path / ".run-02-abc"
    dead = tmp_path / f".run-02-{_dead_pid()}-y"
    for d in (live, recent_legacy, dead):
        d.mkdir()
    assert remove_stale_run_dirs(tmp_path) == [dead]
    assert live.is_dir() and recent_legacy.is_dir()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_with_one_line_and_keeps_previous_outputs(slow_root, signum):
    root, code, _, _ = slow_root
    assert code == 0
    out = root / "book" / "chapters"
    before = {p: p.read_bytes() for p in out.glob("99_fixture.*")}
    assert len(before) == 2
    (root / "started").unlink(missing_ok=True)
    # Own session: SIGINT goes to the whole process group, as a terminal's Ctrl-C does.
    proc = _cli(root, "run", "99", "--params", "smoke", "-p", "rounds", "7", "--no-progress",
                start_new_session=True)
    deadline = time.time() + 90
    while not (root / "started").is_file() and time.time() < deadline:
        time.sleep(0.1)
    assert (root / "started").is_file(), "the chapter's cell never started"
    time.sleep(0.3)
    kernel = int((root / "started").read_text())
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 128 + signum
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert lines[0].startswith(f"fedbook: stopped by {name};")
    assert {p: p.read_bytes() for p in out.glob("99_fixture.*")} == before
    assert not list(out.glob(".run-*"))
    time.sleep(0.5)
    assert not _alive(kernel), "the chapter's kernel outlived the run"


def test_list_shows_parameter_set_data_and_date(tmp_path, capsys):
    root, chapter = fixture_root(tmp_path)
    other = Chapter("98", "98_unrun", "Never run", chapter.schema, source="chapters/99_fixture.py")
    out = root / "book" / "chapters"
    out.mkdir(parents=True)
    w = ResultsWriter("99", "my_params", {"seed": 1, "data_path": "/data/heloc_2024.csv"}, seed=1)
    w.set_dataset("heloc", 1234)
    w.add_timing("total_s", 42.0)
    w.write(out / "99_fixture.results.json")
    os.utime(out / "99_fixture.results.json", (0, 1_700_000_000))
    assert main(["list"], root=root, registry=[chapter, other]) == 0
    text = capsys.readouterr().out
    when = datetime.datetime.fromtimestamp(1_700_000_000).strftime("%Y-%m-%d %H:%M")
    assert (f"run {when}, parameters my_params, data heloc (1,234 rows) from heloc_2024.csv, "
            "42 s") in text
    assert "98  98_unrun" in text and "not run" in text


# --- data files checked before the kernel starts (issue 14 item 7) ---

@pytest.mark.parametrize(("chapter", "overrides", "header"), [
    ("01", {"source": "heloc"}, "heloc"),
    ("02", {"dataset": "kaggle_loan_approval"}, "kaggle"),
    ("03", {"dataset": "sba_csv"}, "sba"),
    ("04", {"dataset": "csv"}, "vertical"),
])
@pytest.mark.parametrize("kind", ["empty", "header_only", "semicolon", "latin1"])
def test_bad_data_file_stops_fedbook_run_before_the_kernel(tmp_path, monkeypatch, capsys,
                                                            chapter, overrides, header, kind):
    import papermill

    from fedlib.book.chapters import get_chapter
    from fedlib.data.heloc import HELOC_COLUMNS
    from fedlib.data.kaggle import KAGGLE_COLUMNS
    from fedlib.survival.loaders import SBA_REQUIRED

    if not get_chapter(chapter).exists():
        pytest.skip(f"chapter {chapter} not written yet")
    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda *a, **k: pytest.fail("a kernel was started for a bad file"))
    cols = {"heloc": HELOC_COLUMNS, "kaggle": KAGGLE_COLUMNS, "sba": list(SBA_REQUIRED),
            "vertical": ["id", "x1", "default"]}[header]
    path = tmp_path / "mine.csv"
    if kind == "empty":
        path.write_text("")
    elif kind == "header_only":
        path.write_text(",".join(cols) + "\n")
    elif kind == "semicolon":
        path.write_text(";".join(cols) + "\n" + ";".join("1" * len(cols)) + "\n")
    else:
        path.write_bytes(",".join(cols).encode() + b"\n" + b",".join([b"caf\xe9"] * len(cols)))
    args = [arg for k, v in overrides.items() for arg in ("-p", k, v)]
    if header == "vertical":
        (tmp_path / "ext.csv").write_text("id,e1\n1,0.5\n")
        args += ["-p", "bank_csv", str(path), "-p", "external_csv", str(tmp_path / "ext.csv")]
    else:
        args += ["-p", "data_path", str(path)]
    code = main(["run", chapter, "--params", "smoke", "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    expected = {"empty": "is empty (no header, no rows)",
                "header_only": "has a header but no data rows",
                "semicolon": "(the header looks ';'-delimited)",
                "latin1": "is not UTF-8 text (byte 0xe9 on line 2)"}[kind]
    assert err.startswith(f"fedbook: chapter {chapter}, ") and expected in err
    assert "mine.csv" in err
