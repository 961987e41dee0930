"""Tests of FMTL / FedAvg with DP-SGD and secure aggregation (chapter 1)."""

from __future__ import annotations

import numpy as np
import pytest

from fedlib.core.transcript import Transcript
from fedlib.crypto.secagg import SecureAggregation
from fedlib.data.institutions import PreparedInstitution
from fedlib.fl.fmtl import (
    FMTLClient,
    auc_sensitivity,
    institution_report,
    local_train,
    make_clients,
    run_federated,
    server_view,
)
from fedlib.fl.models import MLP, LogisticRegression, get_flat_params, set_flat_params


def _Inst(name, rng, shift, n=120) -> PreparedInstitution:
    X_train = rng.random((n, 3)).astype(np.float32)
    X_test = rng.random((60, 3)).astype(np.float32)
    a_test = (rng.random(60) < 0.4).astype(int)
    return PreparedInstitution(name, "real", X_train,
                               (X_train[:, 0] + shift > 0.6).astype(np.float32), X_test,
                               (X_test[:, 0] + shift > 0.6).astype(np.float32),
                               np.zeros(n, int), a_test)


@pytest.fixture
def insts():
    rng = np.random.default_rng(0)
    return [_Inst(f"bank-{k}", rng, 0.1 * k) for k in range(4)]


def _model():
    return MLP(3, (4,), seed=0)


def _run(insts, mode, **kw):
    clients = make_clients(insts, epsilon=kw.pop("eps", None), delta=1e-5, clip_norm=1.0,
                           rounds=kw.get("rounds", 2), epochs=1, batch_size=32)
    args = dict(model_fn=_model, mode=mode, rounds=2, lam=0.1, epochs=1, lr=0.5, batch_size=32,
                seed=1)
    args.update(kw)
    return run_federated(clients, **args), clients


