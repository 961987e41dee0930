"""The bottom layer: what every other part of fedlib agrees on.

:mod:`fedlib.core.transcript` is the one log of messages that cross a party boundary
(:class:`Transcript`, :class:`Message`); :mod:`fedlib.core.protection` is the interface every
update protection implements (:class:`UpdateProtection`); :mod:`fedlib.core.party` is what
one party's rows look like in every chapter (:class:`PartyData`, the protocol;
:class:`PartyRows`, its smallest form). Nothing here imports anything else from fedlib, so
cryptography, the data containers, the round loop and the vertical protocols can all use
these without importing each other (the layer order is in ARCHITECTURE.md and enforced by
``tests/test_layers.py``).
"""

from fedlib.core.party import PartyData, PartyRows, party_table
from fedlib.core.protection import UpdateProtection
from fedlib.core.transcript import KINDS, Message, Transcript, payload_nbytes

__all__ = ["KINDS", "Message", "PartyData", "PartyRows", "Transcript",
           "UpdateProtection", "party_table", "payload_nbytes"]
