"""The per-example gradient backends and the one DP step, against Opacus.

For the same Poisson draw and the same noise draw (one generator, seeded alike), every
backend of :mod:`fedlib.privacy.per_example` followed by :func:`fedlib.privacy.dp_step.dp_step`
must release what Opacus' ``GradSampleModule`` + ``DPOptimizer`` release, to float rounding
of the clipped sum: on logistic regression, an MLP and chapter 3's hazard net (with its own
eq. 1 loss). An empty batch releases pure noise; whole seeded runs take the same steps,
record the same accountant steps and end at the same weights.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from opacus import GradSampleModule
from opacus.optimizers import DPOptimizer
from torch import nn

from fedlib.fl.models import MLP, LogisticRegression
from fedlib.privacy.accountants import PartyAccountant, PrivacyArgumentError
from fedlib.privacy.dp_step import dp_step
from fedlib.privacy.dpsgd import train_local_dp
from fedlib.privacy.per_example import (
    BACKENDS,
    DenseGradients,
    linear_stack,
    make_backend,
    resolve_backend,
)
from fedlib.privacy.randomness import gaussian_noise, mechanism_generator
from fedlib.survival.federated import SurvivalTrainer, make_model
from fedlib.survival.labels import interval_grid, survival_targets
from fedlib.survival.likelihood import discrete_time_nll

SIGMA, C = 0.8, 0.5


def _bce(out, y):
    return nn.functional.binary_cross_entropy_with_logits(out, y.reshape(out.shape),
                                                          reduction="sum")


def _nll(out, ss, sf):
    return discrete_time_nll(out, ss, sf, reduction="sum")


def _binary(n=64, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(np.float32)
    return torch.tensor(X), torch.tensor(y)


def _survival(n=64, d=5, T=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    t, e = rng.uniform(0, T, n), rng.integers(0, 2, n)
    ss, sf = survival_targets(t, e, interval_grid(horizon=T, n_intervals=T))
    return torch.tensor(X), torch.tensor(ss, dtype=torch.float32), \
        torch.tensor(sf, dtype=torch.float32)


#: name -> (model factory, loss, loss name, data, backends that fit, what "auto" picks)
CASES = {
    "logreg": (lambda: LogisticRegression(5, seed=0), _bce, "bce", _binary,
               BACKENDS, "closed_form"),
    "mlp": (lambda: MLP(5, (16, 8), seed=0), _bce, "bce", _binary,
            ("linear", "vmap", "opacus"), "linear"),
    "hazard": (lambda: make_model(5, 6, seed=0, init_hazard=0.05, hidden=(16, 8)), _nll, None,
               _survival, ("linear", "vmap", "opacus"), "linear"),
}


def _opacus_release(make, loss, X, targets, *, seed, expected):
    """``p.grad`` after Opacus' DPOptimizer.pre_step (clip, noise, scale) — the reference."""
    model = make()
    params = list(model.parameters())
    gsm = GradSampleModule(model, loss_reduction="sum")
    opt = DPOptimizer(torch.optim.SGD(params, lr=0.1), noise_multiplier=SIGMA, max_grad_norm=C,
                      expected_batch_size=expected, loss_reduction="mean",
                      generator=mechanism_generator(0, seed=seed), secure_mode=True)
    if len(X):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            loss(gsm(X), *targets).backward()
    else:
        for p in params:
            p.grad_sample = torch.zeros((0, *p.shape))
    assert opt.pre_step()
    out = [p.grad.detach().clone() for p in params]
    gsm._close()
    return out


