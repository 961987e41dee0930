"""Typed chapter parameters and the error messages a reader sees when one is wrong.

Every chapter has one ``parameters`` cell; its values come from ``parameters/<chapter>/<set>.yml``
plus any ``-p key value`` overrides. Before a kernel starts, the values are validated against the
chapter's schema (a subclass of :class:`ChapterParams`), so a typo or an out-of-range budget stops
the run with one paragraph per problem naming the key, the given value and what is allowed.

Validation is *strict-ish*: pydantic's strict mode, so ``True`` is not an integer and ``"3"`` is
not a number, but an integer is accepted where a float is expected. YAML 1.1 reads ``1e-5`` as a
string; :func:`load_yaml` uses the YAML 1.2 float rule so ``delta: 1e-5`` is a float.

References: the book's conventions (ARCHITECTURE.md, "Conventions"); introduced in the front matter
page "How to re-run a chapter" (``book/rerun.md``).

Examples
--------
>>> from pydantic import Field
>>> class Demo(ChapterParams):
...     epsilon: PositiveFloat = Field(description="the DP budget")
>>> validate_params(Demo, {"seed": 1, "epsilon": 2}).epsilon
2.0
>>> try:
...     validate_params(Demo, {"seed": 1, "epsilon": -1.0}, source="parameters/demo")
... except ParameterError as err:
...     print(err)
parameters/demo: key 'epsilon' = -1.0 is not allowed: must be > 0 (epsilon: the DP budget)
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "ChapterParams",
    "DataPath",
    "NonNegativeFloat",
    "NonNegativeInt",
    "ParameterError",
    "PositiveFloat",
    "PositiveInt",
    "Probability",
    "UnitInterval",
    "check_data_path",
    "load_chapter_params",
    "load_yaml",
    "parse_value",
    "validate_params",
]


class ParameterError(ValueError):
    """A chapter parameter is missing, unknown, mistyped or out of range.

    ``problems`` holds one human-readable paragraph per problem; ``str(err)`` joins them.
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def check_data_path(path: str | os.PathLike) -> Path:
    """Return ``path`` as an absolute :class:`~pathlib.Path` if it is a readable file.

    Relative paths are resolved against the current working directory of the process that
    validates them (the ``fedbook`` command validates in the user's shell, so a relative path
    means what the user thinks it means; the kernel then receives the absolute path).

    Raises
    ------
    ParameterError
        If the file does not exist, is a directory, or cannot be read.

    Examples
    --------
    >>> try:
    ...     check_data_path("/no/such/file.csv")
    ... except ParameterError as err:
    ...     print(str(err)[:45])
    data file '/no/such/file.csv' does not exist;
    """
    p = Path(os.fspath(path)).expanduser()
    resolved = p if p.is_absolute() else (Path.cwd() / p)
    where = "" if p.is_absolute() else f" (resolved against {Path.cwd()})"
    if not resolved.exists():
        raise ParameterError(
            f"data file '{path}' does not exist{where}; give the path of an existing file "
            "or leave the parameter empty to use the chapter's built-in data"
        )
    if resolved.is_dir():
        raise ParameterError(f"data file '{path}' is a directory{where}; give a file")
    if not os.access(resolved, os.R_OK):
        raise ParameterError(f"data file '{path}' is not readable{where}; check its permissions")
    return resolved.resolve()