def test_proximal_term_pulls_towards_center():
    rng = np.random.default_rng(0)
    X = rng.random((50, 3)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(np.float32)
    center = get_flat_params(LogisticRegression(3, seed=1))
    dist = {}
    for lam in (0.0, 4.0):
        m = LogisticRegression(3, seed=2)
        set_flat_params(m, center + 1.0)
        local_train(m, X, y, center=center, lam=lam, epochs=20, lr=0.1, batch_size=None, seed=0)
        dist[lam] = np.linalg.norm(get_flat_params(m) - center)
    # Each step multiplies W − W̄ by (1 − 2λ·lr) = 0.2: after 20 steps only the data pull is left.
    assert dist[4.0] < 0.1 * dist[0.0]


def test_fmtl_center_is_average_of_personal_models_under_secagg(insts):
    sa = SecureAggregation(threshold=3)
    run, clients = _run(insts, "fmtl", secure_aggregation=sa, algorithm="alternating")
    personal = np.stack([run.models[c.name] for c in clients])
    bound = len(clients) * 2.0 ** -(sa.codec.frac_bits + 1)
    assert np.max(np.abs(run.global_params - personal.mean(axis=0))) <= bound + 1e-12
    assert len({tuple(p) for p in personal}) == len(clients)   # personal models differ


def test_fedavg_is_size_weighted_and_shared(insts):
    insts[0].X_train, insts[0].y_train = insts[0].X_train[:40], insts[0].y_train[:40]
    run, clients = _run(insts, "fedavg")
    for c in clients:
        np.testing.assert_array_equal(run.models[c.name], run.global_params)
    # Re-derive the last round's weighted average from the parties' own final W_i.
    n = np.array([c.n_rows for c in clients], dtype=float)
    avg = (n[:, None] * np.stack([run.local_params[c.name] for c in clients])).sum(0) / n.sum()
    np.testing.assert_allclose(run.global_params, avg, rtol=1e-10, atol=1e-12)


def test_run_leaves_the_callers_clients_and_secure_aggregation_alone(insts):
    """The personal state lives in the run's parties: running twice from the same clients
    gives the same run, and the caller's SecureAggregation keeps its own transcript."""
    sa = SecureAggregation(threshold=3)
    own = sa.transcript
    clients = make_clients(insts, epsilon=None, delta=None, clip_norm=None, rounds=2, epochs=1,
                           batch_size=32)
    before = [dict(vars(c)) for c in clients]
    kw = dict(model_fn=_model, mode="fmtl", rounds=2, lam=0.1, epochs=1, lr=0.5, batch_size=32,
              seed=1, secure_aggregation=sa)
    first, second = run_federated(clients, **kw), run_federated(clients, **kw)
    assert sa.transcript is own and len(own) == 0
    assert [vars(c) for c in clients] == before
    for name in first.models:
        np.testing.assert_array_equal(first.models[name], second.models[name])
    assert len(first.transcript) > 0 and first.transcript is not second.transcript


def test_server_sees_only_masked_updates(insts):
    t = Transcript()
    run, _ = _run(insts, "fmtl", secure_aggregation=SecureAggregation(threshold=3), transcript=t)
    to_server = [m for m in t if m.receiver == "server"]
    assert {m.kind for m in to_server} <= {"key", "ciphertext", "masked", "share"}
    masked = [m.payload for m in to_server if m.kind == "masked"]
    assert len(masked) == 4 * 2
    for payload in masked:
        assert payload.y.dtype == np.uint64
    view = server_view(t)
    assert not view[view.label == "model_update"].shape[0]


def test_plaintext_run_is_flagged_in_server_view(insts):
    t = Transcript()
    _run(insts, "fedavg", transcript=t)
    view = server_view(t)
    assert view.set_index("label").loc["model_update", "kind"] == "plaintext"
    t2 = Transcript()
    _run(insts, "fedavg", transcript=t2, eps=2.0)
    assert server_view(t2).set_index("label").loc["model_update", "kind"] == "noisy"


def test_dp_accountant_reaches_target_epsilon(insts):
    run, clients = _run(insts, "fmtl", eps=1.5, rounds=3)
    for c in clients:
        assert c.accountant.steps == 3 * int(np.ceil(c.n_rows / 32))
        eps = c.accountant.epsilon(delta=1e-5)
        assert 1.45 <= eps <= 1.5 + 1e-9


def test_dropouts_recovered_and_abort_keeps_center(insts):
    sa = SecureAggregation(threshold=3)
    run, _ = _run(insts, "fmtl", secure_aggregation=sa, dropout_rate=0.3, rounds=4,
                  dropout_phases=("share", "masked", "unmask"))
    for log in run.history:
        if not log.aborted:
            assert set(log.uploaded) | set(log.dropped) >= set(log.uploaded)
            assert len(log.uploaded) >= 3
    # Everyone drops: every round aborts and W̄ stays at its initial value.
    run, _ = _run(insts, "fmtl", secure_aggregation=SecureAggregation(threshold=3),
                  dropout_rate=0.999)
    assert all(log.aborted for log in run.history)
    np.testing.assert_array_equal(run.global_params, get_flat_params(_model()))


def test_argument_checks(insts):
    with pytest.raises(ValueError, match="2\\*lam\\*lr"):
        _run(insts, "fmtl", lam=1.0, lr=0.5, algorithm="alternating")
    with pytest.raises(ValueError, match="algorithm"):
        _run(insts, "fmtl", algorithm="ditto")
    with pytest.raises(ValueError, match="mode"):
        _run(insts, "local")
    with pytest.raises(ValueError, match="all set"):
        FMTLClient("x", np.ones((3, 2)), np.ones(3), noise_multiplier=1.0)
    with pytest.raises(ValueError, match="increasing"):
        auc_sensitivity([1.0, 0.5], [0.7, 0.6])


def test_institution_report_columns(insts):
    run, _ = _run(insts, "fedavg")
    rep = institution_report(run.models, _model, insts)
    assert list(rep.institution) == [i.name for i in insts]
    assert rep.roc_auc.between(0, 1).all() and rep.eod.between(0, 1).all()


def test_auc_sensitivity_is_slope_for_linear_curve():
    s = auc_sensitivity([0.1, 0.5, 1.0, 5.0], [0.61, 0.65, 0.70, 1.10])
    np.testing.assert_allclose(s, 0.1)


def test_report_on_validation_view_scores_validation_rows_only():
    # Hyper-parameters are chosen on validation rows: the report must read X_val, not X_test.
    from sklearn.metrics import roc_auc_score

    from fedlib.data.institutions import validation_view
    from fedlib.fl.models import predict_proba

    rng = np.random.default_rng(1)

    def rows(n):
        X = rng.random((n, 3)).astype(np.float32)
        return X, (X[:, 0] + 0.3 * rng.random(n) > 0.6).astype(np.float32), np.arange(n) % 2

    tr, te, va = rows(80), rows(40), rows(30)
    inst = PreparedInstitution("bank", "real", tr[0], tr[1], te[0], te[1], tr[2], te[2],
                               X_val=va[0], y_val=va[1], a_val=va[2])
    model = _model()
    w = get_flat_params(model)
    val_auc = institution_report({"bank": w}, _model, validation_view([inst])).roc_auc.iloc[0]
    test_auc = institution_report({"bank": w}, _model, [inst]).roc_auc.iloc[0]
    assert val_auc == pytest.approx(roc_auc_score(va[1], predict_proba(model, va[0])))
    assert test_auc == pytest.approx(roc_auc_score(te[1], predict_proba(model, te[0])))
    assert val_auc != pytest.approx(test_auc)


def _equal_size_insts(n=96):
    rng = np.random.default_rng(3)
    return [_Inst(f"bank-{k}", rng, 0.15 * k, n=n) for k in range(4)]


def test_fmtl_large_lambda_reaches_fedavg():
    """eq. 1 with λ → ∞ forces every W_i onto W̄: with equal-sized institutions (so that
    FMTL's plain average equals FedAvg's n_i-weighted one), the same seed and the same local
    steps, the joint FMTL loop must give FedAvg's model. Tolerance: the offsets shrink by
    1/(1 + 2λ·lr) per step, so at λ = 1e7 they are below 1e-6; 1e-4 on every parameter
    leaves room for float32 rounding only."""
    insts = _equal_size_insts()
    fedavg, _ = _run(insts, "fedavg", rounds=3, lr=0.5)
    fmtl, _ = _run(insts, "fmtl", rounds=3, lr=0.5, lam=1e7)
    ref = fedavg.global_params
    for name, w in fmtl.models.items():
        assert np.max(np.abs(w - ref)) < 1e-4, name
    # ... and a small λ does not (personal models differ from FedAvg and from each other).
    small, _ = _run(insts, "fmtl", rounds=3, lr=0.5, lam=1e-3)
    assert min(np.max(np.abs(w - ref)) for w in small.models.values()) > 1e-2


def test_fmtl_large_lambda_reaches_fedavg_under_dp():
    """The same limit with DP-SGD: the noisy gradient is drawn once per step and used for
    both blocks, so with the same noise stream the two loops agree (tolerance as above)."""
    insts = _equal_size_insts()
    kw = dict(rounds=2, lr=0.5, eps=3.0)
    fedavg, _ = _run(insts, "fedavg", **kw, noise_seed=7)
    fmtl, _ = _run(insts, "fmtl", lam=1e7, **kw, noise_seed=7)
    for w in fmtl.models.values():
        assert np.max(np.abs(w - fedavg.global_params)) < 1e-4


def test_joint_fmtl_learns_at_a_lambda_where_alternating_stalls():
    """The diagnosis of chapter 1's falling λ sweep: at a large λ the alternating loop moves
    W̄ by about mean-gradient/(2λ) per round and stays near its initial loss, while the joint
    loop (same λ, rounds, steps) trains like FedAvg."""
    from fedlib.evaluate.metrics import classification_metrics
    from fedlib.fl.models import predict_proba

    insts = _equal_size_insts(n=200)

    def mean_auc(run):
        m = _model()
        out = []
        for i in insts:
            set_flat_params(m, run.models[i.name])
            out.append(classification_metrics(i.y_test, predict_proba(m, i.X_test))["roc_auc"])
        return float(np.mean(out))

    lam, kw = 20.0, dict(rounds=3, lr=0.02)
    alt, _ = _run(insts, "fmtl", lam=lam, algorithm="alternating", **kw)
    joint, _ = _run(insts, "fmtl", lam=lam, **kw)
    init = get_flat_params(_model())
    moved = {k: np.linalg.norm(r.global_params - init) for k, r in (("alt", alt), ("joint", joint))}
    assert moved["joint"] > 3 * moved["alt"]
    assert mean_auc(joint) > mean_auc(alt)
