"""The book's secure aggregation as a Flower protocol (issue 11): fedlib.flower.bookagg.

The simulation test needs the optional extra (``pip install -e '.[flower]'``) and skips
without it. The others need no Flower: a client carried from phase to phase through its
exported state says exactly what one kept in memory says, the server's side
(:class:`~fedlib.crypto.secagg.SecAggServer`) recovers the exact sum from such clients, the
records on the wire round-trip and refuse malformed messages, the dropout mod reads the
phase from the message type, and a bad threshold fails before Flower starts.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from fedlib.crypto.fixedpoint import FixedPointCodec
from fedlib.crypto.secagg import (
    MaskedInput,
    SecAggClient,
    SecAggProtocolError,
    SecAggServer,
    SecureAggregationAborted,
)
from fedlib.fl.models import LogisticRegression, get_flat_params
from fedlib.fl.party import LogisticSGDTrainer, Party, PartyClient
from fedlib.fl.strategies import FedAvg, contribution
from fedlib.flower.bookagg import BookSecAgg, simulate_bookagg
from fedlib.flower.bookagg_client import bookagg_dropout_mod
from fedlib.flower.bookagg_wire import (
    MESSAGE_TYPE,
    roster_from_record,
    roster_record,
    shares_from_record,
    shares_record,
    unmask_from_record,
    unmask_record,
)
from fedlib.flower.dropouts import SimulatedDropout
from fedlib.flower.server import plaintext_uploads

CODEC = FixedPointCodec(frac_bits=20, clip=16.0)



# -- (c) a client's state between messages ---------------------------------------------------
def _plain(state):
    """The exported state as a node keeps it: a deep copy, of bytes, ints, strings and lists."""
    for key, value in state.items():
        items = value if isinstance(value, list) else [value]
        assert all(type(v) in (bytes, int, str) for v in items), key
        assert len({type(v) for v in items}) <= 1, key        # one type per list (a record's)
    return copy.deepcopy(state)


class Carried:
    """A client that lives for one message only: rebuilt from its state before each phase and
    exported after it, drawing from its own generator (as a node draws from the OS)."""

    def __init__(self, name, index, *, t, n, seed):
        self.entropy = np.random.default_rng(seed).bytes
        self.state = _plain(SecAggClient(name, index, round_id=7, threshold=t, n_total=n,
                                         entropy=self.entropy).export_state())

    def __getattr__(self, phase):
        def call(*args):
            client = SecAggClient.from_state(self.state, entropy=self.entropy)
            out = getattr(client, phase)(*args)
            self.state = _plain(client.export_state())
            return out
        return call


def _both(n=5, t=3, dim=50):
    names = [f"bank-{i}" for i in range(n)]
    kept = {c: SecAggClient(c, i + 1, round_id=7, threshold=t, n_total=n,
                            entropy=np.random.default_rng(100 + i).bytes)
            for i, c in enumerate(names)}
    carried = {c: Carried(c, i + 1, t=t, n=n, seed=100 + i) for i, c in enumerate(names)}
    vectors = {c: np.random.default_rng(i).uniform(-4, 4, dim) for i, c in enumerate(names)}
    return names, kept, carried, vectors


def _run(clients, names, vectors, *, t, drop_masked=(), drop_unmask=()):
    """Drive ``clients`` through the server's side; return every message and the sum."""
    server = SecAggServer(names, threshold=t, codec=CODEC, round=7)
    said = {"advertise": {c: clients[c].advertise() for c in names}}
    roster = server.roster_from_keys(said["advertise"])
    said["share"] = {c: clients[c].share_keys(roster) for c in server.u1}
    inboxes = server.relay_shares(said["share"])
    for v in server.u2:
        clients[v].receive_shares(inboxes[v])
    said["masked"] = {c: clients[c].masked_input(CODEC.encode(vectors[c])).y
                      for c in server.u2 if c not in drop_masked}
    total = server.aggregate([MaskedInput(c, y) for c, y in said["masked"].items()])
    alive = server.survivors(total)
    said["unmask"] = {u: clients[u].unmask(alive) for u in alive if u not in drop_unmask}
    return said, server.unmask(total, said["unmask"]), server