def _backend_release(make, loss, loss_name, backend, X, targets, *, seed, expected, probe):
    model = make()
    params = list(model.parameters())
    grads_of = make_backend(model, loss, backend=backend, loss_name=loss_name, probe=probe)
    grads = grads_of(X, *targets) if len(X) else None
    acc = PartyAccountant()
    out = dp_step(grads, params, clip_norm=C, noise_multiplier=SIGMA,
                  expected_batch_size=expected, generator=mechanism_generator(0, seed=seed),
                  accountant=acc, sample_rate=0.25)
    grads_of.close()
    assert acc.steps == 1
    return out


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("rows", [40, 0])
def test_every_backend_releases_what_opacus_releases(case, rows):
    make, loss, loss_name, data, backends, _ = CASES[case]
    probe, *targets = data()
    X, targets = probe[:rows], [t[:rows] for t in targets]
    want = _opacus_release(make, loss, X, targets, seed=rows + 1, expected=32)
    for backend in backends:
        got = _backend_release(make, loss, loss_name, backend, X, targets, seed=rows + 1,
                               expected=32, probe=probe)
        assert [g.shape for g in got] == [w.shape for w in want]
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, atol=2e-6, rtol=1e-5, msg=f"{case} {backend}")
    if rows:
        # The clipped sum is really there: without noise the release is far from pure noise.
        pure = _opacus_release(make, loss, X[:0], [t[:0] for t in targets], seed=rows + 1,
                               expected=32)
        assert any(not torch.allclose(w, p, atol=1e-4) for w, p in zip(want, pure, strict=True))


def test_noise_is_opacus_secure_noise_to_the_bit():
    """The DP step's noise is Opacus' secure-mode draw per parameter, in parameter order,
    whatever the parameter's size (one fused draw where that is the same, four otherwise)."""
    shapes = [(1,), (2, 1), (3,), (5,), (1, 5), (16,), (8, 16), (24,), (7, 13), (64, 59)]
    params = [torch.zeros(s) for s in shapes]
    got = dp_step(None, params, clip_norm=0.7, noise_multiplier=1.3, expected_batch_size=3,
                  generator=mechanism_generator(0, seed=2))
    gen = mechanism_generator(0, seed=2)
    for g, p in zip(got, params, strict=True):
        want = (torch.zeros_like(p) + gaussian_noise(1.3 * 0.7, p, gen)) / 3
        assert torch.equal(g, want), p.shape


def test_a_flat_per_example_matrix_takes_the_same_step():
    make, loss, _, data, _, _ = CASES["hazard"]
    X, ss, sf = data(n=20)
    model = make()
    params = list(model.parameters())
    handle = make_backend(model, loss, backend="linear", probe=X)(X, ss, sf)
    kw = dict(clip_norm=C, noise_multiplier=SIGMA, expected_batch_size=16)
    a = dp_step(handle, params, generator=mechanism_generator(0, seed=1), **kw)
    b = dp_step(handle.materialize(), params, generator=mechanism_generator(0, seed=1), **kw)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        dp_step(handle.materialize()[:, 1:], params, generator=mechanism_generator(0, seed=1),
                **kw)


def test_empty_batch_releases_pure_noise_of_the_stated_scale():
    params = [torch.zeros(300, 20), torch.zeros(20)]
    gen = mechanism_generator(0, seed=9)
    acc = PartyAccountant()
    out = dp_step(None, params, clip_norm=2.0, noise_multiplier=1.5, expected_batch_size=4,
                  generator=gen, accountant=acc, sample_rate=0.1)
    flat = torch.cat([o.reshape(-1) for o in out])
    assert abs(float(flat.std()) - 1.5 * 2.0 / 4) < 0.02 and abs(float(flat.mean())) < 0.02
    assert acc.steps == 1 and acc.segments[0].sample_rate == 0.1
    # σ = 0 draws nothing (as Opacus) and releases zeros.
    zero = dp_step(None, params, clip_norm=2.0, noise_multiplier=0.0, expected_batch_size=4,
                   generator=gen)
    assert all(not z.any() for z in zero)


