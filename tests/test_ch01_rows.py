"""Chapter 1's test-row bootstrap: resampled metrics equal the library's metrics on the
resampled rows, and the claims built from them carry seeds + rows intervals, paired by row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedlib.data.institutions import PAPER_TABLE1
from fedlib.evaluate.fairness import fairness_report
from fedlib.evaluate.metrics import classification_metrics
from fedlib.evaluate.uncertainty import RowResamples
from fedlib.papers.p01_fmtl.claims import chapter01_claims, paired
from fedlib.papers.p01_fmtl.rows import HeldOutRows, HeldOutScores, auc_spread, resampled_metrics

INST = ["Inst-A", "Inst-B", "Inst-C", "Inst-D"]
SEEDS = (1, 2, 3)


def _institution(n, rng):
    y = (rng.random(n) < 0.25).astype(int)
    a = (rng.random(n) < 0.4).astype(int)
    proba = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y - 1.0)))
    return y, a, proba


def _reference(y, a, proba, cut):
    m = classification_metrics(y, proba)
    f = fairness_report(y, proba, a, privileged=0, threshold=cut, favorable=0,
                        missing_group="nan")
    return {"roc_auc": m["roc_auc"], "accuracy": m["accuracy"], **f}


def test_resampled_metrics_match_the_library_on_full_and_resampled_rows():
    rng = np.random.default_rng(0)
    y, a, proba = _institution(400, rng)
    cut = float(np.quantile(proba, 0.75))
    rows = RowResamples.draw(400, n_boot=100, strata=y, seed=1)
    ours = resampled_metrics(y, a, proba, cut, rows.weights)
    for b in (0, 3, 99):
        idx = np.repeat(np.arange(400), rows.weights[b].astype(int))
        ref = _reference(y[idx], a[idx], proba[idx], cut)
        for key, value in ref.items():
            assert ours[key][b] == pytest.approx(value, abs=1e-12), (b, key)


def test_one_group_gives_nan_fairness_and_a_defined_auc():
    rng = np.random.default_rng(1)
    y, _, proba = _institution(200, rng)
    ours = resampled_metrics(y, np.ones(200, int), proba, 0.5, np.ones((2, 200)))
    assert np.isnan(ours["eod"]).all() and np.isnan(ours["dir"]).all()
    assert np.isfinite(ours["roc_auc"]).all()


def _held_out(n_boot=200):
    rng = np.random.default_rng(7)
    data = [_institution(n, rng) for n in (300, 320, 500, 550)]
    rows = HeldOutRows.of_arrays(INST, [d[0] for d in data], [d[1] for d in data],
                                 n_boot=n_boot, seed=0)
    return HeldOutScores(rows), data


def _scores(data, strength, seed):
    rng = np.random.default_rng(seed)
    # the seed moves the model a little; the rows' own noise is shared by every model
    return [1 / (1 + np.exp(-(np.log(p / (1 - p)) + (strength + rng.normal(0, 0.02)) * y)))
            for y, _, p in data]


def test_held_out_frame_has_every_draw_and_rejects_wrong_sizes():
    held, data = _held_out()
    held.add(experiment="nodp", model="FMTL", seed=1, proba=_scores(data, 0.0, 1),
             cuts=[0.5] * 4)
    frame = held.frame("nodp")
    assert len(frame) == 4 * 201 and set(frame.draw) == set(range(201))
    full = frame[frame.draw == 0].set_index("institution")
    for name, (y, _, _), p in zip(INST, data, _scores(data, 0.0, 1), strict=True):
        assert full.loc[name, "roc_auc"] == pytest.approx(classification_metrics(y, p)["roc_auc"])
    with pytest.raises(ValueError, match="one probability per test row"):
        held.add(experiment="nodp", model="FMTL", seed=2, proba=[np.ones(3)] * 4, cuts=[0.5] * 4)
    with pytest.raises(ValueError, match="no runs"):
        held.frame("dp")


def _table1():
    t = PAPER_TABLE1.copy()
    ours = t.drop(columns="kind").copy()
    ours["rows"] = [4000, 5000, 9000, 11000]
    ours["protected_share"] = 0.3
    paper = PAPER_TABLE1.add_prefix("paper_").drop(columns="paper_kind")
    return pd.concat([t[["kind"]], ours], axis=1).join(paper)


@pytest.fixture(scope="module")
def resampled_claims():
    """Claims on synthetic models: FMTL clearly above FedAvg, the centralized MLP identical
    to FedAvg (same probabilities), AUC growing with ε."""
    held, data = _held_out()
    for s in SEEDS:
        fedavg = _scores(data, 0.0, s)
        for model, proba in (("Centralized MLP", fedavg), ("FedAvg", fedavg),
                             ("FMTL", _scores(data, 0.6, 100 + s))):
            held.add(experiment="nodp", model=model, seed=s, proba=proba, cuts=[0.4] * 4)
        for eps, strength in ((0.5, -0.8), (5.0, 0.0)):
            for model, offset in (("FedAvg", 0.0), ("FMTL", 0.1)):
                held.add(experiment="dp", model=model, seed=s, epsilon=eps, cuts=[0.4] * 4,
                         proba=_scores(data, strength + offset, 200 + s))
        for model in ("FedAvg", "FMTL"):
            held.add(experiment="imbalance", model=model, seed=s, cuts=[0.4] * 4,
                     proba=_scores(data, 0.0, 300 + s))
    mia = pd.DataFrame([{"seed": s, "model": m, "epsilon": e, "mia_auc": 0.5 + 0.001 * s}
                        for s in SEEDS for m in ("FedAvg", "FMTL") for e in (0.5, 5.0, np.inf)])
    claims = chapter01_claims(source="lending_club", table1=_table1(), nodp=held.frame("nodp"),
                              dp=held.frame("dp"), mia=mia,
                              imbalance=auc_spread(held.frame("imbalance")), epsilon_main=0.5)
    return held, {c.id: c for c in claims}


def test_resampled_claims_carry_seeds_and_rows(resampled_claims):
    _, c = resampled_claims
    assert c["fmtl_beats_fedavg"].ours.basis == "seeds+bootstrap"
    assert c["fmtl_beats_fedavg"].ours.n_runs == len(SEEDS)
    assert c["fmtl_beats_fedavg"].verdict == "reproduced"
    assert c["auc_grows_eps_fedavg"].verdict == "reproduced"
    assert c["fmtl_insta"].ours.basis == "seeds+bootstrap"            # levels too
    assert c["fairness_eod_fedavg"].ours.basis == "seeds+bootstrap"
    assert c["imbalance_std_lower"].ours.basis == "seeds+bootstrap"
    assert c["mia_grows_eps"].ours.basis == "seeds"                   # its own sample of rows
    assert c["t1_default_instc"].verdict == "by construction"


def test_identical_models_give_a_zero_interval(resampled_claims):
    # FedAvg and the centralized MLP share their probabilities: paired by seed and by row,
    # their difference is exactly 0 in every draw; FMTL's is not.
    held, _ = resampled_claims
    nodp = held.frame("nodp")
    same = paired(nodp, "model", "roc_auc", "Centralized MLP", "FedAvg")
    assert (same.value, same.interval, same.basis) == (0.0, (0.0, 0.0), "seeds+bootstrap")
    other = paired(nodp, "model", "roc_auc", "FMTL", "FedAvg")
    assert other.interval[0] < other.interval[1]