def test_a_client_carried_through_its_state_says_what_one_in_memory_says():
    """(c) Export after every phase, rebuild before the next: the same keys, ciphertexts,
    masked vectors and shares as clients that stayed in memory, and the server's side
    recovers the exact fixed-point sum from them, with one dropout before the upload and one
    after it."""
    names, kept, carried, vectors = _both()
    drops = {"drop_masked": ["bank-1"], "drop_unmask": ["bank-3"]}
    in_memory, total_kept, _ = _run(kept, names, vectors, t=3, **drops)
    restored, total_carried, server = _run(carried, names, vectors, t=3, **drops)
    for phase in ("advertise", "share", "unmask"):
        assert restored[phase] == in_memory[phase], phase
    assert restored["masked"].keys() == in_memory["masked"].keys()
    for c, y in in_memory["masked"].items():
        np.testing.assert_array_equal(restored["masked"][c], y)
    survivors = [c for c in names if c != "bank-1"]
    expected = np.zeros(50, dtype=np.uint64)
    for c in survivors:
        expected += CODEC.encode(vectors[c])
    np.testing.assert_array_equal(total_carried, CODEC.decode(expected, n_summands=4))
    np.testing.assert_array_equal(total_carried, total_kept)
    assert server.reconstructed == {"bank-1": "pairwise_key", **dict.fromkeys(survivors,
                                                                                "self_mask")}
    # What a client revealed travels in its state: a restored client still refuses to reveal
    # the other secret of a peer (here bank-1's self-mask, after its mask key went out).
    with pytest.raises(SecAggProtocolError, match="refusing to reveal 'b' of bank-1"):
        carried["bank-0"].unmask(names)
    assert carried["bank-0"].state["revealed_owners"] == ["bank-0", "bank-1", "bank-2",
                                                          "bank-3", "bank-4"]


def test_the_exported_state_holds_the_secrets_and_is_checked_when_read():
    client = SecAggClient("a", 1, round_id=3, threshold=2, n_total=3)
    state = client.export_state()
    assert state["b"] == b"" and state["held_owners"] == []       # before ShareKeys
    with pytest.raises(SecAggProtocolError, match="before sharing"):
        SecAggClient.from_state(state).masked_input(np.zeros(2, dtype=np.uint64))
    with pytest.raises(ValueError, match=r"lacks \['s_sk'\]"):
        SecAggClient.from_state({k: v for k, v in state.items() if k != "s_sk"})
    with pytest.raises(ValueError, match="version 2"):
        SecAggClient.from_state({**state, "version": 2})
    with pytest.raises(ValueError, match="equal length"):
        SecAggClient.from_state({**state, "roster_names": ["a"]})
    again = SecAggClient.from_state(state)
    assert again.advertise() == client.advertise() and again.export_state() == state


def test_the_server_side_aborts_below_the_threshold_and_refuses_strays():
    names, kept, _, vectors = _both()
    with pytest.raises(SecureAggregationAborted, match=r"'masked': 2 of 5 .* t=3"):
        _run(kept, names, vectors, t=3, drop_masked=["bank-0", "bank-1", "bank-2"])
    server = SecAggServer(names, threshold=3, codec=CODEC, round=7)
    keys = {c: SecAggClient(c, i + 1, round_id=7, threshold=3, n_total=5).advertise()
            for i, c in enumerate(names)}
    with pytest.raises(SecAggProtocolError, match="not among"):
        server.roster_from_keys({**keys, "mallory": keys["bank-0"]})
    with pytest.raises(SecAggProtocolError, match="32-byte"):
        server.roster_from_keys({**keys, "bank-0": {"c_pk": b"short", "s_pk": b"x" * 32}})


# -- the records on the wire and the dropout mod ----------------------------------------------
def test_messages_round_trip_through_flat_records_and_malformed_ones_are_refused():
    roster = {"a": {"index": 1, "c_pk": b"c" * 32, "s_pk": b"s" * 32},
              "b": {"index": 2, "c_pk": b"C" * 32, "s_pk": b"S" * 32}}
    assert roster_from_record(roster_record(roster)) == roster
    assert list(roster_from_record(roster_record(roster))) == ["a", "b"]     # order kept
    assert shares_from_record(shares_record({"a": b"1", "b": b"2"})) == {"a": b"1", "b": b"2"}
    reply = {"s_sk": {"c": b"x"}, "b": {"a": b"y", "b": b"z"}}
    assert unmask_from_record(unmask_record(reply)) == reply
    with pytest.raises(SecAggProtocolError, match="lacks"):
        shares_from_record({"peers": ["a"]})
    with pytest.raises(SecAggProtocolError, match="equal length"):
        shares_from_record({"peers": ["a", "b"], "ciphertexts": [b"1"]})
    with pytest.raises(SecAggProtocolError, match="distinct"):
        unmask_from_record({"s_sk_owners": ["a", "a"], "s_sk_shares": [b"1", b"2"],
                            "b_owners": [], "b_shares": []})


