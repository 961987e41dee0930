"""A dataclass result that also reads as the mapping of its fields.

Several functions used to return a ``dict`` with fixed keys (an attack's scores, a sweep's
tables). A dataclass names and types those keys and lets a reader find them; deriving it from
:class:`Record` keeps the uses a mapping was good for — a table row (``pd.Series(r)``,
``{**r}``) and ``r["auc"]`` in a chapter cell — so callers move to attributes at their own pace.
The mapping is read-only and its keys are the dataclass fields, in order.

References: issue 10 item 3 (dataclasses instead of fixed-key dicts).

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Score(Record):
...     auc: float
...     n: int
>>> s = Score(0.75, 40)
>>> s.auc, s["n"], dict(s), {**s, "model": "m"}
(0.75, 40, {'auc': 0.75, 'n': 40}, {'auc': 0.75, 'n': 40, 'model': 'm'})
>>> s["size"]
Traceback (most recent call last):
...
KeyError: "'size' is not a field of Score; fields: ['auc', 'n']"
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields
from typing import Any

__all__ = ["Record"]


class Record(Mapping):
    """Mixin for a dataclass: a read-only :class:`~collections.abc.Mapping` of its fields."""

    def _names(self) -> list[str]:
        return [f.name for f in fields(self)]

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(f"{key!r} is not a field of {type(self).__name__}; fields: "
                           f"{self._names()}")
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())
