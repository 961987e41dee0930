"""The transcript: every message that crosses a party boundary, in one place.

The book uses it three ways: to show "what the server saw", to measure communication cost, and
to let tests prove that a party never received a plaintext individual update where a
protection says it must not. Every protocol in ``fedlib`` (FedAvg rounds, secure aggregation,
CKKS, Paillier, PSI) sends through :meth:`Transcript.send` instead of passing objects around.

References: ARCHITECTURE.md, "The data flow". Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> import numpy as np
>>> t = Transcript()
>>> update = t.send(sender="bank-1", receiver="server", kind="plaintext",
...                 payload=np.zeros(13), label="model_update", round=1)
>>> t.bytes_sent(receiver="server")
104
>>> [m.kind for m in t.received_by("server")]
['plaintext']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["KINDS", "Message", "Transcript", "payload_nbytes"]

Kind = Literal["plaintext", "noisy", "masked", "ciphertext", "share", "key", "public"]
#: What a payload is, from the receiver's point of view. ``plaintext``: a raw individual
#: value; ``noisy``: differentially private; ``masked``: one-time-padded for secure
#: aggregation; ``ciphertext``: homomorphically encrypted; ``share``: a secret share;
#: ``key``: public key material; ``public``: aggregate or public information.
KINDS: tuple[str, ...] = ("plaintext", "noisy", "masked", "ciphertext", "share", "key", "public")


def payload_nbytes(payload: Any) -> int:
    """Bytes a payload takes on the wire.

    Arrays count their buffer, ``bytes`` their length, objects with ``serialize()``
    (TenSEAL vectors) their serialised size, ints (Paillier ciphertexts) their byte length,
    and containers the sum of their items.

    >>> payload_nbytes(np.ones(4, dtype=np.float32)), payload_nbytes(b"abc"), payload_nbytes(2**2048)
    (16, 3, 257)
    """
    if payload is None:
        return 0
    if isinstance(payload, np.ndarray):
        return int(payload.nbytes)
    if isinstance(payload, bytes | bytearray | memoryview):
        return len(payload)
    if isinstance(payload, bool):
        return 1
    if isinstance(payload, int):
        return max(1, (payload.bit_length() + 7) // 8)
    if isinstance(payload, float | np.floating):
        return 8
    if isinstance(payload, str):
        return len(payload.encode())
    if hasattr(payload, "nbytes_on_wire"):
        return int(payload.nbytes_on_wire())
    if hasattr(payload, "serialize"):
        return len(payload.serialize())
    if isinstance(payload, dict):
        return sum(payload_nbytes(k) + payload_nbytes(v) for k, v in payload.items())
    if isinstance(payload, list | tuple | set | frozenset):
        return sum(payload_nbytes(p) for p in payload)
    raise TypeError(f"cannot size a payload of type {type(payload).__name__}")


@dataclass(frozen=True)
class Message:
    """One message: who sent what kind of thing to whom, and how big it was."""

    sender: str
    receiver: str
    kind: str
    nbytes: int
    label: str = ""
    round: int | None = None
    payload: Any = field(default=None, repr=False, compare=False)


@dataclass
class Transcript:
    """Append-only log of messages between parties.

    Parameters
    ----------
    keep_payloads
        Keep what was sent (needed by the tests that inspect what a party received); turn
        off for long runs where only byte counts matter.
    """

    keep_payloads: bool = True
    messages: list[Message] = field(default_factory=list)

    def send(
        self,
        *,
        sender: str,
        receiver: str,
        kind: str,
        payload: Any,
        label: str = "",
        round: int | None = None,
        nbytes: int | None = None,
    ) -> Any:
        """Record a message and hand the payload to the receiver (returns it unchanged).

        Parameters
        ----------
        sender, receiver
            Party names (``"server"`` for the server).
        kind
            What the payload is from the receiver's point of view, one of :data:`KINDS`.
        payload
            What is sent; kept in the message only if ``keep_payloads``.
        label
            What the message is in the protocol (e.g. ``"model_update"``).
        round
            Training round, if the protocol has rounds.
        nbytes
            Size on the wire when :func:`payload_nbytes` cannot tell (e.g. a key object).
        """
        if kind not in KINDS:
            raise ValueError(f"message kind {kind!r} is not one of {KINDS}")
        size = payload_nbytes(payload) if nbytes is None else int(nbytes)
        kept = payload if self.keep_payloads else None
        self.messages.append(Message(sender, receiver, kind, size, label, round, kept))
        return payload

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    def received_by(self, receiver: str) -> list[Message]:
        """Messages whose receiver is ``receiver``: what that party saw."""
        return [m for m in self.messages if m.receiver == receiver]

    def bytes_sent(self, *, sender: str | None = None, receiver: str | None = None,
                   round: int | None = None) -> int:
        """Total bytes, filtered by sender, receiver and round where given."""
        return sum(
            m.nbytes
            for m in self.messages
            if (sender is None or m.sender == sender)
            and (receiver is None or m.receiver == receiver)
            and (round is None or m.round == round)
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per message (without payloads), for tables and plots."""
        return pd.DataFrame(
            [
                {"round": m.round, "sender": m.sender, "receiver": m.receiver,
                 "kind": m.kind, "label": m.label, "nbytes": m.nbytes}
                for m in self.messages
            ],
            columns=["round", "sender", "receiver", "kind", "label", "nbytes"],
        )
