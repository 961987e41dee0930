"""Bytes on the wire of a Flower run, counted at the server's ``Grid``.

The local engine logs every message to a :class:`~fedlib.core.transcript.Transcript`; on
Flower the messages travel through the ``Grid`` of the ``ServerApp``, so :class:`MeteredGrid`
wraps it and remembers each message the server sends and each reply it receives. Their
sizes are taken as Flower serialises a message for the network (its protobuf
``Message``: content and metadata), and only when asked (:meth:`MeteredGrid.bytes_to_server`),
so that serialising does not fall into a timed round. The simulation runtime hands messages
to its Ray workers in memory; the count is what Flower's wire format takes for the same
messages, as a deployment sends them.

Flower is imported inside the functions: the package must import without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fedlib.flower.env import offline

__all__ = ["MeteredGrid", "message_bytes"]


def message_bytes(message: Any) -> int:
    """Size of ``message`` serialised as Flower's protobuf ``Message``."""
    offline()
    from flwr.common.serde import message_to_proto  # optional extra [flower]

    return int(message_to_proto(message).ByteSize())


class MeteredGrid:
    """A ``Grid`` that remembers what went through :meth:`send_and_receive`.

    Everything else is the wrapped grid's (``get_node_ids``, ``push_messages``, ...).
    :meth:`reset` forgets the messages seen so far (call it at the start of a round).
    """

    def __init__(self, grid: Any) -> None:
        self.grid = grid
        self._sent: list[Any] = []
        self._received: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.grid, name)

    def send_and_receive(self, messages: Iterable[Any], *, timeout: float | None = None
                         ) -> list[Any]:
        """Send, wait for the replies (as the wrapped grid does) and remember both."""
        messages = list(messages)
        self._sent += messages
        replies = list(self.grid.send_and_receive(messages, timeout=timeout))
        self._received += [r for r in replies if r.has_content()]
        return replies

    def reset(self) -> None:
        """Forget every message seen so far."""
        self._sent, self._received = [], []

    def bytes_to_server(self, name_of: Mapping[int, str]) -> dict[str, int]:
        """Bytes each party (node id → name) sent the server since :meth:`reset`."""
        return self._count(self._received, "src_node_id", name_of)

    def bytes_from_server(self, name_of: Mapping[int, str]) -> dict[str, int]:
        """Bytes the server sent each party since :meth:`reset`."""
        return self._count(self._sent, "dst_node_id", name_of)

    @staticmethod
    def _count(messages: list[Any], side: str, name_of: Mapping[int, str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for msg in messages:
            name = name_of[getattr(msg.metadata, side)]
            out[name] = out.get(name, 0) + message_bytes(msg)
        return out
