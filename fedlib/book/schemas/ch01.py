"""Parameters of chapter 1, "FMTL with DP and secure aggregation" (paper 000), as a typed schema.

Every key of the chapter's ``parameters`` cell is a field here, with its type, range and
meaning; a bad value stops the run with a message that names the key, the value and what is
allowed.

``lam`` and ``baseline_lr`` default to ``"auto"``: chosen on validation rows carved from each
institution's training rows, never on the test rows the chapter reports.

References: paper 000 §5 (data and setup), §6.3 (ε ∈ [0.1, 5]), §8 (ablations). Introduced in
chapter 1 (``chapters/01_fmtl_dp_secagg.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from fedlib.book.params import ChapterParams, DataPath

__all__ = ["Chapter01Params"]


class Chapter01Params(ChapterParams):
    """Settings of chapter 1. ``paper.yml`` holds the paper's own values where it gives them."""

    source: Literal["lending_club", "heloc"] = Field(
        "lending_club", description="real data of Inst-A/B: 'lending_club' (embedded) or "
        "'heloc' (the paper's FICO HELOC CSV; set data_path)")
    data_path: DataPath = Field(None, description="path to your copy of the FICO HELOC CSV")
    max_real_rows: int = Field(0, ge=0, description="subsample each real institution to at most "
                               "this many rows; 0 = all")
    synthetic_sizes: list[int] = Field([9000, 11000], min_length=2, max_length=2,
                                       description="rows of Inst-C and Inst-D (Table 1)")
    test_fraction: float = Field(0.25, ge=0.05, le=0.5,
                                 description="share of each institution held out for testing")
    iqr_k: float = Field(1.5, ge=0.0, le=10.0, description="IQR outlier filter: k x IQR")
    hidden: list[int] = Field([32, 16], min_length=1, max_length=4,
                              description="hidden layer widths of the MLP")
    rounds: int = Field(10, ge=1, le=1000, description="communication rounds")
    local_epochs: int = Field(1, ge=1, le=1000, description="local epochs per round")
    learning_rate: float = Field(1.0, gt=0.0, le=10.0, description="local SGD learning rate of FMTL")
    batch_size: int = Field(256, ge=8, le=100_000, description="local batch size (rows per step)")
    val_fraction: float = Field(0.2, ge=0.05, le=0.5,
                                description="share of each institution's training rows held out "
                                "as validation rows, on which lam and baseline_lr are chosen")
    lam: float | str = Field(
        "auto", description="FMTL lambda of eq. 1 (lambda*||W_i - W_bar||^2), a number in "
        "[0, 100], or 'auto': the lambda of lam_sweep with the best mean validation AUC")
    lam_sweep: list[float] = Field([0.0, 0.003, 0.01, 0.03, 0.1, 0.3], min_length=1,
                                   description="lambdas of the FMTL lambda sweep (scored on "
                                   "validation rows), each in [0, 100]")
    baseline_lr: float | str = Field(
        "auto", description="learning rate of FedAvg and the centralized MLP, a number in "
        "(0, 10], or 'auto': the rate of baseline_lr_sweep with the best mean validation AUC "
        "(FMTL uses learning_rate)")
    baseline_lr_sweep: list[float] = Field([0.1, 0.3, 1.0, 2.0, 3.0, 5.0], min_length=1,
                                           description="learning rates tried for FedAvg and the "
                                           "centralized MLP, each in (0, 10]; as many as "
                                           "lam_sweep (same tuning budget)")
    personal_start: Literal["own", "global"] = Field(
        "own", description="FMTL: continue from the own W_i each round, or start from W_bar")
    threshold_fraction: float = Field(0.75, gt=0.5, le=1.0,
                                      description="secure aggregation threshold t as a share of "
                                      "the institutions (t > n/2)")
    epsilon: float = Field(1.0, ge=0.01, le=100.0, description="the chosen DP budget epsilon "
                           "of the main DP experiment")
    epsilons: list[float] = Field([0.1, 0.5, 1.0, 2.0, 5.0], min_length=2,
                                  description="epsilons of the sweep (Fig 3), within [0.1, 5]")
    delta: float = Field(1e-5, gt=0.0, lt=1.0, description="DP delta")
    clip_norm: float = Field(1.0, gt=0.0, le=100.0, description="per-example clipping norm C")
    dropout_rate: float = Field(0.25, ge=0.0, lt=1.0,
                                description="per-round dropout probability in the dropout run")
    imbalance_ratio: float = Field(5.0, ge=1.0, le=50.0,
                                   description="size ratio largest/smallest in the imbalance ablation")
    label_skew: float = Field(2.0, ge=1.0, le=10.0,
                              description="default-rate skew factor in the imbalance ablation")
    mia_rows: int = Field(500, ge=20, le=100_000, description="rows per side in the membership attack")

    @field_validator("epsilons")
    @classmethod
    def _positive_eps(cls, v: list[float]) -> list[float]:
        if any(e <= 0 for e in v) or sorted(v) != v:
            raise ValueError(f"epsilons must be positive and increasing, got {v}")
        return v

    @field_validator("lam")
    @classmethod
    def _lam_range(cls, v: float | str) -> float | str:
        # One clear message rather than pydantic's one-per-member of a Literal union.
        if isinstance(v, str) and v != "auto" or not isinstance(v, str) and not 0 <= v <= 100:
            raise ValueError(f"lam must be 'auto' or a number in [0, 100], got {v!r}")
        return v

    @field_validator("baseline_lr")
    @classmethod
    def _lr_range(cls, v: float | str) -> float | str:
        if isinstance(v, str) and v != "auto" or not isinstance(v, str) and not 0 < v <= 10:
            raise ValueError(f"baseline_lr must be 'auto' or a number in (0, 10], got {v!r}")
        return v

    @field_validator("lam_sweep")
    @classmethod
    def _lam_sweep(cls, v: list[float]) -> list[float]:
        if any(not 0.0 <= lam <= 100.0 for lam in v) or len(set(v)) != len(v):
            raise ValueError(f"lam_sweep must hold distinct values in [0, 100], got {v}")
        return v

    @field_validator("baseline_lr_sweep")
    @classmethod
    def _lr_sweep(cls, v: list[float]) -> list[float]:
        if any(not 0.0 < lr <= 10.0 for lr in v) or len(set(v)) != len(v):
            raise ValueError(f"baseline_lr_sweep must hold distinct values in (0, 10], got {v}")
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
        if len(self.baseline_lr_sweep) != len(self.lam_sweep):
            raise ValueError(f"baseline_lr_sweep has {len(self.baseline_lr_sweep)} values and "
                             f"lam_sweep {len(self.lam_sweep)}: give the baselines the same "
                             "tuning budget as FMTL (equal lengths)")
        fixed = [] if self.lam == "auto" else [self.lam]
        if any(2 * lam * self.learning_rate >= 1 for lam in [*fixed, *self.lam_sweep]):
            raise ValueError(f"every lambda needs 2*lambda*learning_rate < 1 (stable proximal "
                             f"step); learning_rate={self.learning_rate}")
        return self
