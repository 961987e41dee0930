"""Parameter schemas of the chapters, one module per chapter (``ch02.Chapter02Params``, ...).

Each is a :class:`fedlib.book.params.ChapterParams` subclass with one field per entry of the
chapter's ``parameters`` cell; :mod:`fedlib.book.chapters` names them by import path, so nothing
is imported here.
"""

__all__: list[str] = []
