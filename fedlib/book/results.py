"""The machine-readable ``results.json`` every chapter run writes beside its notebook.

Long format, so pages, plots and checks can query it without knowing the chapter::

    {"chapter": "02", "parameter_set": "smoke", "parameters": {...}, "seed": 42,
     "dataset": {"name": ..., "rows": ..., "parties": [{"name", "rows", "positive_rate"}]},
     "metrics": [{"experiment", "mode", "setting", "party", "round", "metric", "value"}, ...],
     "claims":  [{"id", "claim", "paper", "ours", "ours_interval", "n_runs", "basis",
                  "tolerance", "kind", "verdict", "note"}, ...],
     "findings": ["one sentence per finding, numbers from this run", ...],
     "timings": {"total_s": ..., ...}, "versions": {"python": ..., "torch": ..., ...}}

Non-finite numbers are written as ``null`` so the file is valid JSON for any reader.

References: the book's results format (ARCHITECTURE.md, "How a chapter is run"); read by the
reproduction scorecard and the status page (``book/scorecard.md``, ``book/status.md``).

Examples
--------
>>> import tempfile, pathlib
>>> w = ResultsWriter("02", "smoke", {"seed": 1, "epsilon": 1.0}, seed=1)
>>> w.set_dataset("toy", 10, parties=[{"name": "A", "rows": 10, "positive_rate": 0.3}])
>>> w.add_metric(mode="dp", setting="sigma=1.2", metric="roc_auc", value=float("nan"))
>>> w.add_claim({"id": "acc", "claim": "acc 91 %", "paper": 0.91, "ours": 0.9,
...              "ours_interval": [0.88, 0.92], "n_runs": 3, "basis": "seeds",
...              "tolerance": 0.02, "kind": "abs", "verdict": "reproduced"})
>>> path = pathlib.Path(tempfile.mkdtemp()) / "results.json"
>>> w.write(path)["metrics"][0]["value"] is None
True
>>> load_results(path)["claims"][0]["verdict"]
'reproduced'
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import numbers
import os
import platform
import tempfile
import time
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from fedlib.book.params import load_chapter_params
from fedlib.book.tables import use_book_tables
from fedlib.evaluate.scorecard import SCORED, VERDICTS, claims_frame
from fedlib.evaluate.uncertainty import BASES, MEASURED

__all__ = [
    "start_chapter",
    "METRIC_COLUMNS",
    "VERDICTS",
    "ResultsFormatError",
    "ResultsWriter",
    "load_results",
    "package_versions",
    "validate_claim",
    "validate_results",
]

METRIC_COLUMNS = ("experiment", "mode", "setting", "party", "round", "metric", "value")
CLAIM_KEYS = ("id", "claim", "paper", "ours", "ours_interval", "n_runs", "basis", "tolerance",
              "kind", "verdict", "note")
TOP_KEYS = (
    "chapter", "parameter_set", "parameters", "seed", "dataset", "metrics", "claims", "findings",
    "timings", "versions",
)
_PACKAGES = (
    "fedlib", "numpy", "pandas", "scipy", "scikit-learn", "torch", "opacus", "dp-accounting",
    "tenseal", "phe", "gmpy2", "cryptography", "scikit-survival", "xgboost-cpu", "xgboost",
    "pydantic", "papermill", "jupytext", "jupyter-book",
)  # xgboost-cpu: the book's build of xgboost (same import name); plain xgboost if installed


class ResultsFormatError(ValueError):
    """A results.json document does not follow the book's format."""


