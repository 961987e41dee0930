"""Verdict logic of the paper-vs-ours scorecard, branch by branch."""

import json

import numpy as np
import pytest

from fedlib.evaluate import VERDICTS, Claim, claims_frame, claims_records, verdict


@pytest.mark.parametrize(
    ("paper", "ours", "kw", "expected"),
    [
        # abs: inside, on the edge, outside
        (0.91, 0.90, {"kind": "abs", "tolerance": 0.02}, "reproduced"),
        (0.91, 0.89, {"kind": "abs", "tolerance": 0.02}, "reproduced"),
        (0.91, 0.88, {"kind": "abs", "tolerance": 0.02}, "not reproduced"),
        # rel: 1 % of 0.5 is 0.005
        (0.5, 0.504, {"kind": "rel", "tolerance": 0.01}, "reproduced"),
        (0.5, 0.51, {"kind": "rel", "tolerance": 0.01}, "not reproduced"),
        # ranges: inside, within tolerance of an end, too far
        ((0.88, 0.89), 0.885, {"kind": "abs", "tolerance": 0.0}, "reproduced"),
        ((0.88, 0.89), 0.90, {"kind": "abs", "tolerance": 0.01}, "reproduced"),
        ((0.88, 0.89), 0.86, {"kind": "abs", "tolerance": 0.01}, "not reproduced"),
        # value claims with baselines: same direction of change -> direction reproduced
        (0.855, 0.80, {"kind": "abs", "tolerance": 0.02, "paper_baseline": 0.91,
                       "ours_baseline": 0.90}, "direction reproduced"),
        (0.855, 0.95, {"kind": "abs", "tolerance": 0.02, "paper_baseline": 0.91,
                       "ours_baseline": 0.90}, "not reproduced"),
        ((0.85, 0.86), 0.70, {"kind": "abs", "tolerance": 0.01, "paper_baseline": 0.91,
                              "ours_baseline": 0.90}, "direction reproduced"),
        # direction: sign only
        (">", 0.03, {"kind": "direction"}, "reproduced"),
        ("<", 0.03, {"kind": "direction"}, "not reproduced"),
        (">", 0.0, {"kind": "direction"}, "not reproduced"),
        (1, 0.2, {"kind": "direction"}, "reproduced"),
        # direction with a size: sign and size, sign only, wrong sign
        (0.037, 0.03, {"kind": "direction", "tolerance": 0.01}, "reproduced"),
        (0.037, 0.001, {"kind": "direction", "tolerance": 0.01}, "direction reproduced"),
        (0.037, -0.02, {"kind": "direction", "tolerance": 0.01}, "not reproduced"),
        # not checkable
        (0.91, None, {"kind": "abs", "tolerance": 0.02}, "not checkable"),
        (0.91, float("nan"), {"kind": "abs", "tolerance": 0.02}, "not checkable"),
        (0.91, 0.91, {"kind": "not_checkable"}, "not checkable"),
        (None, 0.5, {"kind": "abs", "tolerance": 0.1}, "not checkable"),
    ],
)
def test_verdict_branches(paper, ours, kw, expected):
    assert verdict(paper, ours, **kw) == expected
    assert expected in VERDICTS


def test_verdict_errors():
    with pytest.raises(ValueError, match="needs a tolerance"):
        verdict(0.9, 0.9, kind="abs")
    with pytest.raises(ValueError, match="kind must be"):
        verdict(0.9, 0.9, kind="approx", tolerance=0.1)
    with pytest.raises(ValueError, match="low <= high"):
        verdict((0.9, 0.8), 0.85, kind="abs", tolerance=0.1)
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        verdict(0.9, 0.9, kind="abs", tolerance=-0.1)
    with pytest.raises(ValueError, match="direction"):
        verdict(">", 0.9, kind="abs", tolerance=0.1)


def test_claim_validation():
    with pytest.raises(ValueError, match="say why"):
        Claim("data", "170 enterprise loans", None, None, kind="not_checkable")
    with pytest.raises(ValueError, match="ASCII"):
        Claim("acc_ε", "x", 0.9, 0.9, tolerance=0.1)
    with pytest.raises(ValueError, match="unique"):
        claims_records([Claim("a", "x", 1, 1, tolerance=0), Claim("a", "y", 1, 1, tolerance=0)])


def test_records_are_results_json_rows():
    claims = [
        Claim("acc_standard", "standard FL accuracy ≈ 91 %", 0.91, 0.90, tolerance=0.02),
        Claim("acc_dp_14", "DP ε=14.13 accuracy ≈ 88–89 %", (0.88, 0.89), np.float64(0.80),
              tolerance=0.02, paper_baseline=0.91, ours_baseline=0.90),
        Claim("he_slower", "HE slower per epoch than standard", ">", 4.2, kind="direction"),
        Claim("private_data", "results on 170 private loans", None, float("nan"),
              kind="not_checkable", note="the paper's data are private"),
    ]
    rows = json.loads(json.dumps(claims_records(claims), allow_nan=False))
    assert [r["verdict"] for r in rows] == ["reproduced", "direction reproduced", "reproduced",
                                            "not checkable"]
    assert rows[1]["paper"] == [0.88, 0.89] and rows[1]["ours"] == 0.80
    assert rows[3]["ours"] is None
    for r in rows:
        assert {"id", "claim", "paper", "ours", "tolerance", "verdict"} <= set(r)
    frame = claims_frame(claims)
    assert frame.shape == (4, 8)
    assert frame.loc[1, "paper"] == "0.88–0.89"
    assert frame["verdict"].isin(VERDICTS).all()
