"""Parameters of chapter 2, "DP vs homomorphic encryption" (paper 001), as a typed schema.

Every key of the chapter's ``parameters`` cell is a field here, with its type, range and
meaning; :func:`fedlib.book.params.validate_params` turns a bad value into a message that
names the key, the value and what is allowed, before any computation starts.

References: paper 001 §4–5 (settings), Table 2 (CKKS), Table 4 (hyper-parameters).
Introduced in chapter 2 (``chapters/02_dp_vs_ckks.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from fedlib.book.params import ChapterParams, DataPath
from fedlib.flower.installed import check_fl_engine

__all__ = ["Chapter02Params"]

# SEAL's largest total coefficient modulus (bits) at 128-bit security, per degree.
_CKKS_MAX_BITS = {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}


class Chapter02Params(ChapterParams):
    """Settings of chapter 2. ``paper.yml`` holds the paper's own values."""

    dataset: Literal["loanapp", "kaggle_loan_approval", "csv"] = Field(
        "loanapp", description="'loanapp' (embedded, real HMDA applications), "
        "'kaggle_loan_approval' (the paper's Kaggle CSV; set data_path) or 'csv' (any credit "
        "table: set data_path and label_column, see data/csv.md)")
    data_path: DataPath = Field(None, description="path to your copy of the paper's Kaggle CSV, "
                                "or to your own table with dataset 'csv'")
    label_column: str | None = Field(None, description="dataset 'csv': the binary outcome column")
    positive_label: str | int | bool | None = Field(
        None, description="dataset 'csv': the label value that counts as 1 (needed unless "
        "the label is 0/1, true/false, yes/no or y/n)")
    party_column: str | None = Field(
        None, description="dataset 'csv': the bank of each row (None: the partitioner deals "
        "rows to n_clients banks)")
    categorical_columns: list[str] | None = Field(
        None, description="dataset 'csv': numeric columns to treat as categories")
    drop_columns: list[str] | None = Field(None, description="dataset 'csv': columns to ignore")
    protected: list[str] | None = Field(
        None, description="dataset 'csv': subgroup expressions such as 'age < 25'")
    strata_columns: list[str] | None = Field(
        None, description="dataset 'csv': columns the non-IID partitioner stratifies on")
    n_clients: int = Field(5, ge=2, le=50, description="number of bank clients")
    partition_skew: float = Field(0.7, ge=0.0, le=1.0,
                                  description="non-IID strength of the stratified partition")
    scaling: Literal["local", "federated"] = Field(
        "local", description="'local': each client fits its own scaler (the paper); "
        "'federated': clients use pooled statistics")
    rounds: int = Field(5, ge=1, le=1000, description="communication rounds")
    local_epochs: int = Field(1000, ge=1, le=100_000, description="local epochs per round")
    learning_rate: float = Field(0.1, gt=0.0, le=100.0, description="local SGD learning rate")
    batch_size: int = Field(0, ge=0, description="local batch size; 0 = full batch (the paper)")
    noise_multipliers: list[float] = Field(
        [1.2, 1.6, 2.0], min_length=1, description="DP-SGD noise multipliers sigma")
    clip_norm: float = Field(1.0, gt=0.0, description="DP-SGD per-example clipping norm C")
    delta: float = Field(1e-5, gt=0.0, lt=1.0, description="DP delta")
    ckks_poly_modulus_degree: int = Field(8192, description="CKKS ring degree N")
    ckks_coeff_mod_bit_sizes: list[int] = Field(
        [60, 40, 40, 60], min_length=2, description="CKKS coefficient modulus chain (bits)")
    ckks_scale_bits: int = Field(40, ge=20, le=60, description="CKKS scale = 2**bits")
    audit_full_batch_noise_multipliers: list[float] = Field(
        [1.2, 1.6, 2.0], min_length=1, description="sigmas of the paper's full-batch DP setting")
    audit_sample_rate: float = Field(0.2, gt=0.0, le=1.0,
                                     description="sampling rate of the paper's second DP setting")
    audit_noise_multipliers: list[float] = Field(
        [0.5, 1.0, 1.5], min_length=1, description="sigmas of the paper's second DP setting")
    audit_epochs: int = Field(1000, ge=1, description="local epochs per round in the paper's audit")
    audit_rounds: int = Field(5, ge=1, description="rounds in the paper's audit")
    mia_max_rows: int = Field(400, ge=20, description="rows per side in the membership attack")
    n_seeds: int = Field(3, ge=1, le=50, description="seeds seed, seed+1, ...: split, partition, "
                         "initial model, batches and DP noise all change with the seed")
    dp_backend: Literal["closed_form", "opacus"] = Field(
        "closed_form", description="'closed_form': per-example logistic gradients in numpy "
        "(same algorithm as Opacus, much faster); 'opacus': Opacus' hooks")
    fl_engine: Literal["local", "flower"] = Field(
        "local", description="who runs every federation: 'local' (every bank an object of the "
        "notebook's process) or 'flower' (Flower's simulation, one node per bank; needs flwr: "
        "make flower-test or pip install -e '.[flower]'); same seed, same numbers")
    tune_budget: int = Field(6, ge=1, description="configurations tried per method on validation rows")
    tune_learning_rates: list[float] = Field(
        [0.01, 0.03, 0.1, 0.3, 1.0, 3.0], min_length=1,
        description="learning rates tried for standard FL and HE-FL")
    tune_dp_learning_rates: list[float] = Field(
        [0.03, 0.3, 3.0], min_length=1, description="learning rates tried for DP-FL")
    tune_clip_norms: list[float] = Field(
        [0.3, 3.0], min_length=1, description="clipping norms tried for DP-FL")
    timing_epochs: int = Field(100, ge=1, description="local epochs per timing repeat")
    timing_repeats: int = Field(7, ge=2, description="timing repeats (modes interleaved)")
    constant_share: float = Field(
        0.01, ge=0.0, lt=0.5, description="a model giving the rarer decision to under this "
        "share of the test rows is flagged as a (near-)constant classifier")

    @field_validator("noise_multipliers", "audit_noise_multipliers",
                     "audit_full_batch_noise_multipliers")
    @classmethod
    def _positive_sigmas(cls, v: list[float]) -> list[float]:
        if any(s <= 0 for s in v):
            raise ValueError(f"every noise multiplier must be > 0, got {v}")
        return v

    @field_validator("fl_engine")
    @classmethod
    def _fl_engine_runs_here(cls, v: str) -> str:
        return check_fl_engine(v)

    @field_validator("ckks_poly_modulus_degree")
    @classmethod
    def _ckks_degree(cls, v: int) -> int:
        if v not in _CKKS_MAX_BITS:
            raise ValueError(f"TenSEAL CKKS supports degrees {sorted(_CKKS_MAX_BITS)}, got {v}")
        return v

    @model_validator(mode="after")
    def _ckks_security(self) -> Chapter02Params:
        total = sum(self.ckks_coeff_mod_bit_sizes)
        limit = _CKKS_MAX_BITS[self.ckks_poly_modulus_degree]
        if total > limit:
            raise ValueError(
                f"ckks_coeff_mod_bit_sizes sum to {total} bits; degree "
                f"{self.ckks_poly_modulus_degree} allows at most {limit} bits for 128-bit security")
        budget = self.tune_budget
        sizes = {"tune_learning_rates": len(self.tune_learning_rates),
                 "tune_dp_learning_rates x tune_clip_norms":
                     len(self.tune_dp_learning_rates) * len(self.tune_clip_norms)}
        small = {k: v for k, v in sizes.items() if v < budget}
        if small:
            raise ValueError(f"tune_budget={budget} needs at least that many configurations per "
                             f"method so all are tuned alike; too few: {small}")
        if self.dataset == "kaggle_loan_approval" and not self.data_path:
            raise ValueError("dataset 'kaggle_loan_approval' needs data_path: the path to the CSV")
        if self.dataset == "csv" and not (self.data_path and self.label_column):
            raise ValueError("dataset 'csv' needs data_path (your table) and label_column (its "
                             "binary outcome); see data/csv.md")
        return self
