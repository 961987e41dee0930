"""Chapter 1's federations (:func:`~fedlib.fl.fmtl.run_federated`) on both engines.

The local engine and :class:`~fedlib.flower.engine.FlowerEngine` run the same round loop; on
Flower each institution's personal state (``W_i``, ``V_i``) lives in its node's state and its
DP ledger in the node's ledger, and the engine reads both back into the caller's parties
after the run. Same seed, same numbers: the global model, every personal model, the round
logs (timing aside) and every institution's ε must be identical. The Flower tests need the
optional extra and skip without it; the validation tests run anywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
from flower_parties import Institution

from fedlib.crypto.secagg import SecureAggregation
from fedlib.fl.fmtl import make_clients, run_federated
from fedlib.fl.loop import LocalEngine
from fedlib.fl.models import MLP

ROUNDS, SEED, DELTA = 3, 11, 1e-5
#: The fields of a RoundLog that are wall-clock timings (the only ones allowed to differ).
TIMING = ("client_seconds", "server_seconds")



def _institutions() -> list[Institution]:
    """Three small institutions of different size and label shift (chapter 1 in miniature)."""
    rng = np.random.default_rng(3)
    out = []
    for k, n in enumerate((40, 56, 72)):
        X = rng.random((n, 3)).astype(np.float32)
        out.append(Institution(name=f"inst-{k}", X=X,
                               y=(X[:, 1] + 0.2 * k > 0.7).astype(np.float32)))
    return out


def _run(engine, *, epsilon=None, seed=SEED, **kw):
    """One chapter-1 FMTL run (the ``"joint"`` step, seeded DP noise) on ``engine``."""
    clients = make_clients(_institutions(), epsilon=epsilon, delta=DELTA,
                           clip_norm=None if epsilon is None else 1.0, rounds=ROUNDS,
                           epochs=1, batch_size=16)
    logs = []
    run = run_federated(clients, model_fn=lambda: MLP(3, (4,), seed=2), mode="fmtl",
                        rounds=ROUNDS, lam=0.3, epochs=1, lr=0.4, batch_size=16, seed=seed,
                        noise_seed=5, algorithm="joint", engine=engine,
                        on_round=lambda log, r: logs.append(log), **kw)
    return run, clients, logs


def _without_timing(logs) -> list[dict]:
    return [{k: v for k, v in vars(log).items() if k not in TIMING} for log in logs]


def _assert_same_run(local, flower) -> None:
    (run_l, _, logs_l), (run_f, _, logs_f) = local, flower
    np.testing.assert_array_equal(run_f.global_params, run_l.global_params)
    assert sorted(run_f.models) == sorted(run_l.models)
    for name, model in run_l.models.items():
        np.testing.assert_array_equal(run_f.models[name], model, err_msg=name)
        np.testing.assert_array_equal(run_f.local_params[name], run_l.local_params[name],
                                      err_msg=name)
    assert _without_timing(run_f.history) == _without_timing(run_l.history)
    assert _without_timing(logs_f) == _without_timing(logs_l)


def test_personal_models_differ_from_the_global_one():
    """The comparison below is not vacuous: FMTL's personal models are not W̄ (local only)."""
    run, _, logs = _run(LocalEngine())
    assert len(logs) == ROUNDS
    for model in run.models.values():
        assert np.abs(model - run.global_params).max() > 1e-4


def test_fmtl_on_flower_equals_the_local_engine(flwr):
    """Global model, every personal model W̄ + V_i and W_i, and the round logs: bit for bit."""
    from fedlib.flower.engine import FlowerEngine

    _assert_same_run(_run(LocalEngine()), _run(FlowerEngine()))


def test_dp_fmtl_on_flower_spends_the_same_epsilon(flwr):
    """With DP-SGD each institution's accountant, read back from its node, gives the same ε."""
    from fedlib.flower.engine import FlowerEngine

    local, flower = _run(LocalEngine(), epsilon=2.0), _run(FlowerEngine(), epsilon=2.0)
    _assert_same_run(local, flower)
    for mine, theirs in zip(local[1], flower[1], strict=True):
        eps_local = mine.accountant.epsilon(delta=DELTA)
        assert eps_local > 0.0                     # the ledger is not empty
        assert theirs.accountant.epsilon(delta=DELTA) == eps_local, mine.name