def test_the_dropout_mod_reads_the_phase_from_the_message_type():
    mod = bookagg_dropout_mod({2: {"masked": ["b"], "unmask": ["a"]}}, ["a", "b"])

    def message(group, kind):
        return SimpleNamespace(metadata=SimpleNamespace(message_type=kind, group_id=group))

    def node(k):
        return SimpleNamespace(node_config={"partition-id": k})

    def passed(msg, ctx):
        return "answered"

    assert mod(message("2", MESSAGE_TYPE["share"]), node(1), passed) == "answered"
    assert mod(message("1", MESSAGE_TYPE["masked"]), node(1), passed) == "answered"
    assert mod(message("2", "train"), node(1), passed) == "answered"       # the plain path
    with pytest.raises(SimulatedDropout, match="b drops out in round 2, phase 'masked'"):
        mod(message("2", MESSAGE_TYPE["masked"]), node(1), passed)
    with pytest.raises(SimulatedDropout, match="phase 'unmask'"):
        mod(message("2", MESSAGE_TYPE["unmask"]), node(0), passed)


def test_a_threshold_the_protocol_forbids_fails_before_flower_starts():
    parties = [SimpleNamespace(name=f"bank-{i}") for i in range(5)]
    with pytest.raises(ValueError, match=r"threshold=2: must be in \[3, n=5\]"):
        simulate_bookagg(FedAvg(np.zeros(2)), parties, rounds=1, seed=0,
                         protocol=BookSecAgg(threshold=2))
    assert BookSecAgg(threshold=3, codec=CODEC).mean_error_bound(4, 0.5) == 8 * 2.0**-21


# -- (a), (b), (d) on Flower's simulation -------------------------------------------------------
def _parties(seed: int = 0, k: int = 5, d: int = 40) -> list[PartyClient]:
    """Five banks of different sizes, a logistic regression of 41 parameters."""
    rng = np.random.default_rng(seed)
    model = LogisticRegression(d, seed=0)
    out = []
    for i in range(k):
        X = rng.normal(size=(40 + 10 * i, d)).astype(np.float32)
        y = (X[:, 0] - 0.5 * X[:, 2] + rng.normal(0, 0.5, len(X)) > 0).astype(np.float32)
        party = Party(f"bank-{i + 1}", X, y, LogisticSGDTrainer(epochs=2, lr=0.5, batch_size=16))
        out.append(PartyClient(party, model))
    return out


class Recording:
    """The server's ``Grid``, remembering every reply it received."""

    def __init__(self, grid):
        self.grid, self.replies = grid, []

    def __getattr__(self, name):
        return getattr(self.grid, name)

    def send_and_receive(self, messages, *, timeout=None):
        replies = list(self.grid.send_and_receive(messages, timeout=timeout))
        self.replies += replies
        return replies


