"""Evaluation: metrics, the paper-vs-ours scorecard and figure helpers.

Classification and calibration metrics, subgroup and fairness metrics, the scorecard, and
seaborn figure helpers.

The figure helpers are not re-exported: import them from :mod:`fedlib.evaluate.figures`, so
importing ``fedlib.evaluate`` does not import matplotlib or seaborn.

Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``); fairness metrics in chapter 1.

Examples
--------
>>> from fedlib.evaluate import classification_metrics
>>> classification_metrics([0, 1], [0.3, 0.6])["accuracy"]
1.0
"""

from __future__ import annotations

from .fairness import (
    disparate_impact_ratio,
    equal_opportunity_difference,
    fairness_report,
    statistical_parity_difference,
)
from .metrics import (
    DegenerateMetricWarning,
    check_binary_inputs,
    classification_metrics,
    expected_calibration_error,
    reliability_curve,
)
from .scorecard import SCORED, UNSCORED, VERDICTS, Claim, claims_frame, claims_records, verdict
from .subgroups import SUBGROUP_COLUMNS, subgroup_metrics
from .tuning import TuningResult, grid, tune
from .uncertainty import BASES, Estimate

__all__ = [
    "BASES",
    "SCORED",
    "SUBGROUP_COLUMNS",
    "UNSCORED",
    "VERDICTS",
    "Claim",
    "Estimate",
    "TuningResult",
    "DegenerateMetricWarning",
    "check_binary_inputs",
    "claims_frame",
    "claims_records",
    "classification_metrics",
    "disparate_impact_ratio",
    "equal_opportunity_difference",
    "expected_calibration_error",
    "fairness_report",
    "grid",
    "reliability_curve",
    "statistical_parity_difference",
    "subgroup_metrics",
    "tune",
    "verdict",
]

