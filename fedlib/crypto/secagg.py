r"""Secure aggregation with dropout recovery (Bonawitz et al. 2017, semi-honest variant).

The server learns ``Σ_{u∈U3} x_u`` for the clients ``U3`` whose masked inputs arrived, and
nothing else about any individual ``x_u``. One :class:`SecureAggregationRound` is one run of
the protocol, with fresh keys, in four phases (each may lose clients):

0. **AdvertiseKeys** (``"advertise"``). Client ``u`` draws two X25519 key pairs, ``(c_u^PK,
   c_u^SK)`` to encrypt shares and ``(s_u^PK, s_u^SK)`` for mask agreement, and sends both
   public keys (kind ``key``). The server broadcasts the roster ``U1``.
1. **ShareKeys** (``"share"``). ``u`` draws a self-mask seed ``b_u``, Shamir-shares ``s_u^SK``
   and ``b_u`` t-of-n, and sends each peer ``v`` its two shares encrypted with
   ChaCha20-Poly1305 under ``HKDF(X25519(c_u^SK, c_v^PK))`` (kind ``ciphertext``); the server
   relays them. Senders form ``U2``.
2. **MaskedInputCollection** (``"masked"``). ``u`` encodes ``x_u`` in Z_{2^64}
   (:class:`~fedlib.crypto.fixedpoint.FixedPointCodec`) and uploads
   ``y_u = x_u + PRG(b_u) + Σ_{v∈U2, v≠u} Δ_{u,v} PRG(s_{u,v})`` (kind ``masked``), with
   ``s_{u,v} = HKDF(X25519(s_u^SK, s_v^PK))``, ``Δ = +1`` if ``u`` sorts after ``v``, else
   ``-1``. The PRG is ChaCha20 keyed by the full 32-byte seed (:mod:`fedlib.crypto.prf`).
   Senders form ``U3``; the server sums the ``y_u``.
3. **Unmasking** (``"unmask"``). The server announces ``U3`` (kind ``public``). Each survivor
   returns, for every ``v ∈ U2 \ U3``, its share of ``s_v^SK`` and, for every ``v ∈ U3``, its
   share of ``b_v`` (kind ``share``) - **never both for one ``v``**: that would let the server
   strip every mask off ``y_v``. Clients refuse such a request and the server's recovery
   refuses it too (:class:`SecAggProtocolError`). With ``t`` shares the server rebuilds the
   dropped clients' pairwise masks and the survivors' self-masks and removes them.

If fewer than ``t`` clients remain after any phase the round raises
:class:`SecureAggregationAborted` and nothing is revealed. Bonawitz's ConsistencyCheck round
and signatures (needed against an *active* server) are omitted: the paper's threat model is an
honest-but-curious server (paper 000, §7).

Combining with differential privacy. Each client clips its update and adds its own Gaussian
noise ``N(0, σ_c² I)`` *before* encoding (rounding and saturating are post-processing). The
sum then carries noise of std ``σ_c √|U3|`` (:func:`surviving_noise_std`), so the guarantee on
the aggregate weakens when clients drop. Calibrate for the worst case the protocol allows,
``|U3| = t`` (below it the round aborts): ``σ_c = σ_target / √t``
(:func:`per_client_noise_std`).

References: Bonawitz et al. (2017), "Practical Secure Aggregation for Privacy-Preserving
Machine Learning", CCS, §4 and Fig. 4 (semi-honest protocol); paper 000 (Nagaraj 2024) §4.3
and Eq. (2). Introduced in chapter 1 (``chapters/01_fmtl_dp_secagg.py``).

Examples
--------
>>> import numpy as np
>>> vecs = {f"bank-{i}": np.full(3, 0.25 * i) for i in range(5)}
>>> sa = SecureAggregation(threshold=3)
>>> sa.run(vecs, dropouts={"masked": {"bank-4"}}, round=1)
array([1.5, 1.5, 1.5])
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from fedlib.core.transcript import Transcript
from fedlib.crypto.fixedpoint import FixedPointCodec
from fedlib.crypto.prf import SEED_BYTES, derive_key, expand_mask
from fedlib.crypto.shamir import Share, reconstruct, split

__all__ = [
    "PHASES", "ClientStateValue", "MaskedInput", "MaskedSum", "SecAggClient",
    "SecAggProtocolError", "SecAggServer",
    "SecureAggregation", "SecureAggregationAborted", "SecureAggregationRound",
    "check_threshold", "per_client_noise_std", "surviving_noise_std",
]

#: Phases after which clients may drop out, in protocol order.
PHASES = ("advertise", "share", "masked", "unmask")
_SELF_MASK_STREAM = 1  # separates PRG(b_u) from pairwise masks even if seeds ever collided
_STATE_VERSION = 1     # layout of SecAggClient.export_state; from_state refuses any other
_STATE_KEYS = ("version", "name", "index", "round_id", "threshold", "n_total", "c_sk", "s_sk",
               "b", "roster_names", "roster_index", "roster_c_pk", "roster_s_pk",
               "held_owners", "held_s_sk", "held_b", "revealed_owners", "revealed_what", "u2")
_STATE_LISTS = (("roster_names", "roster_index", "roster_c_pk", "roster_s_pk"),
                ("held_owners", "held_s_sk", "held_b"), ("revealed_owners", "revealed_what"))
#: A value of a client's exported state: what a Flower ``ConfigRecord`` holds.
ClientStateValue = bytes | int | str | list[bytes] | list[int] | list[str]


class SecureAggregationAborted(RuntimeError):
    """Too few clients remain to finish the round; nothing about any input was revealed."""


class SecAggProtocolError(RuntimeError):
    """A message broke the protocol (e.g. both secrets of one client were requested)."""


@dataclass(frozen=True)
class MaskedInput:
    """What a client uploads in phase 2: its name and ``y_u`` in Z_{2^64}."""

    party: str
    y: np.ndarray

    def nbytes_on_wire(self) -> int:
        """Bytes this upload takes on the wire (the vector and the client's name)."""
        return int(self.y.nbytes) + len(self.party.encode())


@dataclass(frozen=True)
class MaskedSum:
    """The server's sum of masked inputs (mod 2^64) and who contributed to it (``U3``)."""

    parties: tuple[str, ...]
    total: np.ndarray


def surviving_noise_std(sigma_per_client: float, n_survivors: int) -> float:
    """Std of the Gaussian noise in the aggregate of ``n_survivors`` noisy clients.

    Each survivor added ``N(0, sigma_per_client²)``; independent noises add in variance.

    >>> surviving_noise_std(1.0, 4)
    2.0
    """
    if sigma_per_client < 0 or n_survivors < 0:
        raise ValueError(f"sigma_per_client={sigma_per_client}, n_survivors={n_survivors}: "
                         "must be non-negative")
    return float(sigma_per_client) * math.sqrt(n_survivors)


def per_client_noise_std(*, total_noise_std: float, min_survivors: int,
                         colluders: int = 0) -> float:
    """Per-client std so that the noise no coalition can remove is at least ``total_noise_std``.

    Distributed noise assumes the survivors are honest. A client that colludes with the
    server knows its own noise and subtracts it, so with ``colluders`` of the
    ``min_survivors`` (use the threshold ``t``) colluding, only ``min_survivors − colluders``
    honest draws remain: ``σ_c = σ / √(t − colluders)``. ``colluders=0`` is the optimistic
    setting (all survivors honest); with it and ``t − 1`` actual colluders the honest noise
    falls to ``σ/√t``. The conservative setting ``colluders = t − 1`` gives ``σ_c = σ``:
    every client adds the full noise (Kairouz et al. 2021, distributed DP; Truex et al. 2019).

    >>> per_client_noise_std(total_noise_std=3.0, min_survivors=9)
    1.0
    >>> per_client_noise_std(total_noise_std=3.0, min_survivors=9, colluders=8)
    3.0
    """
    if not total_noise_std > 0:
        raise ValueError(f"total_noise_std={total_noise_std}: must be positive")
    if min_survivors < 1:
        raise ValueError(f"min_survivors={min_survivors}: must be at least 1")
    if isinstance(colluders, bool) or not isinstance(colluders, int | np.integer) \
            or not 0 <= colluders < min_survivors:
        raise ValueError(f"colluders={colluders!r}: must be an integer in [0, min_survivors - 1 "
                         f"= {min_survivors - 1}] (the conservative setting is t - 1)")
    return float(total_noise_std) / math.sqrt(min_survivors - colluders)


def _new_x25519(entropy: Callable[[int], bytes] | None) -> X25519PrivateKey:
    if entropy is None:
        return X25519PrivateKey.generate()
    return X25519PrivateKey.from_private_bytes(entropy(32))


def _pair_mask(s_sk: X25519PrivateKey, peer_pk: bytes, length: int, round_id: int) -> np.ndarray:
    shared = s_sk.exchange(X25519PublicKey.from_public_bytes(peer_pk))
    seed = derive_key(shared, info=b"fedlib/secagg/v1/pairwise-mask/" + round_id.to_bytes(8, "big"))
    return expand_mask(seed, length)


class SecAggClient:
    """A client's side of the protocol. Its secrets never leave it except as described.

    One object per client and round: :meth:`advertise` (phase 0), :meth:`share_keys` (1),
    :meth:`receive_shares` and :meth:`masked_input` (2), :meth:`unmask` (3). Where a client
    outlives no message (Flower), :meth:`export_state` and :meth:`from_state` carry it from
    one phase to the next.

    Parameters
    ----------
    name
        The client's name, as in the roster.
    index
        Its Shamir x-coordinate, 1..n (its position in the round's client list, plus one).
    round_id
        The round, bound into every derived key.
    threshold, n_total
        ``t`` and ``n`` of its t-of-n Shamir shares.
    entropy
        ``n -> bytes`` randomness for keys, seeds and coefficients; ``None``: the OS CSPRNG.
    """

    def __init__(self, name: str, index: int, *, round_id: int, threshold: int, n_total: int,
                 entropy: Callable[[int], bytes] | None = None) -> None:
        self.name, self.index, self.round_id = name, index, round_id
        self.threshold, self.n_total, self._entropy = threshold, n_total, entropy
        self._c_sk = _new_x25519(entropy)
        self._s_sk = _new_x25519(entropy)
        self._roster: dict[str, dict] = {}
        self._held: dict[str, tuple[Share, Share]] = {}  # owner -> (share of s^SK, share of b)
        self._revealed: dict[str, str] = {}
        self._u2: set[str] = set()
        self._b: bytes | None = None  # the self-mask seed, drawn in share_keys
        self._aeads: dict[str, ChaCha20Poly1305] = {}

    # -- state between messages ------------------------------------------------------------
    def export_state(self) -> dict[str, ClientStateValue]:
        """Everything this client must remember between phases, as plain values.

        Bytes, ints, strings and flat lists of one of them (what a Flower ``ConfigRecord``
        holds), so that a node whose process lives for one message only (a Flower SuperNode,
        a Ray actor) keeps the protocol's secrets in its own ``Context.state`` between phases
        and rebuilds this client with :meth:`from_state`. It holds the client's secrets (the
        two X25519 private keys, the self-mask seed ``b_u``, the shares it holds for its
        peers) and what it already revealed: it must never leave the client's node. The
        share-encryption keys are not in it; they are derived again from the keys.
        """
        roster = list(self._roster.items())
        held = list(self._held.items())
        revealed = list(self._revealed.items())
        return {
            "version": _STATE_VERSION, "name": self.name, "index": int(self.index),
            "round_id": int(self.round_id), "threshold": int(self.threshold),
            "n_total": int(self.n_total),
            "c_sk": self._c_sk.private_bytes_raw(), "s_sk": self._s_sk.private_bytes_raw(),
            "b": b"" if self._b is None else bytes(self._b),
            "roster_names": [v for v, _ in roster],
            "roster_index": [int(e["index"]) for _, e in roster],
            "roster_c_pk": [bytes(e["c_pk"]) for _, e in roster],
            "roster_s_pk": [bytes(e["s_pk"]) for _, e in roster],
            "held_owners": [v for v, _ in held],
            "held_s_sk": [sh[0].to_bytes() for _, sh in held],
            "held_b": [sh[1].to_bytes() for _, sh in held],
            "revealed_owners": [v for v, _ in revealed],
            "revealed_what": [w for _, w in revealed],
            "u2": sorted(self._u2),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], *,
                   entropy: Callable[[int], bytes] | None = None) -> SecAggClient:
        """The client :meth:`export_state` saved, ready for its next phase.

        ``entropy`` is the randomness for what the client still has to draw (the self-mask
        seed and the Shamir coefficients if it has not shared its keys yet); default the OS
        CSPRNG, as in :class:`SecureAggregationRound`.
        """
        missing = sorted(set(_STATE_KEYS) - set(state))
        if missing:
            raise ValueError(f"secure-aggregation client state lacks {missing}")
        if state["version"] != _STATE_VERSION:
            raise ValueError(f"secure-aggregation client state version {state['version']!r}; "
                             f"this code reads version {_STATE_VERSION}")
        for group in _STATE_LISTS:
            lengths = [len(state[k]) for k in group]
            if len(set(lengths)) != 1:
                raise ValueError(f"secure-aggregation client state: {list(group)} must be "
                                 f"lists of equal length, got {lengths}")
        client = cls.__new__(cls)
        client.name, client.index = str(state["name"]), int(state["index"])
        client.round_id, client.threshold = int(state["round_id"]), int(state["threshold"])
        client.n_total, client._entropy = int(state["n_total"]), entropy
        client._c_sk = X25519PrivateKey.from_private_bytes(bytes(state["c_sk"]))
        client._s_sk = X25519PrivateKey.from_private_bytes(bytes(state["s_sk"]))
        client._b = bytes(state["b"]) or None
        client._roster = {v: {"index": int(i), "c_pk": bytes(c), "s_pk": bytes(s)}
                          for v, i, c, s in zip(state["roster_names"], state["roster_index"],
                                                state["roster_c_pk"], state["roster_s_pk"],
                                                strict=True)}
        client._held = {v: (Share.from_bytes(bytes(sk)), Share.from_bytes(bytes(b)))
                        for v, sk, b in zip(state["held_owners"], state["held_s_sk"],
                                            state["held_b"], strict=True)}
        client._revealed = dict(zip(state["revealed_owners"], state["revealed_what"],
                                    strict=True))
        client._u2 = set(state["u2"])
        client._aeads = {}
        return client

    def advertise(self) -> dict[str, bytes]:
        """Phase 0: the two public keys, ``{"c_pk", "s_pk"}`` (32 bytes each)."""
        return {"c_pk": self._c_sk.public_key().public_bytes_raw(),
                "s_pk": self._s_sk.public_key().public_bytes_raw()}

    def _aead(self, peer: str) -> ChaCha20Poly1305:
        if peer in self._aeads:
            return self._aeads[peer]
        shared = self._c_sk.exchange(X25519PublicKey.from_public_bytes(self._roster[peer]["c_pk"]))
        info = b"fedlib/secagg/v1/share-encryption/" + self.round_id.to_bytes(8, "big")
        self._aeads[peer] = ChaCha20Poly1305(derive_key(shared, info=info))
        return self._aeads[peer]

    def _nonce_aad(self, sender: str, receiver: str) -> tuple[bytes, bytes]:
        # One key per unordered pair per round, used once in each direction: the nonce
        # encodes the direction so a (key, nonce) pair is never reused.
        si, ri = self._roster[sender]["index"], self._roster[receiver]["index"]
        nonce = si.to_bytes(4, "big") + ri.to_bytes(4, "big") + bytes(4)
        return nonce, f"{self.round_id}|{sender}|{receiver}".encode()

    def share_keys(self, roster: Mapping[str, dict]) -> dict[str, bytes]:
        """Phase 1: draw ``b_u``, share ``s_u^SK`` and ``b_u``; one ciphertext per peer."""
        mine = roster.get(self.name)
        if mine is None or mine["c_pk"] != self.advertise()["c_pk"]:
            raise SecAggProtocolError(f"{self.name}: roster does not carry my own public keys")
        if len(roster) < self.threshold:
            raise SecureAggregationAborted(f"{self.name}: roster of {len(roster)} < t")
        self._roster = dict(roster)
        b = (self._entropy or secrets.token_bytes)(SEED_BYTES)
        self._b = b
        sk_int = int.from_bytes(self._s_sk.private_bytes_raw(), "big")
        sk_sh = split(sk_int, threshold=self.threshold, n_shares=self.n_total, entropy=self._entropy)
        b_sh = split(int.from_bytes(b, "big"), threshold=self.threshold, n_shares=self.n_total,
                     entropy=self._entropy)
        out = {}
        for v, entry in roster.items():
            i = entry["index"] - 1
            if v == self.name:
                self._held[v] = (sk_sh[i], b_sh[i])
                continue
            nonce, aad = self._nonce_aad(self.name, v)
            out[v] = self._aead(v).encrypt(nonce, sk_sh[i].to_bytes() + b_sh[i].to_bytes(), aad)
        return out

    def receive_shares(self, ciphertexts: Mapping[str, bytes]) -> None:
        """End of phase 1: decrypt and keep the peers' shares; their senders and I are ``U2``."""
        half = len(Share(0, 0).to_bytes())
        for u, ct in ciphertexts.items():
            nonce, aad = self._nonce_aad(u, self.name)
            pt = self._aead(u).decrypt(nonce, ct, aad)  # raises InvalidTag if tampered
            sk_s, b_s = Share.from_bytes(pt[:half]), Share.from_bytes(pt[half:])
            if sk_s.x != self.index or b_s.x != self.index:
                raise SecAggProtocolError(f"{self.name}: share from {u} is not addressed to me")
            self._held[u] = (sk_s, b_s)
        self._u2 = set(ciphertexts) | {self.name}

    def masked_input(self, x: np.ndarray) -> MaskedInput:
        """Phase 2: ``y_u`` for the encoded input ``x`` (``uint64``)."""
        if self._b is None:
            raise SecAggProtocolError(f"{self.name}: cannot mask before sharing my keys")
        y = x.astype(np.uint64, copy=True)
        y += expand_mask(self._b, len(y), stream=_SELF_MASK_STREAM)  # uint64 wraps mod 2^64
        for v in self._u2 - {self.name}:
            p = _pair_mask(self._s_sk, self._roster[v]["s_pk"], len(y), self.round_id)
            if self.index > self._roster[v]["index"]:
                y += p
            else:
                y -= p
        return MaskedInput(self.name, y)

    def unmask(self, survivors: Sequence[str]) -> dict[str, dict[str, bytes]]:
        """Phase 3: shares of ``b_v`` for survivors, of ``s_v^SK`` for the dropped, never both."""
        alive = set(survivors)
        if not alive <= self._u2 or self.name not in alive:
            raise SecAggProtocolError(f"{self.name}: survivor list is not a subset of U2 with me")
        if len(alive) < self.threshold:
            raise SecureAggregationAborted(f"{self.name}: only {len(alive)} survivors < t")
        out: dict[str, dict[str, bytes]] = {"s_sk": {}, "b": {}}
        for v in sorted(self._u2):
            what = "b" if v in alive else "s_sk"
            if self._revealed.setdefault(v, what) != what:
                raise SecAggProtocolError(
                    f"{self.name}: refusing to reveal {what!r} of {v}: its "
                    f"{self._revealed[v]!r} share was already revealed")
            out[what][v] = self._held[v][0 if what == "s_sk" else 1].to_bytes()
        return out


