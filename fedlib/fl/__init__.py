"""Horizontal federated learning: transcript, parties, server, round loop, strategies."""

from fedlib.fl.transcript import KINDS, Message, Transcript, payload_nbytes

__all__ = ["KINDS", "Message", "Transcript", "payload_nbytes"]