def package_versions() -> dict[str, str]:
    """Versions of Python and of the installed packages the book depends on.

    Examples
    --------
    >>> "python" in package_versions()
    True
    """
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _clean(value: Any) -> Any:
    """Turn numpy scalars/arrays, tuples and paths into JSON types; NaN and inf into None."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, numbers.Number):  # numpy arrays
        return _clean(value.tolist())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        return f if math.isfinite(f) else None
    if hasattr(value, "item"):  # numpy bool_ and other 0-d scalars
        return _clean(value.item())
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to results.json")


def _as_dict(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "to_record"):          # fedlib.evaluate.scorecard.Claim: verdict included
        return obj.to_record()
    if isinstance(obj, Mapping):
        return dict(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return {k: getattr(obj, k) for k in CLAIM_KEYS if hasattr(obj, k)}


class ResultsWriter:
    """Collects a chapter's results and writes them as ``results.json``.

    Parameters
    ----------
    chapter : str
        Chapter id, e.g. ``"02"``.
    parameter_set : str
        Name of the parameter set (``smoke``, ``default``, ``paper`` or ``custom``).
    parameters : dict
        The validated parameter values (e.g. ``params.model_dump()``).
    seed : int
        The chapter's seed.
    """

    def __init__(self, chapter: str, parameter_set: str, parameters: Mapping[str, Any], seed: int):
        self.chapter = str(chapter)
        self.parameter_set = str(parameter_set)
        # where the file goes is not a result (and differs per run): keep it out
        self.parameters = _clean({k: v for k, v in parameters.items() if k != "results_path"})
        self.seed = int(seed)
        self.dataset: dict[str, Any] = {"name": None, "rows": None, "parties": []}
        self.metrics: list[dict[str, Any]] = []
        self.claims: list[dict[str, Any]] = []
        self.findings: list[str] = []
        self.timings: dict[str, float] = {}
        self._t0 = time.perf_counter()

    def set_dataset(self, name: str, rows: int, parties: list[Mapping[str, Any]] = ()) -> None:
        """Record the dataset and each party's share (``name``, ``rows``, ``positive_rate``)."""
        cleaned = []
        for p in parties:
            missing = {"name", "rows", "positive_rate"} - set(p)
            if missing:
                raise ValueError(f"party {dict(p)!r} lacks {sorted(missing)}")
            cleaned.append(_clean(dict(p)))
        self.dataset = {"name": str(name), "rows": int(rows), "parties": cleaned}

    def add_metric(
        self,
        *,
        metric: str,
        value: float | None,
        experiment: str = "main",
        mode: str = "-",
        setting: str = "-",
        party: str = "all",
        round: int | None = None,  # noqa: A002 - the column's name in the format
    ) -> None:
        """Append one metric row; ``round=None`` means the final model.

        Parameters
        ----------
        metric, value
            The metric's name (e.g. ``"roc_auc"``) and its value (``None``: not computed).
        experiment
            Which of the chapter's experiments (``"main"``, ``"timing"``, ``"tuning"``, …).
        mode
            The method or privacy mode (e.g. ``"dp"``).
        setting
            The setting within the mode, as text (e.g. ``"sigma=1.2"``).
        party
            The party the value belongs to, or ``"all"``.
        round
            The training round, ``None`` for the final model.
        """
        value = _clean(value)
        if value is not None and not isinstance(value, int | float):
            raise ValueError(f"metric {metric!r}: value must be a number or None, got {value!r}")
        self.metrics.append(
            {
                "experiment": str(experiment), "mode": str(mode), "setting": str(setting),
                "party": str(party), "round": None if round is None else int(round),
                "metric": str(metric), "value": value,
            }
        )

    def add_metrics(self, frame: Any, **defaults: Any) -> None:
        """Append every row of a DataFrame (or list of dicts) with the metric columns.

        Columns missing from ``frame`` take their value from ``defaults`` or the defaults of
        :meth:`add_metric`; an unknown column is an error (it would be silently lost).
        """
        rows = frame.to_dict("records") if hasattr(frame, "to_dict") else list(frame)
        for row in rows:
            merged = {**defaults, **row}
            unknown = set(merged) - set(METRIC_COLUMNS)
            if unknown:
                raise ValueError(
                    f"unknown metric columns {sorted(unknown)}; allowed: {list(METRIC_COLUMNS)}"
                )
            rnd = merged.get("round")
            if rnd is not None and _clean(rnd) is None:  # NaN from a pandas column
                merged["round"] = None
            self.add_metric(**merged)

    def add_claim(self, claim: Any) -> None:
        """Append one paper-vs-ours row, checked by :func:`validate_claim`.

        The row is a :class:`~fedlib.evaluate.scorecard.Claim` or a dict with the claims keys.
        """
        d = _as_dict(claim)
        missing = {"id", "claim", "paper", "ours", "basis", "verdict"} - set(d)
        if missing:
            raise ValueError(f"claim {d.get('id', d)!r} lacks {sorted(missing)}")
        row = {k: _clean(d.get(k)) for k in CLAIM_KEYS}
        row["note"] = row["note"] or ""
        errors = validate_claim(row)
        if errors:
            raise ValueError(f"claim {row['id']!r}: " + "; ".join(errors))
        self.claims.append(row)

    def add_claims(self, claims: Any) -> Any:
        """Append every :class:`~fedlib.evaluate.scorecard.Claim` and return their table."""
        claims = list(claims)
        for claim in claims:
            self.add_claim(claim)
        return claims_frame(claims)

    def add_finding(self, text: str) -> None:
        """Record one finding in words (numbers formatted from this run).

        For the intro page and the README. Returns nothing, so a call ending a chapter's cell
        prints no repr.
        """
        text = " ".join(str(text).split())
        if not text:
            raise ValueError("a finding must be a non-empty sentence")
        self.findings.append(text)

    def add_timing(self, name: str, seconds: float) -> None:
        """Record a duration in seconds (names conventionally end in ``_s``)."""
        self.timings[str(name)] = float(seconds)

    @contextlib.contextmanager
    def timer(self, name: str) -> Iterator[None]:
        """Time the ``with`` block and record it as ``name`` (wall-clock seconds).

        The time is recorded also when the block raises, so a failed step still shows how long
        it ran.

        >>> r = ResultsWriter(chapter="99", parameter_set="smoke", parameters={}, seed=0)
        >>> with r.timer("psi_s"):
        ...     pass
        >>> list(r.timings), r.timings["psi_s"] >= 0
        (['psi_s'], True)
        """
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add_timing(name, time.perf_counter() - start)

    def to_dict(self) -> dict[str, Any]:
        """The document as it will be written.

        ``total_s`` defaults to time since creation, ``peak_rss_mib`` to this process's peak
        resident memory.
        """
        timings = dict(self.timings)
        timings.setdefault("total_s", time.perf_counter() - self._t0)
        # Peak resident memory of the process writing the results (the chapter's kernel), so
        # the 4 GiB budget per chapter is checked on every run, not only in a benchmark.
        timings.setdefault("peak_rss_mib", _peak_rss_mib())
        doc = {
            "chapter": self.chapter, "parameter_set": self.parameter_set,
            "parameters": self.parameters, "seed": self.seed, "dataset": self.dataset,
            "metrics": self.metrics, "claims": self.claims, "findings": list(self.findings),
            "timings": _clean(timings),
            "versions": package_versions(),
        }
        validate_results(doc)
        return doc

    def write(self, path: str | os.PathLike) -> dict[str, Any]:
        """Write the document atomically to ``path`` and return it."""
        doc = self.to_dict()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1, allow_nan=False, ensure_ascii=False)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the book build and readers need to read it
        os.replace(tmp, path)
        return doc


