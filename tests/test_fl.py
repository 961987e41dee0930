"""Round loop, weighted FedAvg, sampling, dropout and the transcript."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from torch import nn

from fedlib.core.transcript import Transcript, payload_nbytes
from fedlib.fl.federation import Federation
from fedlib.fl.models import LogisticRegression, get_flat_params, set_flat_params
from fedlib.fl.party import Party, TrainStats
from fedlib.fl.protection import PlaintextProtection


@dataclass
class FixedTrainer:
    """Sets the model to a known vector, so aggregation can be checked exactly."""

    target: np.ndarray
    private: bool = False
    calls: list = field(default_factory=list)

    def train(self, model: nn.Module, X, y, *, seed: int) -> TrainStats:
        self.calls.append(get_flat_params(model))
        set_flat_params(model, self.target)
        return TrainStats(steps=1, loss=0.0, seconds=0.0)


def make_parties(sizes, dim=3, seed=0):
    rng = np.random.default_rng(seed)
    parties, targets = [], []
    for k, n in enumerate(sizes):
        target = rng.normal(size=dim + 1)
        X = rng.normal(size=(n, dim)).astype(np.float32)
        y = (rng.random(n) < 0.5).astype(np.float32)
        parties.append(Party(f"p{k}", X, y, FixedTrainer(target)))
        targets.append(target)
    return parties, np.array(targets)


def test_fedavg_is_row_weighted_average():
    sizes = [10, 30, 60]
    parties, targets = make_parties(sizes)
    fed = Federation(parties, model_fn=lambda: LogisticRegression(3, seed=0), seed=1)
    record = fed.run_round()
    expected = (np.array(sizes)[:, None] * targets).sum(0) / sum(sizes)
    np.testing.assert_allclose(record.global_params, expected, rtol=1e-6)  # parameters live in float32 inside the model


def test_next_round_starts_from_the_new_global_model():
    parties, _ = make_parties([5, 5])
    fed = Federation(parties, model_fn=lambda: LogisticRegression(3, seed=0), seed=1)
    first = fed.run_round().global_params
    fed.run_round()
    for p in parties:
        np.testing.assert_allclose(p.trainer.calls[1], first)


def test_dropout_renormalises_over_the_parties_that_uploaded():
    sizes = [10, 20, 30, 40, 50, 60]
    parties, targets = make_parties(sizes)
    fed = Federation(parties, model_fn=lambda: LogisticRegression(3, seed=0), seed=3,
                     dropout_rate=0.5)
    record = fed.run_round()
    assert 0 < len(record.uploaded) < len(sizes)
    idx = [int(name[1:]) for name in record.uploaded]
    w = np.array(sizes)[idx]
    expected = (w[:, None] * targets[idx]).sum(0) / w.sum()
    np.testing.assert_allclose(record.global_params, expected, rtol=1e-6)  # parameters live in float32 inside the model


def test_sampling_takes_the_requested_fraction():
    parties, _ = make_parties([5] * 10)
    fed = Federation(parties, model_fn=lambda: LogisticRegression(3, seed=0), seed=0,
                     sample_fraction=0.3)
    records = fed.fit(rounds=4)
    assert all(len(r.sampled) == 3 for r in records)
    assert len({tuple(r.sampled) for r in records}) > 1


def test_transcript_records_every_update_with_its_bytes():
    parties, _ = make_parties([5, 5, 5])
    fed = Federation(parties, model_fn=lambda: LogisticRegression(3, seed=0), seed=0)
    record = fed.run_round()
    to_server = fed.transcript.received_by("server")
    assert [m.sender for m in to_server] == ["p0", "p1", "p2"]
    assert all(m.kind == "plaintext" and m.nbytes == 4 * 8 for m in to_server)
    assert record.bytes_to_server == 3 * 32
    assert record.bytes_from_server == 3 * 32


def test_dp_trained_update_is_labelled_noisy():
    parties, _ = make_parties([5])
    parties[0].trainer.private = True
    assert parties[0].message_kind == "noisy"


def test_bad_arguments_are_rejected():
    parties, _ = make_parties([5, 5])
    with pytest.raises(ValueError, match="sample_fraction"):
        Federation(parties, model_fn=lambda: LogisticRegression(3, seed=0), seed=0,
                   sample_fraction=0)
    with pytest.raises(ValueError, match="unique"):
        Federation([parties[0], parties[0]], model_fn=lambda: LogisticRegression(3, seed=0),
                   seed=0)
    with pytest.raises(ValueError, match="no rows"):
        Party("empty", np.zeros((0, 3)), np.zeros(0), FixedTrainer(np.zeros(4)))


def test_transcript_rejects_unknown_kinds_and_sizes_payloads():
    t = Transcript()
    with pytest.raises(ValueError, match="kind"):
        t.send(sender="a", receiver="b", kind="secret", payload=b"")
    assert payload_nbytes([np.zeros(2), b"abcd", 255]) == 16 + 4 + 1
    assert len(t.to_frame()) == 0


def test_plaintext_protection_sums():
    p = PlaintextProtection()
    out = p.recover(p.aggregate([p.protect("a", np.arange(3.0)), p.protect("b", np.ones(3))]))
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        p.aggregate([])
