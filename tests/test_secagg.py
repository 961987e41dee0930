"""Secure aggregation: exact sums under dropout, clean aborts, uniform masks, what the server saw."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from fedlib.core.protection import UpdateProtection
from fedlib.core.transcript import Transcript
from fedlib.crypto.fixedpoint import FixedPointCodec, RingOverflowError
from fedlib.crypto.prf import derive_key, expand_mask, expand_mod
from fedlib.crypto.secagg import (
    PHASES,
    MaskedInput,
    SecAggProtocolError,
    SecureAggregation,
    SecureAggregationAborted,
    SecureAggregationRound,
    per_client_noise_std,
    surviving_noise_std,
)

CODEC = FixedPointCodec(frac_bits=20, clip=16.0)


def _vectors(n, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    return {f"bank-{i}": rng.uniform(-4, 4, size=dim) for i in range(n)}


def _fixed_point_sum(vectors, who):
    total = np.zeros(len(next(iter(vectors.values()))), dtype=np.uint64)
    for c in who:
        total += CODEC.encode(vectors[c])
    return CODEC.decode(total, n_summands=max(1, len(who)))


def _round(clients, t=3, seed=1, transcript=None, round=1):
    return SecureAggregationRound(clients, threshold=t, codec=CODEC, transcript=transcript,
                                  round=round, entropy=np.random.default_rng(seed).bytes)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_exact_sum_for_every_upload_dropout_set_n5_t3(k):
    vecs = _vectors(5)
    for dropped in itertools.combinations(vecs, k):
        got = _round(list(vecs)).run(vecs, {"masked": set(dropped)})
        survivors = [c for c in vecs if c not in dropped]
        assert np.array_equal(got, _fixed_point_sum(vecs, survivors))


def test_abort_when_more_than_n_minus_t_drop_at_upload():
    vecs = _vectors(5)
    for dropped in itertools.combinations(vecs, 3):
        with pytest.raises(SecureAggregationAborted, match=r"'masked': 2 of 5 .* t=3"):
            _round(list(vecs)).run(vecs, {"masked": set(dropped)})


@pytest.mark.parametrize("phase", PHASES)
def test_abort_at_each_phase(phase):
    vecs = _vectors(6)
    r = _round(list(vecs), t=4)
    with pytest.raises(SecureAggregationAborted, match=rf"{phase}'?: 3 of 6 clients .* t=4"):
        r.run(vecs, {phase: {"bank-0", "bank-2", "bank-5"}})
    # Nothing about the inputs was reconstructed before the abort.
    assert r.reconstructed == {}


@settings(max_examples=12, deadline=None)
@given(assignment=st.lists(st.sampled_from((None,) + PHASES), min_size=7, max_size=7),
       t=st.integers(4, 6))
def test_dropout_in_any_phase_sum_or_abort(assignment, t):
    vecs = _vectors(7, dim=5, seed=3)
    names = list(vecs)
    dropouts = {p: {c for c, a in zip(names, assignment, strict=True) if a == p} for p in PHASES}
    alive, ok = set(names), True
    for p in PHASES:
        alive -= dropouts[p]
        ok &= len(alive) >= t
        if p == "masked":
            u3 = [c for c in names if c in alive]
    r = _round(names, t=t)
    if not ok:
        with pytest.raises(SecureAggregationAborted):
            r.run(vecs, dropouts)
        return
    assert np.array_equal(r.run(vecs, dropouts), _fixed_point_sum(vecs, u3))
    assert r.u3 == tuple(u3)


def test_float_sum_within_quantisation_bound_with_dp_noise():
    vecs = _vectors(8, dim=50, seed=5)
    sigma = per_client_noise_std(total_noise_std=0.5, min_survivors=5)
    rng = np.random.default_rng(11)
    noisy = {c: v + rng.normal(0, sigma, size=v.shape) for c, v in vecs.items()}
    got = SecureAggregation(threshold=5, codec=CODEC, entropy=rng.bytes).run(
        noisy, dropouts={"masked": {"bank-1"}}, round=0)
    expected = sum(v for c, v in noisy.items() if c != "bank-1")
    assert np.max(np.abs(got - expected)) <= CODEC.sum_error_bound(7)
    assert surviving_noise_std(sigma, 5) == pytest.approx(0.5)
    assert surviving_noise_std(sigma, 7) > 0.5


@settings(max_examples=25, deadline=None)
@given(x=st.lists(st.floats(-16.0, 16.0), min_size=1, max_size=20), f=st.integers(1, 40))
def test_quantisation_error_within_stated_bound(x, f):
    codec = FixedPointCodec(frac_bits=f, clip=16.0)
    x = np.array(x)
    err = np.abs(codec.decode(codec.encode(x)) - x)
    assert np.all(err <= codec.sum_error_bound(1))
    many = np.zeros(len(x), dtype=np.uint64)
    for _ in range(9):
        many += codec.encode(x)
    assert np.all(np.abs(codec.decode(many, n_summands=9) - 9 * x) <= codec.sum_error_bound(9))


def test_codec_clips_checks_capacity_and_rejects_nan():
    codec = FixedPointCodec(frac_bits=8, clip=2.0)
    with pytest.warns(UserWarning, match="2 of 2 values"):
        assert np.array_equal(codec.decode(codec.encode(np.array([5.0, -9.0]))), [2.0, -2.0])
    with pytest.raises(ValueError, match="NaN"):
        codec.encode(np.array([np.nan]))
    big = FixedPointCodec(frac_bits=40, clip=2.0**11)  # 2^51 per summand: at most 4095 fit
    assert big.max_summands == (2**63 - 1) // 2**51
    big.check_capacity(big.max_summands)
    with pytest.raises(RingOverflowError, match="n_summands=4096"):
        big.check_capacity(4096)
    # The bound is real: 4096 maximal values do wrap around.
    wrapped = np.zeros(1, dtype=np.uint64)
    for _ in range(4096):
        wrapped += big.encode(np.array([2.0**11]))
    assert wrapped.view(np.int64)[0] < 0
    with pytest.raises(ValueError, match="frac_bits"):
        FixedPointCodec(frac_bits=60)
    with pytest.raises(ValueError, match="2\\^52"):
        FixedPointCodec(frac_bits=40, clip=2.0**13)
    with pytest.raises(RingOverflowError):
        SecureAggregationRound([f"c{i}" for i in range(4097)], threshold=4000, codec=big)


def _top_byte_chisq(words):
    return stats.chisquare(np.bincount((words >> np.uint64(56)).astype(np.int64), minlength=256))


def test_masked_vectors_look_uniform_and_plain_ones_do_not():
    n, dim = 8, 2000
    vecs = {f"bank-{i}": np.full(dim, 0.5 * i) for i in range(n)}  # highly structured inputs
    tr = Transcript()
    _round(list(vecs), t=5, seed=42, transcript=tr).run(vecs, {"masked": {"bank-3"}})
    masked = np.concatenate([m.payload.y for m in tr if m.kind == "masked"])
    assert len(masked) == (n - 1) * dim
    assert _top_byte_chisq(masked).pvalue > 1e-4
    assert stats.kstest(masked.astype(np.float64) / 2.0**64, "uniform").pvalue > 1e-4
    plain = np.concatenate([CODEC.encode(v) for v in vecs.values()])
    assert _top_byte_chisq(plain).pvalue < 1e-10
    assert stats.kstest(plain.astype(np.float64) / 2.0**64, "uniform").pvalue < 1e-10


def _payload_bytes(payload):
    if isinstance(payload, MaskedInput):
        return payload.y.tobytes()
    if isinstance(payload, np.ndarray):
        return payload.tobytes()
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str | int):
        return str(payload).encode()
    if isinstance(payload, dict):
        return b"".join(_payload_bytes(k) + _payload_bytes(v) for k, v in payload.items())
    if isinstance(payload, list | tuple):
        return b"".join(_payload_bytes(p) for p in payload)
    raise TypeError(type(payload))


def test_server_never_receives_a_plaintext_update():
    vecs = _vectors(6, dim=40, seed=9)
    tr = Transcript()
    _round(list(vecs), t=4, transcript=tr).run(vecs, {"masked": {"bank-2"}, "unmask": {"bank-0"}})
    received = tr.received_by("server")
    assert {m.kind for m in received} == {"key", "ciphertext", "masked", "share"}
    assert {m.kind for m in tr if m.sender == "server"} <= {"key", "ciphertext", "public"}
    blob = b"".join(_payload_bytes(m.payload) for m in received)
    for c, v in vecs.items():
        enc = CODEC.encode(v)
        assert enc.tobytes() not in blob and v.tobytes() not in blob
        for m in received:
            if m.kind == "masked":
                assert not np.any(m.payload.y == enc), f"{m.sender}'s upload leaks {c}'s input"


def test_no_client_has_both_its_pairwise_key_and_self_mask_reconstructed():
    vecs = _vectors(6)
    tr = Transcript()
    r = _round(list(vecs), t=4, transcript=tr)
    r.run(vecs, {"masked": {"bank-1"}, "unmask": {"bank-0"}})
    assert r.reconstructed == {"bank-1": "pairwise_key", **{c: "self_mask" for c in r.u3}}
    revealed: dict[str, set[str]] = {}
    for m in tr:
        if m.kind == "share":
            for what in ("s_sk", "b"):
                for owner in m.payload[what]:
                    revealed.setdefault(owner, set()).add(what)
    assert all(len(w) == 1 for w in revealed.values())
    # A server asking for the other secret is refused, on both sides.
    with pytest.raises(SecAggProtocolError, match="already reconstructed"):
        r._reconstruct("bank-1", "self_mask", "b", {})
    survivor = r._parties["bank-2"]
    with pytest.raises(SecAggProtocolError, match="refusing to reveal"):
        survivor.unmask([c for c in r.u2 if c != "bank-3"])  # bank-3's b already revealed


def test_as_update_protection_matches_run_and_rejects_misuse():
    vecs = _vectors(5)
    r = _round(list(vecs), t=3, seed=4)
    assert isinstance(r, UpdateProtection) and r.kind == "masked"
    with pytest.raises(SecAggProtocolError, match="state"):
        r.protect("bank-0", vecs["bank-0"])
    r.setup({"share": {"bank-4"}})
    with pytest.raises(SecAggProtocolError, match="not in U2"):
        r.protect("bank-4", vecs["bank-4"])
    payloads = [r.protect(c, vecs[c]) for c in ("bank-0", "bank-1", "bank-3")]
    total = r.recover(r.aggregate(payloads))
    assert np.array_equal(total, _fixed_point_sum(vecs, ["bank-0", "bank-1", "bank-3"]))
    assert r.reconstructed["bank-2"] == "pairwise_key"


def test_threshold_validation():
    names = [f"c{i}" for i in range(5)]
    for bad in (1, 6, 0, 2.5):
        with pytest.raises(ValueError, match="threshold"):
            SecureAggregationRound(names, threshold=bad)
    # t <= n/2 is an error now (issue 9), naming the allowed range.
    with pytest.raises(ValueError, match=r"threshold=2: must be in \[3, n=5\].*t > n/2"):
        SecureAggregationRound(names, threshold=2)
    with pytest.raises(ValueError, match=r"must be in \[3, n=4\]"):
        SecureAggregationRound(names[:4], threshold=2)
    SecureAggregationRound(names[:4], threshold=3)   # smallest allowed for n = 4
    with pytest.raises(ValueError, match="distinct"):
        SecureAggregationRound(["a", "a", "b"], threshold=2)
    with pytest.raises(ValueError, match="dropouts"):
        SecureAggregationRound(names, threshold=3).run({c: np.zeros(2) for c in names},
                                                       {"later": {"c0"}})


def test_tampered_share_ciphertext_is_rejected():
    r = _round([f"c{i}" for i in range(4)], t=3)
    client = r._parties["c0"]
    r.setup()
    other = r._parties["c1"]
    ct = bytearray(other.share_keys(r._roster)["c0"])
    ct[5] ^= 1
    with pytest.raises(InvalidTag):
        client.receive_shares({"c1": bytes(ct)})


def test_prf_uses_the_full_seed_and_is_uniform_mod_non_powers_of_two():
    seed = derive_key(b"shared-secret", info=b"ctx")
    assert seed != derive_key(b"shared-secret", info=b"other ctx")
    flipped = seed[:-1] + bytes([seed[-1] ^ 1])  # differs only in the last byte
    assert not np.any(expand_mask(seed, 64) == expand_mask(flipped, 64))
    assert not np.any(expand_mask(seed, 64) == expand_mask(seed, 64, stream=1))
    vals = expand_mod(seed, 12000, 12)
    assert stats.chisquare(np.bincount(vals, minlength=12)).pvalue > 1e-4


def test_late_client_input_stays_hidden_by_its_self_mask():
    # bank-1 is declared dropped, so the server learns its pairwise-mask key; if its upload
    # then arrives late, stripping all pairwise masks must still leave it self-masked.
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from fedlib.crypto.secagg import _pair_mask
    from fedlib.crypto.shamir import Share, reconstruct

    vecs = {f"bank-{i}": np.full(500, 1.0) for i in range(5)}
    tr = Transcript()
    r = _round(list(vecs), t=3, transcript=tr, round=7)
    r.run(vecs, {"masked": {"bank-1"}})
    enc = CODEC.encode(vecs["bank-1"])
    late = r._parties["bank-1"].masked_input(enc).y
    shares = [Share.from_bytes(m.payload["s_sk"]["bank-1"]) for m in tr if m.kind == "share"]
    s_sk = X25519PrivateKey.from_private_bytes(reconstruct(shares).to_bytes(32, "big"))
    stripped = late.copy()
    for v in r.u2:
        if v != "bank-1":
            p = _pair_mask(s_sk, r._roster[v]["s_pk"], len(late), 7)
            stripped = stripped - p if r._roster[v]["index"] < 2 else stripped + p
    assert not np.any(stripped == enc)
    assert _top_byte_chisq(stripped - enc).pvalue > 1e-4  # what remains is PRG(b_u)
    # Sanity of the attack itself: removing the self-mask too would expose the input.
    from fedlib.crypto.prf import expand_mask as prg
    assert np.array_equal(stripped - prg(r._parties["bank-1"]._b, len(late), stream=1), enc)


def test_per_client_noise_states_and_offers_the_collusion_setting():
    from fedlib.crypto.secagg import per_client_noise_std, surviving_noise_std

    sigma, t = 2.0, 4
    optimistic = per_client_noise_std(total_noise_std=sigma, min_survivors=t)
    conservative = per_client_noise_std(total_noise_std=sigma, min_survivors=t, colluders=t - 1)
    # All t survivors honest: the sum carries sigma.
    assert surviving_noise_std(optimistic, t) == pytest.approx(sigma)
    # t - 1 colluders subtract their own noise: one honest draw is left, sigma / sqrt(t).
    assert surviving_noise_std(optimistic, 1) == pytest.approx(sigma / np.sqrt(t))
    # The conservative setting keeps sigma even then.
    assert surviving_noise_std(conservative, 1) == pytest.approx(sigma)
    for bad in (t, -1, 1.5):
        with pytest.raises(ValueError, match="colluders"):
            per_client_noise_std(total_noise_std=sigma, min_survivors=t, colluders=bad)


def test_codec_counts_and_reports_clipped_values():
    from fedlib.crypto.fixedpoint import ClippedValuesError, ClippedValuesWarning

    codec = FixedPointCodec(frac_bits=16, clip=1.0)
    x = np.array([0.5, 1.5, -3.0, 1.0])
    assert codec.count_clipped(x) == 2
    with pytest.warns(ClippedValuesWarning, match="2 of 4 values"):
        enc = codec.encode(x)
    np.testing.assert_array_equal(codec.decode(enc), [0.5, 1.0, -1.0, 1.0])
    with pytest.raises(ClippedValuesError, match="2 of 4"):
        codec.encode(x, on_clip="raise")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codec.encode(x, on_clip="ignore")
        codec.encode(np.array([0.25, -1.0]))          # nothing outside: no warning
    with pytest.raises(ValueError, match="on_clip"):
        codec.encode(x, on_clip="drop")