def test_the_plain_flower_engine_refuses_the_books_secure_aggregation(flwr):
    """:class:`FlowerEngine` alone has no secure rounds: a clear error before any round."""
    from fedlib.flower.engine import FlowerEngine

    with pytest.raises(ValueError, match="secure aggregation.*fl_engine 'local'"):
        _run(FlowerEngine(), secure_aggregation=SecureAggregation(threshold=2))


def _secure(**kw) -> dict:
    return dict(secure_aggregation=SecureAggregation(threshold=2), **kw)


def test_secure_fmtl_on_flower_equals_the_local_engine(flwr):
    """Through the book's protocol on the nodes: the same models, logs and server bytes.

    The masks cancel exactly mod 2^64 and both engines encode the same contributions with
    the same codec, so the sums agree bit for bit (hence within the codec's bound
    ``n·2^-(f+1)`` of the plaintext sum, which the last check measures).
    """
    from fedlib.flower.secure_engine import SecureFlowerEngine

    local, flower = _run(LocalEngine(), **_secure()), _run(SecureFlowerEngine(), **_secure())
    _assert_same_run(local, flower)
    assert all(log.uploaded and not log.dropped for log in flower[0].history)
    plain = _run(LocalEngine())[0]
    bound = SecureAggregation(threshold=2).codec.sum_error_bound(3) * ROUNDS
    assert np.abs(flower[0].global_params - plain.global_params).max() <= bound
    # The server never received a plain update on Flower either.
    frame = flower[0].transcript.to_frame()
    to_server = frame[frame.receiver == "server"]
    assert set(to_server.label) == {"advertise_keys", "encrypted_shares", "masked_input",
                                    "unmask_shares"}


def test_secure_dp_fmtl_with_dropouts_on_flower_equals_the_local_engine(flwr):
    """Dropouts drawn by the loop: a party that drops in "masked" trains (its personal
    state and ε advance, as locally) but never uploads; one in "unmask" sends no shares."""
    from fedlib.flower.secure_engine import SecureFlowerEngine

    kw = _secure(dropout_rate=0.2, dropout_phases=("masked", "unmask"))
    local = _run(LocalEngine(), epsilon=2.0, **kw)
    flower = _run(SecureFlowerEngine(), epsilon=2.0, **kw)
    # This seed gives every case: an aborted round (two of three drop, t = 2), a party that
    # dropped in "unmask" (its input is in the sum) and one that dropped in "masked".
    cases = {(log.aborted, bool(set(log.dropped) & set(log.uploaded)), bool(log.dropped))
             for log in local[0].history}
    assert cases == {(True, False, True), (False, True, True), (False, False, True)}
    _assert_same_run(local, flower)
    for mine, theirs in zip(local[1], flower[1], strict=True):
        assert theirs.accountant.epsilon(delta=DELTA) == mine.accountant.epsilon(delta=DELTA)


def test_secure_flower_refuses_dropouts_before_the_masked_phase(flwr):
    """A party dropping in "share" would never train on Flower (it does locally): refused."""
    from fedlib.flower.secure_engine import SecureFlowerEngine

    with pytest.raises(ValueError, match=r"dropout_phases \['share'\].*'masked', 'unmask'"):
        _run(SecureFlowerEngine(), **_secure(dropout_rate=0.3, dropout_phases=("share",)))


def test_an_engine_that_refuses_stops_run_federated_before_training():
    """``engine.check`` runs before round 1: its error, not a training run, comes out."""

    class Refusing(LocalEngine):
        name = "refusing"

        def check(self, loop):
            raise ValueError("not here")

        def run(self, loop, rounds, *, on_round=None):      # pragma: no cover - never reached
            raise AssertionError("run after a failed check")

    with pytest.raises(ValueError, match="not here"):
        _run(Refusing(), epsilon=2.0)


def test_chapter_1_validates_fl_engine_before_any_computation(monkeypatch):
    """Chapter 1's ``fl_engine``: local by default, a bad value or a missing Flower named."""
    from pydantic import ValidationError

    from fedlib.flower import installed
    from fedlib.flower.secure_engine import engine_for
    from fedlib.papers.p01_fmtl.params import Chapter01Params

    assert Chapter01Params().fl_engine == "local"
    assert engine_for("local").name == "local"
    with pytest.raises(ValidationError, match="fl_engine"):
        Chapter01Params(fl_engine="ray")
    with pytest.raises(ValueError, match="allowed values are \\('local', 'flower'\\)"):
        engine_for("ray")
    monkeypatch.setattr(installed.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValidationError, match="make flower-test"):
        Chapter01Params(fl_engine="flower")
