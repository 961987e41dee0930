"""Metrics, calibration, subgroup and fairness metrics of fedlib.evaluate."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from fedlib.evaluate import (
    DegenerateMetricWarning,
    classification_metrics,
    disparate_impact_ratio,
    equal_opportunity_difference,
    expected_calibration_error,
    fairness_report,
    reliability_curve,
    statistical_parity_difference,
    subgroup_metrics,
)


@pytest.fixture
def random_data():
    rng = np.random.default_rng(1)
    p = rng.random(500)
    y = (rng.random(500) < p * 0.8 + 0.1).astype(int)
    return y, p


def test_metrics_equal_sklearn(random_data):
    y, p = random_data
    m = classification_metrics(y, p, threshold=0.4)
    assert m["n"] == 500
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p >= 0.4))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, p))
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert m["positive_rate"] == pytest.approx(y.mean())
    assert m["selection_rate"] == pytest.approx(np.mean(p >= 0.4))
    assert m["ece"] == pytest.approx(expected_calibration_error(y, p))


def test_one_class_gives_nan_auc_with_warning():
    with pytest.warns(DegenerateMetricWarning, match="one class"):
        m = classification_metrics([1, 1, 1], [0.2, 0.7, 0.9])
    assert np.isnan(m["roc_auc"])
    assert m["accuracy"] == pytest.approx(2 / 3)
    with pytest.warns(DegenerateMetricWarning):
        m = classification_metrics([0, 0], [0.2, 0.7])
    assert np.isnan(m["roc_auc"]) and np.isnan(m["pr_auc"])
    assert np.isfinite(m["log_loss"])


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([0, 1, 1], [0.2, 0.3], "3 rows but y_prob has 2"),
        ([0, 2], [0.2, 0.3], "only 0 and 1"),
        ([0, 1], [0.2, 1.3], r"\[0, 1\]"),
        ([0, 1], [0.2, np.nan], "NaN"),
        ([], [], "empty"),
    ],
)
def test_bad_input_raises(y, p, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(y, p)


def test_bad_threshold_and_bins():
    with pytest.raises(ValueError, match="threshold"):
        classification_metrics([0, 1], [0.1, 0.9], threshold=1.5)
    with pytest.raises(ValueError, match="n_bins"):
        reliability_curve([0, 1], [0.1, 0.9], n_bins=0)
    with pytest.raises(ValueError, match="strategy"):
        reliability_curve([0, 1], [0.1, 0.9], strategy="kmeans")


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_matches_sklearn(random_data, strategy):
    y, p = random_data
    table = reliability_curve(y, p, n_bins=7, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=7, strategy=strategy)
    np.testing.assert_allclose(table["observed_rate"], prob_true)
    np.testing.assert_allclose(table["mean_predicted"], prob_pred)
    assert table["count"].sum() == len(y)
    assert list(table.columns) == ["bin", "lower", "upper", "mean_predicted", "observed_rate",
                                   "count"]


def test_reliability_drops_empty_bins():
    table = reliability_curve([0, 1, 1], [0.05, 0.92, 0.97], n_bins=10)
    assert table["bin"].tolist() == [0, 9]
    assert table["count"].tolist() == [1, 2]


def test_ece_small_when_calibrated_large_when_not():
    rng = np.random.default_rng(0)
    p = rng.random(20_000)
    y = (rng.random(20_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, p, strategy="quantile") < 0.02
    overconfident = np.where(p > 0.5, 1.0, 0.0) * 0.98 + 0.01
    assert expected_calibration_error(y, overconfident) > 0.2
    # ECE of a constant prediction equals |base rate - constant|.
    assert expected_calibration_error(y, np.full_like(p, 0.2)) == pytest.approx(
        abs(y.mean() - 0.2))


def test_subgroup_metrics_hand_computed():
    y = np.array([1, 0, 1, 1, 0, 0, 1])
    p = np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.1, 0.8])
    g = pd.Series(["urban", "urban", "rural", "rural", "rural", "semi", "semi"], name="area")
    t = subgroup_metrics(y, p, g).set_index("area")
    assert list(t.index) == ["rural", "semi", "urban"]
    assert t.loc["urban", "n"] == 2 and t.loc["urban", "share"] == pytest.approx(2 / 7)
    assert t.loc["urban", "accuracy"] == 0.5          # 0.6 on a negative is a false positive
    assert t.loc["urban", "fpr"] == 1.0 and t.loc["urban", "tpr"] == 1.0
    assert t.loc["rural", "tpr"] == 0.5 and t.loc["rural", "fpr"] == 0.0
    assert t.loc["rural", "selection_rate"] == pytest.approx(1 / 3)
    assert t.loc["rural", "roc_auc"] == pytest.approx(1.0)
    assert t.loc["semi", "positive_rate"] == 0.5
    assert t.loc["urban", "brier"] == pytest.approx((0.01 + 0.36) / 2)
    # Each group equals the whole-data metric restricted to its rows.
    rural = g.to_numpy() == "rural"
    assert t.loc["rural", "accuracy"] == pytest.approx(
        classification_metrics(y[rural], p[rural])["accuracy"])


def test_subgroup_metrics_one_class_group_and_min_size():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = subgroup_metrics([1, 1, 0, 1], [0.9, 0.8, 0.3, 0.6], ["a", "a", "b", "b"])
    assert np.isnan(t.loc[0, "roc_auc"]) and np.isnan(t.loc[0, "fpr"])
    assert subgroup_metrics([1, 0, 1], [0.9, 0.1, 0.2], ["a", "a", "b"], min_size=2)["group"] \
        .tolist() == ["a"]
    with pytest.raises(ValueError, match="groups has 2 rows"):
        subgroup_metrics([1, 0, 1], [0.9, 0.1, 0.2], ["a", "b"])


def test_fairness_metrics_hand_computed():
    # privileged "m": qualified rows 0,1,2 -> decisions 1,1,0: TPR 2/3; selection 3/5
    # unprivileged "f": qualified rows 5,6 -> decisions 1,0: TPR 1/2; selection 1/4
    y_true = np.array([1, 1, 1, 0, 0, 1, 1, 0, 0])
    y_pred = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0])
    a = np.array(["m", "m", "m", "m", "m", "f", "f", "f", "f"])
    assert equal_opportunity_difference(y_true, y_pred, a, privileged="m") == pytest.approx(1 / 6)
    assert equal_opportunity_difference(y_true, y_pred, a, privileged="m",
                                        signed=True) == pytest.approx(-1 / 6)
    assert statistical_parity_difference(y_pred, a, privileged="m") == pytest.approx(0.35)
    assert statistical_parity_difference(y_pred, a, privileged="m",
                                         signed=True) == pytest.approx(-0.35)
    assert disparate_impact_ratio(y_pred, a, privileged="m") == pytest.approx(0.25 / 0.6)
    # Swapping the privileged group flips the sign and inverts the ratio.
    assert statistical_parity_difference(y_pred, a, privileged="f",
                                         signed=True) == pytest.approx(0.35)
    assert disparate_impact_ratio(y_pred, a, privileged="f") == pytest.approx(0.6 / 0.25)


def test_fairness_favorable_zero_for_default_models():
    # A default model: 0 = no default = favourable. Qualified (y=0) rows.
    y_true = np.array([0, 0, 1, 0, 0, 1])
    y_pred = np.array([0, 1, 1, 0, 0, 0])
    a = np.array([0, 0, 0, 1, 1, 1])
    # privileged 0: qualified rows 0,1 -> favourable decisions 1 of 2; unpriv: rows 3,4 -> 2/2
    assert equal_opportunity_difference(y_true, y_pred, a, privileged=0,
                                        favorable=0, signed=True) == pytest.approx(0.5)
    # favourable-decision rates: priv 1/3, unpriv 3/3
    assert disparate_impact_ratio(y_pred, a, privileged=0, favorable=0) == pytest.approx(3.0)
    rep = fairness_report(y_true, y_pred.astype(float), a, privileged=0, favorable=0)
    assert rep == pytest.approx({"eod": 0.5, "dir": 3.0, "spd": 2 / 3})


def test_fairness_errors_and_degenerate():
    with pytest.raises(ValueError, match="does not occur"):
        statistical_parity_difference([1, 0], ["a", "b"], privileged="c")
    with pytest.raises(ValueError, match="unprivileged"):
        statistical_parity_difference([1, 0], ["a", "a"], privileged="a")
    with pytest.raises(ValueError, match="hard 0/1"):
        statistical_parity_difference([0.3, 0.8], ["a", "b"], privileged="a")
    with pytest.raises(ValueError, match="must match"):
        equal_opportunity_difference([1, 0, 1], [1, 0], ["a", "b"], privileged="a")
    with pytest.warns(DegenerateMetricWarning):
        assert np.isnan(disparate_impact_ratio([0, 1], ["a", "b"], privileged="a"))
    with pytest.warns(DegenerateMetricWarning):
        assert np.isnan(equal_opportunity_difference([0, 1], [0, 1], ["a", "b"], privileged="a"))
