"""Paper of chapter 04: parameters, claims and experiment (see :mod:`fedlib.papers`)."""

__all__: list[str] = []
