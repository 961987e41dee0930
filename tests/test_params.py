"""Parameter validation: every bad value is reported, clearly, before any kernel starts."""

import sys
from pathlib import Path

import pytest
from pydantic import Field

from fedlib.book import cli
from fedlib.book.chapters import get_chapter
from fedlib.book.params import (
    ChapterParams,
    DataPath,
    ParameterError,
    PositiveFloat,
    PositiveInt,
    Probability,
    check_data_path,
    load_yaml,
    parse_value,
    validate_params,
)
from fedlib.book.runner import run_chapter

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_book.helpers import fixture_root  # noqa: E402


class Demo(ChapterParams):
    epsilon: PositiveFloat = Field(description="the DP budget")
    rate: Probability = Field(description="Poisson sampling rate")
    rounds: PositiveInt = Field(description="communication rounds")
    data_path: DataPath = Field(default=None, description="your data file")


GOOD = {"seed": 1, "epsilon": 1.0, "rate": 0.2, "rounds": 3}


def problems(**changes):
    values = {**GOOD, **changes}
    values = {k: v for k, v in values.items() if v is not ...}
    with pytest.raises(ParameterError) as info:
        validate_params(Demo, values, source="parameters/demo")
    return info.value.problems


def test_good_values_are_coerced_and_kept():
    p = validate_params(Demo, {**GOOD, "epsilon": 2})
    assert p.epsilon == 2.0 and isinstance(p.epsilon, float)
    assert p.results_path == "results.json" and p.parameter_set == "custom"


def test_unknown_key_suggests_the_closest_and_lists_allowed():
    (msg,) = problems(epsilonn=1.0)
    assert msg.startswith("parameters/demo: unknown key 'epsilonn'; did you mean 'epsilon'?")
    assert "allowed keys: data_path, epsilon, rate, rounds, seed" in msg


def test_wrong_type_names_key_value_and_type():
    (msg,) = problems(rounds="three")
    assert msg == (
        "parameters/demo: key 'rounds' = 'three' is not allowed: must be an integer "
        "(rounds: communication rounds)"
    )
    (msg,) = problems(rounds=True)  # strict: a boolean is not an integer
    assert "key 'rounds' = True" in msg


def test_out_of_range_gives_the_bound_and_the_meaning():
    (msg,) = problems(epsilon=-1.0)
    assert msg == (
        "parameters/demo: key 'epsilon' = -1.0 is not allowed: must be > 0 "
        "(epsilon: the DP budget)"
    )
    (msg,) = problems(rate=1.0)
    assert "key 'rate' = 1.0 is not allowed: must be < 1" in msg


def test_every_problem_is_reported_once():
    msgs = problems(epsilon=0.0, rate=0.0, rounds=..., extra=1)
    assert len(msgs) == 4
    assert any("key 'rounds' is missing" in m for m in msgs)


def test_missing_data_file(tmp_path):
    missing = tmp_path / "nope.csv"
    (msg,) = problems(data_path=str(missing))
    assert f"data file '{missing}' does not exist" in msg and "key 'data_path'" in msg
    with pytest.raises(ParameterError, match="is a directory"):
        check_data_path(tmp_path)
    real = tmp_path / "loans.csv"
    real.write_text("a,b\n1,2\n")
    assert validate_params(Demo, {**GOOD, "data_path": str(real)}).data_path == str(real)


def test_relative_data_path_becomes_absolute(tmp_path, monkeypatch):
    (tmp_path / "d.csv").write_text("x\n")
    monkeypatch.chdir(tmp_path)
    assert validate_params(Demo, {**GOOD, "data_path": "d.csv"}).data_path == str(
        tmp_path / "d.csv"
    )


def test_yaml_reads_exponents_as_floats():
    # PyYAML's YAML 1.1 rules read 1e-5 as a string; the paper's delta must be a float
    assert load_yaml("delta: 1e-5\nx: 1.5E+3\nn: 10\ns: abc") == {
        "delta": 1e-5, "x": 1500.0, "n": 10, "s": "abc",
    }
    assert [parse_value(v) for v in ("7", "0.5", "false", "[1, 2.5]", "~")] == [
        7, 0.5, False, [1, 2.5], None,
    ]


