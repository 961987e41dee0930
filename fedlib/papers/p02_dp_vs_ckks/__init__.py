"""Paper of chapter 02: parameters, claims and experiment (see :mod:`fedlib.papers`)."""

__all__: list[str] = []
