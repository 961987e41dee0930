"""results.json: the writer produces the documented long format; the validator rejects others."""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from fedlib.book.results import (
    METRIC_COLUMNS,
    ResultsFormatError,
    ResultsWriter,
    load_results,
    package_versions,
    validate_results,
)


@dataclass
class Claim:
    id: str
    claim: str
    paper: float
    ours: float
    ours_interval: list | None
    n_runs: int
    basis: str
    tolerance: float
    kind: str
    verdict: str
    note: str = ""


def writer():
    w = ResultsWriter("02", "smoke", {"seed": 42, "sigmas": (1.2, np.float64(2.0)),
                                      "results_path": "/tmp/x/results.json"}, seed=42)
    w.set_dataset("loans", 100, parties=[{"name": "bank1", "rows": np.int64(60),
                                          "positive_rate": np.float32(0.25)}])
    return w


def test_roundtrip_with_numpy_nan_and_dataframes(tmp_path):
    w = writer()
    w.add_metric(experiment="main", mode="dp", setting="sigma=1.2", party="all", round=5,
                 metric="roc_auc", value=np.float64(0.87))
    w.add_metric(mode="he", metric="brier", value=float("nan"))
    w.add_metrics(pd.DataFrame({"mode": ["standard", "standard"], "round": [1.0, np.nan],
                                "metric": ["accuracy", "accuracy"], "value": [0.9, np.inf]}),
                  experiment="curve")
    w.add_claim(Claim("acc_standard", "standard FL accuracy ≈ 91 %", 0.91, 0.90, [0.89, 0.91],
                      3, "seeds", 0.02, "abs", "reproduced"))
    w.add_claim({"id": "eps", "claim": "ε = 14.13", "paper": 14.13, "ours": None,
                 "basis": None, "tolerance": None, "verdict": "not checkable", "note": "no data"})
    w.add_timing("train_s", 1.5)
    path = tmp_path / "r.json"
    w.write(path)
    text = path.read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))
    doc = load_results(path)
    assert doc["parameters"] == {"seed": 42, "sigmas": [1.2, 2.0]}  # results_path dropped
    assert doc["dataset"]["parties"][0] == {"name": "bank1", "rows": 60, "positive_rate": 0.25}
    assert [tuple(m) for m in doc["metrics"]] == [METRIC_COLUMNS] * 4
    assert doc["metrics"][0]["value"] == 0.87 and doc["metrics"][1]["value"] is None
    assert [m["round"] for m in doc["metrics"][2:]] == [1, None]
    assert [m["experiment"] for m in doc["metrics"][2:]] == ["curve", "curve"]
    assert doc["metrics"][3]["value"] is None  # inf -> null
    assert doc["claims"][0]["note"] == "" and doc["claims"][1]["ours"] is None
    assert doc["timings"]["train_s"] == 1.5 and doc["timings"]["total_s"] >= 0
    assert doc["versions"]["numpy"] == np.__version__


def test_versions_only_installed_packages():
    v = package_versions()
    assert "python" in v and "numpy" in v
    assert all(isinstance(x, str) and x for x in v.values())


def test_bad_rows_are_rejected_early():
    w = writer()
    with pytest.raises(ValueError, match="verdict"):
        w.add_claim({"id": "x", "claim": "c", "paper": 1, "ours": 1, "basis": "exact",
                     "verdict": "kind of"})
    with pytest.raises(ValueError, match="lacks"):
        w.add_claim({"id": "x", "claim": "c"})
    with pytest.raises(ValueError, match="unknown metric columns"):
        w.add_metrics([{"metric": "auc", "value": 0.5, "clinet": "a"}])
    with pytest.raises(ValueError, match="must be a number"):
        w.add_metric(metric="auc", value="high")
    with pytest.raises(ValueError, match="positive_rate"):
        w.set_dataset("d", 1, parties=[{"name": "a", "rows": 1}])


def test_validator_catches_format_drift():
    good = writer().to_dict()
    validate_results(good)
    for mutate, expected in [
        (lambda d: d.pop("claims"), "missing top-level key 'claims'"),
        (lambda d: d.update(extra=1), "unknown top-level key 'extra'"),
        (lambda d: d.update(seed="42"), "'seed' must be int"),
        (lambda d: d["metrics"].append({"metric": "auc", "value": 1}), "metrics\\[0\\]"),
        (lambda d: d["timings"].pop("total_s"), "total_s"),
    ]:
        doc = json.loads(json.dumps(good))
        mutate(doc)
        with pytest.raises(ResultsFormatError, match=expected):
            validate_results(doc)


def test_results_record_peak_memory(tmp_path):
    """Every results.json carries the writing process's peak resident memory (the 4 GiB budget)."""
    from fedlib.book.results import ResultsWriter, load_results

    ResultsWriter("02", "smoke", {"seed": 1}, seed=1).write(tmp_path / "r.json")
    peak = load_results(tmp_path / "r.json")["timings"]["peak_rss_mib"]
    assert 10 < peak < 64 * 1024


def test_claims_are_recorded_with_their_computed_verdict(tmp_path):
    """A scorecard Claim goes in as it is; its verdict (a property) is what gets written."""
    from fedlib.book.results import ResultsWriter, load_results
    from fedlib.evaluate import Claim, Estimate

    w = ResultsWriter("02", "smoke", {"seed": 1}, seed=1)
    table = w.add_claims([Claim("a", "x ≈ 1", 1.0, Estimate.exact(1.05), tolerance=0.1,
                                same_data=True),
                          Claim("b", "y ≈ 2", 2.0, Estimate.seeds([3.0, 3.1, 2.9]),
                                tolerance=0.1, same_data=True)])
    assert table.verdict.tolist() == ["reproduced", "contradicted"]
    w.write(tmp_path / "r.json")
    rows = load_results(tmp_path / "r.json")["claims"]
    assert [c["verdict"] for c in rows] == ["reproduced", "contradicted"]
    assert rows[1]["n_runs"] == 3 and len(rows[1]["ours_interval"]) == 2
