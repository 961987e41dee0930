"""Membership inference and logistic-regression gradient inversion."""

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from fedlib.privacy.attacks import (
    GradientInversionError,
    attack_update_payload,
    batch_gradient_leakage,
    inversion_error_vs_noise,
    invert_logistic_gradient,
    logistic_gradient,
    membership_inference,
    per_example_loss,
)


def _torch_grad(x, y, w, b):
    model = torch.nn.Linear(len(x), 1).double()
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(w)[None, :])
        model.bias.fill_(b)
    logit = model(torch.as_tensor(x)[None, :]).squeeze()
    torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.tensor(float(y))).backward()
    return model.weight.grad.numpy().ravel(), float(model.bias.grad)


@pytest.mark.parametrize("seed", range(5))
def test_exact_inversion_from_autograd_gradient(seed):
    rng = np.random.default_rng(seed)
    d = 12
    x, w = rng.normal(size=d), rng.normal(size=d)
    b, y = rng.normal(), rng.integers(0, 2)
    gw, gb = _torch_grad(x, y, w, b)
    assert np.max(np.abs(invert_logistic_gradient(gw, gb) - x)) < 1e-5
    # Our analytic gradient is the same as autograd's.
    agw, agb = logistic_gradient(x[None, :], [y], weight=w, bias=b)
    np.testing.assert_allclose(agw, gw, atol=1e-12)
    assert agb == pytest.approx(gb, abs=1e-12)
    # A one-step SGD update (scaled by -lr) and a clipped gradient give the same x.
    np.testing.assert_allclose(invert_logistic_gradient(-0.1 * gw, -0.1 * gb), x, atol=1e-9)


def test_inversion_of_softmax_layer_gradient():
    rng = np.random.default_rng(3)
    x = torch.as_tensor(rng.normal(size=6))
    layer = torch.nn.Linear(6, 3).double()
    torch.nn.functional.cross_entropy(layer(x)[None, :], torch.tensor([2])).backward()
    x_hat = invert_logistic_gradient(layer.weight.grad.numpy(), layer.bias.grad.numpy())
    np.testing.assert_allclose(x_hat, x.numpy(), atol=1e-10)


def test_fitted_example_gives_no_information():
    with pytest.raises(GradientInversionError, match="no information"):
        invert_logistic_gradient(np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="does not fit"):
        invert_logistic_gradient(np.zeros((2, 3)), 0.1)


def test_batch_mean_gives_residual_weighted_mean():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 4))
    y = rng.integers(0, 2, size=8)
    w, b = rng.normal(size=4), 0.3
    out = batch_gradient_leakage(X, y, weight=w, bias=b)
    np.testing.assert_allclose(out["reconstruction"], out["weighted_mean"], atol=1e-10)
    assert out["weights"].sum() == pytest.approx(1.0)
    assert out["nearest_distance"] > 1e-3                       # no single row is revealed
    # same labels: residuals share a sign, so x̂ is a convex combination of the rows
    same = batch_gradient_leakage(X, np.ones(8), weight=w, bias=b)
    assert (same["weights"] >= 0).all()
    assert (same["reconstruction"] >= X.min(axis=0) - 1e-12).all()
    assert (same["reconstruction"] <= X.max(axis=0) + 1e-12).all()
    # a client with one row gives that row away
    one = batch_gradient_leakage(X[:1], y[:1], weight=w, bias=b)
    np.testing.assert_allclose(one["reconstruction"], X[0], atol=1e-10)
    assert one["nearest_distance"] < 1e-10


def test_noise_degrades_inversion_monotonically():
    x = np.linspace(-1, 1, 12)
    df = inversion_error_vs_noise(x, 1, weight=np.full(12, 0.05), bias=0.0,
                                  noise_multipliers=[0.0, 0.01, 0.1, 1.0], clip_norm=0.5,
                                  n_trials=40, seed=1)
    med = df.groupby("noise_multiplier")["relative_error"].median()
    assert med[0.0] < 1e-12                 # clipping alone does not stop the attack
    assert med[0.01] < med[0.1] < med[1.0]
    assert med[1.0] > 0.5
    with pytest.raises(ValueError, match="clip_norm"):
        inversion_error_vs_noise(x, 1, weight=x, bias=0.0, noise_multipliers=[1.0], clip_norm=0)
    with pytest.raises(ValueError, match="noise_multipliers"):
        inversion_error_vs_noise(x, 1, weight=x, bias=0.0, noise_multipliers=[-1], clip_norm=1)


