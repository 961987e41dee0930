"""CKKS aggregation (fedlib.crypto.ckks): correctness within the stated bound, key separation,
parameter validation, ciphertext size. Chapter 2, paper 001 Sect. 3-4 (HE-FL)."""

from __future__ import annotations

import numpy as np
import pytest
import tenseal as ts
from hypothesis import given, settings
from hypothesis import strategies as st

from fedlib.core.protection import UpdateProtection
from fedlib.core.transcript import Transcript
from fedlib.crypto import ckks
from fedlib.crypto.ckks import (
    CKKSAggregator,
    CKKSKeyHolder,
    CKKSParameterError,
    CKKSParams,
    CKKSPayloadError,
    CKKSProtection,
    CKKSSecretKeyError,
    encrypt_vector,
)


@pytest.fixture(scope="module")
def holder() -> CKKSKeyHolder:
    return CKKSKeyHolder(CKKSParams())


@pytest.fixture(scope="module")
def protection(holder: CKKSKeyHolder) -> CKKSProtection:
    return CKKSProtection(holder)


# ---------------------------------------------------------------- correctness


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_clients=st.integers(1, 6),
       length=st.sampled_from([13, 4096]))
def test_decrypted_sum_matches_plain_sum_within_stated_bound(protection, seed, n_clients, length):
    rng = np.random.default_rng(seed)
    vectors = [rng.uniform(-100, 100, size=length) for _ in range(n_clients)]
    payloads = [protection.protect(f"bank-{i}", v) for i, v in enumerate(vectors)]
    got = protection.recover(protection.aggregate(payloads))
    want = np.sum(vectors, axis=0)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= protection.error_bound(n_clients, 100.0)


def test_stated_bound_is_near_paper_scale(protection):
    # The bound must be tight enough to matter for a model update (not e.g. 1.0).
    assert 1e-6 < protection.error_bound(1, 100.0) < 1e-5


def test_error_bound_rejects_overflowing_magnitudes():
    with pytest.raises(CKKSParameterError, match="max_abs"):
        CKKSParams().error_bound(5, 1e30)


def test_weighted_sum_on_server_is_fedavg_with_small_relative_error(holder):
    rng = np.random.default_rng(7)
    vectors = [rng.uniform(-1, 1, size=13) for _ in range(3)]
    weights = [0.2, 0.3, 0.5]
    server = CKKSAggregator(holder.public_context())
    got = holder.decrypt(server.sum([holder.encrypt(v) for v in vectors], weights=weights))
    want = sum(w * v for w, v in zip(weights, vectors, strict=True))
    # Measured ~1e-7 relative (TenSEAL resets the scale after rescaling); far above the
    # ~1e-9 of unweighted sums, hence the advice to weight on the clients.
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_decrypt_returns_vector_of_original_length(holder):
    assert holder.decrypt(holder.encrypt(np.arange(13.0))).shape == (13,)


# ---------------------------------------------------------------- key separation


def test_public_context_has_no_secret_key(holder):
    ctx = ts.context_from(holder.public_context())
    assert not ctx.is_private()
    assert not ctx.has_secret_key()
    assert not ctx.has_galois_keys() and not ctx.has_relin_keys()


def test_server_never_holds_secret_and_cannot_decrypt(holder):
    server = CKKSAggregator(holder.public_context())
    assert not server.context.is_private()
    agg = server.sum([holder.encrypt(np.ones(4)), holder.encrypt(np.ones(4))])
    with pytest.raises(ValueError, match="secret"):
        ts.ckks_vector_from(server.context, agg).decrypt()


def test_server_refuses_secret_context(holder):
    with pytest.raises(CKKSSecretKeyError, match="secret key"):
        CKKSAggregator(holder.secret_context())
    with pytest.raises(CKKSSecretKeyError):
        CKKSAggregator(ts.context_from(holder.secret_context()))


def test_protection_server_side_objects_are_public(protection):
    assert isinstance(protection, UpdateProtection)
    assert protection.kind == "ciphertext"
    assert not protection.aggregator.context.is_private()


def test_transcript_server_sees_only_ciphertexts(protection):
    rng = np.random.default_rng(3)
    t = Transcript()
    vectors = {f"bank-{i}": rng.normal(size=13) for i in range(5)}
    received = [t.send(sender=p, receiver="server", kind=protection.kind,
                       payload=protection.protect(p, v), label="model_update", round=1)
                for p, v in vectors.items()]
    agg = protection.aggregate(received)
    np.testing.assert_allclose(protection.recover(agg), sum(vectors.values()),
                               atol=protection.error_bound(5, 10.0))
    seen = t.received_by("server")
    assert {m.kind for m in seen} == {"ciphertext"}
    for m, v in zip(seen, vectors.values(), strict=True):
        assert isinstance(m.payload, bytes) and v.tobytes() not in m.payload


