"""What an honest-but-curious server can compute from the transcript alone.

:func:`recover_by_subtraction` is the attack that makes a *mixed* federation (some clients in
the clear, one encrypted) no safer than its weakest member: the server knows the plaintext
updates it received and the aggregate it publishes, so the encrypted client's update is their
difference. It uses only what the server received (the transcript) and the global model it
broadcast; the true update is read back through the key holder's ``decrypt`` purely to measure
the attack's error.

References: paper 001 §5 "Privacy mode assignments" (client 1 standard, 2–4 DP, 5 HE).
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fedlib.fl.federation import SERVER, Federation

__all__ = ["SubtractionLeak", "recover_by_subtraction"]


@dataclass(frozen=True)
class SubtractionLeak:
    """The target's model parameters as the server reconstructs them, and the truth."""

    target: str
    round: int
    recovered: np.ndarray
    actual: np.ndarray

    @property
    def max_abs_error(self) -> float:
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
