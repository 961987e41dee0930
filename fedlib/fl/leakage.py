"""What an honest-but-curious server can compute from the transcript alone.

:func:`recover_by_subtraction` is the attack that makes a *mixed* federation (some clients in
the clear, one encrypted) no safer than its weakest member: the server knows the plaintext
updates it received and the aggregate it publishes, so the encrypted client's update is their
difference. It uses only what the server received (the transcript) and the global model it
broadcast; the true update is read back through the key holder's ``decrypt`` purely to measure
the attack's error.

:func:`recover_by_collusion` is the attack of a server that colludes with one client: with
CKKS as the paper deploys it every client holds the same secret key, so the server hands its
transcript to any one client (or gets that client's key) and reads every other bank's
individual update. No subtraction and no mixed assignment are needed.

References: paper 001 §3 (one CKKS key shared by the clients), §5 "Privacy mode assignments"
(client 1 standard, 2–4 DP, 5 HE); issue 9, item 4.
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tenseal as ts

from fedlib.fl.federation import SERVER, Federation

__all__ = ["CollusionLeak", "SubtractionLeak", "recover_by_collusion", "recover_by_subtraction"]


@dataclass(frozen=True)
class SubtractionLeak:
    """The target's model parameters as the server reconstructs them, and the truth."""

    target: str
    round: int
    recovered: np.ndarray
    actual: np.ndarray

    @property
    def max_abs_error(self) -> float:
        """Largest absolute error of the recovered parameters."""
        return float(np.max(np.abs(self.recovered - self.actual)))


def recover_by_subtraction(federation: Federation, *, target: str,
                           decrypt: Callable[[bytes], np.ndarray]) -> SubtractionLeak:
    """Reconstruct ``target``'s last-round parameters from everything else the server saw.

    Requires that ``target`` is the only client of the last round whose update the server
    could not read (plaintext and noisy updates are readable).
    """
    record = federation.history[-1]
    if target not in record.uploaded:
        raise ValueError(f"{target!r} did not upload in round {record.round}")
    updates = [m for m in federation.transcript.received_by(SERVER)
               if m.round == record.round and m.label == "model_update"]
    hidden = [m for m in updates if m.kind in ("ciphertext", "masked")]
    if [m.sender for m in hidden] != [target]:
        raise ValueError(f"the subtraction attack needs {target!r} to be the only hidden "
                         f"update; hidden senders were {[m.sender for m in hidden]}")
    readable = sum(np.asarray(m.payload, dtype=np.float64) for m in updates if m not in hidden)
    sizes = {p.name: p.n_rows for p in federation.parties if p.name in record.sampled}
    total_rows = sum(sizes.values())
    uploaded_weight = sum(sizes[n] for n in record.uploaded) / total_rows
    weight = sizes[target] / total_rows   # FedAvg weights are public: the server computes them
    scaled = record.global_params * uploaded_weight - readable
    actual = decrypt(hidden[0].payload)[: scaled.size] / weight
    return SubtractionLeak(target, record.round, scaled / weight, actual)


@dataclass(frozen=True)
class CollusionLeak:
    """Individual updates the server decrypted with a colluding client's key, per round."""

    target: str
    colluder: str
    updates: dict[int, np.ndarray]   # round -> the target's update as it encrypted it
    weights: dict[int, float]        # round -> the public FedAvg weight it was scaled by

    def update(self, round: int | None = None) -> np.ndarray:
        """The target's unweighted update of ``round`` (the last one by default)."""
        r = max(self.updates) if round is None else round
        return self.updates[r] / self.weights[r]


def recover_by_collusion(federation: Federation, *, target: str, colluder: str,
                         colluder_secret_context: bytes) -> CollusionLeak:
    """Decrypt ``target``'s individual CKKS updates from the server's transcript.

    Parameters
    ----------
    federation
        A run whose ``target`` uploaded CKKS ciphertexts (transcript kind ``ciphertext``).
    target, colluder
        The attacked bank, and the client that shares its key with the server.
    colluder_secret_context
        The colluding client's serialized TenSEAL context with the secret key
        (:meth:`fedlib.crypto.ckks.CKKSKeyHolder.secret_context`): what every client holds.

    Returns
    -------
    CollusionLeak
        The decrypted weighted updates per round and the public FedAvg weights.
    """
    if target == colluder:
        raise ValueError("target and colluder must be different clients")
    names = {p.name: p.n_rows for p in federation.parties}
    for who in (target, colluder):
        if who not in names:
            raise ValueError(f"{who!r} is not a client of this federation; clients: {sorted(names)}")
    try:
        ctx = ts.context_from(bytes(colluder_secret_context))
    except (ValueError, RuntimeError, TypeError) as exc:
        raise ValueError(f"colluder_secret_context is not a TenSEAL context: {exc}") from exc
    if not ctx.is_private():
        raise ValueError("colluder_secret_context carries no secret key: a public context "
                         "cannot decrypt (serialize it with save_secret_key=True)")
    updates, weights = {}, {}
    by_round = {r.round: r for r in federation.history}
    for m in federation.transcript.received_by(SERVER):
        if m.label == "model_update" and m.sender == target and m.kind == "ciphertext":
            updates[m.round] = np.asarray(ts.ckks_vector_from(ctx, bytes(m.payload)).decrypt())
            sampled = by_round[m.round].sampled
            weights[m.round] = names[target] / sum(names[n] for n in sampled)
    if not updates:
        raise ValueError(f"the server's transcript holds no CKKS update from {target!r} "
                         "(was it kept with payloads, and did the target use CKKS?)")
    return CollusionLeak(target, colluder, updates, weights)
