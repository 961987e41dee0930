"""Paillier packing, precomputed obfuscators and homomorphic sums: crypto invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedlib.crypto.paillier import (
    HAVE_GMPY2,
    GHPacker,
    KeySizeError,
    ObfuscatorPool,
    add_ciphertexts,
    ciphertext_nbytes,
    decrypt_raw,
    encrypt_packed,
    make_keypair,
    sub_ciphertext,
)


@pytest.fixture(scope="module")
def keys():
    return make_keypair(n_bits=1024, demo=True)


def test_phe_uses_gmpy2():
    assert HAVE_GMPY2


def test_key_size_refused_unless_demo():
    with pytest.raises(KeySizeError, match="2048"):
        make_keypair(n_bits=1024)
    with pytest.raises(KeySizeError, match="n_bits"):
        make_keypair(n_bits=64, demo=True)


def _fixed_sum(x, frac_bits):
    return sum(int(v) for v in np.rint(np.ldexp(np.asarray(x), frac_bits))) / 2.0**frac_bits


def test_packed_sums_equal_plaintext_sums_exactly(keys):
    pk, sk = keys
    rng = np.random.default_rng(0)
    n = 200
    g = rng.uniform(-1, 1, n)  # negative gradients included
    h = rng.uniform(0, 0.25, n)
    packer = GHPacker(max_rows=n, g_bound=1.0, h_bound=0.25, frac_bits=40)
    packer.check_capacity(pk)
    cts = encrypt_packed(pk, packer.encode(g, h),
                         obfuscators=ObfuscatorPool(pk).fill(n).take(n))
    for rows in (np.arange(n), rng.choice(n, 37, replace=False), np.array([5])):
        G, H, cnt = packer.decode_sum(decrypt_raw(sk, [add_ciphertexts(pk, [cts[i] for i in rows])])[0])
        assert cnt == len(rows)
        assert G == _fixed_sum(g[rows], 40) and H == _fixed_sum(h[rows], 40)
        assert abs(G - g[rows].sum()) < len(rows) * 2.0**-40
    # Subtraction (histogram sibling = parent - child) is exact too.
    left = np.arange(0, n, 3)
    diff = sub_ciphertext(pk, add_ciphertexts(pk, cts), add_ciphertexts(pk, [cts[i] for i in left]))
    rest = np.setdiff1d(np.arange(n), left)
    assert packer.decode_sum(decrypt_raw(sk, [diff])[0]) == (
        _fixed_sum(g[rest], 40), _fixed_sum(h[rest], 40), len(rest))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.floats(-1, 1), st.floats(-0.25, 0.25)), min_size=1, max_size=12),
       st.integers(4, 30))
def test_pack_unpack_roundtrip_property(rows, frac_bits):
    g, h = np.array(rows).T
    p = GHPacker(max_rows=12, g_bound=1.0, h_bound=0.25, frac_bits=frac_bits)
    assert p.decode_sum(sum(p.encode(g, h))) == (_fixed_sum(g, frac_bits),
                                                 _fixed_sum(h, frac_bits), len(g))


def test_ciphertexts_are_randomised_and_obfuscators_single_use(keys):
    pk, sk = keys
    pool = ObfuscatorPool(pk).fill(4)
    a, b = encrypt_packed(pk, [7, 7], obfuscators=pool.take(2))
    assert a != b and decrypt_raw(sk, [a, b]) == [7, 7]
    assert len(pool) == 2
    with pytest.raises(ValueError, match="fill"):
        pool.take(3)
    # Without a pool, fresh r^n is computed: still a valid encryption.
    assert decrypt_raw(sk, encrypt_packed(pk, [123])) == [123]


def test_capacity_and_bounds_checked(keys):
    pk, _ = keys
    with pytest.raises(ValueError, match="bits"):
        GHPacker(max_rows=2**400, frac_bits=100).check_capacity(pk)
    p = GHPacker(max_rows=3, h_bound=0.25)
    with pytest.raises(ValueError, match=r"\|h\|"):
        p.encode([0.1], [0.3])
    with pytest.raises(ValueError, match="max_rows"):
        p.encode(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match=r"\[0, n\)"):
        encrypt_packed(pk, [pk.n])


def test_ciphertext_size(keys):
    pk, _ = keys
    assert ciphertext_nbytes(pk) == 256
    assert max(c.bit_length() for c in encrypt_packed(pk, [1, 2, 3])) <= 2048


# ------------------------------------------------- multi-bucket packing and the backends
from fedlib.crypto.he import BACKENDS, SECURITY, HeuCiphertexts, make_backend  # noqa: E402


@pytest.fixture(scope="module")
def backends(keys):
    from fedlib.crypto.he import PheBackend

    return {"phe": PheBackend(*keys), "zpaillier": make_backend("zpaillier", key_bits=1024,
                                                                 demo=True),
            "ou": make_backend("ou", key_bits=1024, demo=True)}


def test_slot_capacity_checks():
    p = GHPacker(max_rows=2500, g_bound=1.0, h_bound=0.25, frac_bits=40)
    # Headroom for a sum over all 2,500 rows: g 53 bits, h 51, count 12.
    assert (p.g_bits, p.h_bits, p.count_bits, p.slot_bits) == (53, 51, 12, 116)
    assert p.slots(2047) == 17 and p.slots(682) == 5  # Paillier / OU at 2048 bits
    with pytest.raises(ValueError, match="plaintext holds 100"):
        p.slots(100)
    a, b = p.encode([1.0, -1.0], [0.25, 0.0])
    with pytest.raises(ValueError, match="capacity"):
        p.decode_packed(((a << p.slot_bits) | b) << p.slot_bits, 2)
    # A slot over more rows than max_rows is refused, not silently wrong.
    with pytest.raises(ValueError, match="max_rows"):
        p.decode_sum(sum(p.encode(np.ones(2500), np.zeros(2500))) * 2)


@settings(max_examples=12, deadline=None)
@given(st.lists(st.lists(st.tuples(st.floats(-1, 1), st.floats(0, 0.25)), min_size=0,
                         max_size=6), min_size=1, max_size=30),
       st.sampled_from(["phe", "zpaillier", "ou"]))
def test_multi_bucket_packing_is_exact_property(backends, buckets, name):
    """Buckets of rows → encrypted per-row packing → bucket sums → k sums per ciphertext →
    one decryption per k buckets equals the fixed-point plaintext sums exactly."""
    he = backends[name]
    rows = [r for bk in buckets for r in bk]
    which = np.array([b for b, bk in enumerate(buckets) for _ in bk], dtype=np.int64)
    p = GHPacker(max_rows=max(len(rows), 1), g_bound=1.0, h_bound=0.25, frac_bits=40)
    k = p.slots(he.plaintext_bits)
    if not rows:
        return
    g, h = np.array(rows).T
    cts = he.encrypt(p.encode(g, h))
    sums = he.bucket_sums(cts, np.arange(len(rows)), which[:, None], len(buckets))
    packed = he.pack(sums, k, p.slot_bits)
    assert len(packed) == -(-len(buckets) // k)
    got = [t for v in he.decrypt(he.rerandomize(packed)) for t in p.decode_packed(v, k)]
    for b in range(len(buckets)):
        sel = which == b
        assert got[b] == (_fixed_sum(g[sel], 40) if sel.any() else 0.0,
                          _fixed_sum(h[sel], 40) if sel.any() else 0.0, int(sel.sum()))


def test_backends_agree_with_phe(backends):
    """HEU's bucket sums, subtraction and packing decrypt to phe's values."""
    rng = np.random.default_rng(3)
    vals = [int(v) for v in rng.integers(0, 2**40, 60)]
    bins = rng.integers(0, 6, size=(60, 3))
    rows = np.sort(rng.choice(60, 37, replace=False))
    out = {}
    for name, he in backends.items():
        c = he.encrypt(vals)
        assert he.decrypt(c) == vals
        s = he.bucket_sums(c, rows, bins, 6)
        diff = he.sub(he.bucket_sums(c, np.arange(60), bins, 6), s)
        # Unpack the 4 slots of 50 bits; only the 18 real buckets (padding is backend-specific).
        slots = [(v >> (50 * (3 - j))) & (2**50 - 1) for v in he.decrypt(he.pack(s, 4, 50))
                 for j in range(4)][:18]
        out[name] = (he.decrypt(s), he.decrypt(diff), slots)
    assert out["zpaillier"] == out["phe"] == out["ou"]
    assert out["phe"][0][:6] == [sum(vals[i] for i in rows if bins[i, 0] == b) for b in range(6)]
    assert out["phe"][2] == out["phe"][0]


def test_backend_keys_rerandomisation_and_security_basis(backends):
    assert set(SECURITY) == set(BACKENDS) and "residuosity" in SECURITY["zpaillier"]
    assert "factoring n = p^2 q" in SECURITY["ou"]
    for he in backends.values():
        c = he.encrypt([5, 6])
        r = he.rerandomize(c)
        if isinstance(c, HeuCiphertexts):
            assert r.array.serialize() != c.array.serialize()
            assert r.nbytes_on_wire() == 2 * he.ciphertext_nbytes
        else:
            assert r != c
        assert he.decrypt(r) == [5, 6]
        with pytest.raises(PermissionError):
            he.public().decrypt(c)
    with pytest.raises(KeySizeError):
        make_backend("zpaillier", key_bits=1024)
    with pytest.raises(ValueError, match="he_backend"):
        make_backend("rsa")
