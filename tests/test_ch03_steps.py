"""Chapter 3's section functions (the modules of ``fedlib.papers.p03_fsl_bdp``) on small inputs:
each does what the chapter's cell did inline, records its rows and glues its numbers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from fedlib.book.results import ResultsWriter
from fedlib.papers.p03_fsl_bdp import (
    attacks,
    datasets,
    expected_loss,
    experiment,
    figures,
    privacy,
    report,
    table3,
)
from fedlib.papers.p03_fsl_bdp.claims import SCENARIOS, DatasetEvidence
from fedlib.papers.p03_fsl_bdp.params import Chapter03Params
from fedlib.survival.data import prepare_survival, synthetic_survival
from fedlib.survival.experiment import ScenarioRuns, TrainingConfig
from fedlib.survival.model import predict_hazards


def _results() -> ResultsWriter:
    return ResultsWriter(chapter="03", parameter_set="test", parameters={}, seed=0)


@pytest.fixture(scope="module")
def small():
    ds = synthetic_survival("bondora", scale=0.004, seed=0, n_features=6)
    return ds, prepare_survival(ds, seed=0)


def _params(**over) -> Chapter03Params:
    return Chapter03Params(**{"dataset": "synthetic_bondora", "bdp_pilot_steps": 2,
                              "bdp_neighbours": 3, "rounds": 1, **over})


_SETTINGS = {m: TrainingConfig(lr=1e-3, batch_size=32, local_epochs=1)
             for m in ("none", "dp", "bdp")}


def test_amortising_ead_is_the_annuity_balance():
    ead = expected_loss.amortising_ead(10_000, annual_rate=0.12, n_months=24)
    r = 0.01
    payment = 10_000 * r / (1 - (1 + r) ** -24)
    balance = [10_000.0]
    for _ in range(23):
        balance.append(balance[-1] * (1 + r) - payment)
    assert np.allclose(ead, balance)
    assert ead[0] == pytest.approx(10_000) and np.all(np.diff(ead) < 0)


def test_noise_to_signal_caps_the_batch_at_the_rows():
    s = pd.DataFrame({"n_train": [20, 400], "sigma_dp": [1.0, 1.0], "sigma_bdp": [1.0, 2.0]},
                     index=["small", "central"])
    nsr = privacy.noise_to_signal(s, _SETTINGS, n_params=400)
    assert nsr["batch, DP"].tolist() == [20, 32]
    assert nsr.loc["small", "noise / signal, DP"] == pytest.approx(20 / 20)
    assert nsr.loc["central", "noise / signal, BDP"] == pytest.approx(2 * 20 / 32)


def test_table2_inputs_by_dataset():
    class P:
        dataset = "semi_real_lendingclub"

    assert datasets.table2_inputs(P, None) == ()
    assert datasets.table2_inputs(P, object()) == ("default_rate", "window", "clients")
    P.dataset = "synthetic_sba"
    assert len(datasets.table2_inputs(P, object())) == 7


def test_initial_model_starts_at_the_published_rate(small):
    ds, data = small
    h, model = experiment.initial_model(ds, data, _params())
    assert h == pytest.approx(1 - (1 - ds.profile.default_rate) ** (1 / ds.window))
    first = predict_hazards(model, data.pooled("test")[0][:1])
    assert first.shape[1] == data.grid.size - 1
    h_off, _ = experiment.initial_model(ds, data, _params(init_from_published_rate=False))
    assert h_off is None


def test_record_dataset_sets_the_parties(small):
    ds, data = small
    r = _results()
    text = datasets.record_dataset(r, ds, data, _params(), "Bondora")
    assert r.dataset["rows"] == len(ds.frame)
    assert len(r.dataset["parties"]) == ds.frame["client"].nunique()
    assert f"{len(ds.frame):,} loans" in text and datasets.has_oot(data) in (True, False)
    assert ds.name in datasets.dataset_note(ds)


def _sigmas(data) -> pd.DataFrame:
    """A calibration table of the shape ``calibrate`` returns, with set σ (no search)."""
    n = {c.name: c.n_train for c in data.clients} | {"central": sum(
        c.n_train for c in data.clients)}
    f = pd.DataFrame({"n_train": pd.Series(n)})
    f["sample_rate"] = f["sample_rate_dp"] = np.minimum(1.0, 32 / f.n_train)
    f["steps"] = f["steps_dp"] = np.ceil(f.n_train / 32).astype(int)
    f["sigma_dp"] = f["sigma_dp_same_schedule"] = 1.0
    f["sigma_bdp"], f["gamma"], f["pilot_median_delta"] = 1.5, 5e-6, 1.9
    f["eps_bdp_bound"], f["eps_bdp_estimate"], f["analytical_fallback"] = 3.0, 2.0, False
    return f


def test_worked_example_orders_the_neighbours(small):
    """The Bayesian ε grows with Δ, and the replace-one worst case costs the most."""
    ds, data = small
    P = _params()
    _, model = experiment.initial_model(ds, data, P)
    r, sigmas = _results(), _sigmas(data)
    shown = privacy.calibration_table(r, sigmas, P)
    assert shown["sigma_bdp / sigma_dp"].eq(1.5).all()
    assert {m["metric"] for m in r.metrics} == {"sigma_dp", "sigma_bdp", "pilot_median_delta"}
    assert len(r.metrics) == 3 * len(sigmas)
    worked, pilot, row = privacy.worked_example(data, sigmas, _SETTINGS, model, P)
    assert row.name == sigmas.drop(index="central").n_train.idxmax()
    eps = worked["epsilon if every step had this Delta"].to_numpy()
    assert eps[3] == eps.max() and eps[2] < eps[3]
    assert privacy.epsilon_if_every_step(0.5, party=row, P=P) < privacy.epsilon_if_every_step(
        2.0, party=row, P=P)
    assert len(pilot) > 0
    nsr = privacy.report_noise(sigmas, _SETTINGS, model, P)
    assert "central" in nsr.index


def test_ecl_as_printed_overstates(small):
    ds, data = small
    P = _params()
    _, model = experiment.initial_model(ds, data, P)
    ecl = expected_loss.ecl_examples(model, ds, data, P)
    assert list(ecl.index) == ["early defaulter", "late defaulter"]
    assert (ecl["ECL as printed (sum of hazards)"] > ecl["ECL (marginal PD, discounted)"]).all()
    assert (ecl["12-month ECL (stage 1)"] <= ecl["ECL (marginal PD, discounted)"]).all()


def test_no_attack_no_rows():
    r = _results()
    assert attacks.membership_attacks(r, {}, None, _params(run_attack=False)).empty
    assert r.metrics == []


def _main(seeds=(1, 2, 3)):
    """A Table 3 result with a clear ordering, per seed and per client."""
    rng = np.random.default_rng(0)
    ci = dict(zip(SCENARIOS, (0.70, 0.66, 0.60, 0.69, 0.64, 0.62), strict=True))
    metrics = pd.DataFrame([{"seed": s, "scenario": sc, "test_ci": v + rng.normal(0, 0.002),
                             "test_ibs": 0.07, "oot_ci": v - 0.02, "oot_ibs": 0.08}
                            for s in seeds for sc, v in ci.items()])
    per_client = pd.DataFrame([{"seed": s, "scenario": sc, "client": f"c{k}",
                                "c_index": ci[sc] + 0.01 * k, "n_train": 100 + 50 * k,
                                "fallback": False}
                               for s in seeds for sc in SCENARIOS for k in range(6)])
    return ScenarioRuns(metrics=metrics, per_client=per_client, epsilons=pd.DataFrame(), runs={},
                        sigmas_used=pd.DataFrame())


def test_table3_and_headline_are_recorded():
    main, r = _main(), _results()
    side = table3.report_table3(r, main, paper_name="LendingClub", n_seeds=3, has_oot=True)
    assert "test_ci paper" in side and len(r.metrics) == 3 * 6 * 4
    assert table3.per_seed_table(main.metrics).shape == (6, 3)
    headline, chance = table3.report_headline(main, [{"seed": 1, "early": 5.0, "late": 9.0}],
                                              _params(dataset="semi_real_lendingclub"),
                                              "LendingClub")
    assert chance == [] and len(headline) == 6
    d = headline.loc[0, "ours, per seed"]
    assert len(d) == 3 and all(x > 0 for x in d)     # centralised DP − BDP is +0.06


def test_table2_all_sets_the_paper_beside_ours():
    class Ev:
        table2 = {"rows": 10}

    t2 = datasets.table2_all({"LendingClub": Ev(), "mine": Ev()})
    assert list(t2.columns) == ["LendingClub (ours)", "mine (ours)", "LendingClub (paper)"]


def _trained(small):
    """A Table 3 result whose six models are the initial network (enough to score, draw and
    attack), with the final ε of a run in which DP was matched to BDP."""
    ds, data = small
    _, model = experiment.initial_model(ds, data, _params())
    clients = [c.name for c in data.clients]
    eps = pd.DataFrame([{"scenario": sc, "seed": s, "client": c,
                         "epsilon": 5.0 + 0.1 * s * ("BDP" in sc) + 0.01 * (c == "central"),
                         "is_bound": True}
                        for sc in SCENARIOS if "No DP" not in sc for s in (1, 2)
                        for c in (["central"] if sc.startswith("Central") else clients)])
    return ScenarioRuns(metrics=pd.DataFrame(), per_client=pd.DataFrame(), epsilons=eps,
                        runs={sc: SimpleNamespace(model=model) for sc in SCENARIOS},
                        sigmas_used=_sigmas(data))


def test_equal_epsilon_is_recorded_per_party(small):
    main, r = _trained(small), _results()
    eq, is_bound = privacy.report_equal_epsilon(r, main, _sigmas(small[1]), _SETTINGS, _params())
    assert is_bound and ("Centralized", "central") in eq.index
    assert eq["|DP − BDP|"].max() == pytest.approx(0.15)      # mean BDP over seeds 1, 2
    assert {m["experiment"] for m in r.metrics} == {"equal_epsilon"}
    assert len(r.metrics) == 2 * len(eq)


def test_timing_calibration_and_attack_of_the_federated_models(small):
    ds, data = small
    main, r = _trained(small), _results()
    rows = [{"seed": 1, "early": 6.0, "late": 14.0}, {"seed": 2, "early": 7.0, "late": 15.0}]
    timing = figures.report_timing(r, main, rows, ds, data)
    assert list(timing.index) == ["Federated (No DP)", "Federated (BDP)", "true hazard",
                                  "observed default month"]
    cal = figures.report_calibration(r, main, ds, data)
    assert len(cal) == 3 and (cal["mean |S_hat - S_true|"] >= 0).all()
    mia = attacks.membership_attacks(r, main, data, _params(mia_rows=40))
    assert mia.model.tolist()[0] == "Federated (No DP)" and mia.epsilon.tolist()[0] == "∞"
    assert {m["experiment"] for m in r.metrics} == {"timing", "calibration", "attack"}


def test_claims_are_recorded_with_their_counts():
    main = _main()
    ev = {"LendingClub": DatasetEvidence(main.metrics, main.per_client,
                                         same_data=False, note="test")}
    r = _results()
    table = report.report_claims(r, ev, sweep=None, chance={"LendingClub": []},
                                 ds=SimpleNamespace(name="semi-real"), n_seeds=3)
    assert len(r.claims) == len(table) > 0
