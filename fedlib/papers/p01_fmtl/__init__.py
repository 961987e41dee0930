"""Paper of chapter 01: parameters, claims and experiment (see :mod:`fedlib.papers`)."""

__all__: list[str] = []
