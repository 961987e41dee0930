"""A registry of named datasets, so every chapter loads its data the same way.

The built-ins are registered when this module is imported (a dictionary entry each; nothing is
read until :func:`load_dataset`): ``loanapp``, ``lending_club`` and ``credit_data``
(:mod:`fedlib.data.loaders`), ``kaggle_loan_approval`` (:mod:`fedlib.data.kaggle`) and ``csv``
(:mod:`fedlib.data.generic`). Chapters add their own with :func:`register_dataset`. What a
loader returns, a :class:`~fedlib.data.dataset.Dataset`, is defined in
:mod:`fedlib.data.dataset`, which the loaders import; the registry sits above them.

References: paper 001 (chapter 2), section "Dataset and experimental setup"; ARCHITECTURE.md,
"fedlib/data". Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).

Examples
--------
>>> ds = load_dataset("loanapp")
>>> ds.target, len(ds.frame), len(ds.features)
('approve', 1989, 12)
>>> "kaggle_loan_approval" in list_datasets()
True
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fedlib.data.dataset import Dataset
from fedlib.data.generic import load_csv_dataset
from fedlib.data.kaggle import load_kaggle_loan_approval
from fedlib.data.loaders import load_credit_data, load_lending_club, load_loanapp

__all__ = ["UnknownDatasetError", "list_datasets", "load_dataset", "register_dataset"]


class UnknownDatasetError(KeyError, ValueError):
    """No dataset is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


Loader = Callable[..., Dataset]
_REGISTRY: dict[str, Loader] = {
    "loanapp": load_loanapp,
    "kaggle_loan_approval": load_kaggle_loan_approval,
    "lending_club": load_lending_club,
    "credit_data": load_credit_data,
    "csv": load_csv_dataset,
}


def register_dataset(name: str, loader: Loader, *, overwrite: bool = False) -> None:
    """Register ``loader(path=None, **kw) -> Dataset`` under ``name``.

    Examples
    --------
    >>> import pandas as pd
    >>> def tiny(path=None):
    ...     f = pd.DataFrame({"y": [0, 1], "x": [1.0, 2.0]})
    ...     return Dataset("tiny", f, target="y", features=["x"])
    >>> register_dataset("tiny_example", tiny, overwrite=True)
    >>> load_dataset("tiny_example").frame.shape
    (2, 2)
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(loader):
        raise TypeError(f"loader for {name!r} must be callable, got {type(loader).__name__}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"dataset {name!r} is already registered; pass overwrite=True")
    _REGISTRY[name] = loader


def list_datasets() -> list[str]:
    """Names of all registered datasets, sorted."""
    return sorted(_REGISTRY)


def load_dataset(name: str, *, path: str | Path | None = None, **kw) -> Dataset:
    """Load the dataset registered under ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    path : str or Path, optional
        A local file in the dataset's published schema (required for datasets that are not
        shipped offline, e.g. ``kaggle_loan_approval``).
    **kw
        Passed to the loader.

    Raises
    ------
    UnknownDatasetError
        If ``name`` is not registered; the message lists the known names.
    DataSchemaError
        If the file does not match the schema (:class:`fedlib.data.dataset.DataSchemaError`).
    """
    if name not in _REGISTRY:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name](path=path, **kw)
