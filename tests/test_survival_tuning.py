"""Chapter 3's tuning wiring (``fedlib.survival.tuning``): every method gets exactly the same
budget, the validation rows come from the training rows only (never a test or out-of-time
row), and every private configuration is calibrated to the same target ε on its own
schedule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fedlib.evaluate.tuning import grid
from fedlib.survival.data import prepare_survival, synthetic_survival
from fedlib.survival.experiment import _DP_TOL
from fedlib.survival.tuning import METHOD_MODES, split_validation, tune_survival

TARGET_EPS = 3.0


@pytest.fixture(scope="module")
def tiny():
    return prepare_survival(synthetic_survival("bondora", scale=0.004, seed=0, n_features=4),
                            seed=0)


def _blind_test_rows(data):
    """A copy whose test and out-of-time covariates are NaN: any use of them shows as NaN."""
    clients = [dataclasses.replace(c, X_test=np.full_like(c.X_test, np.nan),
                                   X_oot=np.full_like(c.X_oot, np.nan)) for c in data.clients]
    return dataclasses.replace(data, clients=clients)


@pytest.fixture(scope="module")
def tuned(tiny):
    candidates = grid(lr=[3e-3], batch_size=[32, 64], local_epochs=[1])   # budget = grid
    return tune_survival(_blind_test_rows(tiny), grids=dict.fromkeys(METHOD_MODES, candidates),
                         budget=2, seed=0, rounds=2, target_epsilon=TARGET_EPS, delta=1e-5,
                         clip_norm=1.0, n_neighbours=4, pilot_steps=2, init_hazard=0.02,
                         validation_fraction=0.25, noise_seed=0)


def test_validation_rows_are_training_rows_stratified_on_the_event(tiny):
    val = split_validation(tiny, fraction=0.25, seed=3)
    for orig, split in zip(tiny.clients, val.clients, strict=True):
        held, fit = set(split.idx_test), set(split.idx_train)
        assert held and not held & fit
        assert held | fit == set(orig.idx_train)              # a partition of the training rows
        assert not held & (set(orig.idx_test) | set(orig.idx_oot))
        for event in (0, 1):                                   # each class held out alike
            n = int((orig.e_train == event).sum())
            assert int((split.e_test == event).sum()) == int(round(0.25 * n))
        assert split.t_oot.size == 0
    again = split_validation(tiny, fraction=0.25, seed=3)
    assert all(np.array_equal(a.idx_test, b.idx_test)
               for a, b in zip(val.clients, again.clients, strict=True))


def test_every_method_gets_exactly_the_budget(tuned):
    counts = tuned.sweep.groupby("method").size()
    assert counts.to_dict() == dict.fromkeys(METHOD_MODES, 2)
    assert set(tuned.settings) == {"none", "dp", "bdp"}
    for method, rows in tuned.sweep.groupby("method"):
        assert rows.chosen.sum() == 1
        assert rows.loc[rows.chosen, "val_score"].iloc[0] == rows.val_score.max()
        chosen = tuned.settings[METHOD_MODES[method]]
        assert rows.loc[rows.chosen, "config"].iloc[0] == (
            f"lr={chosen.lr}, batch_size={chosen.batch_size}, local_epochs={chosen.local_epochs}")


def test_validation_scores_never_touch_test_rows(tiny, tuned):
    # The test and OOT covariates were NaN: a score that used them would be NaN.
    assert np.isfinite(tuned.sweep.val_score).all()
    assert np.isfinite(tuned.curves.val_ci).all()
    val_rows = np.concatenate([c.idx_test for c in tuned.validation.clients])
    test_rows = np.concatenate([np.r_[c.idx_test, c.idx_oot] for c in tiny.clients])
    assert not np.intersect1d(val_rows, test_rows).size


def test_every_private_configuration_is_calibrated_to_the_same_epsilon(tuned):
    private = tuned.sweep[tuned.sweep.method != "No DP"]
    assert len(private) == 4 and private.sigma.gt(0).all()
    # Each schedule gets its own sigma: the batch sizes differ, so the sigmas do.
    assert private.groupby("method").sigma.nunique().eq(private.groupby("method").size()).all()
    assert private.epsilon_planned.between(TARGET_EPS - _DP_TOL, TARGET_EPS + 1e-9).all()
    dp = private[private.method == "Classical DP"]
    assert np.allclose(dp.epsilon, dp.epsilon_planned)      # the accountant ran the plan
    assert tuned.sweep.loc[tuned.sweep.method == "No DP", "sigma"].isna().all()
    assert tuned.sweep.epochs.eq(2).all()                    # R × E = 2 × 1 for every point