def test_book_secure_aggregation_on_flower_is_fedavg_within_the_codec_bound(flwr):
    """(a) Round by round, the aggregate is the book's plaintext FedAvg of the parties whose
    masked vectors arrived, within ``n · 2^-(f+1) / Σ w``: round 1 without dropouts, round 2
    with one party gone before its upload (its pairwise masks are rebuilt from its mask key),
    round 3 with one gone after its upload (its input is in the sum). (b) In round 4 three of
    five drop before uploading, below t = 3: the round aborts, nothing is reconstructed and
    the model stays. (d) Nothing the server received holds a party's update: every array it
    got is a masked ``uint64`` vector, equal to its party's encoded contribution nowhere and
    uniform where the encodings are not, and no reply carries the bytes of an update."""
    from fedlib.flower.bookagg import BookAggRound, run_bookagg
    from fedlib.flower.bookagg_client import bookagg_client_app
    from fedlib.flower.server import FlowerRun, server_app
    from fedlib.flower.simulation import run_apps

    parties, seed = _parties(), 3
    names = [p.name for p in parties]
    initial = get_flat_params(parties[0].model)
    plan = {2: {"masked": ["bank-2"]}, 3: {"unmask": ["bank-4"]},
            4: {"masked": ["bank-1", "bank-3", "bank-5"]}}
    protocol = BookSecAgg(threshold=3, timeout=120.0)
    run, grids = FlowerRun(), []

    def main(grid, context):
        grids.append(Recording(grid))
        run_bookagg(grids[0], FedAvg(initial, sample_fraction=1.0), num_parties=5, rounds=4,
                    seed=seed, protocol=protocol, run=run)

    run_apps(server_app(main), bookagg_client_app(parties, dropouts=plan), num_nodes=5)

    assert [p.name for p in run.roster] == names
    assert all(isinstance(r, BookAggRound) for r in run.history)
    assert [r.aborted for r in run.history] == [False, False, False, True]
    everyone = dict.fromkeys(names, "self_mask")
    assert [r.reconstructed for r in run.history] == [
        everyone, {**everyone, "bank-2": "pairwise_key"}, everyone, {}]
    assert run.history[2].survivors["unmask"] == [n for n in names if n != "bank-4"]
    strategy, rng = FedAvg(initial, sample_fraction=1.0), np.random.default_rng(seed)
    start, encoded = initial, {}
    for r in run.history:
        instructions = strategy.configure_fit(r.round, start, parties, rng=rng)
        config = {i.party: i.config for i in instructions}
        if r.aborted:
            assert r.uploaded == [] and r.failures == names and r.survivors == {
                "advertise": names, "share": names}
            np.testing.assert_array_equal(r.parameters, start)
            continue
        gone = plan.get(r.round, {}).get("masked", [])
        assert r.uploaded == [n for n in names if n not in gone] and r.failures == gone
        results = {n: parties[names.index(n)].fit(start, config[n]) for n in r.uploaded}
        weights = {n: config[n]["weight"] for n in r.uploaded}
        expected = strategy.aggregate_fit(r.round, plaintext_uploads(
            results, weights, weight_in_upload=False), failures=r.failures)
        bound = protocol.mean_error_bound(len(r.uploaded), sum(weights.values()))
        error = np.max(np.abs(r.parameters - expected))
        assert error <= bound, (r.round, error, bound)
        print(f"\nround {r.round}: {len(r.uploaded)} uploads, max error {error:.2e}, "
              f"bound {bound:.2e}, {r.seconds:.2f} s")
        assert {n: m["loss"] for n, m in r.fit_metrics.items()} == {
            n: res.metrics["loss"] for n, res in results.items()}
        assert all(m["clipped"] == 0 for m in r.fit_metrics.values())
        assert min(r.bytes_to_server[n] for n in r.uploaded) > 8 * len(initial)
        for n, res in results.items():
            encoded[r.round, n] = (protocol.codec.encode(contribution(
                res.parameters, weights[n], weight_in_upload=False)), res.parameters)
        start = r.parameters
    np.testing.assert_array_equal(run.parameters, run.history[-1].parameters)

    # (d) what the server received
    masked, blob = {}, b""
    for reply in grids[0].replies:
        if reply.has_error():
            continue
        content = reply.content
        blob += b"".join(bytes(v) for rec in content.config_records.values()
                         for value in rec.values()
                         for v in (value if isinstance(value, list) else [value])
                         if isinstance(v, bytes))
        for array_record in content.array_records.values():
            (array,) = array_record.to_numpy_ndarrays()
            assert reply.metadata.message_type == MESSAGE_TYPE["masked"]
            assert array.dtype == np.uint64
            round_ = int(reply.metadata.group_id)
            name = names[[p.node_id for p in run.roster].index(reply.metadata.src_node_id)]
            masked[round_, name] = array
            blob += array.tobytes()
    assert set(encoded) <= set(masked)             # every update that entered a sum was masked
    for key, (enc, update) in encoded.items():
        assert not np.any(masked[key] == enc), key
        assert enc.tobytes() not in blob and update.tobytes() not in blob
        assert update.astype(np.float32).tobytes() not in blob
    uploads = np.concatenate([masked[k] for k in encoded]).astype(np.float64) / 2.0**64
    plain = np.concatenate([enc for enc, _ in encoded.values()]).astype(np.float64) / 2.0**64
    assert stats.kstest(uploads, "uniform").pvalue > 1e-4
    assert stats.kstest(plain, "uniform").pvalue < 1e-10



# -- facts of Flower's SecAgg+ that book/security.md sets beside the book's ---------------------
def test_secaggplus_encrypts_shares_with_fernet_on_p384_and_shares_16_byte_chunks(flwr):
    """SecAgg+ agrees a share-encryption key by ECDH on P-384 and HKDF-SHA256 (no salt, no
    context) and encrypts with Fernet (AES-128-CBC and HMAC-SHA256); it Shamir-shares a
    32-byte secret as three 16-byte chunks over GF(2^128) (PyCryptodome), after padding. The
    book's client agrees X25519 keys, encrypts with ChaCha20-Poly1305 bound to the round,
    sender and receiver, and shares a secret as one element of GF(2^521 − 1)."""
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives.asymmetric import ec
    from flwr.common.secure_aggregation.crypto.shamir import combine_shares, create_shares
    from flwr.common.secure_aggregation.crypto.symmetric_encryption import (
        encrypt,
        generate_shared_key,
    )
    from flwr.supercore.primitives.asymmetric import generate_key_pairs

    from fedlib.crypto.shamir import Share, split

    sk, pk = generate_key_pairs()
    assert isinstance(sk.curve, ec.SECP384R1)
    key = generate_shared_key(sk, pk)
    assert Fernet(key).decrypt(encrypt(key, b"share")) == b"share"
    secret = bytes(range(32))
    shares = create_shares(secret, 3, 5)
    assert {len(s) for s in shares} == {4 + 3 * 16}                 # index, then 3 chunks
    assert combine_shares(shares[1:4]) == secret
    book = split(int.from_bytes(secret, "big"), threshold=3, n_shares=5)
    assert {len(s.to_bytes()) for s in book} == {4 + 66}            # index, one element
    assert isinstance(book[0], Share)