def _data_path(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    return str(check_data_path(value))


# Constraint shorthands so chapter schemas stay one line per parameter.
Probability = Annotated[float, Field(gt=0, lt=1)]
"""A float strictly between 0 and 1 (sampling rates, dropout rates, delta)."""
UnitInterval = Annotated[float, Field(ge=0, le=1)]
"""A float in the closed interval [0, 1] (fractions that may be 0 or 1)."""
PositiveFloat = Annotated[float, Field(gt=0)]
"""A float > 0 (budgets, noise multipliers, clip norms, learning rates)."""
NonNegativeFloat = Annotated[float, Field(ge=0)]
"""A float >= 0."""
PositiveInt = Annotated[int, Field(gt=0)]
"""An integer > 0 (rounds, epochs, clients, batch sizes)."""
NonNegativeInt = Annotated[int, Field(ge=0)]
"""An integer >= 0."""
DataPath = Annotated[str | None, AfterValidator(_data_path)]
"""An optional path to a user's data file; checked to exist and made absolute. None: built-in."""


class ChapterParams(BaseModel):
    """Base class of every chapter's parameter schema.

    Subclasses add one field per entry of the chapter's ``parameters`` cell, each with a
    ``Field(description=...)`` that the error messages quote.
    """

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True, frozen=False)

    seed: int = Field(42, description="seed of every random generator the chapter creates")
    results_path: str = Field(
        default="results.json",
        description="where the chapter writes results.json (set by the fedbook runner)",
    )
    parameter_set: str = Field(
        default="custom", description="name of the parameter file the values come from"
    )


_CONSTRAINTS = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "multiple_of": "must be a multiple of {multiple_of}",
    "literal_error": "must be one of {expected}",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string (quote it in YAML)",
    "list_type": "must be a list, e.g. [1, 2]",
    "dict_type": "must be a mapping",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "string_too_short": "must have at least {min_length} characters",
    "enum": "must be one of {expected}",
}