def test_attack_on_payloads_plaintext_and_ckks():
    ts = pytest.importorskip("tenseal")
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=5), rng.normal(size=5)
    gw, gb = logistic_gradient(x[None, :], [0], weight=w, bias=0.1)
    flat = np.r_[gw, gb]                     # get_flat_params layout: weights then bias
    assert attack_update_payload(flat, x_true=x)["relative_error"] < 1e-10

    ctx = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 60])
    ctx.global_scale = 2**40
    ciphertext = ts.ckks_vector(ctx, flat).serialize()
    public = ctx.serialize(save_secret_key=False)
    seen = attack_update_payload(ciphertext, server_context=public, x_true=x)
    assert not seen["readable"] and seen["reconstruction"] is None
    assert "secret" in seen["reason"]
    assert not attack_update_payload(ciphertext)["readable"]
    # If the server wrongly held the secret key, the attack would work again.
    leaked = attack_update_payload(ciphertext, server_context=ctx, x_true=x)
    assert leaked["readable"] and leaked["relative_error"] < 1e-4


def test_per_example_loss_shapes():
    probs = np.array([[0.2, 0.8], [0.9, 0.1]])
    np.testing.assert_allclose(per_example_loss(lambda X: probs, None, [1, 0]),
                               -np.log([0.8, 0.9]))
    np.testing.assert_allclose(per_example_loss(lambda X: probs[:, 1], np.zeros((2, 1)), [1, 0]),
                               -np.log([0.8, 0.9]))
    with pytest.raises(ValueError, match="rows"):
        per_example_loss(lambda X: np.ones(3) / 2, None, [1, 0])


def _data(rng, n):
    X = rng.normal(size=(n, 5))
    y = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(int)
    return X, y


def test_mia_chance_on_model_independent_of_membership():
    rng = np.random.default_rng(0)
    Xm, ym = _data(rng, 2000)
    Xn, yn = _data(rng, 2500)
    fixed = lambda X: 1 / (1 + np.exp(-X[:, 0]))  # noqa: E731 - the true model, fit on nothing
    res = membership_inference(fixed, Xm, ym, Xn, yn, seed=0)
    assert res["n_per_side"] == 2000
    assert abs(res["auc"] - 0.5) < 0.04
    assert res["advantage"] < 0.08
    assert res == membership_inference(fixed, Xm, ym, Xn, yn, seed=0)   # seeded subsample


def test_mia_detects_memorising_model():
    rng = np.random.default_rng(1)
    Xm, ym = _data(rng, 400)
    Xn, yn = _data(rng, 400)
    knn = KNeighborsClassifier(n_neighbors=1).fit(Xm, ym)
    memoriser = lambda X: np.clip(knn.predict_proba(X), 0.02, 0.98)  # noqa: E731
    res = membership_inference(memoriser, Xm, ym, Xn, yn, n=300, seed=0)
    assert res["n_per_side"] == 300
    assert res["auc"] > 0.65 and res["advantage"] > 0.3
    assert res["accuracy"] == pytest.approx(0.5 * (1 + res["advantage"]))
    assert res["yeom_accuracy"] > 0.6
    # Difficulty calibration with a reference model trained on other data keeps the signal.
    Xr, yr = _data(rng, 400)
    ref = KNeighborsClassifier(n_neighbors=25).fit(Xr, yr)
    cal = membership_inference(memoriser, Xm, ym, Xn, yn, n=300, seed=0,
                               reference_predict_proba=ref.predict_proba)
    assert cal["auc"] > 0.6


def test_mia_input_checks():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="rows per side"):
        membership_inference(lambda X: np.full(len(X), 0.5), X, [0, 1, 0, 1], X[:2], [0, 1], n=3)
    with pytest.raises(ValueError, match="same number of rows"):
        membership_inference(lambda X: np.full(len(X), 0.5), X, [0, 1], X, [0, 1, 0, 1])