def start_chapter(chapter: str, schema: type, namespace: Mapping[str, Any]
                  ) -> tuple[Any, ResultsWriter]:
    """The first cell of every chapter: validated parameters and the chapter's results writer.

    It also makes the kernel show data frames the book's way (:func:`~fedlib.book.tables.use_book_tables`:
    whole, no ``NaN``, readable numbers).

    ``namespace`` is the notebook's ``globals()`` after the ``parameters`` cell (and any cell
    papermill injected), so a value given to papermill directly is checked too.

    >>> from fedlib.book.params import ChapterParams
    >>> P, results = start_chapter("99", ChapterParams, {"seed": 3, "parameter_set": "smoke"})
    >>> P.seed, results.parameter_set
    (3, 'smoke')
    """
    params = load_chapter_params(schema, namespace)
    use_book_tables()
    return params, ResultsWriter(chapter=chapter, parameter_set=params.parameter_set,
                                 parameters=params.model_dump(), seed=params.seed)


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def validate_results(doc: Any) -> None:
    """Raise :class:`ResultsFormatError` listing every way ``doc`` departs from the format."""
    errs: list[str] = []
    if not isinstance(doc, dict):
        raise ResultsFormatError(f"results must be a JSON object, got {type(doc).__name__}")
    errs += [f"missing top-level key '{k}'" for k in TOP_KEYS if k not in doc]
    errs += [f"unknown top-level key '{k}'" for k in doc if k not in TOP_KEYS]
    if errs:
        raise ResultsFormatError("; ".join(errs))
    types = {"chapter": str, "parameter_set": str, "parameters": dict, "seed": int,
             "dataset": dict, "metrics": list, "claims": list, "findings": list, "timings": dict,
             "versions": dict}
    errs += [f"'{k}' must be {t.__name__}" for k, t in types.items() if not isinstance(doc[k], t)]
    if errs:
        raise ResultsFormatError("; ".join(errs))
    ds = doc["dataset"]
    if set(ds) != {"name", "rows", "parties"}:
        errs.append(f"dataset keys must be name, rows, parties; got {sorted(ds)}")
    for p in ds.get("parties", []):
        if set(p) < {"name", "rows", "positive_rate"}:
            errs.append(f"party {p!r} lacks name/rows/positive_rate")
    for i, m in enumerate(doc["metrics"]):
        if not isinstance(m, dict) or tuple(m) != METRIC_COLUMNS:
            errs.append(f"metrics[{i}] must have exactly the keys {METRIC_COLUMNS}")
        elif not (m["value"] is None or _is_num(m["value"])):
            errs.append(f"metrics[{i}].value must be a number or null, got {m['value']!r}")
        elif not (m["round"] is None or isinstance(m["round"], int)):
            errs.append(f"metrics[{i}].round must be an integer or null")
    for i, c in enumerate(doc["claims"]):
        if not isinstance(c, dict) or set(c) != set(CLAIM_KEYS):
            errs.append(f"claims[{i}] must have exactly the keys {CLAIM_KEYS}")
        else:
            errs += [f"claims[{i}] ({c['id']}): {e}" for e in validate_claim(c)]
    errs += [f"findings[{i}] must be a non-empty string" for i, f in enumerate(doc["findings"])
             if not isinstance(f, str) or not f.strip()]
    for k, v in doc["timings"].items():
        if not (v is None or _is_num(v)):
            errs.append(f"timings.{k} must be a number of seconds")
    if "total_s" not in doc["timings"]:
        errs.append("timings lacks total_s")
    if "python" not in doc["versions"]:
        errs.append("versions lacks python")
    if errs:
        raise ResultsFormatError("; ".join(errs))