@pytest.mark.parametrize("case", sorted(CASES))
def test_auto_picks_the_fast_backend_and_the_factors_equal_the_materialised_gradients(case):
    make, loss, loss_name, data, _, auto = CASES[case]
    X, *targets = data(n=12)
    model = make()
    assert resolve_backend(model, loss_name=loss_name, probe=X) == auto
    fast = make_backend(model, loss, backend="auto", loss_name=loss_name, probe=X)(X, *targets)
    ref = make_backend(model, loss, backend="vmap")(X, *targets)
    assert isinstance(ref, DenseGradients)
    torch.testing.assert_close(fast.materialize(), ref.materialize(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fast.norms(), ref.norms(), atol=1e-6, rtol=1e-5)
    rows = torch.tensor([0, 3, 3, 11, 5])
    torch.testing.assert_close(fast.gram(rows), ref.gram(rows), atol=1e-9, rtol=1e-5)
    left, right = torch.tensor([0, 1, 2]), torch.tensor([7, 1, 9])
    np.testing.assert_allclose(fast.pair_sq_distances(left, right, clip_norm=C),
                               ref.pair_sq_distances(left, right, clip_norm=C), rtol=1e-5,
                               atol=1e-10)


def test_models_whose_forward_is_not_their_stack_are_not_bypassed():
    class Scaled(LogisticRegression):          # inherits the layer, overrides forward
        def forward(self, x):
            return 2.0 * super().forward(x)

    class Recording(nn.Module):                # one Linear child, no declaration
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 1)

        def forward(self, x):
            return self.lin(x)

    X, _ = _binary(n=8)
    for model in (Scaled(5, seed=0), Recording()):
        assert linear_stack(model) is None
        assert resolve_backend(model, loss_name="bce", probe=X) == "opacus"
        with pytest.raises(ValueError, match="stack"):
            make_backend(model, _bce, backend="linear", probe=X)
    with pytest.raises(ValueError, match="closed_form"):
        make_backend(MLP(5, (4,), seed=0), _bce, backend="closed_form", loss_name="bce",
                     probe=X)
    with pytest.raises(ValueError, match="backend"):
        make_backend(MLP(5, (4,), seed=0), _bce, backend="ghost", probe=X)


@pytest.mark.parametrize("case", ["logreg", "mlp"])
@pytest.mark.parametrize("batch_size", [4, None])
def test_seeded_runs_are_the_same_on_every_backend(case, batch_size):
    """Whole train_local_dp runs: same Poisson draws (n q = 4 leaves some batches empty),
    same noise, same steps in the accountant, same final weights to float rounding."""
    make, _, _, data, backends, _ = CASES[case]
    X, y = data(n=48)
    out = {}
    for backend in backends:
        model, acc = make(), PartyAccountant()
        stats = train_local_dp(model, X.numpy(), y.numpy(), epochs=2, lr=0.5,
                               noise_multiplier=SIGMA, clip_norm=C, batch_size=batch_size,
                               accountant=acc, seed=3, noise_seed=5, backend=backend)
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        out[backend] = (flat, stats.steps, acc.steps, acc.segments)
    ref = out["opacus"]
    assert ref[1] == ref[2] == (2 if batch_size is None else 24)
    for backend, got in out.items():
        torch.testing.assert_close(got[0], ref[0], atol=1e-5, rtol=1e-5, msg=backend)
        assert got[1:] == ref[1:], backend
    with pytest.raises(PrivacyArgumentError, match="backend"):
        train_local_dp(make(), X.numpy(), y.numpy(), epochs=1, lr=0.5, noise_multiplier=1.0,
                       clip_norm=1.0, batch_size=None, accountant=PartyAccountant(), seed=0,
                       backend="ghost")


