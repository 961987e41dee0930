"""SecureBoost reproduces the plaintext histogram GBDT and leaks nothing it should not."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fedlib.vertical.gbdt import HistGBDT, QuantileBinner, logistic_grad_hess, split_gain
from fedlib.vertical.secureboost import SecureBoost

PARAMS = dict(n_estimators=3, max_depth=3, learning_rate=0.3, reg_lambda=1.0, gamma=0.0,
              min_child_weight=1.0, max_bins=16)


def _data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    logit = 1.2 * X[:, 0] - 0.8 * X[:, 2] + 1.0 * X[:, 3] * (X[:, 4] > 0) + 0.3 * rng.normal(size=n)
    y = (logit > 0).astype(int)
    # Active party (bank): columns 0-1; passive "grid": 2-3; passive "telco": 4.
    return X, y, X[:, :2], {"grid": X[:, 2:4], "telco": X[:, 4:]}


@pytest.fixture(scope="module")
def fitted():
    X, y, Xa, passive = _data()
    # phe, the reference backend: its ciphertexts are plain ints the tests can inspect.
    sb = SecureBoost(**PARAMS, key_bits=1024, demo_keys=True, he_backend="phe").fit(
        Xa, y, passive=passive)
    ref = HistGBDT(**PARAMS).fit(X, y, passive_columns=[2, 3, 4])
    return X, y, Xa, passive, sb, ref


def _global_splits(sb, tree):
    """Map a SecureBoost tree to (global feature, bin, weight) via each owner's lookup
    (test-only privilege: no party could do this)."""
    offset = {"bank": 0, "grid": 2, "telco": 4}
    out = []
    for node in _preorder(tree):
        if node.is_leaf:
            out.append(("leaf", node.weight))
        else:
            table = sb.lookup if node.party == "bank" else sb.parties_[node.party].lookup
            j, b, _ = table[node.record_id]
            out.append((offset[node.party] + j, b))
    return out


def _preorder(tree, nid=0):
    """Nodes root-left-right: node ids depend on the order nodes were expanded."""
    node = tree[nid]
    yield node
    if not node.is_leaf:
        yield from _preorder(tree, node.left)
        yield from _preorder(tree, node.right)


def test_same_trees_as_plaintext_gbdt(fitted):
    _, _, _, _, sb, ref = fitted
    assert len(sb.trees) == len(ref.trees)
    owners = set()
    for tsb, tref in zip(sb.trees, ref.trees, strict=True):
        a = _global_splits(sb, tsb)
        b = [("leaf", n.weight) if n.is_leaf else (n.feature, n.bin) for n in _preorder(tref)]
        assert len(a) == len(b)
        for x, z in zip(a, b, strict=True):
            if x[0] == "leaf":
                assert z[0] == "leaf" and abs(x[1] - z[1]) < 1e-6
            else:
                assert x == z
        owners |= {n.party for n in tsb if not n.is_leaf}
    # The synthetic split must exercise both active and passive splits.
    assert {"bank", "grid"} <= owners
    # Trees store no feature or threshold: only (party, record id).
    assert all(n.feature is None and n.threshold is None for t in sb.trees for n in t)


def test_predictions_match_plaintext(fitted):
    X, _, Xa, passive, sb, ref = fitted
    rng = np.random.default_rng(5)
    Xn = rng.normal(size=(50, 5))
    np.testing.assert_allclose(
        sb.predict_margin(Xn[:, :2], passive={"grid": Xn[:, 2:4], "telco": Xn[:, 4:]}),
        ref.predict_margin(Xn), atol=1e-6)
    np.testing.assert_allclose(sb.predict_proba(Xa, passive=passive), ref.predict_proba(X),
                               atol=1e-6)


def test_auc_close_to_xgboost():
    xgb = pytest.importorskip("xgboost")
    X, y, Xa, passive = _data(n=200, seed=1)
    Xt, yt, Xat, passivet = _data(n=400, seed=2)
    sb = SecureBoost(**PARAMS, key_bits=1024, demo_keys=True).fit(Xa, y, passive=passive)
    auc_sb = roc_auc_score(yt, sb.predict_proba(Xat, passive=passivet))
    ref = xgb.XGBClassifier(tree_method="hist", n_estimators=3, max_depth=3, learning_rate=0.3,
                            reg_lambda=1.0, gamma=0.0, min_child_weight=1.0, max_bin=16,
                            n_jobs=1, random_state=0).fit(X, y)
    auc_xgb = roc_auc_score(yt, ref.predict_proba(Xt)[:, 1])
    assert auc_sb > 0.75
    assert abs(auc_sb - auc_xgb) < 0.05


def _flat_numbers(payload):
    if isinstance(payload, np.ndarray):
        yield from payload.ravel().tolist()
    elif isinstance(payload, list | tuple):
        for p in payload:
            yield from _flat_numbers(p)
    elif isinstance(payload, int | float | np.number):
        yield payload


def test_passive_party_sees_only_ciphertexts_of_gradients(fitted):
    _, y, _, _, sb, _ = fitted
    g, h = logistic_grad_hess(y, np.full(len(y), sb.base_margin_))
    plain_packed = set(sb.packer_.encode(g, h))
    for name in ("grid", "telco"):
        msgs = sb.transcript.received_by(name)
        assert {m.kind for m in msgs} <= {"key", "ciphertext", "public"}
        enc = [m for m in msgs if m.label == "enc_gradients"]
        assert len(enc) == PARAMS["n_estimators"] and all(m.kind == "ciphertext" for m in enc)
        cts = list(_flat_numbers(enc[0].payload))
        assert len(cts) == len(y) and len(set(cts)) == len(y)
        assert not plain_packed & set(cts)
        assert all(c >= sb.he_.public_key.n for c in cts[:20])  # ciphertexts live in Z_{n^2}
        # Nothing a passive party receives carries a float (no g, h, margin, label).
        for m in msgs:
            if m.kind == "public":
                assert all(isinstance(v, int | bool | np.integer | np.bool_)
                           for v in _flat_numbers(m.payload)), m.label


def test_active_party_never_sees_passive_values_or_thresholds(fitted):
    _, _, _, passive, sb, _ = fitted
    secret = set(np.concatenate([v.ravel() for v in passive.values()]).tolist())
    for party in sb.parties_.values():
        secret |= {e for edges in party.binner.edges for e in edges.tolist()}
        secret |= {thr for (_, _, thr) in party.lookup.values()}
    msgs = sb.transcript.received_by("bank")
    assert msgs and {m.kind for m in msgs} <= {"ciphertext", "public"}
    for m in msgs:
        values = list(_flat_numbers(m.payload))
        assert not any(isinstance(v, float | np.floating) for v in values), m.label
        assert not secret & {v for v in values if not isinstance(v, int) or abs(v) < 2**53}


def test_naive_and_optimised_modes_grow_the_same_trees():
    X, y, Xa, passive = _data(n=100, seed=3)
    kw = dict(PARAMS, n_estimators=2, max_depth=2)
    a = SecureBoost(**kw, key_bits=512, demo_keys=True, naive=True).fit(Xa, y, passive=passive)
    b = SecureBoost(**kw, key_bits=512, demo_keys=True).fit(Xa, y, passive=passive)
    for ta, tb in zip(a.trees, b.trees, strict=True):
        pa, pb = list(_preorder(ta)), list(_preorder(tb))
        assert [n.party for n in pa] == [n.party for n in pb]
        np.testing.assert_allclose([n.weight or 0 for n in pa], [n.weight or 0 for n in pb],
                                   atol=1e-9)
    # Naive sends two ciphertexts per row (g and h), packed one.
    na = sum(m.nbytes for m in a.transcript if m.label == "enc_gradients")
    nb = sum(m.nbytes for m in b.transcript if m.label == "enc_gradients")
    assert na > 1.8 * nb


def test_bad_inputs_raise():
    X, y, Xa, passive = _data(n=40)
    with pytest.raises(ValueError, match="key_bits=1024"):
        SecureBoost(key_bits=1024)
    with pytest.raises(ValueError, match="max_depth"):
        SecureBoost(max_depth=0)
    with pytest.raises(ValueError, match="rows"):
        SecureBoost(key_bits=512, demo_keys=True).fit(Xa, y, passive={"grid": X[:10]})
    with pytest.raises(ValueError, match="NaN"):
        QuantileBinner().fit(np.array([[np.nan], [1.0]]))


def test_gain_matches_eq15_by_hand():
    GL, HL, GR, HR, lam, gam = -3.0, 2.0, 1.0, 4.0, 1.0, 0.1
    by_hand = 0.5 * (9 / 3 + 1 / 5 - 4 / 7) - 0.1
    assert split_gain(GL, HL, GR, HR, reg_lambda=lam, gamma=gam) == pytest.approx(by_hand)


# ----------------------------------------------------------- leakage to the active party
from fedlib.crypto.paillier import add_ciphertexts, decrypt_raw  # noqa: E402
from fedlib.vertical.attacks import bin_recovery_attack  # noqa: E402
from fedlib.vertical.audit import tree_agreement  # noqa: E402
from fedlib.vertical.gbdt import BoostParams  # noqa: E402
from fedlib.vertical.secureboost import PassiveParty  # noqa: E402

LEAKY = dict(n_estimators=3, max_depth=7, min_child_weight=0.0, max_bins=8, key_bits=512,
             demo_keys=True)


def _leak_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + X[:, 1] - 0.5 * X[:, 2] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return X, y


def test_bin_recovery_attack_succeeds_without_minimum_and_fails_at_default():
    X, y = _leak_data()
    rates = {}
    for m in (0, BoostParams().passive_min_node_size):
        sb = SecureBoost(**LEAKY, passive_min_node_size=m).fit(X[:, :1], y,
                                                               passive={"grid": X[:, 1:]})
        res = bin_recovery_attack(sb, "grid", truth=sb.parties_["grid"]._bins)
        assert res["wrong"] == 0  # what it determines is right
        rates[m] = res["rate"]
    unsafe, safe = rates[0], rates[BoostParams().passive_min_node_size]
    assert unsafe > 0.1, rates
    assert safe < 0.25 * unsafe, rates


def test_twin_with_same_minimum_grows_the_same_trees():
    X, y = _leak_data(n=160, seed=4)
    kw = dict(n_estimators=2, max_depth=4, min_child_weight=0.0, max_bins=8,
              passive_min_node_size=40)
    sb = SecureBoost(**kw, key_bits=512, demo_keys=True).fit(X[:, :1], y,
                                                             passive={"grid": X[:, 1:]})
    twin = HistGBDT(**kw).fit(X, y, passive_columns=[1, 2])
    agree = tree_agreement(sb, twin, {"bank": 0, "grid": 1})
    assert agree["same_structure"], agree
    assert agree["passive_splits"] > 0
    # The minimum binds: the twin that may split small nodes on every column differs.
    free = HistGBDT(**kw).fit(X, y)
    assert not tree_agreement(sb, free, {"bank": 0, "grid": 1})["same_structure"]
    # No histogram request for a node (or sibling) under the minimum reached the party.
    sizes = [len(m.payload) for m in sb.transcript.received_by("grid")
             if m.label == "instance_space"]
    assert sizes and min(sizes) >= 40


def test_returned_buckets_are_rerandomised(fitted):
    _, _, _, _, sb, _ = fitted
    he, party = sb.he_, sb.parties_["grid"]
    spaces = [m for m in sb.transcript.received_by("grid") if m.label == "instance_space"]
    hists = [m for m in sb.transcript if m.sender == "grid" and m.label == "enc_histogram"]
    grads = [m for m in sb.transcript.received_by("grid") if m.label == "enc_gradients"]
    assert len(spaces) == len(hists) > 0
    checked = 0
    for sp, hm in zip(spaces[:4], hists[:4], strict=True):
        cts = grads[sp.round].payload[0]
        rows = np.asarray(sp.payload)
        # The bare products per (feature, bin), packed the same way, without fresh randomness.
        bare = [add_ciphertexts(he.public_key, [cts[i] for i in rows[party._bins[rows, j] == b]])
                for j, nb in enumerate(party.n_bins) for b in range(nb)]
        packed = he.pack(bare, sb.slots_, sb.packer_.slot_bits)
        (sent,) = hm.payload
        assert len(sent) == len(packed) == -(-len(bare) // sb.slots_)
        for c, c0 in zip(sent, packed, strict=True):
            assert c != c0  # fresh randomness, not the bare product
            assert decrypt_raw(he._sk, [c]) == decrypt_raw(he._sk, [c0])
            checked += 1
    assert checked >= 4


def test_one_decryption_yields_many_bucket_sums(fitted):
    _, _, _, _, sb, _ = fitted
    # 1024-bit demo key, 160 rows, 40 fraction bits: 9 bucket sums per plaintext.
    assert sb.slots_ == sb.packer_.slots(1023) >= 8
    hists = [m for m in sb.transcript if m.label == "enc_histogram"]
    buckets = [sum(sb.parties_[m.sender].n_bins) for m in hists]
    # One decryption per `slots_` bucket sums (the last ciphertext of a node part-full).
    assert sb.timings_["n_decryptions"] == sum(-(-b // sb.slots_) for b in buckets)
    assert sum(buckets) >= 7 * sb.timings_["n_decryptions"]


@pytest.mark.parametrize("backend", ["zpaillier", "ou"])
def test_heu_backends_grow_the_same_trees_as_phe(fitted, backend):
    """HEU cross-checked against the phe reference on the same rows: same trees, leaves."""
    _, y, Xa, passive, ref_sb, _ = fitted
    sb = SecureBoost(**PARAMS, key_bits=1024, demo_keys=True, he_backend=backend).fit(
        Xa, y, passive=passive)
    assert sb.he_.name == backend and sb.slots_ >= 2
    for ta, tb in zip(ref_sb.trees, sb.trees, strict=True):
        assert _global_splits(ref_sb, ta) == _global_splits(sb, tb)
    assert sum(m.nbytes for m in sb.transcript if m.label == "enc_gradients") > 0


_PARALLEL_SCRIPT = """
import threading, numpy as np
import torch  # starts OpenMP / intra-op threads, as in the chapter's kernel
torch.set_num_threads(2); torch.ones(256, 256) @ torch.ones(256, 256)
lock = threading.Lock()
def hold():  # a thread that holds a lock most of the time, as BLAS/OpenMP workers do
    while True:
        with lock:
            sum(range(10000))
