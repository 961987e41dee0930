"""Differential privacy: DP-SGD through Opacus, accountants, calibration, Bayesian DP, audits
and attacks.

Names are imported from their submodule on first use, so ``import fedlib.privacy`` does not
load Opacus or torch until a chapter needs them.
"""

from __future__ import annotations

from fedlib._lazy import lazy_exports

_EXPORTS = {
    "fedlib.privacy.accountants": ["AccountantFailure", "AccountantResult", "CrossCheck",
                                   "METHODS", "PartyAccountant", "PrivacyArgumentError",
                                   "RDP_ORDERS", "Segment", "epsilon_for",
                                   "epsilon_for_segments", "run_accountant"],
    "fedlib.privacy.calibrate": ["SettingsForEpsilon", "calibrate_noise_multiplier",
                                 "find_settings_for_epsilon"],
    "fedlib.privacy.dpsgd": ["LOSSES", "LocalTrainStats", "train_local", "train_local_dp"],
    "fedlib.privacy.randomness": ["SEEDED_NOISE_NOTE", "gaussian_noise", "mechanism_generator",
                                  "poisson_batches"],
    "fedlib.privacy.delta": ["check_delta"],
    "fedlib.privacy.audit": ["EpsilonAudit", "RdpDisagreement", "audit_paper_epsilons",
                             "explain_rdp_disagreement", "steps_for_epsilon"],
    "fedlib.privacy.bdp": ["BOUNDS", "BayesianAccountant", "BayesianDPError", "BayesianEpsilon",
                           "COMPOSITIONS", "DEFAULT_BDP_ORDERS", "MIN_ROWS_BAYESIAN",
                           "analytical_step_cost", "bdp_cost_terms", "calibrate_bdp_noise",
                           "neighbour_distances", "neighbour_distances_from_per_example",
                           "neighbour_swap_indices", "planned_epsilon"],
    "fedlib.privacy.attacks": ["GradientInversionError", "attack_update_payload",
                               "batch_gradient_leakage", "invert_logistic_gradient",
                               "inversion_error_vs_noise", "logistic_gradient",
                               "membership_inference", "per_example_loss"],
}
__all__, __getattr__ = lazy_exports("fedlib.privacy", _EXPORTS)