@pytest.mark.parametrize("grad_path", ["ghost", "vmap"])
def test_survival_trainer_takes_the_same_dp_step_as_opacus(grad_path):
    """Chapter 3's trainer: its private step on the hazard net (eq. 1 loss) equals Opacus'
    DPOptimizer for the same batch and generator, and every step is accounted."""
    make, loss, _, data, _, _ = CASES["hazard"]
    X, ss, sf = data(n=100)
    idx = torch.arange(0, 100, 3)
    want = _opacus_release(make, loss, X[idx], (ss[idx], sf[idx]), seed=4, expected=32)
    net = make()
    tr = SurvivalTrainer(epochs=1, lr=1e-3, batch_size=32, mode="dp", noise_multiplier=SIGMA,
                         clip_norm=C, grad_path=grad_path)
    tr._private_grad(net, list(net.parameters()), X, ss, sf, idx,
                     mechanism_generator(0, seed=4), np.random.default_rng(0))
    for p, w in zip(net.parameters(), want, strict=True):
        torch.testing.assert_close(p.grad, w, atol=2e-6, rtol=1e-5)
    assert tr.dp_accountant.steps == 1
    stats = tr.train(make(), X.numpy(), np.hstack([ss.numpy(), sf.numpy()]), seed=1)
    assert stats.steps == 4 and tr.dp_accountant.steps == 5


def _autograd_factors(layers, loss, X, *targets):
    """Layer inputs and output gradients by autograd (the graph the hand-written pass replaces)."""
    inputs, outs, h = [], [], X
    with torch.enable_grad():
        for m in layers:
            if type(m) is nn.Linear:
                inputs.append(h.detach())
                h = nn.functional.linear(h, m.weight.detach(), m.bias.detach())
                if not outs:
                    h.requires_grad_(True)
                outs.append(h)
            else:
                h = m(h)
        deltas = torch.autograd.grad(loss(h, *targets), outs)
    return inputs, list(deltas)


@pytest.mark.parametrize("act", [nn.SELU, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity, nn.ELU,
                                 nn.LeakyReLU, nn.SiLU, nn.GELU])
