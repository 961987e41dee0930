"""Paper of chapter 03: parameters, claims and experiment (see :mod:`fedlib.papers`)."""

__all__: list[str] = []
