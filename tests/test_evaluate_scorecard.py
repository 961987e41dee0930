"""The verdict rule on hand-made cases, the Estimate constructors and the tuning rule."""

import json

import numpy as np
import pytest

from fedlib.book.results import ResultsWriter, validate_claim
from fedlib.evaluate import (
    SCORED,
    VERDICTS,
    Claim,
    Estimate,
    claims_frame,
    claims_records,
    tune,
    verdict,
)

seeds = Estimate.seeds
exact = Estimate.exact


@pytest.mark.parametrize(
    ("paper", "ours", "kw", "expected"),
    [
        # direction: interval of the difference above 0, straddling 0, below 0
        (">", seeds([0.02, 0.03, 0.025]), {}, "reproduced"),
        (">", seeds([0.05, -0.04, 0.01]), {}, "inconclusive"),
        (">", seeds([-0.02, -0.03, -0.025]), {}, "contradicted"),
        ("<", seeds([-0.02, -0.03, -0.025]), {}, "reproduced"),
        (0.037, seeds([0.001, 0.002, 0.0015]), {}, "reproduced"),       # only the sign counts
        # one seed: a measured value without an interval decides nothing
        (">", seeds([0.5]), {}, "inconclusive"),
        # exact differences have no noise: the sign decides, a tie contradicts "A > B"
        (">", exact(0.001), {}, "reproduced"),
        (">", exact(0.0), {}, "contradicted"),
        ("<", exact(3.0), {}, "contradicted"),
        # by construction, whatever the numbers
        (">", Estimate.input(1.0), {}, "by construction"),
    ],
)
def test_direction_rule(paper, ours, kw, expected):
    assert verdict(paper, ours, kind="direction", **kw) == expected


@pytest.mark.parametrize(
    ("paper", "ours", "kw", "expected"),
    [
        # the paper's value inside our interval widened by the tolerance, or not
        (0.91, seeds([0.90, 0.905, 0.895]), {"tolerance": 0.01}, "reproduced"),
        (0.91, seeds([0.85, 0.86, 0.855]), {"tolerance": 0.01}, "contradicted"),
        # a wide interval (noisy seeds) reaches the paper's value: reproduced, not scored away
        (0.91, seeds([0.80, 0.95, 0.88]), {"tolerance": 0.0}, "reproduced"),
        # a paper range that overlaps our widened interval
        ((0.88, 0.89), seeds([0.87, 0.871, 0.869]), {"tolerance": 0.01}, "reproduced"),
        ((0.88, 0.89), seeds([0.85, 0.851, 0.849]), {"tolerance": 0.01}, "contradicted"),
        # exact quantities: the point widened by the tolerance
        (14.13, exact(14.2), {"tolerance": 0.01, "kind": "rel"}, "reproduced"),
        (14.13, exact(4799.0), {"tolerance": 0.05, "kind": "rel"}, "contradicted"),
        # one seed: no interval, no decision
        (0.91, seeds([0.91]), {"tolerance": 0.01}, "inconclusive"),
        # measured elsewhere: shown, not scored
        (0.91, seeds([0.91, 0.91, 0.91]), {"tolerance": 0.01, "same_data": False},
         "different data"),
        (12, exact(13), {"tolerance": 0.0, "same_data": False}, "different data"),
        # set from the paper
        (0.128, Estimate.input(0.128), {"tolerance": 0.0}, "by construction"),
        # nothing to compare
        (0.91, None, {"tolerance": 0.01}, "not checkable"),
        (0.91, exact(float("nan")), {"tolerance": 0.01}, "not checkable"),
        (None, exact(0.5), {"tolerance": 0.1}, "not checkable"),
    ],
)
def test_level_rule(paper, ours, kw, expected):
    kw = {"kind": "abs", "same_data": True, **kw}
    assert verdict(paper, ours, **kw) == expected
    assert expected in VERDICTS


def test_rule_errors():
    with pytest.raises(TypeError, match="must be an Estimate"):
        verdict(0.9, 0.9, kind="abs", tolerance=0.1, same_data=True)
    with pytest.raises(ValueError, match="same_data"):
        verdict(0.9, exact(0.9), kind="abs", tolerance=0.1)
    with pytest.raises(ValueError, match="needs a tolerance"):
        verdict(0.9, exact(0.9), kind="abs", same_data=True)
    with pytest.raises(ValueError, match="kind must be"):
        verdict(0.9, exact(0.9), kind="approx", tolerance=0.1)
    with pytest.raises(ValueError, match="low <= high"):
        verdict((0.9, 0.8), exact(0.85), kind="abs", tolerance=0.1, same_data=True)
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        verdict(0.9, exact(0.9), kind="abs", tolerance=-0.1, same_data=True)
    with pytest.raises(ValueError, match="direction"):
        verdict(">", exact(0.9), kind="abs", tolerance=0.1, same_data=True)
    with pytest.raises(TypeError, match="paired runs"):
        seeds([1, 2]) - seeds([0, 1])


def test_claim_validation():
    with pytest.raises(ValueError, match="say why"):
        Claim("data", "170 enterprise loans", None, None, kind="not_checkable")
    with pytest.raises(ValueError, match="ASCII"):
        Claim("acc_ε", "x", 0.9, exact(0.9), tolerance=0.1, same_data=True)
    with pytest.raises(ValueError, match="claim 'lvl'.*same_data"):
        Claim("lvl", "x", 0.9, exact(0.9), tolerance=0.1)
    one = Claim("a", "x", 1, exact(1), tolerance=0, same_data=True)
    with pytest.raises(ValueError, match="unique"):
        claims_records([one, one])