threading.Thread(target=hold, daemon=True).start()
from fedlib.crypto.paillier import MP_CONTEXT
assert MP_CONTEXT.get_start_method() != "fork"
from fedlib.vertical.secureboost import SecureBoost
rng = np.random.default_rng(0)
X = rng.normal(size=(120, 5)); y = (X[:, 0] + X[:, 2] > 0).astype(int)
sb = SecureBoost(n_estimators=2, max_depth=2, max_bins=8, key_bits=512, demo_keys=True,
                 he_backend="phe", n_jobs=2, passive_min_node_size=16)
sb.fit(X[:, :2], y, passive={"grid": X[:, 2:]})
print("ok", len(sb.trees))
"""


def test_parallel_phe_path_finishes_in_a_threaded_process():
    """Issue 12: n_jobs=2 hung in a kernel (fork after threads). Worker processes are spawned
    now; run the parallel path in a fresh process that has threads holding locks."""
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", _PARALLEL_SCRIPT], capture_output=True,
                         text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok 2" in out.stdout


def test_passive_party_refuses_small_nodes_and_bad_minimum():
    X, y = _leak_data(n=50)
    sb = SecureBoost(**dict(LEAKY, n_estimators=1), passive_min_node_size=0)
    sb.fit(X[:, :1], y, passive={"grid": X[:, 1:]})
    party = PassiveParty("grid", X[:, 1:], 8, min_node_size=30)
    party.set_public_key(sb.he_.public())
    party.receive_gradients([sb.he_.encrypt([1] * 50)])
    party.histogram(0, np.arange(50))
    with pytest.raises(PermissionError, match="refuses node 1: 20 rows"):
        party.histogram(1, np.arange(20), parent=0)
    with pytest.raises(PermissionError, match="not admitted"):
        party.histogram(3, np.arange(40), parent=2)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="passive_min_node_size"):
            SecureBoost(passive_min_node_size=bad, key_bits=512, demo_keys=True)


@pytest.mark.parametrize("backend", ["phe", "ou"])
def test_histogram_subtraction_equals_direct_sums(backend):
    """parent − smaller child decrypts to the larger child's direct bucket sums, and the
    party subtracts only for nodes large enough to pay (a subtraction costs ~40 additions)."""
    from fedlib.crypto.he import make_backend

    rng = np.random.default_rng(7)
    n = 1500
    X = rng.normal(size=(n, 2))
    he = make_backend(backend, key_bits=1024, demo=True)
    party = PassiveParty("grid", X, 8, min_node_size=10)
    party.set_public_key(he.public())
    party.receive_gradients([he.encrypt([int(v) for v in rng.integers(0, 2**30, n)])])
    calls = []
    sub = party._he.sub
    party._he.sub = lambda a, b: calls.append(1) or sub(a, b)
    rows = np.arange(n)
    left, right = rows[X[:, 0] <= -0.5], rows[X[:, 0] > -0.5]
    party.histogram(0, rows)
    party.histogram(1, left, parent=0)
    by_sub = party.histogram(2, right, parent=0, sibling=1)
    worth = len(right) > party._he.sub_cost_in_adds * 8
    assert bool(calls) == worth
    direct = PassiveParty("grid", X, 8, min_node_size=10)
    direct.set_public_key(he.public())
    direct.receive_gradients(party._channels)
    direct.histogram(0, rows)
    direct.histogram(1, left, parent=0)
    ref = direct.histogram(2, right, parent=0, sibling=1, subtract=False)
    assert he.decrypt(by_sub[0]) == he.decrypt(ref[0])