def _key(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _num(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _allowed(err: dict) -> str:
    template = _CONSTRAINTS.get(err["type"])
    if template is not None:
        try:
            ctx = {k: _num(v) for k, v in err.get("ctx", {}).items()}
            return template.format(**ctx)
        except (KeyError, IndexError):
            pass
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg[:1].lower() + msg[1:]


def _describe(schema: type[BaseModel], name: str) -> str:
    field = schema.model_fields.get(name)
    return f" ({name}: {field.description})" if field is not None and field.description else ""


def validate_params(
    schema: type[ChapterParams], values: Mapping[str, Any], *, source: str | None = None
) -> ChapterParams:
    """Validate ``values`` against ``schema``; raise one readable paragraph per problem.

    Parameters
    ----------
    schema : type[ChapterParams]
        The chapter's parameter schema.
    values : Mapping
        Parameter values (from YAML, overrides, or a notebook's namespace).
    source : str, optional
        Where the values come from, used as the prefix of every message
        (e.g. ``"parameters/02_dp_vs_ckks"``). Defaults to the schema's name.

    Returns
    -------
    ChapterParams
        The validated (and coerced, e.g. int -> float) parameters.

    Raises
    ------
    ParameterError
        Listing every unknown key (with a did-you-mean suggestion), missing key, wrongly typed
        or out-of-range value.
    """
    if not isinstance(values, Mapping):
        raise ParameterError(
            f"{source or schema.__name__}: parameters must be a mapping of key: value, "
            f"got {type(values).__name__}"
        )
    label = source or schema.__name__
    try:
        return schema.model_validate(dict(values))
    except ValidationError as exc:
        # results_path and parameter_set are set by the runner, not by readers
        allowed_keys = sorted(set(schema.model_fields) - {"results_path", "parameter_set"})
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            top = str(loc[0]) if loc else ""
            key = _key(loc)
            if err["type"] == "extra_forbidden":
                close = difflib.get_close_matches(top, allowed_keys, n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ";"
                problems.append(
                    f"{label}: unknown key '{top}'{hint} allowed keys: {', '.join(allowed_keys)}"
                )
            elif not loc:
                # A model-level check (e.g. "dataset X needs data_path"): its input is the whole
                # parameter dict, which says nothing; the message names the keys itself.
                problems.append(f"{label}: {_allowed(err)}")
            elif err["type"] == "missing":
                problems.append(
                    f"{label}: key '{key}' is missing: it is required{_describe(schema, top)}"
                )
            else:
                problems.append(
                    f"{label}: key '{key}' = {err.get('input')!r} is not allowed: "
                    f"{_allowed(err)}{_describe(schema, top)}"
                )
        raise ParameterError(problems) from None
    except ParameterError as exc:  # raised inside a validator, e.g. check_data_path
        raise ParameterError([f"{label}: {p}" for p in exc.problems]) from None


def load_chapter_params(
    schema: type[ChapterParams], namespace: Mapping[str, Any], *, source: str = "parameters cell"
) -> ChapterParams:
    """Validate the schema's fields taken from a notebook namespace (``globals()``).

    Meant for the first cell after a chapter's ``parameters`` cell, so a value injected by
    papermill is checked again inside the kernel (a chapter run by hand is checked too).

    Examples
    --------
    >>> load_chapter_params(ChapterParams, {"seed": 3, "results_path": "r.json", "x": 1}).seed
    3
    """
    return validate_params(
        schema, {k: namespace[k] for k in schema.model_fields if k in namespace}, source=source
    )


# YAML 1.1 (PyYAML's default) reads 1e-5 as the string "1e-5"; YAML 1.2 reads it as a float.
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def _yaml_problem(exc: yaml.YAMLError) -> tuple[str, int | None, int | None]:
    """(what is wrong, 1-based line, 1-based column) of a PyYAML error."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    if mark is None:
        return str(what), None, None
    return str(what), mark.line + 1, mark.column + 1


def load_yaml(text_or_path: str | os.PathLike, *, source: str | None = None) -> Any:
    r"""Parse YAML text (or a ``Path``) with safe loading and the YAML 1.2 float rule.

    A syntax error becomes one line naming ``source`` (or the file), the line and the column,
    instead of PyYAML's multi-line traceback.

    Raises
    ------
    ParameterError
        The text is not valid YAML, or the file is not UTF-8 text.

    Examples
    --------
    >>> load_yaml("delta: 1e-5\nrounds: 5\nname: x")
    {'delta': 1e-05, 'rounds': 5, 'name': 'x'}
    >>> try:
    ...     load_yaml("rounds: 5\nepsilon: [1, 2\n", source="my.yml")
    ... except ParameterError as err:
    ...     print(err)
    my.yml: line 3, column 1: not valid YAML: expected ',' or ']', but got '<stream end>'
    """
    if isinstance(text_or_path, Path):
        source = source or str(text_or_path)
        try:
            text = text_or_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ParameterError(
                f"{source}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                f"{exc.start}); save the parameter file as UTF-8"
            ) from None
    else:
        text = text_or_path
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        what, line, col = _yaml_problem(exc)
        where = f"line {line}, column {col}: " if line is not None else ""
        raise ParameterError(f"{source or 'YAML text'}: {where}not valid YAML: {what}") from None


def parse_value(text: str, *, key: str | None = None) -> Any:
    """Parse one ``-p key value`` override the way the YAML file would.

    Examples
    --------
    >>> [parse_value(s) for s in ["2", "1e-5", "true", "[0.5, 1.0]", "dp", "null"]]
    [2, 1e-05, True, [0.5, 1.0], 'dp', None]
    >>> try:
    ...     parse_value("[1, 2", key="epsilons")
    ... except ParameterError as err:
    ...     print(err)
    -p epsilons '[1, 2': column 6: not valid YAML: expected ',' or ']', but got '<stream end>'; quote a string, write a list as [1, 2]
    """
    try:
        return load_yaml(text, source="-p")
    except ParameterError as exc:
        # One line: the override is a single line, so only its column matters.
        detail = str(exc).removeprefix("-p: ").removeprefix("line 1, ")
        if detail.startswith("line "):  # an error at the end of input is placed on line 2
            detail = f"column {len(text) + 1}: " + detail.split(": ", 1)[1]
        name = f"-p {key} {text!r}" if key is not None else f"-p value {text!r}"
        raise ParameterError(
            f"{name}: {detail}; quote a string, write a list as [1, 2]"
        ) from None