def test_records_carry_the_evidence():
    claims = [
        Claim("acc_standard", "standard FL accuracy ≈ 91 %", 0.91, seeds([0.90, 0.905, 0.9]),
              tolerance=0.02, same_data=True),
        Claim("dp_costs", "DP below standard", "<", seeds([-0.03, -0.02, -0.04]),
              kind="direction"),
        Claim("rate", "12.8 % defaults", 0.128, Estimate.input(0.128), tolerance=0.0,
              same_data=False),
        Claim("private_data", "results on 170 private loans", None, None,
              kind="not_checkable", note="the paper's data are private"),
    ]
    rows = json.loads(json.dumps(claims_records(claims), allow_nan=False))
    assert [r["verdict"] for r in rows] == ["reproduced", "reproduced", "by construction",
                                            "not checkable"]
    assert rows[0]["n_runs"] == 3 and rows[0]["basis"] == "seeds"
    lo, hi = rows[0]["ours_interval"]
    assert lo < rows[0]["ours"] < hi
    assert rows[2]["ours_interval"] is None and rows[2]["basis"] == "input"
    assert rows[3]["ours"] is None and rows[3]["basis"] is None
    frame = claims_frame(claims)
    assert frame.loc[0, "ours"].endswith("(3 seeds)")
    assert frame["verdict"].isin(VERDICTS).all()


def test_results_refuse_scored_inputs_and_intervalless_verdicts():
    """No results.json can score a number we set from the paper, or decide without evidence."""
    bad_input = {"id": "x", "claim": "c", "paper": 1.0, "ours": 1.0, "ours_interval": None,
                 "n_runs": 1, "basis": "input", "tolerance": 0.0, "kind": "abs",
                 "verdict": "reproduced", "note": ""}
    assert validate_claim(bad_input)
    no_interval = {**bad_input, "basis": "seeds", "verdict": "contradicted"}
    assert validate_claim(no_interval)
    w = ResultsWriter("99", "smoke", {}, seed=0)
    with pytest.raises(ValueError, match="cannot be scored"):
        w.add_claim(bad_input)
    w.add_claim(Claim("ok", "c", 1.0, Estimate.input(1.0), tolerance=0.0, same_data=True))
    assert w.claims[0]["verdict"] == "by construction"
    assert "by construction" not in SCORED


def test_seed_interval_is_students_t():
    v = np.array([0.70, 0.74, 0.72, 0.71])
    e = seeds(v)
    from scipy import stats
    half = stats.t.ppf(0.975, 3) * v.std(ddof=1) / 2
    assert e.interval == pytest.approx((v.mean() - half, v.mean() + half))


def test_bootstrap_covers_and_stratifies():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 1.0, size=400)
    e = Estimate.bootstrap(np.mean, x, n_boot=500, seed=1)
    assert e.interval[0] < 1.0 < e.interval[1]
    assert e.interval[1] - e.interval[0] == pytest.approx(2 * 1.96 / 20, rel=0.3)
    y = np.r_[np.zeros(195), np.ones(5)]
    strat = Estimate.bootstrap(np.mean, y, n_boot=200, strata=y)
    assert strat.interval == (0.025, 0.025)     # both classes in every resample, same share
    with pytest.raises(ValueError, match="one length"):
        Estimate.bootstrap(np.mean, [1, 2], [1], n_boot=100)


def test_tuning_gives_every_method_the_same_budget():
    calls = []

    def evaluate(method, cfg):
        calls.append(method)
        return -abs(cfg["lr"] - 1.0)

    grids = {"fedavg": [{"lr": v} for v in (0.1, 0.3, 1.0, 3.0)],
             "fmtl": [{"lr": v, "lam": lam} for v in (0.3, 1.0) for lam in (0.0, 0.1, 1.0)]}
    res = tune(grids, evaluate, budget=4, seed=3)
    assert calls.count("fedavg") == calls.count("fmtl") == 4
    assert res.chosen["fedavg"] == {"lr": 1.0}
    assert res.sweep.groupby("method").chosen.sum().tolist() == [1, 1]
    with pytest.raises(ValueError, match="too few"):
        tune({"a": [{"lr": 1}], "b": [{"lr": 1}, {"lr": 2}]}, evaluate, budget=2)
    # a method's draw from a larger grid does not depend on the methods before it
    alone = tune({"fmtl": grids["fmtl"]}, evaluate, budget=4, seed=3)
    assert alone.sweep.config.tolist() == res.sweep[res.sweep.method == "fmtl"].config.tolist()


def test_claims_table_is_grouped_headline_supporting_descriptive():
    claims = [Claim("a level", "x", 1.0, Estimate.exact(1.0), tolerance=0.1, same_data=True),
              Claim("an input", "x", 2.0, Estimate.input(2.0), tolerance=0.1, same_data=True),
              Claim("A > B", "x", ">", Estimate.seeds([0.2, 0.3, 0.25]), kind="direction")]
    table = claims_frame(claims)
    assert table["group"].tolist() == ["headline", "supporting", "descriptive"]
    html = table._repr_html_()
    assert html.index("headline claims") < html.index("supporting claims") \
        < html.index("descriptive claims")
    assert ">group<" not in html
