"""Datasets, loaders, partitioners and per-party preprocessing.

The data flow starts here: :func:`load_dataset` gives a :class:`Dataset` (frame plus schema),
:func:`train_val_test_split` makes the global split, a partitioner deals the training rows to
parties (:func:`stratified_non_iid`, :func:`dirichlet_label_skew`, :func:`size_imbalance`),
and each party fits its own :class:`PartyPreprocessor`; :func:`pool_preprocessors` combines
their aggregates for the global test set.

:mod:`fedlib.data.registry` is the one catalogue of every chapter's datasets, typed by kind
(tabular, survival, vertical): :func:`list_datasets`, :func:`dataset_table`,
:func:`dataset_entry`, and :func:`load_dataset` returning the kind's container. The tabular
ones are here: ``loanapp`` (chapter 2's default, shipped offline), ``kaggle_loan_approval``
(paper 001's own file, given a path), ``lending_club`` (chapter 1's default source),
``credit_data``, ``heloc`` (given a path) and ``csv`` (any table of your own,
:mod:`fedlib.data.generic`, card ``data/csv.md``). Dataset cards are in ``data/*.md``.
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).
"""

from fedlib.data.dataset import DataSchemaError, Dataset, DatasetCard
from fedlib.data.heloc import HELOC_COLUMNS, load_heloc
from fedlib.data.institutions import (
    imbalance_institutions,
    load_institutions,
    measure_table1,
    prepare_institutions,
)
from fedlib.data.kaggle import KAGGLE_COLUMNS, fixture_path, load_kaggle_loan_approval
from fedlib.data.loaders import load_credit_data, load_lending_club, load_loanapp
from fedlib.data.partition import (
    Partition,
    PartitionError,
    dirichlet_label_skew,
    size_imbalance,
    stratified_non_iid,
)
from fedlib.data.preprocess import PartyPreprocessor, pool_preprocessors
from fedlib.data.registry import (
    KINDS,
    DatasetEntry,
    UnknownDatasetError,
    dataset_entry,
    dataset_table,
    list_datasets,
    load_dataset,
    register_dataset,
)
from fedlib.data.split import train_val_test_split

__all__ = [
    "HELOC_COLUMNS",
    "KAGGLE_COLUMNS",
    "KINDS",
    "DataSchemaError",
    "Dataset",
    "DatasetCard",
    "DatasetEntry",
    "Partition",
    "PartitionError",
    "PartyPreprocessor",
    "UnknownDatasetError",
    "dataset_entry",
    "dataset_table",
    "dirichlet_label_skew",
    "fixture_path",
    "imbalance_institutions",
    "list_datasets",
    "load_credit_data",
    "load_dataset",
    "load_heloc",
    "load_institutions",
    "load_kaggle_loan_approval",
    "load_lending_club",
    "load_loanapp",
    "measure_table1",
    "pool_preprocessors",
    "prepare_institutions",
    "register_dataset",
    "size_imbalance",
    "stratified_non_iid",
    "train_val_test_split",
]