@pytest.mark.parametrize("rows", [1, 33])
def test_hand_written_backward_is_autograds_to_the_bit(act, rows):
    """The ``linear`` backend's forward and backward by hand give autograd's factors exactly,
    for every element-wise activation it accepts (hand-written kernels or autograd per op)."""
    torch.manual_seed(rows)
    net = nn.Sequential(nn.Linear(7, 16), act(), nn.Linear(16, 9), act(), nn.Linear(9, 3))
    X, y = torch.randn(rows, 7), torch.randn(rows, 3)

    def loss(out, t):
        return ((out - t) ** 2).sum() + out.sigmoid().sum()

    got = make_backend(net, loss, backend="linear", probe=X)(X, y)
    inputs, deltas = _autograd_factors(list(net), loss, X, y)
    assert all(torch.equal(a, b) for a, b in zip(got.inputs, inputs, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(got.deltas, deltas, strict=True)), act


def test_hand_written_backward_of_the_hazard_net_is_autograds_to_the_bit():
    make, loss, _, data, _, _ = CASES["hazard"]
    model = make()
    X, ss, sf = data(n=40)
    got = make_backend(model, loss, backend="linear", probe=X)(X, ss, sf)
    inputs, deltas = _autograd_factors(list(model.net), loss, X, ss, sf)
    assert all(torch.equal(a, b) for a, b in zip(got.inputs + got.deltas, inputs + deltas,
                                                  strict=True))


def test_releases_are_fresh_tensors_and_the_scratch_keeps_the_stream():
    """The noise scratch is reused between steps and layouts, never returned: a release is not
    changed by later steps, and interleaving two layouts changes no draw."""
    a = [torch.zeros(3, 16), torch.zeros(5)]
    b = [torch.zeros(7, 13), torch.zeros(24), torch.zeros(1)]
    kw = dict(clip_norm=1.0, noise_multiplier=1.0, expected_batch_size=4)
    gen_a, gen_b = mechanism_generator(0, seed=5), mechanism_generator(0, seed=6)
    first = dp_step(None, a, generator=gen_a, **kw)
    kept = [t.clone() for t in first]
    mixed = [dp_step(None, b, generator=gen_b, **kw), dp_step(None, a, generator=gen_a, **kw)]
    assert all(torch.equal(x, y) for x, y in zip(first, kept, strict=True))
    gen_a, gen_b = mechanism_generator(0, seed=5), mechanism_generator(0, seed=6)
    dp_step(None, a, generator=gen_a, **kw)
    alone = [dp_step(None, b, generator=gen_b, **kw), dp_step(None, a, generator=gen_a, **kw)]
    for got, want in zip(mixed, alone, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(got, want, strict=True))
    assert not any(x.data_ptr() == y.data_ptr() for x in mixed[0] for y in mixed[1])


@pytest.mark.parametrize("loss_name", ["bce", "mse"])
def test_named_losses_skip_autograd_with_the_same_factors(loss_name):
    """With a named loss the ``linear`` backend takes its gradient in closed form: the
    factors are autograd's to the bit (chapter 1's MLP and BCE)."""
    X, y = _binary(n=50, d=5, seed=3)
    model = MLP(5, (16, 8), seed=0)
    loss = (_bce if loss_name == "bce" else
            lambda out, t: nn.functional.mse_loss(out, t.reshape(out.shape), reduction="sum"))
    backend = make_backend(model, loss, backend="linear", loss_name=loss_name, probe=X)
    assert backend.residual is not None
    got = backend(X, y)
    inputs, deltas = _autograd_factors(list(model.net), loss, X, y)
    assert all(torch.equal(a, b) for a, b in zip(got.inputs + got.deltas, inputs + deltas,
                                                  strict=True))


def test_the_hazard_loss_gradient_without_autograd_is_autograds_to_the_bit():
    """Chapter 3's trainer takes the eq. 1 loss's gradient without autograd: the same bits,
    on ordinary and extreme logits, label vectors and arbitrary weights."""
    from fedlib.survival.federated import _grad_backend, _nll_sum, nll_sum_gradient

    gen = torch.Generator().manual_seed(0)
    z = torch.randn(64, 24, generator=gen) * 5
    z[0, :4] = torch.tensor([0.0, -90.0, 90.0, 1e-30])
    for ss, sf in [(torch.rand(64, 24, generator=gen).round(),
                    torch.rand(64, 24, generator=gen).round()),
                   (torch.rand(64, 24, generator=gen), torch.rand(64, 24, generator=gen))]:
        zz = z.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(_nll_sum(zz, ss, sf), zz)
        assert torch.equal(nll_sum_gradient(z, ss, sf), want)
    model = make_model(10, 24, seed=0, init_hazard=0.01)
    X = torch.randn(30, 10, generator=gen)
    backend = _grad_backend(model, X, "ghost")
    assert backend.loss_grad is nll_sum_gradient
    got = backend(X, ss[:30], sf[:30])
    inputs, deltas = _autograd_factors(list(model.net), _nll_sum, X, ss[:30], sf[:30])
    assert all(torch.equal(a, b) for a, b in zip(got.inputs + got.deltas, inputs + deltas,
                                                  strict=True))


@pytest.mark.parametrize("rows", [1, 7, 16, 33, 257])
def test_stacked_ghost_norms_are_the_per_layer_loop_to_the_bit(rows):
    """``LinearFactors.sq_norms`` (terms stacked, weighted in two ops, added row after row)
    equals the loop over layers it replaces, to the bit, with and without biases."""
    torch.manual_seed(rows)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4, bias=False), nn.SELU(),
                        nn.Linear(4, 2))
    X, y = torch.randn(rows, 5) * 3, torch.randn(rows, 2)
    got = make_backend(net, lambda o, t: ((o - t) ** 2).sum(), backend="linear", probe=X)(X, y)
    loop = None
    for a, d, b in zip(got.inputs, got.deltas, got.has_bias, strict=True):
        t = torch.linalg.vecdot(a, a)
        if b:
            t += 1.0
        t *= torch.linalg.vecdot(d, d)
        loop = t if loop is None else loop.add_(t)
    assert got.has_bias == [True, False, True]
    assert torch.equal(got.sq_norms(), loop)
