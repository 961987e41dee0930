"""Discrete-time survival analysis for chapter 3 (FSL-BDP): labels, likelihood, hazard network,
metrics (time-dependent C-index, IPCW Brier / IBS, Kaplan-Meier), IFRS 9 lifetime ECL, the
survival datasets and loaders, centralised / federated training without DP, with DP-SGD and
with Bayesian DP, and the tuning of all three with one rule.

References: Amed, Sen & Banerjee (2026), FSL-BDP, secs. 3.2 and 4.2. Introduced in chapter 3
(``chapters/03_fsl_bdp_survival.py``).
"""

from fedlib.survival.data import (
    PROFILES,
    ClientSurvival,
    DatasetProfile,
    GroundTruth,
    PreparedSurvival,
    SurvivalDataset,
    prepare_survival,
    semi_real_lendingclub,
    synthetic_survival,
)
from fedlib.survival.ecl import discount_factors, lifetime_ecl, marginal_default_probabilities
from fedlib.survival.experiment import (
    TrainingConfig,
    calibrate_clients,
    expected_default_month,
    run_scenarios,
    survival_membership_inference,
    survival_scores,
)
from fedlib.survival.federated import (
    SurvivalRun,
    SurvivalTrainer,
    make_model,
    per_example_gradients,
    train_centralized,
    train_federated,
)
from fedlib.survival.labels import (
    SurvivalInputError,
    check_survival_data,
    discretize,
    interval_grid,
    survival_targets,
)
from fedlib.survival.likelihood import (
    discrete_time_nll,
    hazards_from_logits,
    log_survival_from_logits,
    survival_from_logits,
)
from fedlib.survival.loaders import load_bondora, load_lendingclub, load_sba
from fedlib.survival.metrics import (
    CensoringKM,
    brier_score,
    concordance_td,
    concordance_td_curve,
    integrated_brier_score,
    kaplan_meier,
    survival_at,
)
from fedlib.survival.model import PAPER_HIDDEN, HazardNet, predict_hazards, predict_survival
from fedlib.survival.tuning import SurvivalTuning, split_validation, tune_survival

__all__ = [
    "PAPER_HIDDEN",
    "PROFILES",
    "CensoringKM",
    "ClientSurvival",
    "DatasetProfile",
    "GroundTruth",
    "HazardNet",
    "PreparedSurvival",
    "SurvivalDataset",
    "SurvivalInputError",
    "SurvivalRun",
    "SurvivalTrainer",
    "SurvivalTuning",
    "TrainingConfig",
    "calibrate_clients",
    "expected_default_month",
    "load_bondora",
    "load_lendingclub",
    "load_sba",
    "make_model",
    "per_example_gradients",
    "prepare_survival",
    "run_scenarios",
    "semi_real_lendingclub",
    "split_validation",
    "survival_membership_inference",
    "survival_scores",
    "synthetic_survival",
    "train_centralized",
    "train_federated",
    "tune_survival",
    "brier_score",
    "check_survival_data",
    "concordance_td",
    "concordance_td_curve",
    "discount_factors",
    "discrete_time_nll",
    "discretize",
    "hazards_from_logits",
    "integrated_brier_score",
    "interval_grid",
    "kaplan_meier",
    "lifetime_ecl",
    "log_survival_from_logits",
    "marginal_default_probabilities",
    "predict_hazards",
    "predict_survival",
    "survival_at",
    "survival_from_logits",
    "survival_targets",
]