def validate_claim(row: dict[str, Any]) -> list[str]:
    """What is wrong with one claims row, one message per problem.

    An unknown verdict or basis, a scored verdict on a number we set from the paper, or a
    measured verdict without its interval.

    >>> validate_claim({"verdict": "reproduced", "basis": "input", "ours_interval": None,
    ...                 "n_runs": 1})
    ["a number set from the paper (basis 'input') cannot be scored: verdict must be 'by construction'"]
    """
    errs = []
    if row["verdict"] not in VERDICTS:
        errs.append(f"verdict {row['verdict']!r} not in {VERDICTS}")
    if row["basis"] is not None and row["basis"] not in BASES:
        errs.append(f"basis {row['basis']!r} not in {BASES}")
    if row["basis"] == "input" and row["verdict"] != "by construction":
        errs.append("a number set from the paper (basis 'input') cannot be scored: verdict "
                    "must be 'by construction'")
    decided = row["verdict"] in SCORED and row["verdict"] != "inconclusive"
    if decided and row["basis"] in MEASURED and row["ours_interval"] is None:
        errs.append(f"verdict {row['verdict']!r} on a measured value needs ours_interval")
    return errs


def load_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a results.json file."""
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    try:
        validate_results(doc)
    except ResultsFormatError as exc:
        raise ResultsFormatError(f"{path}: {exc}") from None
    return doc