def test_errors_happen_before_any_kernel_starts(tmp_path, monkeypatch):
    import papermill

    def no_kernel(*a, **k):
        raise AssertionError("a kernel was started for invalid parameters")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    root, chapter = fixture_root(tmp_path)
    for overrides, expected in [
        ([("rounds", "0")], "key 'rounds' = 0 is not allowed: must be > 0"),
        ([("rate", "yes")], "key 'rate' = True is not allowed: must be a number"),
        ([("roundz", "3")], "did you mean 'rounds'?"),
        ([("data_path", str(tmp_path / "x.csv"))], "does not exist"),
    ]:
        with pytest.raises(ParameterError, match=expected.replace("?", r"\?")) as info:
            run_chapter(chapter, "smoke", overrides, root=root, progress=False)
        assert "parameters/99_fixture/smoke.yml with -p" in str(info.value)
    assert not (root / "book").exists()  # nothing touched


def test_cli_reports_bad_value_with_exit_code_2(capsys, monkeypatch):
    chapter = get_chapter("02")
    if not chapter.exists():
        pytest.skip("chapter 02 not written yet")
    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: 1 / 0)
    code = cli.main(["run", "02", "--params", "smoke", "-p", "seed", "abc", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "key 'seed' = 'abc' is not allowed: must be an integer" in err
    assert cli.main(["run", "02", "--params", "no_such_set"]) == 2
    assert "available:" in capsys.readouterr().err


# --- one-line messages (issue 14 item 6) ---

def _no_kernel(monkeypatch):
    import papermill

    def no_kernel(*a, **k):
        raise AssertionError("a kernel was started for invalid input")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)


def test_yaml_syntax_error_in_params_file_is_one_line(tmp_path, monkeypatch, capsys):
    _no_kernel(monkeypatch)
    root, chapter = fixture_root(tmp_path)
    bad = tmp_path / "mine.yml"
    bad.write_text("seed: 42\nrounds: 3\nrate: [0.2\nfail: false\n")
    code = cli.main(["run", "99", "--params", str(bad), "--no-progress"], root=root,
                    registry=[chapter])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"fedbook: {bad}: line 4, column 5: not valid YAML: ")
    assert "Traceback" not in err
    bad.write_text("seed: 42\n  rounds: 3\n")
    with pytest.raises(ParameterError, match=r"mine.yml: line 2, column 9: not valid YAML"):
        run_chapter(chapter, str(bad), root=root, progress=False)
    bad.write_bytes("seed: 42\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ParameterError, match=r"mine.yml: not UTF-8 text \(byte 0xe9"):
        run_chapter(chapter, str(bad), root=root, progress=False)


def test_yaml_syntax_error_in_override_names_the_key(tmp_path, monkeypatch, capsys):
    _no_kernel(monkeypatch)
    root, chapter = fixture_root(tmp_path)
    code = cli.main(["run", "99", "--params", "smoke", "-p", "rate", "[0.2, 0.3",
                     "--no-progress"], root=root, registry=[chapter])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("fedbook: -p rate '[0.2, 0.3': column 10: not valid YAML: ")
    assert "quote a string" in err
    assert not (root / "book").exists()


@pytest.mark.parametrize(("chapter", "values", "expected"), [
    ("02", {"dataset": "kaggle_loan_approval"},
     "dataset 'kaggle_loan_approval' needs data_path: the path to the CSV"),
    ("01", {"source": "heloc"},
     "source 'heloc' needs data_path: the path to the FICO HELOC CSV"),
    ("03", {"dataset": "sba_csv"}, "dataset 'sba_csv' needs data_path: the path to the CSV"),
])
def test_missing_data_path_names_the_key_and_dataset(chapter, values, expected):
    schema = get_chapter(chapter).load_schema()
    with pytest.raises(ParameterError) as info:
        validate_params(schema, {"seed": 1, **values}, source="smoke.yml")
    (msg,) = info.value.problems
    # Not "key '' = {'seed': 1, ...} is not allowed": the check's own sentence, on one line.
    assert msg == f"smoke.yml: {expected}"
