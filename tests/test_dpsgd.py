"""DP-SGD through Opacus: equivalence to SGD without noise, clipping, noise scale, accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from fedlib.privacy.accountants import PartyAccountant, PrivacyArgumentError
from fedlib.privacy.dpsgd import train_local, train_local_dp


def _data(n: int = 120, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X @ rng.normal(size=d) + 0.3 * rng.normal(size=n) > 0).astype(np.float32)
    return X, y


def _model(d: int = 6, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)  # test-local: only fixes the initial weights of this model
    return nn.Linear(d, 1)


def _params(model: nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()


def test_no_noise_huge_clip_equals_plain_sgd():
    batch_size = None
    X, y = _data()
    m_dp, m_plain = _model(), _model()
    acc = PartyAccountant()
    s_dp = train_local_dp(m_dp, X, y, epochs=5, lr=0.3, noise_multiplier=0.0, clip_norm=1e6,
                          batch_size=batch_size, accountant=acc, seed=3)
    s_plain = train_local(m_plain, X, y, epochs=5, lr=0.3, batch_size=batch_size, seed=3)
    assert s_dp.steps == s_plain.steps == 5
    np.testing.assert_allclose(_params(m_dp), _params(m_plain), rtol=1e-5, atol=1e-6)
    assert s_dp.final_loss == pytest.approx(s_plain.final_loss, rel=1e-5)
    assert math.isinf(acc.epsilon(delta=1e-5))


def test_noise_is_secret_by_default_and_repeatable_with_noise_seed():
    X, y = _data()
    kw = {"epochs": 5, "lr": 0.3, "clip_norm": 1.0, "batch_size": 32}
    runs = {}
    for name, sigma, seed, noise_seed in [("os", 1.0, 1, None), ("os2", 1.0, 1, None),
                                          ("a", 1.0, 1, 7), ("a2", 1.0, 1, 7),
                                          ("b", 1.0, 2, 7), ("c", 1.0, 1, 8),
                                          ("clean", 0.0, 1, 7)]:
        m = _model()
        train_local_dp(m, X, y, noise_multiplier=sigma, accountant=PartyAccountant(), seed=seed,
                       noise_seed=noise_seed, **kw)
        runs[name] = _params(m)
    # Default: the same call twice gives different noise (and batches): OS entropy.
    assert not np.allclose(runs["os"], runs["os2"])
    # Explicit noise_seed: bit-identical; another round seed or noise_seed changes it.
    np.testing.assert_array_equal(runs["a"], runs["a2"])
    assert not np.allclose(runs["a"], runs["b"])
    assert not np.allclose(runs["a"], runs["c"])
    assert not np.allclose(runs["a"], runs["clean"])


def test_full_batch_noise_differs_between_default_runs():
    # Full batch has no sampling: only the noise differs between two default runs.
    X, y = _data()
    out = []
    for _ in range(2):
        m = _model()
        train_local_dp(m, X, y, epochs=1, lr=0.3, noise_multiplier=1.0, clip_norm=1.0,
                       batch_size=None, accountant=PartyAccountant(), seed=0)
        out.append(_params(m))
    assert not np.allclose(out[0], out[1])


class _Spy(nn.Module):
    """A linear model that records the rows of every training forward pass (not no_grad)."""

    def __init__(self, d: int = 6):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(d, 1)
        self.rows: list[torch.Tensor] = []

    def forward(self, x):
        if torch.is_grad_enabled():
            self.rows.append(x.detach().clone())
        return self.lin(x)


def binomial_ok(sizes, *, n: int, q: float) -> None:
    """Batch sizes look Binomial(n, q): mean within 5 standard errors of nq, variance within
    [0.6, 1.5]·nq(1−q) (for >= 150 batches its sampling sd is ~12 % of nq(1-q)); fixed-size
    shuffled batches (variance 0) fail."""
    sizes = np.asarray(sizes, dtype=float)
    assert len(sizes) >= 150
    var = n * q * (1 - q)
    assert abs(sizes.mean() - n * q) < 5 * math.sqrt(var / len(sizes)), sizes.mean()
    assert 0.6 * var < sizes.var(ddof=1) < 1.5 * var, (sizes.var(ddof=1), var)


def test_dp_batches_are_poisson_sampled():
    # n = 400, B = 20: q = 0.05, 20 steps per epoch, 10 epochs = 200 batches.
    X, y = _data(n=400)
    spy, acc = _Spy(), PartyAccountant()
    s = train_local_dp(spy, X, y, epochs=10, lr=0.1, noise_multiplier=1.0, clip_norm=1.0,
                       batch_size=20, accountant=acc, seed=0, noise_seed=11)
    assert s.steps == acc.steps == 200
    sizes = [len(r) for r in spy.rows]
    assert len(sizes) == 200           # no empty batch is likely at nq = 20
    binomial_ok(sizes, n=400, q=0.05)
    # Each step draws afresh: no row twice within a batch, but batches of one epoch share
    # rows (the disjoint batches of a shuffled epoch never do).
    assert all(len(torch.unique(r, dim=0)) == len(r) for r in spy.rows)
    first = {tuple(r.tolist()) for r in spy.rows[0]}
    assert any(first & {tuple(r.tolist()) for r in b} for b in spy.rows[1:20])


def test_empty_poisson_batches_release_noise_and_are_accounted():
    # n = 50, B = 1: q = 0.02, P(empty) = 0.98^50 ≈ 0.36.
    X, y = _data(n=50)
    spy, acc = _Spy(), PartyAccountant()
    before = _params(spy).copy()
    s = train_local_dp(spy, X, y, epochs=2, lr=0.1, noise_multiplier=1.0, clip_norm=1.0,
                       batch_size=1, accountant=acc, seed=0, noise_seed=3)
    assert s.steps == acc.steps == 100
    assert 15 < 100 - len(spy.rows) < 60          # the empty steps
    assert np.all(np.isfinite(_params(spy))) and not np.allclose(before, _params(spy))


def test_noisy_sum_is_divided_by_the_expected_batch_size():
    # σ = 0, no clipping: each DP step is w -= lr · Σ_{i in batch} g_i / B with B the
    # *expected* size, whatever the realised size; replay it on the recorded batches.
    X, y = _data(n=120)
    spy = _Spy()
    w0 = _params(spy).copy()
    train_local_dp(spy, X, y, epochs=1, lr=0.3, noise_multiplier=0.0, clip_norm=1e6,
                   batch_size=30, accountant=PartyAccountant(), seed=0, noise_seed=4)
    assert len({len(r) for r in spy.rows}) > 1        # realised sizes differ
    ref = nn.Linear(6, 1)
    with torch.no_grad():
        ref.weight.copy_(torch.as_tensor(w0[:6]).reshape(1, 6))
        ref.bias.copy_(torch.as_tensor(w0[6:]))
    lookup = {tuple(r.tolist()): i for i, r in enumerate(torch.as_tensor(X))}
    yt = torch.as_tensor(y)
    for rows in spy.rows:
        idx = [lookup[tuple(r.tolist())] for r in rows]
        ref.zero_grad()
        out = ref(rows).reshape(-1)
        nn.functional.binary_cross_entropy_with_logits(out, yt[idx], reduction="sum").backward()
        with torch.no_grad():
            for p in ref.parameters():
                p -= 0.3 * p.grad / 30
    np.testing.assert_allclose(_params(spy), _params(ref), rtol=1e-5, atol=1e-6)


def test_per_example_clipping_bounds_an_outliers_contribution():
    # One full-batch step of logistic regression with noise 0: the update must be
    # −lr · mean_i clip_C(g_i), g_i = (sigmoid(w·x_i + b) − y_i)·[x_i, 1], computed by hand.
    X, y = _data(n=40, d=3)
    X[0] = 1e4  # an outlier whose raw gradient norm is ~1e4 ...
    C, lr = 0.5, 1.0
    model = _model(d=3)
    w0, b0 = model.weight.detach().numpy().ravel().copy(), float(model.bias.detach())
    y[0] = float(X[0] @ w0 + b0 < 0)  # ... because the model gets it confidently wrong
    train_local_dp(model, X, y, epochs=1, lr=lr, noise_multiplier=0.0, clip_norm=C,
                   batch_size=None, accountant=PartyAccountant(),
                   seed=0)
    p = 1 / (1 + np.exp(-np.clip(X.astype(np.float64) @ w0 + b0, -500, 500)))
    g = (p - y)[:, None] * np.hstack([X, np.ones((40, 1))])
    norms = np.linalg.norm(g, axis=1)
    assert norms[0] > 100 * C
    clipped = g * np.minimum(1.0, C / (norms + 1e-6))[:, None]
    expected = np.concatenate([w0, [b0]]) - lr * clipped.mean(axis=0)
    np.testing.assert_allclose(_params(model), expected, rtol=1e-4, atol=1e-6)
    # The outlier moved the model by at most C/n, whatever its gradient.
    assert np.linalg.norm(clipped[0]) / 40 <= C / 40 + 1e-12


def test_noise_has_std_sigma_c_over_batch():
    # Zero data gradient is not available, so compare the noisy step with the noiseless one:
    # their difference is −lr · N(0, σ²C²)/n per coordinate.
    X, y = _data(n=50, d=30)
    sigma, C, n = 1.5, 0.7, 50
    diffs = []
    for seed in range(12):
        clean, noisy = _model(d=30), _model(d=30)
        for m, s in [(clean, 0.0), (noisy, sigma)]:
            train_local_dp(m, X, y, epochs=1, lr=1.0, noise_multiplier=s, clip_norm=C,
                           batch_size=None,
                           accountant=PartyAccountant(), seed=0, noise_seed=seed)
        diffs.append(_params(noisy) - _params(clean))
    diffs = np.concatenate(diffs)
    assert abs(diffs.mean()) < 4 * sigma * C / n / math.sqrt(len(diffs))
    assert np.std(diffs) == pytest.approx(sigma * C / n, rel=0.1)


def test_rounds_reload_global_weights_and_accountant_accumulates():
    X, y = _data()
    model, acc = _model(), PartyAccountant(party="bank")
    global_state = {k: v.clone() for k, v in model.state_dict().items()}
    eps = []
    for rnd in range(3):
        model.load_state_dict(global_state)  # the server's new global model
        stats = train_local_dp(model, X, y, epochs=4, lr=0.2, noise_multiplier=1.2,
                               clip_norm=1.0, batch_size=30,
                               accountant=acc, seed=rnd)
        assert stats.steps == 4 * 4
        global_state = {k: 0.5 * (v + global_state[k]) for k, v in model.state_dict().items()}
        eps.append(acc.epsilon(delta=1e-5))
        assert not any(hasattr(p, "grad_sample") for p in model.parameters())
    assert acc.steps == 48 and acc.segments[0].sample_rate == pytest.approx(30 / 120)
    assert eps[0] < eps[1] < eps[2]
    one_shot = PartyAccountant()
    one_shot.record(noise_multiplier=1.2, sample_rate=30 / 120, steps=48)
    assert eps[2] == pytest.approx(one_shot.epsilon(delta=1e-5))


def test_functorch_mode_gives_the_same_update():
    X, y = _data()
    out = []
    for mode in ("hooks", "functorch"):
        m = _model()
        train_local_dp(m, X, y, epochs=2, lr=0.3, noise_multiplier=1.0, clip_norm=0.5,
                       batch_size=40, accountant=PartyAccountant(),
                       seed=5, noise_seed=5, grad_sample_mode=mode)
        out.append(_params(m))
    np.testing.assert_allclose(out[0], out[1], rtol=1e-4, atol=1e-6)


def test_mlp_and_sigmoid_output_models_train():
    X, y = _data()
    mlp = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
    before = _params(mlp).copy()
    s = train_local_dp(mlp, X, y, epochs=3, lr=0.1, noise_multiplier=0.5, clip_norm=1.0,
                       batch_size=20, accountant=PartyAccountant(),
                       seed=0)
    assert s.steps == 18 and not np.allclose(before, _params(mlp))
    prob = nn.Sequential(nn.Linear(6, 1), nn.Sigmoid())
    s = train_local_dp(prob, X, y, epochs=200, lr=0.5, noise_multiplier=0.3, clip_norm=1.0,
                       batch_size=None, accountant=PartyAccountant(),
                       seed=0, loss="bce_prob")
    assert s.final_loss < 0.45  # learns the separable-ish signal despite the noise


GOOD = {"epochs": 1, "lr": 0.1, "noise_multiplier": 1.0, "clip_norm": 1.0, "batch_size": 10,
        "seed": 0}


@pytest.mark.parametrize(("name", "value"), [
    ("clip_norm", 0.0), ("clip_norm", -1.0), ("noise_multiplier", -0.5), ("batch_size", 0),
    ("batch_size", 1000), ("epochs", 0), ("lr", 0.0), ("noise_seed", 1.5),
    ("noise_seed", -1), ("seed", 1.5),
    ("loss", "hinge"), ("grad_sample_mode", "ghost"),
])
def test_bad_arguments_name_the_argument(name, value):
    X, y = _data()
    with pytest.raises(PrivacyArgumentError, match=name):
        train_local_dp(_model(), X, y, accountant=PartyAccountant(), **{**GOOD, name: value})


def test_bad_accountant_and_shapes():
    X, y = _data()
    with pytest.raises(PrivacyArgumentError, match="accountant"):
        train_local_dp(_model(), X, y, accountant=None, **GOOD)
    with pytest.raises(PrivacyArgumentError, match="rows"):
        train_local(_model(), X, y[:-1], epochs=1, lr=0.1, batch_size=None, seed=0)


def test_proximal_term_pulls_towards_the_center_in_both_trainers():
    """λ‖W − c‖² (FMTL): with a huge λ the model ends at c; DP with σ=0 and a huge clip
    applies the same penalty after clipping as plain SGD does."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    center = np.array([0.5, -0.5, 0.25, 1.0])

    def run(dp: bool, lam: float) -> np.ndarray:
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        if dp:
            train_local_dp(model, X, y, epochs=30, lr=0.1, noise_multiplier=0.0, clip_norm=1e6,
                           batch_size=None,
                           accountant=PartyAccountant(), seed=1, proximal=(center, lam))
        else:
            train_local(model, X, y, epochs=30, lr=0.1, batch_size=None, seed=1,
                        proximal=(center, lam))
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()

    # The minimiser sits within ‖∇data‖/(2λ) of the center: closer as λ grows.
    gaps = [np.abs(run(False, lam) - center).max() for lam in (0.0, 0.5, 4.0)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.05
    np.testing.assert_allclose(run(True, 0.3), run(False, 0.3), atol=1e-5)
    with pytest.raises(PrivacyArgumentError, match="center"):
        train_local(nn.Linear(3, 1), X, y, epochs=1, lr=0.1, batch_size=None, seed=0,
                    proximal=(np.zeros(2), 1.0))