def test_payload_does_not_contain_plaintext_float_bytes(holder):
    v = np.random.default_rng(11).uniform(-100, 100, size=4096)
    payload = holder.encrypt(v)
    assert v.tobytes() not in payload
    assert v.astype(np.float32).tobytes() not in payload
    # Each single float64 too (a random 8-byte match in 330 KB has probability ~1e-10).
    assert not any(x.tobytes() in payload for x in v)


def test_encryption_is_randomised(holder):
    v = np.arange(13.0)
    assert holder.encrypt(v) != holder.encrypt(v)


def test_second_key_holder_from_secret_context_decrypts(holder):
    other = CKKSKeyHolder.from_secret_context(holder.secret_context(), CKKSParams())
    np.testing.assert_allclose(other.decrypt(holder.encrypt(np.ones(5))), np.ones(5), atol=1e-6)
    prot = CKKSProtection(holder.secret_context(), params=CKKSParams())
    agg = prot.aggregate([encrypt_vector(holder.public_context(), np.full(3, 2.0))] * 2)
    np.testing.assert_allclose(prot.recover(agg), np.full(3, 4.0), atol=1e-6)


def test_foreign_key_holder_gets_garbage_not_the_sum(holder):
    # A ciphertext is bound to its key pair: another holder's secret key decrypts noise.
    stranger = CKKSKeyHolder(CKKSParams())
    v = np.linspace(-1, 1, 13)
    assert np.max(np.abs(stranger.decrypt(holder.encrypt(v)) - v)) > 1.0


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        ({"coeff_mod_bit_sizes": (60, 60, 60, 60)}, ["coeff_mod_bit_sizes", "240", "218"]),
        ({"poly_modulus_degree": 1000}, ["poly_modulus_degree=1000", "power of two"]),
        ({"poly_modulus_degree": 65536}, ["poly_modulus_degree=65536"]),
        ({"scale_bits": 50}, ["scale_bits=50", "inner prime"]),
        ({"coeff_mod_bit_sizes": (40, 40, 60)}, ["scale_bits=40", "first prime"]),
        ({"coeff_mod_bit_sizes": (61, 40, 60)}, ["coeff_mod_bit_sizes", "61"]),
        ({"coeff_mod_bit_sizes": (60,)}, ["coeff_mod_bit_sizes", "at least two"]),
        ({"scale_bits": 0}, ["scale_bits=0"]),
    ],
)
def test_bad_params_rejected_naming_the_parameter(kwargs, needles):
    with pytest.raises(CKKSParameterError) as info:
        CKKSParams(**kwargs)
    for needle in needles:
        assert needle in str(info.value)


def test_vector_longer_than_slots_rejected_with_slot_count_and_hint(holder):
    with pytest.raises(CKKSParameterError) as info:
        CKKSParams().validate(4097)
    msg = str(info.value)
    assert "vector_length=4097" in msg and "4096 slots" in msg and "16384" in msg
    with pytest.raises(CKKSParameterError, match="4096 slots"):
        encrypt_vector(holder.public_context(), np.zeros(4097))
    CKKSParams().validate(4096)


def test_validation_happens_before_key_generation(monkeypatch):
    def no_keygen(*args, **kwargs):
        raise AssertionError("key generation must not run for invalid parameters")

    monkeypatch.setattr(ckks.ts, "context", no_keygen)
    with pytest.raises(CKKSParameterError):
        CKKSKeyHolder(CKKSParams(poly_modulus_degree=8192, coeff_mod_bit_sizes=(60,) * 4))


def test_tenseal_error_is_reraised_naming_parameters():
    # Valid by SEAL's size rules, but no two NTT-friendly primes of 14 and 13 bits exist.
    params = CKKSParams(poly_modulus_degree=1024, coeff_mod_bit_sizes=(14, 13), scale_bits=10)
    with pytest.raises(CKKSParameterError) as info:
        CKKSKeyHolder(params)
    assert "coeff_mod_bit_sizes=(14, 13)" in str(info.value)
    assert "TenSEAL" in str(info.value)


@pytest.mark.parametrize(
    ("vector", "match"),
    [(np.array([1.0, np.nan]), "NaN"), (np.ones((2, 2)), "1-D"), (np.array([1e30]), "too large")],
)
def test_bad_vectors_rejected(holder, vector, match):
    with pytest.raises(CKKSPayloadError, match=match):
        encrypt_vector(holder.public_context(), vector)


