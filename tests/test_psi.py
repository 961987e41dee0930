"""RSA blind-signature PSI: correctness and what the transcript may (not) contain."""

from __future__ import annotations

import numpy as np
import pytest

from fedlib.crypto.psi import (
    DuplicateIDError,
    _KeyHolder,
    _second_hash,
    full_domain_hash,
    make_rsa_key,
    rsa_blind_psi,
)


@pytest.fixture(scope="module")
def key():
    return make_rsa_key(key_bits=1024, demo=True)


def test_intersection_and_orders(key):
    bank = [f"C{i:04d}" for i in range(0, 60)]
    grid = [f"C{i:04d}" for i in range(100, 30, -1)]  # reversed order, partial overlap
    res = rsa_blind_psi(bank, grid, private_key=key, demo=True)
    expected = set(bank) & set(grid)
    assert set(res.intersection["grid"]) == expected == set(res.intersection["bank"])
    # Each party gets the common IDs in its own input order.
    assert res.intersection["bank"] == [x for x in bank if x in expected]
    assert res.intersection["grid"] == [x for x in grid if x in expected]
    assert res.sizes["total"] == res.transcript.bytes_sent() > 0


def test_empty_and_full_overlap_and_int_ids(key):
    res = rsa_blind_psi(["a", "b"], ["c", "d", "e"], private_key=key, demo=True)
    assert res.intersection == {"grid": [], "bank": []}
    ids = list(range(25))
    res = rsa_blind_psi(ids, ids[::-1], private_key=key, demo=True)
    assert res.intersection["bank"] == ids and res.intersection["grid"] == ids[::-1]


def test_only_requester_learns_without_reveal(key):
    res = rsa_blind_psi(["a", "b", "c"], ["b", "z"], private_key=key, demo=True, reveal_to_key_holder=False)
    assert res.intersection == {"grid": ["b"], "bank": None}
    assert "intersection_positions" not in res.sizes
    assert all(m.receiver == "grid" for m in res.transcript if m.sender == "bank")


@pytest.mark.parametrize("side", ["key_holder_ids", "requester_ids"])
def test_duplicates_rejected(key, side):
    ids = {"key_holder_ids": ["a", "b"], "requester_ids": ["b", "c"]}
    ids[side] = ids[side] + [ids[side][0]]
    with pytest.raises(DuplicateIDError, match=side):
        rsa_blind_psi(ids["key_holder_ids"], ids["requester_ids"], private_key=key, demo=True)


def test_short_key_refused_without_demo():
    with pytest.raises(ValueError, match="2048"):
        rsa_blind_psi(["a"], ["a"], key_bits=1024)


def _flatten(payload):
    if isinstance(payload, list | tuple):
        for p in payload:
            yield from _flatten(p)
    else:
        yield payload


def test_transcript_holds_no_raw_id_or_unblinded_hash(key):
    rng = np.random.default_rng(0)
    bank = [f"bank-{i}" for i in rng.permutation(80)[:40]]
    grid = [f"bank-{i}" for i in rng.permutation(80)[:40]]
    res = rsa_blind_psi(bank, grid, private_key=key, demo=True)
    common = set(res.intersection["grid"])
    kh = _KeyHolder(key)
    n = kh.n
    everything = list(_flatten([m.payload for m in res.transcript]))
    ints = {v for v in everything if isinstance(v, int)}
    blobs = {v for v in everything if isinstance(v, bytes)}
    strings = {v for v in everything if isinstance(v, str)}
    assert not strings
    for x in set(bank) | set(grid):
        raw = x.encode()
        assert raw not in blobs and not any(raw in b for b in blobs)
        assert full_domain_hash(x, n) not in ints  # no unblinded H(id), of anyone
    for y in set(grid) - common:
        sig = kh.sign(full_domain_hash(y, n))
        assert sig not in ints  # no unblinded signature of a grid-only ID
        assert _second_hash(sig, kh.k) not in blobs  # and no tag of one
    # The blinded values the key holder received are not the hashes themselves.
    blinded = next(m for m in res.transcript if m.label == "blinded_hashes").payload
    assert len(set(blinded)) == len(grid)
    assert res.transcript.received_by("bank")[0].kind == "masked"


def test_typed_ids_do_not_collide(key):
    # The integer 1, the string "1" and the bytes b"1" are different IDs (issue 9).
    assert len({full_domain_hash(v, 2**127 - 1) for v in (1, "1", b"1")}) == 3
    res = rsa_blind_psi([1, "2", b"3"], ["1", 2, b"3"], private_key=key, demo=True)
    assert res.intersection == {"grid": [b"3"], "bank": [b"3"]}
    with pytest.raises(TypeError, match="boolean"):
        rsa_blind_psi([True], ["x"], private_key=key, demo=True)


class _FakeKey:
    """A key holder's key with chosen public numbers (only what the requester reads)."""

    def __init__(self, key, n, e):
        self._key, self._n, self._e = key, n, e

    def private_numbers(self):
        real = self._key.private_numbers()

        class Pub:
            n, e = self._n, self._e

        class Priv:
            public_numbers = Pub
            p, q, dmp1, dmq1, iqmp = real.p, real.q, real.dmp1, real.dmq1, real.iqmp
        return Priv


@pytest.mark.parametrize("mutate, fragment", [
    (lambda n, e: (n, 3 * 5), "exponent e=15"),
    (lambda n, e: (n, 2), "exponent e=2"),
    (lambda n, e: (n, n + 2), "exponent"),
    (lambda n, e: (n * 2, e), "not a product"),
    (lambda n, e: (n * 3, e), "not a product"),
    (lambda n, e: (2**1279 - 1, e), "not a product"),      # a Mersenne prime
    (lambda n, e: (n >> 600 | 1, e), "bits"),
])
def test_requester_rejects_bad_public_keys(key, mutate, fragment):
    from fedlib.crypto.psi import InvalidPublicKeyError

    pub = key.private_numbers().public_numbers
    n, e = mutate(pub.n, pub.e)
    with pytest.raises(InvalidPublicKeyError, match=fragment):
        rsa_blind_psi(["a"], ["a"], private_key=_FakeKey(key, n, e), demo=True)


def test_key_holder_caps_blinded_values_per_session(key):
    from fedlib.core.transcript import Transcript
    from fedlib.crypto.psi import SessionLimitError

    t = Transcript()
    with pytest.raises(SessionLimitError, match="max_blinded=3"):
        rsa_blind_psi(["a"], ["a", "b", "c", "d"], private_key=key, demo=True, max_blinded=3,
                      transcript=t)
    assert not [m for m in t if m.label == "blind_signatures"]   # nothing was signed
    res = rsa_blind_psi(["a"], ["a", "b", "c"], private_key=key, demo=True, max_blinded=3)
    assert res.intersection["grid"] == ["a"]
    with pytest.raises(ValueError, match="max_blinded"):
        rsa_blind_psi(["a"], ["a"], private_key=key, demo=True, max_blinded=0)
