"""Lazy re-exports for subpackages whose modules load heavy libraries (torch, TenSEAL, phe).

A subpackage lists ``{module: [names]}``; a name is imported from its module on first use, so
``import fedlib.crypto`` costs nothing until a chapter actually asks for CKKS or Paillier.

>>> all_, getattr_ = lazy_exports("pkg", {"math": ["pi"]})
>>> all_, round(getattr_("pi"), 2)
(['pi'], 3.14)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]
                 ) -> tuple[list[str], Callable[[str], Any]]:
    """``__all__`` and a module ``__getattr__`` that imports each name from its module."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    return sorted(where), __getattr__
