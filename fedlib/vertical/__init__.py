"""Vertical federated learning: data, XMP selection, SecureBoost, baselines.

Introduced in chapter 4 (``chapters/04_vertical_secureboost_xmp.py``); see the module
docstrings of :mod:`fedlib.vertical.data`, :mod:`fedlib.vertical.xmp`,
:mod:`fedlib.vertical.gbdt`, :mod:`fedlib.vertical.secureboost`,
:mod:`fedlib.vertical.audit`, :mod:`fedlib.vertical.attacks` and
:mod:`fedlib.vertical.baselines`. Chapter 4's screened (horizontal) FedAvg lives in
:mod:`fedlib.fl.screening`.
"""

from fedlib.vertical.attacks import bin_recovery_attack
from fedlib.vertical.audit import instance_space_attack, tree_agreement, what_each_party_saw
from fedlib.vertical.baselines import (
    LSSVMClassifier,
    WoEScorecard,
    credit_metrics,
    ks_statistic,
    points,
)
from fedlib.vertical.data import (
    GRID_FEATURES,
    VerticalData,
    VerticalDataError,
    load_vertical_csvs,
    make_msme_data,
    vertical_credit_data,
)
from fedlib.vertical.gbdt import (
    BoostParams,
    HistGBDT,
    QuantileBinner,
    TreeNode,
    best_split_in_histogram,
    leaf_weight,
    logistic_grad_hess,
    passive_visible,
    split_gain,
)
from fedlib.vertical.secureboost import PassiveParty, SecureBoost
from fedlib.vertical.xmp import (
    EliminationResult,
    MRMRResult,
    PCAResult,
    grid_pca,
    mrmr_select,
    ranking_comparison,
    xgb_backward_elimination,
    xgb_model,
)

__all__ = [
    "GRID_FEATURES",
    "BoostParams",
    "EliminationResult",
    "LSSVMClassifier",
    "MRMRResult",
    "PCAResult",
    "VerticalData",
    "VerticalDataError",
    "WoEScorecard",
    "bin_recovery_attack",
    "credit_metrics",
    "grid_pca",
    "instance_space_attack",
    "ks_statistic",
    "load_vertical_csvs",
    "make_msme_data",
    "mrmr_select",
    "points",
    "ranking_comparison",
    "tree_agreement",
    "vertical_credit_data",
    "what_each_party_saw",
    "xgb_backward_elimination",
    "xgb_model",
    "HistGBDT",
    "PassiveParty",
    "QuantileBinner",
    "SecureBoost",
    "TreeNode",
    "best_split_in_histogram",
    "leaf_weight",
    "logistic_grad_hess",
    "passive_visible",
    "split_gain",
]
