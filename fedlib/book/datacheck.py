"""Check a chapter's data file(s) before its kernel starts, with the loaders' own messages.

``fedbook run`` validates the parameters, then calls :func:`check_chapter_data`: it looks up
the chapter's dataset (the ``dataset`` parameter, or ``source`` in chapter 1) in
:data:`DATA_CHECKS` and calls that dataset's check function with the validated parameters.
Each check function is the one the loader itself calls first, so an empty, header-only,
wrongly delimited or non-UTF-8 file, or a file lacking a column, stops the run within a second
with exactly the message the notebook would have shown after kernel start-up.

A chapter that gains a dataset read from a file adds one entry here.

References: issue 14 item 7; ARCHITECTURE.md, "How a chapter is run".

Examples
--------
>>> check_chapter_data("02", {"dataset": "loanapp", "data_path": None})  # embedded: no file
>>> try:
...     check_chapter_data("02", {"dataset": "kaggle_loan_approval", "data_path": "/no/x.csv"})
... except ParameterError as err:
...     print(err)
chapter 02, data_path '/no/x.csv': kaggle_loan_approval: file not found: /no/x.csv
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fedlib.book.params import ParameterError
from fedlib.data.generic import TABULAR_OPTIONS, check_tabular_csv, csv_options
from fedlib.data.heloc import check_heloc
from fedlib.data.kaggle import check_kaggle_loan_approval
from fedlib.survival import loaders
from fedlib.survival.generic import SURVIVAL_OPTIONS, check_survival_csv
from fedlib.vertical.data import check_vertical_csvs

__all__ = ["DATA_CHECKS", "check_chapter_data"]

Check = Callable[[Mapping[str, Any]], None]


def _heloc(p: Mapping[str, Any]) -> None:
    check_heloc(p["data_path"])


def _kaggle(p: Mapping[str, Any]) -> None:
    check_kaggle_loan_approval(p["data_path"])


def _survival(kind: str) -> Check:
    def check(p: Mapping[str, Any]) -> None:
        getattr(loaders, f"check_{kind}")(p["data_path"])

    return check


def _vertical(p: Mapping[str, Any]) -> None:
    check_vertical_csvs(p["bank_csv"], p["external_csv"], id_column=p["id_column"],
                        target=p["target"])


def _csv(parties: str | int | None = None) -> Check:
    """The check of a user's table (``dataset: csv``).

    The column options come from the parameters of the same names
    (:func:`fedlib.data.generic.csv_options`). ``parties`` is the number of parties
    a party column must name: a parameter name (chapter 2's ``n_clients``) or a number
    (chapter 1's two real institutions).
    """
    def check(p: Mapping[str, Any]) -> None:
        n = p.get(parties) if isinstance(parties, str) else parties
        check_tabular_csv(p.get("data_path"), **csv_options(p, TABULAR_OPTIONS), n_parties=n)

    return check


def _survival_csv(p: Mapping[str, Any]) -> None:
    check_survival_csv(p.get("data_path"), **csv_options(p, SURVIVAL_OPTIONS))


#: (chapter id, dataset) -> (the parameters naming the file(s), the check function).
DATA_CHECKS: dict[tuple[str, str], tuple[tuple[str, ...], Check]] = {
    ("01", "heloc"): (("data_path",), _heloc),
    ("01", "csv"): (("data_path",), _csv(2)),
    ("02", "csv"): (("data_path",), _csv("n_clients")),
    ("03", "csv"): (("data_path",), _survival_csv),
    ("02", "kaggle_loan_approval"): (("data_path",), _kaggle),
    ("03", "lendingclub_csv"): (("data_path",), _survival("lendingclub")),
    ("03", "sba_csv"): (("data_path",), _survival("sba")),
    ("03", "bondora_csv"): (("data_path",), _survival("bondora")),
    ("04", "csv"): (("bank_csv", "external_csv"), _vertical),
}


def check_chapter_data(chapter_id: str, params: Mapping[str, Any]) -> None:
    """Run the data check of the chapter's dataset, if it reads a file.

    Parameters
    ----------
    chapter_id : str
        Two-digit chapter id.
    params : Mapping
        The validated parameters (paths already made absolute by the schema).

    Raises
    ------
    ParameterError
        One line: ``chapter <id>, <key> '<path>': <the loader's message>``.
    """
    dataset = params.get("dataset", params.get("source"))
    entry = DATA_CHECKS.get((chapter_id, str(dataset)))
    if entry is None:
        return
    keys, check = entry
    try:
        check(params)
    except (ValueError, OSError) as err:
        # The loaders' errors are ValueError subclasses (DataSchemaError, SurvivalDataError,
        # VerticalDataError) or FileNotFoundError; all become a bad-parameter exit.
        paths = ", ".join(f"{k} '{params.get(k)}'" for k in keys)
        raise ParameterError(f"chapter {chapter_id}, {paths}: {err}") from None
