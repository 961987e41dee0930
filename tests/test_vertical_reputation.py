"""Reputation screening (eqs. 16-24) and the SecureBoost audit helpers of chapter 4."""

from __future__ import annotations

import numpy as np
import pytest

from fedlib.core.party import PartyRows
from fedlib.core.transcript import Transcript
from fedlib.fl.reputation import ReputationLedger, ReputationParams
from fedlib.fl.screening import run_screened_fedavg
from fedlib.vertical.audit import instance_space_attack, tree_agreement, what_each_party_saw
from fedlib.vertical.gbdt import HistGBDT
from fedlib.vertical.secureboost import SecureBoost


def test_opinion_is_a_valid_opinion_and_uses_weights():
    p = ReputationParams(mu=0.7, freshness=0.5)
    led = ReputationLedger(p, ["x"])
    assert led.opinion("x") == (0.0, 0.0, 1.0)          # no history: all uncertainty
    for pos in (True, False, True, True):
        led.record("x", positive=pos, quality=0.7)
        b, d, u = led.opinion("x")
        assert b + d + u == pytest.approx(1.0) and min(b, d, u) >= 0
    assert led.score("x") == pytest.approx(0.5 * led.reputation("x") + 0.5 * led.quality("x"))


def test_recent_events_weigh_more():
    p = ReputationParams(freshness=0.5)
    led = ReputationLedger(p, ["reformed", "fallen"])
    for pos in [False] * 3 + [True] * 3:
        led.record("reformed", positive=pos, quality=0.7)
    for pos in [True] * 3 + [False] * 3:
        led.record("fallen", positive=pos, quality=0.7)
    assert led.reputation("reformed") > 0.5 > led.reputation("fallen")
    # mu > theta: equal counts of positive and negative events lean positive.
    led2 = ReputationLedger(ReputationParams(freshness=0.999), ["y"])
    for pos in (True, False):
        led2.record("y", positive=pos, quality=0.5)
    b, d, _ = led2.opinion("y")
    assert b > d


@pytest.mark.parametrize("kw", [{"mu": 0.4}, {"freshness": 1.0}, {"delta": 1.5},
                                {"window": 0}])
def test_params_checked(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        ReputationParams(**kw)


def _banks(seed=0):
    rng = np.random.default_rng(seed)
    w = np.array([1.5, -1.0, 0.5, 0.0])

    def make(n):
        X = rng.normal(size=(n, 4)).astype(np.float32)
        return X, (X @ w + 0.3 * rng.normal(size=n) > 0).astype(np.float32)

    banks = [PartyRows(f"bank-{k}", *make(150)) for k in range(4)]
    return banks, make(200), make(300)


def test_screening_drops_poisoner_and_keeps_free_rider():
    banks, (Xv, yv), (Xt, yt) = _banks()
    beh = {"bank-2": "label_flip", "bank-3": "free_rider"}
    kw = dict(rounds=4, local_epochs=2, lr=0.5, batch_size=32, seed=0, behaviours=beh)
    screened = run_screened_fedavg(banks, Xv, yv, Xt, yt, screening=ReputationParams(), **kw)
    plain = run_screened_fedavg(banks, Xv, yv, Xt, yt, screening=None, **kw)
    d = screened.decisions.groupby("party").aggregated.mean()
    assert d["bank-2"] == 0.0 and d["bank-0"] == 1.0 and d["bank-3"] == 1.0
    assert plain.decisions.aggregated.all()
    acc = {k: r.history.query("metric == 'accuracy'").value.iloc[-1]
           for k, r in (("s", screened), ("p", plain))}
    assert acc["s"] > acc["p"]
    with pytest.raises(ValueError, match="behaviour"):
        run_screened_fedavg(banks, Xv, yv, Xt, yt, screening=None,
                            **{**kw, "behaviours": {"bank-0": "evil"}})


@pytest.fixture(scope="module")
def small_sb():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 1.5 * X[:, 2] > 0).astype(int)
    # No minimum node size: these tests are about the audit tools, which need small nodes
    # (at the default of 64 rows the passive party sees the root of 120 rows only).
    p = dict(n_estimators=2, max_depth=3, max_bins=8, passive_min_node_size=0)
    sb = SecureBoost(**p, key_bits=512, demo_keys=True).fit(X[:, :2], y, passive={"grid": X[:, 2:]})
    ref = HistGBDT(**p).fit(X, y)
    return X, y, sb, ref, p


def test_tree_agreement_detects_identity_and_difference(small_sb):
    X, y, sb, ref, p = small_sb
    ok = tree_agreement(sb, ref, {"bank": 0, "grid": 2})
    assert ok["same_structure"] and ok["passive_splits"] > 0
    other = HistGBDT(**{**p, "max_bins": 4}).fit(X, y)
    assert not tree_agreement(sb, other, {"bank": 0, "grid": 2})["same_structure"]
    leaf = next(n for n in ref.trees[0] if n.is_leaf)
    leaf.weight += 1e-3
    assert not tree_agreement(sb, ref, {"bank": 0, "grid": 2})["same_structure"]
    leaf.weight -= 1e-3


def test_instance_space_attack_leaks_labels(small_sb):
    _, y, sb, _, _ = small_sb
    res = instance_space_attack(sb.transcript, "grid", y, known_fraction=0.3, seed=0)
    assert res.auc > 0.7 and res.purity > res.base_purity
    with pytest.raises(ValueError, match="no instance space"):
        instance_space_attack(Transcript(), "grid", y, known_fraction=0.3, seed=0)
    saw = what_each_party_saw(sb.transcript)
    assert set(saw[saw.receiver == "grid"].kind) <= {"key", "ciphertext", "public"}
