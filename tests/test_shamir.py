"""Shamir secret sharing: invariants (any t shares recover, t-1 reveal nothing) and input checks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from fedlib.crypto.shamir import PRIME, Share, random_below, reconstruct, split


@settings(max_examples=15, deadline=None)
@given(secret=st.integers(min_value=0, max_value=2**256 - 1), n=st.integers(2, 7),
       data=st.data())
def test_any_t_shares_reconstruct(secret, n, data):
    t = data.draw(st.integers(1, n))
    shares = split(secret, threshold=t, n_shares=n)
    for subset in itertools.combinations(shares, t):
        assert reconstruct(list(subset)) == secret
    # More than t shares are consistent too.
    assert reconstruct(shares) == secret


def test_t_minus_one_shares_give_garbage():
    secret = int.from_bytes(b"\x5a" * 32, "big")
    for n, t in [(5, 3), (7, 4), (10, 6)]:
        shares = split(secret, threshold=t, n_shares=n)
        for subset in itertools.combinations(shares, t - 1):
            assert reconstruct(list(subset)) != secret


def test_t_minus_one_shares_are_uniform_whatever_the_secret():
    # Small field so the joint law of t-1 shares can be tabulated: for a perfectly hiding
    # scheme it is uniform over GF(p)^(t-1) for every secret.
    p, t, trials = 11, 3, 6000
    rng = np.random.default_rng(7)
    for secret in (0, 9):
        counts = np.zeros((p, p))
        for _ in range(trials):
            s = split(secret, threshold=t, n_shares=4, prime=p, entropy=rng.bytes)
            counts[s[1].y, s[3].y] += 1
        assert stats.chisquare(counts.ravel()).pvalue > 1e-4
    # The test has power: with t = 1 every share *is* the secret, and it is rejected.
    leaky = np.zeros((p, p))
    for _ in range(trials):
        s = split(9, threshold=1, n_shares=4, prime=p, entropy=rng.bytes)
        leaky[s[1].y, s[3].y] += 1
    assert stats.chisquare(leaky.ravel()).pvalue < 1e-10

def test_share_bytes_roundtrip_and_width():
    s = split(2**255 + 17, threshold=2, n_shares=3)[2]
    data = s.to_bytes()
    assert len(data) == 4 + 66
    assert Share.from_bytes(data) == s
    with pytest.raises(ValueError, match="data"):
        Share.from_bytes(data[:-1])


def test_random_below_with_injected_entropy_is_uniform():
    rng = np.random.default_rng(3)
    draws = [random_below(6, rng.bytes) for _ in range(6000)]
    assert stats.chisquare(np.bincount(draws, minlength=6)).pvalue > 1e-4
    assert 0 <= random_below(PRIME) < PRIME


@pytest.mark.parametrize("kwargs, match", [
    ({"secret": PRIME, "threshold": 2, "n_shares": 3}, "secret"),
    ({"secret": -1, "threshold": 2, "n_shares": 3}, "secret"),
    ({"secret": 1, "threshold": 4, "n_shares": 3}, "threshold"),
    ({"secret": 1, "threshold": 0, "n_shares": 3}, "threshold"),
    ({"secret": 1, "threshold": 1, "n_shares": 0}, "n_shares"),
])
def test_split_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        split(**kwargs)


def test_reconstruct_rejects_duplicate_or_zero_x():
    s = split(5, threshold=2, n_shares=3)
    with pytest.raises(ValueError, match="distinct"):
        reconstruct([s[0], s[0]])
    with pytest.raises(ValueError, match="non-zero"):
        reconstruct([Share(0, 5), s[1]])
    with pytest.raises(ValueError, match="at least one"):
        reconstruct([])