def test_server_rejects_corrupt_or_mismatched_ciphertexts(holder):
    server = CKKSAggregator(holder.public_context())
    with pytest.raises(CKKSPayloadError, match="ciphertext 1"):
        server.sum([holder.encrypt(np.ones(3)), b"not a ciphertext"])
    with pytest.raises(CKKSPayloadError, match="different lengths"):
        server.sum([holder.encrypt(np.ones(3)), holder.encrypt(np.ones(4))])
    with pytest.raises(CKKSPayloadError, match="empty"):
        server.sum([])


# ---------------------------------------------------------------- cost


def test_ciphertext_size_is_about_330_kb_whatever_the_length(holder):
    small, full = len(holder.encrypt(np.ones(13))), len(holder.encrypt(np.ones(4096)))
    assert 300_000 < small < 360_000
    assert abs(small - full) / full < 0.01
    # Public context (public key only) is the one-time key-distribution cost.
    assert 300_000 < len(holder.public_context()) < 700_000


# ------------------------------------------------------- what the server gets back (issue 9)


def test_released_aggregate_carries_no_low_order_noise_bits(holder):
    raw = CKKSProtection(holder, release_grid_bits=None)
    released = CKKSProtection(holder)
    rng = np.random.default_rng(3)
    vectors = [rng.uniform(-1, 1, size=2048) for _ in range(3)]
    agg = raw.aggregate([raw.protect(f"b{i}", v) for i, v in enumerate(vectors)])
    noisy, out = raw.recover(agg), released.recover(agg)
    step = 2.0 ** -released.release_grid_bits
    # The raw decryption has noise below the grid; the released value sits on the grid.
    assert np.any(noisy / step != np.round(noisy / step))
    np.testing.assert_array_equal(out / step, np.round(out / step))
    assert np.max(np.abs(out - np.sum(vectors, axis=0))) <= released.error_bound(3, 1.0)
    # Two encryptions (fresh noise) of the same sum release the same value almost everywhere:
    # only coordinates within the noise of a grid midpoint may differ, by one step.
    agg2 = raw.aggregate([raw.protect(f"b{i}", v) for i, v in enumerate(vectors)])
    diff = np.abs(released.recover(agg2) - out)
    assert np.all(diff <= step * 1.0001) and np.mean(diff > 0) < 0.05


def test_release_grid_must_sit_above_the_ckks_noise(holder):
    with pytest.raises(CKKSParameterError, match="release_grid_bits=30.*at most 22"):
        CKKSProtection(holder, release_grid_bits=30)
    with pytest.raises(ValueError, match="grid_bits"):
        CKKSProtection(holder, release_grid_bits=0)


def test_server_colluding_with_one_client_decrypts_another_banks_update(holder):
    from fedlib.core.party import PartyRows
    from fedlib.fl.experiment import ClientMode, build_parties, run_federation
    from fedlib.fl.leakage import recover_by_collusion
    from fedlib.fl.models import LogisticRegression

    class Recording(CKKSProtection):
        sent: dict = {}

        def protect(self, party, vector):
            self.sent[party] = np.array(vector, dtype=np.float64)
            return super().protect(party, vector)

    prot = Recording(holder)
    rng = np.random.default_rng(0)
    data = []
    for k in range(3):
        X = rng.normal(size=(40 + 10 * k, 4)).astype(np.float32)
        y = (X[:, 0] + 0.3 * rng.normal(size=len(X)) > 0).astype(np.float32)
        data.append(PartyRows(f"bank-{k + 1}", X, y))
    parties = build_parties(data, [ClientMode("he", protection="ckks")] * 3, epochs=2, lr=0.5,
                            batch_size=None, ckks=prot, delta=None)
    run = run_federation(parties, model_fn=lambda: LogisticRegression(4, seed=0), rounds=1,
                         seed=0, evaluate=lambda m: {})
    # The server's transcript holds only ciphertexts of individual updates ...
    ups = [m for m in run.federation.transcript.received_by("server") if m.label == "model_update"]
    assert ups and all(m.kind == "ciphertext" for m in ups)
    # ... but bank-1's copy of the shared key opens bank-2's.
    leak = recover_by_collusion(run.federation, target="bank-2", colluder="bank-1",
                                colluder_secret_context=holder.secret_context())
    truth = prot.sent["bank-2"]
    got = leak.updates[1][: truth.size]
    assert np.max(np.abs(got - truth)) <= holder.params.error_bound(1, float(np.abs(truth).max()))
    assert leak.weights[1] == pytest.approx(50 / 150)
    # A public context (what the server has on its own) cannot do it.
    with pytest.raises(ValueError, match="no secret key"):
        recover_by_collusion(run.federation, target="bank-2", colluder="bank-1",
                             colluder_secret_context=holder.public_context())
    with pytest.raises(ValueError, match="bank-9"):
        recover_by_collusion(run.federation, target="bank-9", colluder="bank-1",
                             colluder_secret_context=holder.secret_context())
