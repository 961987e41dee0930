"""Vertical federated learning: SecureBoost and its plaintext reference booster.

Introduced in chapter 4 (``chapters/04_vertical_secureboost_xmp.py``); see the module
docstrings of :mod:`fedlib.vertical.gbdt` and :mod:`fedlib.vertical.secureboost`.
"""

from fedlib.vertical.gbdt import (
    BoostParams,
    HistGBDT,
    QuantileBinner,
    TreeNode,
    best_split_in_histogram,
    leaf_weight,
    logistic_grad_hess,
    split_gain,
)
from fedlib.vertical.secureboost import PassiveParty, SecureBoost

__all__ = [
    "BoostParams",
    "HistGBDT",
    "PassiveParty",
    "QuantileBinner",
    "SecureBoost",
    "TreeNode",
    "best_split_in_histogram",
    "leaf_weight",
    "logistic_grad_hess",
    "split_gain",
]
