"""Parameters of chapter 1, "FMTL with DP and secure aggregation" (paper 000), as a typed schema.

Every key of the chapter's ``parameters`` cell is a field here, with its type, range and
meaning; a bad value stops the run with a message that names the key, the value and what is
allowed.

Every hyper-parameter of a compared model (FMTL: λ and learning rate; FedAvg and the
centralized MLP: learning rate; DP runs: learning rate, clipping norm and schedule) is chosen
by :func:`fedlib.evaluate.tune` on validation rows carved from each institution's training
rows, with the same budget per method, never on the test rows the chapter reports.

References: paper 000 §5 (data and setup), §6.3 (ε ∈ [0.1, 5]), §8 (ablations). Introduced in
chapter 1 (``chapters/01_fmtl_dp_secagg.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from fedlib.book.params import ChapterParams, DataPath
from fedlib.flower.installed import check_fl_engine

__all__ = ["Chapter01Params"]


class Chapter01Params(ChapterParams):
    """Settings of chapter 1. ``paper.yml`` holds the paper's own values where it gives them."""

    source: Literal["lending_club", "heloc", "csv"] = Field(
        "lending_club", description="real data of Inst-A/B: 'lending_club' (embedded), "
        "'heloc' (the paper's FICO HELOC CSV; set data_path) or 'csv' (any credit table: set "
        "data_path and label_column, see data/csv.md)")
    data_path: DataPath = Field(None, description="path to your copy of the FICO HELOC CSV, or "
                                "to your own table with source 'csv'")
    label_column: str | None = Field(None, description="source 'csv': the binary outcome column "
                                     "(1 = default)")
    positive_label: str | int | bool | None = Field(
        None, description="source 'csv': the label value that counts as 1 (needed unless the "
        "label is 0/1, true/false, yes/no or y/n)")
    party_column: str | None = Field(
        None, description="source 'csv': a two-valued column naming Inst-A/B (None: a "
        "stratified random half each)")
    categorical_columns: list[str] | None = Field(
        None, description="source 'csv': numeric columns to treat as categories")
    drop_columns: list[str] | None = Field(None, description="source 'csv': columns to ignore")
    protected: str | None = Field(
        None, description="source 'csv': the protected group of the fairness tables, e.g. "
        "'age < 25' (None: the fairness tables are skipped)")
    income_column: str | None = Field(None, description="source 'csv': Table 1's income")
    utilisation_column: str | None = Field(None, description="source 'csv': Table 1's "
                                           "credit utilisation")
    age_column: str | None = Field(None, description="source 'csv': age, for the synthetic "
                                   "institutions' younger/older shift")
    debt_column: str | None = Field(None, description="source 'csv': debt, for the synthetic "
                                    "institutions' higher/lower debt shift")
    max_real_rows: int = Field(0, ge=0, description="subsample each real institution to at most "
                               "this many rows; 0 = all")
    synthetic_sizes: list[int] = Field([9000, 11000], min_length=2, max_length=2,
                                       description="rows of Inst-C and Inst-D (Table 1)")
    test_fraction: float = Field(0.25, ge=0.05, le=0.5,
                                 description="share of each institution held out for testing")
    iqr_k: float = Field(1.5, ge=0.0, le=10.0, description="IQR outlier filter: k x IQR")
    hidden: list[int] = Field([16], min_length=1, max_length=4,
                              description="hidden layer widths of the MLP")
    n_seeds: int = Field(3, ge=1, le=20, description="model seeds (initialisation, batches, DP "
                         "noise) per compared run: seed, seed+1, ...; the data stay fixed")
    n_boot: int = Field(1000, ge=100, le=10_000, description="bootstrap resamples of the test "
                        "rows behind every interval of a test-set metric (seeds + rows)")
    rounds: int = Field(10, ge=1, le=1000, description="communication rounds (no DP)")
    local_epochs: int = Field(1, ge=1, le=1000, description="local epochs per round")
    batch_size: int = Field(256, ge=8, le=100_000, description="local batch size (no DP)")
    val_fraction: float = Field(0.2, ge=0.05, le=0.5,
                                description="share of each institution's training rows held out "
                                "as validation rows, on which every hyper-parameter is chosen")
    tune_budget: int = Field(6, ge=1, le=50, description="configurations tried per method (no "
                             "DP): the same for FMTL, FedAvg and the centralized MLP")
    fmtl_lams: list[float] = Field([0.1, 1.0, 10.0], min_length=1,
                                   description="FMTL's lambda candidates (x fmtl_lrs)")
    fmtl_lrs: list[float] = Field([1.0, 3.0], min_length=1,
                                  description="FMTL's learning-rate candidates (x fmtl_lams)")
    baseline_lrs: list[float] = Field([0.3, 0.5, 1.0, 2.0, 3.0, 5.0], min_length=1,
                                      description="learning-rate candidates of FedAvg and the "
                                      "centralized MLP")
    lam_sweep: list[float] = Field([0.0, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0], min_length=2,
                                   description="FMTL lambdas of the diagnostic sweep (at FMTL's "
                                   "chosen learning rate), increasing, to show where FMTL meets "
                                   "FedAvg")
    fmtl_algorithm: Literal["joint", "alternating"] = Field(
        "joint", description="optimiser of eq. 1: 'joint' (W_i = W_bar + V_i) or "
        "'alternating' (block-coordinate; slow for large lambda)")
    fl_engine: Literal["local", "flower"] = Field(
        "local", description="who runs every federation: 'local' (every institution an object "
        "of the notebook's process) or 'flower' (Flower's simulation, one node per institution, "
        "secure aggregation through the book's protocol on the nodes; needs flwr: make "
        "flower-test or pip install -e '.[flower]'); same seed, same numbers")
    threshold_fraction: float = Field(0.75, gt=0.5, le=1.0,
                                      description="secure aggregation threshold t as a share of "
                                      "the institutions (t > n/2)")
    epsilon: float = Field(1.0, ge=0.01, le=100.0, description="the chosen DP budget epsilon "
                           "of the main DP experiment (one of epsilons)")
    epsilons: list[float] = Field([0.1, 0.5, 1.0, 2.0, 5.0], min_length=2,
                                  description="epsilons of the sweep (Fig 3), within [0.1, 5]")
    delta: float = Field(1e-5, gt=0.0, lt=1.0, description="DP delta")
    dp_lrs: list[float] = Field([1.0, 3.0], min_length=1,
                                description="DP learning-rate candidates")
    dp_clip_norms: list[float] = Field([1.0, 3.0], min_length=1,
                                       description="DP clipping-norm candidates C")
    dp_schedules: list[list[int]] = Field([[512, 5], [1024, 10]], min_length=1,
                                          description="DP [expected batch size, rounds] "
                                          "candidates; sigma is calibrated per schedule")
    dropout_rate: float = Field(0.25, ge=0.0, lt=1.0,
                                description="per-round dropout probability in the dropout run")
    imbalance_ratio: float = Field(5.0, ge=1.0, le=50.0,
                                   description="size ratio largest/smallest in the imbalance ablation")
    label_skew: float = Field(2.0, ge=1.0, le=10.0,
                              description="default-rate skew factor in the imbalance ablation")
    mia_rows: int = Field(500, ge=20, le=100_000, description="rows per side in the membership attack")

    @field_validator("fl_engine")
    @classmethod
    def _fl_engine_runs_here(cls, v: str) -> str:
        return check_fl_engine(v)

    @field_validator("epsilons")
    @classmethod
    def _positive_eps(cls, v: list[float]) -> list[float]:
        if any(e <= 0 for e in v) or sorted(v) != v:
            raise ValueError(f"epsilons must be positive and increasing, got {v}")
        return v

    @field_validator("fmtl_lams", "lam_sweep")
    @classmethod
    def _lams(cls, v: list[float]) -> list[float]:
        if any(not 0.0 <= lam <= 1e6 for lam in v) or len(set(v)) != len(v):
            raise ValueError(f"lambdas must be distinct values in [0, 1e6], got {v}")
        return v

    @field_validator("fmtl_lrs", "baseline_lrs", "dp_lrs", "dp_clip_norms")
    @classmethod
    def _rates(cls, v: list[float]) -> list[float]:
        if any(not 0.0 < x <= 100.0 for x in v) or len(set(v)) != len(v):
            raise ValueError(f"candidates must be distinct values in (0, 100], got {v}")
        return v

    @field_validator("dp_schedules")
    @classmethod
    def _schedules(cls, v: list[list[int]]) -> list[list[int]]:
        if any(len(s) != 2 or s[0] < 8 or s[1] < 1 for s in v):
            raise ValueError(f"dp_schedules must be [batch_size >= 8, rounds >= 1] pairs, got {v}")
        return v

    @field_validator("synthetic_sizes")
    @classmethod
    def _sizes(cls, v: list[int]) -> list[int]:
        if any(n < 100 for n in v):
            raise ValueError(f"each synthetic size must be >= 100, got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Chapter01Params:
        if self.source == "heloc" and not self.data_path:
            raise ValueError("source 'heloc' needs data_path: the path to the FICO HELOC CSV")
        if self.source == "csv" and not (self.data_path and self.label_column):
            raise ValueError("source 'csv' needs data_path (your table) and label_column (its "
                             "binary outcome, 1 = default); see data/csv.md")
        fmtl_grid = len(self.fmtl_lams) * len(self.fmtl_lrs)
        if min(fmtl_grid, len(self.baseline_lrs)) < self.tune_budget:
            raise ValueError(f"tune_budget={self.tune_budget} needs at least as many candidates "
                             f"per method: FMTL has {fmtl_grid} (fmtl_lams x fmtl_lrs), the "
                             f"baselines {len(self.baseline_lrs)} (baseline_lrs)")
        if not any(abs(e - self.epsilon) < 1e-12 for e in self.epsilons):
            raise ValueError(f"epsilon={self.epsilon} must be one of epsilons={self.epsilons}")
        if sorted(self.lam_sweep) != self.lam_sweep:
            raise ValueError(f"lam_sweep must be increasing, got {self.lam_sweep}")
        return self
