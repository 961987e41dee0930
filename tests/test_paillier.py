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