def check_threshold(threshold: Any, n: int) -> int:
    """``threshold`` as an int if it is allowed for ``n`` clients: ``n/2 < t ≤ n``.

    >>> check_threshold(3, 5)
    3
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | np.integer):
        raise ValueError(f"threshold={threshold!r}: must be an integer")
    if not n // 2 + 1 <= threshold <= n:
        raise ValueError(
            f"threshold={threshold}: must be in [{n // 2 + 1}, n={n}] (t > n/2, as Bonawitz "
            "et al. require: with t ≤ n/2 two disjoint groups of survivors could each be "
            "shown a different U3, and the server could unmask both halves)")
    return int(threshold)


class SecAggServer:
    """The server's side of one run of the protocol, whatever carries its messages.

    It holds no secret: only what clients send it, and the survivor sets ``U1`` ⊇ ``U2`` ⊇
    ``U3`` ⊇ ``U5`` it fixes from who answered each phase. :class:`SecureAggregationRound`
    drives it with in-process clients through a transcript; :mod:`fedlib.flower.bookagg`
    with Flower nodes through a ``Grid``. Each step checks the threshold and raises
    :class:`SecureAggregationAborted` when fewer than ``t`` clients answered.

    1. :meth:`roster_from_keys` (phase 0): the public keys that arrived become the roster
       every member of ``U1`` receives.
    2. :meth:`relay_shares` (phase 1): the encrypted shares each member of ``U2`` sent, as
       the ciphertexts addressed to each member of ``U2``.
    3. :meth:`aggregate` (phase 2): the masked inputs summed mod 2^64; fixes ``U3``.
    4. :meth:`survivors` and :meth:`unmask` (phase 3): ``U3`` to announce, then the sum with
       every mask removed, from the shares the survivors returned; the server never
       reconstructs both secrets of one client (Bonawitz et al. 2017, Fig. 4, Unmasking).

    Parameters
    ----------
    clients
        Distinct client names; their order fixes the Shamir x-coordinates 1..n.
    threshold
        ``t`` (:func:`check_threshold`: ``n/2 < t ≤ n``).
    codec
        Fixed-point encoding; its capacity is checked for ``n`` summands.
    round
        Round number, bound into every derived key (``None``: 0).
    """

    def __init__(self, clients: Sequence[str], *, threshold: int,
                 codec: FixedPointCodec | None = None, round: int | None = None) -> None:
        names = list(clients)
        if len(set(names)) != len(names) or not all(isinstance(c, str) for c in names):
            raise ValueError(f"clients={names!r}: must be distinct strings")
        self.threshold = check_threshold(threshold, len(names))
        self.codec = codec if codec is not None else FixedPointCodec()
        self.codec.check_capacity(len(names))
        self.clients = tuple(names)
        rid = 0 if round is None else int(round)
        if not 0 <= rid < 2**64:
            raise ValueError(f"round={round!r}: must be a non-negative integer below 2^64")
        self.round_id = rid
        self.u1: tuple[str, ...] = ()
        self.u2: tuple[str, ...] = ()
        self.u3: tuple[str, ...] = ()
        self.u5: tuple[str, ...] = ()
        #: Each member of ``U1``: its Shamir x-coordinate ``index`` and its two public keys.
        self.roster: dict[str, dict] = {}
        #: What was reconstructed per client: "pairwise_key" or "self_mask", never both.
        self.reconstructed: dict[str, str] = {}

    def check_alive(self, phase: str, alive: Sequence[str]) -> None:
        """Abort the round if fewer than ``t`` clients are ``alive`` after ``phase``."""
        if len(alive) < self.threshold:
            raise SecureAggregationAborted(
                f"secure aggregation aborted in phase {phase!r}: {len(alive)} of "
                f"{len(self.clients)} clients survived, fewer than the threshold "
                f"t={self.threshold}; no secret was reconstructed and no input revealed")

    def _in_order(self, who: Mapping[str, Any] | Sequence[str], among: Sequence[str],
                  what: str) -> tuple[str, ...]:
        stray = sorted(set(who) - set(among))
        if stray:
            raise SecAggProtocolError(f"{what} from {stray}, which are not among {list(among)}")
        return tuple(c for c in self.clients if c in set(who))

    # -- phase 0: AdvertiseKeys ---------------------------------------------------------------
    def roster_from_keys(self, keys: Mapping[str, Mapping[str, bytes]]) -> dict[str, dict]:
        """``U1`` (who sent ``{"c_pk", "s_pk"}``) and the roster broadcast to each of them."""
        self.u1 = self._in_order(keys, self.clients, "public keys")
        self.check_alive("advertise", self.u1)
        for c in self.u1:
            if sorted(keys[c]) != ["c_pk", "s_pk"] or any(
                    not isinstance(k, bytes) or len(k) != 32 for k in keys[c].values()):
                raise SecAggProtocolError(f"{c}: its keys must be 32-byte 'c_pk' and 's_pk'")
        self.roster = {c: {"index": self.clients.index(c) + 1, **keys[c]} for c in self.u1}
        return self.roster

    # -- phase 1: ShareKeys -------------------------------------------------------------------
    def relay_shares(self, outbox: Mapping[str, Mapping[str, bytes]]
                     ) -> dict[str, dict[str, bytes]]:
        """``U2`` (who sent encrypted shares) and, per member ``v``, the ciphertexts for ``v``."""
        self.u2 = self._in_order(outbox, self.u1, "encrypted shares")
        self.check_alive("share", self.u2)
        for u in self.u2:
            if set(outbox[u]) != set(self.u1) - {u}:
                raise SecAggProtocolError(f"{u}: must send one ciphertext to every other "
                                          f"member of U1 {list(self.u1)}")
        return {v: {u: outbox[u][v] for u in self.u2 if u != v} for v in self.u2}

    # -- phase 2: MaskedInputCollection ---------------------------------------------------------
    def aggregate(self, payloads: Sequence[MaskedInput]) -> MaskedSum:
        """Sum the masked inputs mod 2^64. Needs no secret; fixes ``U3``."""
        senders = [p.party for p in payloads]
        if len(set(senders)) != len(senders) or not set(senders) <= set(self.u2):
            raise SecAggProtocolError(f"payloads: senders {senders} must be distinct members of U2")
        self.check_alive("masked", senders)
        lengths = {len(p.y) for p in payloads}
        if len(lengths) != 1:
            raise ValueError(f"payloads: masked vectors have different lengths {sorted(lengths)}")
        self.u3 = tuple(sorted(senders, key=self.clients.index))
        total = np.zeros(lengths.pop(), dtype=np.uint64)
        for p in payloads:
            total += p.y  # wraps mod 2^64
        return MaskedSum(self.u3, total)

    # -- phase 3: Unmasking ---------------------------------------------------------------------
    def survivors(self, aggregate: MaskedSum) -> list[str]:
        """``U3``, the list each survivor is sent to ask for its shares."""
        if aggregate.parties != self.u3:
            raise SecAggProtocolError("aggregate: its parties differ from the U3 of this round")
        return list(self.u3)

    def unmask(self, aggregate: MaskedSum,
               responses: Mapping[str, Mapping[str, Mapping[str, bytes]]]) -> np.ndarray:
        """Remove every mask from ``aggregate`` and decode the float sum of ``U3``'s inputs.

        ``responses[u]`` is survivor ``u``'s ``{"s_sk": {owner: share}, "b": {owner:
        share}}``; those who answered form ``U5``. A dropped client's pairwise masks are
        rebuilt from ``t`` shares of its mask key, each survivor's self-mask from ``t`` shares
        of its seed.
        """
        self.survivors(aggregate)
        self.u5 = self._in_order(responses, self.u3, "unmask shares")
        self.check_alive("unmask", self.u5)
        total = aggregate.total.copy()
        dropped = [v for v in self.u2 if v not in self.u3]
        for v in dropped:
            s_sk = X25519PrivateKey.from_private_bytes(
                self._reconstruct(v, "pairwise_key", "s_sk", responses))
            for u in self.u3:
                p = _pair_mask(s_sk, self.roster[u]["s_pk"], len(total), self.round_id)
                # u added Δ_{u,v} p; undo it.
                if self.roster[u]["index"] > self.roster[v]["index"]:
                    total -= p
                else:
                    total += p
        for u in self.u3:
            b = self._reconstruct(u, "self_mask", "b", responses)
            total -= expand_mask(b, len(total), stream=_SELF_MASK_STREAM)
        return self.codec.decode(total, n_summands=len(self.u3))

    def _reconstruct(self, owner: str, what: str, field: str,
                     responses: Mapping[str, Mapping[str, Mapping[str, bytes]]]) -> bytes:
        if self.reconstructed.setdefault(owner, what) != what:
            raise SecAggProtocolError(
                f"refusing to reconstruct the {what} of {owner}: its "
                f"{self.reconstructed[owner]} was already reconstructed")
        shares = [Share.from_bytes(r[field][owner]) for r in responses.values()
                  if owner in r[field]]
        if len(shares) < self.threshold:
            raise SecureAggregationAborted(
                f"only {len(shares)} shares of the {what} of {owner}; threshold t={self.threshold}")
        return reconstruct(shares[: self.threshold]).to_bytes(SEED_BYTES, "big")


class SecureAggregationRound:
    """One round of secure aggregation among ``clients``.

    An ``UpdateProtection`` of kind ``"masked"``.

    Use :meth:`run` for the whole protocol, or, as a protection in a round loop,
    :meth:`setup` (phases 0-1), :meth:`protect` per client (phase 2, the caller sends the
    payload), :meth:`aggregate` (server) and :meth:`recover` (phase 3).

    Parameters
    ----------
    clients
        Distinct client names; their order fixes the Shamir x-coordinates 1..n.
    threshold
        ``t``: shares needed to recover a secret, and the fewest clients that may remain;
        ``n/2 < t ≤ n`` (and ``t ≥ 2``); ``t ≤ n/2`` is an error: two disjoint groups of
        survivors could then each be shown a different ``U3`` (the reason Bonawitz et al.
        require ``t > n/2`` even for an honest-but-curious server with colluding clients).
    codec
        Fixed-point encoding; its capacity is checked for ``n`` summands.
    transcript
        Where every message is logged (a new one if omitted).
    round
        Round number: logged with each message and bound into every derived key.
    server
        The server's name in the transcript.
    entropy
        ``n -> bytes`` randomness for keys, seeds and Shamir coefficients; default the OS
        CSPRNG (:mod:`secrets`). Inject a seeded source only for reproducible tests.
    """

    kind = "masked"
    #: The transcript label of a phase-2 upload.
    upload_label = "masked_input"

    def __init__(self, clients: Sequence[str], *, threshold: int,
                 codec: FixedPointCodec | None = None, transcript: Transcript | None = None,
                 round: int | None = None, server: str = "server",
                 entropy: Callable[[int], bytes] | None = None) -> None:
        names = list(clients)
        if len(set(names)) != len(names) or not all(isinstance(c, str) for c in names):
            raise ValueError(f"clients={names!r}: must be distinct strings")
        if server in names:
            raise ValueError(f"server={server!r}: must not also be a client")
        # The server's side of the protocol (threshold, codec and round checked there).
        self._server_side = SecAggServer(names, threshold=threshold, codec=codec, round=round)
        self.codec = self._server_side.codec
        self.clients, self.threshold = self._server_side.clients, self._server_side.threshold
        self.server, self.round = server, round
        self.transcript = transcript if transcript is not None else Transcript()
        self._round_id = self._server_side.round_id
        # The client objects stand for the remote parties; server code below only talks to
        # them through messages logged in the transcript.
        self._parties = {c: SecAggClient(c, i + 1, round_id=self._round_id,
                                    threshold=self.threshold, n_total=len(names),
                                    entropy=entropy) for i, c in enumerate(names)}
        self.phase = "init"
        self._unmask_dropouts: set[str] = set()

    # -- what the server side fixed ------------------------------------------------------------
    @property
    def u1(self) -> tuple[str, ...]:
        """Clients whose public keys arrived (phase 0)."""
        return self._server_side.u1

    @property
    def u2(self) -> tuple[str, ...]:
        """Clients whose encrypted shares arrived (phase 1)."""
        return self._server_side.u2

    @property
    def u3(self) -> tuple[str, ...]:
        """Clients whose masked inputs arrived (phase 2): the sum is theirs."""
        return self._server_side.u3

    @property
    def u5(self) -> tuple[str, ...]:
        """Survivors that returned their shares (phase 3)."""
        return self._server_side.u5

    @property
    def reconstructed(self) -> dict[str, str]:
        """What the server reconstructed per client: "pairwise_key" or "self_mask", never both."""
        return self._server_side.reconstructed

    @property
    def _roster(self) -> dict[str, dict]:
        return self._server_side.roster

    # -- helpers ---------------------------------------------------------------------------
    def _send(self, sender: str, receiver: str, kind: str, payload, label: str):
        return self.transcript.send(sender=sender, receiver=receiver, kind=kind,
                                    payload=payload, label=label, round=self.round)

    def _check_dropouts(self, dropouts: Mapping[str, set[str]] | None) -> dict[str, set[str]]:
        dropouts = dict(dropouts or {})
        for phase, who in dropouts.items():
            if phase not in PHASES:
                raise ValueError(f"dropouts: phase {phase!r} is not one of {PHASES}")
            unknown = set(who) - set(self.clients)
            if unknown:
                raise ValueError(f"dropouts[{phase!r}]: unknown clients {sorted(unknown)}")
        return {p: set(dropouts.get(p, ())) for p in PHASES}

    def _expect(self, phase: str) -> None:
        if self.phase != phase:
            raise SecAggProtocolError(f"cannot run this step in state {self.phase!r}; "
                                      f"expected {phase!r}")

    # -- phases 0 and 1 --------------------------------------------------------------------
    def setup(self, dropouts: Mapping[str, set[str]] | None = None) -> None:
        """Run phases 0-1, AdvertiseKeys and ShareKeys.

        ``dropouts[phase]`` are clients that go silent from that phase on; the ``"unmask"``
        entry is kept for :meth:`recover`.
        """
        self._expect("init")
        d = self._check_dropouts(dropouts)
        self._unmask_dropouts = d["unmask"]
        # Phase 0: AdvertiseKeys.
        keys = {c: self._send(c, self.server, "key", self._parties[c].advertise(), "advertise_keys")
                for c in self.clients if c not in d["advertise"]}
        roster = self._server_side.roster_from_keys(keys)
        for c in self.u1:
            self._send(self.server, c, "key", roster, "roster")
        # Phase 1: ShareKeys. Silent from here: dropped in "advertise" or in "share".
        gone = d["advertise"] | d["share"]
        outbox = {c: self._send(c, self.server, "ciphertext",
                                self._parties[c].share_keys(roster), "encrypted_shares")
                  for c in self.u1 if c not in gone}
        inboxes = self._server_side.relay_shares(outbox)
        for v in self.u2:
            self._parties[v].receive_shares(
                self._send(self.server, v, "ciphertext", inboxes[v], "forwarded_shares"))
        self._silent = gone | d["masked"]
        self.phase = "masked"

    @property
    def uploaders(self) -> tuple[str, ...]:
        """Clients that send a masked input in phase 2; known after :meth:`setup`.

        ``U2`` minus those silent from the ``"masked"`` phase on.
        """
        self._expect("masked")
        return tuple(u for u in self.u2 if u not in self._silent)

    # -- phase 2 ---------------------------------------------------------------------------
    def protect(self, party: str, vector: np.ndarray) -> MaskedInput:
        """Client side of MaskedInputCollection: encode and mask ``vector`` (not sent here)."""
        self._expect("masked")
        if party not in self.u2:
            raise SecAggProtocolError(f"party={party!r}: not in U2 {self.u2}; it cannot upload")
        vector = np.asarray(vector, dtype=np.float64)
        if vector.ndim != 1:
            raise ValueError(f"vector: must be 1-D, got shape {vector.shape}")
        return self._parties[party].masked_input(self.codec.encode(vector))

    def aggregate(self, payloads: Sequence[MaskedInput]) -> MaskedSum:
        """Server: sum the masked inputs mod 2^64. Needs no secret; fixes ``U3``."""
        self._expect("masked")
        total = self._server_side.aggregate(payloads)
        self.phase = "unmask"
        return total

    # -- phase 3 ---------------------------------------------------------------------------
    def recover(self, aggregate: MaskedSum) -> np.ndarray:
        """Unmasking: collect shares from survivors, remove masks, decode the float sum."""
        self._expect("unmask")
        alive = self._server_side.survivors(aggregate)
        responses = {}
        for u in alive:
            survivors = self._send(self.server, u, "public", list(alive), "survivors")
            if u not in self._unmask_dropouts:
                responses[u] = self._send(u, self.server, "share",
                                          self._parties[u].unmask(survivors), "unmask_shares")
        total = self._server_side.unmask(aggregate, responses)
        self.phase = "done"
        return total

    def _reconstruct(self, owner: str, what: str, field: str,
                     responses: Mapping[str, Mapping[str, Mapping[str, bytes]]]) -> bytes:
        return self._server_side._reconstruct(owner, what, field, responses)

    # -- everything ------------------------------------------------------------------------
    def run(self, vectors: Mapping[str, np.ndarray],
            dropouts: Mapping[str, set[str]] | None = None) -> np.ndarray:
        """Run all four phases; return the float sum of the vectors of the clients in ``U3``.

        ``vectors`` holds every client's update (its owner's data: the server never reads it).
        ``dropouts`` maps a phase in :data:`PHASES` to the clients that go silent from there.
        """
        missing = set(self.clients) - set(vectors)
        if missing:
            raise ValueError(f"vectors: no update for clients {sorted(missing)}")
        self.setup(dropouts)
        payloads = [self._send(u, self.server, "masked", self.protect(u, vectors[u]),
                               self.upload_label)
                    for u in self.uploaders]
        return self.recover(self.aggregate(payloads))


class SecureAggregation:
    """Secure aggregation across rounds, one shared transcript.

    Fresh keys and a new :class:`SecureAggregationRound` per round. Parameters as in
    :class:`SecureAggregationRound`.
    """

    kind = "masked"

    def __init__(self, *, threshold: int, codec: FixedPointCodec | None = None,
                 transcript: Transcript | None = None, server: str = "server",
                 entropy: Callable[[int], bytes] | None = None) -> None:
        self.threshold, self.server, self.entropy = threshold, server, entropy
        self.codec = codec if codec is not None else FixedPointCodec()
        self.transcript = transcript if transcript is not None else Transcript()

    def new_round(self, clients: Sequence[str], *, round: int | None = None,
                  transcript: Transcript | None = None) -> SecureAggregationRound:
        """A fresh protocol run among ``clients``, logged to ``transcript``.

        ``transcript`` defaults to this object's own; a round loop passes its run's
        transcript so that it logs there without replacing the caller's.
        """
        return SecureAggregationRound(clients, threshold=self.threshold, codec=self.codec,
                                      transcript=self.transcript if transcript is None
                                      else transcript, round=round,
                                      server=self.server, entropy=self.entropy)

    def run(self, vectors: Mapping[str, np.ndarray], *,
            dropouts: Mapping[str, set[str]] | None = None, round: int | None = None) -> np.ndarray:
        """Sum of the surviving clients' vectors for one round.

        See :meth:`SecureAggregationRound.run`.
        """
        return self.new_round(list(vectors), round=round).run(vectors, dropouts)
