"""The book machinery: chapter parameters, results.json, the chapter registry and ``fedbook``.

Chapters use :class:`ChapterParams` (schemas), :func:`load_chapter_params` (validate the
parameters cell) and :class:`ResultsWriter` (write results.json). The runner and the command
line (``fedbook run|build|list``) live in :mod:`fedlib.book.runner` and :mod:`fedlib.book.cli`
and import papermill and jupytext only when called.

References: ARCHITECTURE.md, "How a chapter is run".
"""

from fedlib.book.chapters import (
    CHAPTERS,
    Chapter,
    ChapterNotFound,
    available_chapters,
    get_chapter,
    repo_root,
)
from fedlib.book.params import (
    ChapterParams,
    DataPath,
    NonNegativeFloat,
    NonNegativeInt,
    ParameterError,
    PositiveFloat,
    PositiveInt,
    Probability,
    UnitInterval,
    check_data_path,
    load_chapter_params,
    load_yaml,
    parse_value,
    validate_params,
)
from fedlib.book.results import (
    VERDICTS,
    ResultsFormatError,
    ResultsWriter,
    load_results,
    package_versions,
    start_chapter,
    validate_results,
)

__all__ = [
    "CHAPTERS",
    "VERDICTS",
    "Chapter",
    "ChapterNotFound",
    "ChapterParams",
    "DataPath",
    "NonNegativeFloat",
    "NonNegativeInt",
    "ParameterError",
    "PositiveFloat",
    "PositiveInt",
    "Probability",
    "ResultsFormatError",
    "ResultsWriter",
    "start_chapter",
    "UnitInterval",
    "available_chapters",
    "check_data_path",
    "get_chapter",
    "load_chapter_params",
    "load_results",
    "load_yaml",
    "package_versions",
    "parse_value",
    "repo_root",
    "validate_params",
    "validate_results",
]
