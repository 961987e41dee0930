"""Parameters of chapter 3, "FSL-BDP: federated survival learning with Bayesian DP" (paper 002).

Every key of the chapter's ``parameters`` cell is a field here, with its type, range and
meaning; a bad value stops the run with a message naming the key, the value and what is
allowed.

References: Amed, Sen & Banerjee (2026), FSL-BDP, sec. 4.1 (data), sec. 4.3 (R = 10, E = 5,
Adam lr 1e-3, batch 32, C = 1, epsilon in {0.5, 1, 2, 10}, delta = 1e-5, M = 10, 5 runs).
Learning rate, batch size and E are not fixed here: every method is tuned on validation rows
with the same budget over ``lr_grid × batch_grid × epoch_grid``.
Introduced in chapter 3 (``chapters/03_fsl_bdp_survival.py``).
"""

from __future__ import annotations

import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from fedlib.book.params import ChapterParams, DataPath
from fedlib.flower.installed import check_fl_engine

__all__ = ["Chapter03Params"]

_REAL = ("lendingclub_csv", "sba_csv", "bondora_csv")


class Chapter03Params(ChapterParams):
    """Settings of chapter 3. ``paper.yml`` holds the paper's own values."""

    dataset: Literal["semi_real_lendingclub", "lendingclub_csv", "sba_csv", "bondora_csv",
                     "synthetic_lendingclub", "synthetic_sba", "synthetic_bondora", "csv"] = Field(
        "semi_real_lendingclub", description="main dataset: the semi-real LendingClub default, "
        "a real file of the paper (set data_path), a seeded synthetic one, or 'csv' (any loan "
        "table with times to default: set data_path, party_column and the outcome columns, see "
        "data/csv.md)")
    data_path: DataPath = Field(None, description="path to the paper's CSV for *_csv datasets, "
                                "or to your own table with dataset 'csv'")
    party_column: str | None = Field(None, description="dataset 'csv': each loan's client "
                                     "(lender, state, country)")
    duration_column: str | None = Field(
        None, description="dataset 'csv': time from origination to default or censoring "
        "(with event_column)")
    event_column: str | None = Field(None, description="dataset 'csv': 1 = default observed "
                                     "(two values, read like a label)")
    event_value: str | int | bool | None = Field(
        None, description="dataset 'csv': the event value that means default (needed unless "
        "0/1, true/false, yes/no or y/n)")
    duration_unit: Literal["months", "weeks", "days", "years"] = Field(
        "months", description="dataset 'csv': unit of duration_column")
    origination_column: str | None = Field(
        None, description="dataset 'csv': origination dates (with default_column instead of "
        "durations; also needed for oot_start)")
    default_column: str | None = Field(None, description="dataset 'csv': default dates, empty "
                                       "for loans that did not default")
    end_column: str | None = Field(None, description="dataset 'csv': date a loan was repaid or "
                                   "closed (censored there)")
    date_format: str | None = Field(None, description="dataset 'csv': strptime format of the "
                                    "date columns, e.g. '%Y-%m-%d'")
    observation_end: datetime.date | None = Field(
        None, description="dataset 'csv': the date the data were extracted (None: the latest "
        "date in the file)")
    oot_start: datetime.date | None = Field(
        None, description="dataset 'csv': loans originated on or after this date form the "
        "out-of-time window (None: no OOT window)")
    window: int = Field(24, ge=1, le=600, description="dataset 'csv': observation window in "
                        "months; a later default is censored at the window")
    categorical_columns: list[str] | None = Field(
        None, description="dataset 'csv': numeric columns to treat as categories")
    drop_columns: list[str] | None = Field(None, description="dataset 'csv': columns to ignore "
                                           "(ids, leakage: anything known after origination)")
    min_client_rows: int = Field(200, ge=10, le=100_000,
                                 description="clients (states/countries) with fewer loans are dropped")
    synthetic_scale: float = Field(0.01, gt=0.0, le=1.0,
                                   description="fraction of the paper's row count for synthetic data")
    max_rows: int = Field(0, ge=0, description="subsample the main dataset to this many rows; 0 = all")
    n_seeds: int = Field(3, ge=1, le=20, description="independent runs (paper: 5): mean and "
                         "Student-t interval; >= 3 for a scored verdict")
    rounds: int = Field(10, ge=1, le=1000, description="federated rounds R (paper: 10)")
    tuning_budget: int = Field(
        8, ge=1, le=200, description="configurations tried per method (no DP, DP, BDP alike) "
        "on validation rows; at most the grid's size")
    lr_grid: list[float] = Field(
        [1e-3, 3e-3], min_length=1, description="Adam learning rates of the tuning grid "
        "(paper: 1e-3, not tuned)")
    batch_grid: list[int] = Field(
        [128, 256], min_length=1, description="(expected Poisson, for DP/BDP) batch sizes of the "
        "tuning grid; a client uses min(B, n_k) (paper: 32)")
    epoch_grid: list[int] = Field(
        [1, 2], min_length=1, description="local epochs E per round of the tuning grid; "
        "centralised runs make rounds × E epochs (paper: E = 5)")
    validation_fraction: float = Field(
        0.2, gt=0.0, le=0.5, description="share of every client's training rows held out "
        "(stratified on the event) to tune on; the final models train on all training rows")
    sample_fraction: float = Field(1.0, gt=0.0, le=1.0,
                                   description="clients sampled per round (paper: 1.0, full participation)")
    init_from_published_rate: bool = Field(
        True, description="start the hazard output at the published default rate (public "
        "prior); false = hazards start at 0.5")
    target_epsilon: float = Field(10.0, gt=0.0, le=100.0,
                                  description="epsilon of the main DP and BDP runs")
    epsilon_sweep: list[float] = Field(
        [1.0], description="extra epsilons for the convergence sweep (paper: 0.5, 1, 2, 10); [] = none")
    delta: float = Field(1e-5, gt=0.0, lt=0.01, description="delta of DP; BDP uses beta = delta/2 "
                         "and gamma_total = delta/2, so delta_mu <= delta")
    clip_norm: float = Field(1.0, gt=0.0, le=100.0, description="per-example clipping norm C")
    bdp_neighbours: int = Field(10, ge=2, le=100, description="Monte-Carlo neighbours M per step")
    bdp_pilot_steps: int = Field(5, ge=1, le=100,
                                 description="pilot steps used to calibrate the BDP sigma")
    fl_engine: Literal["local", "flower"] = Field(
        "local", description="who runs every federation: 'local' (every client an object of the "
        "notebook's process) or 'flower' (Flower's simulation, one node per client; needs flwr: "
        "make flower-test or pip install -e '.[flower]'); same seed, same numbers")
    run_synthetic: list[Literal["sba", "bondora"]] = Field(
        ["sba", "bondora"], description="also run Table 3 on SBA-like / Bondora-like synthetic data")
    synthetic_rounds: int = Field(5, ge=1, le=1000, description="rounds for the synthetic runs")
    run_attack: bool = Field(True, description="membership inference on no-DP, DP and BDP")
    mia_rows: int = Field(500, ge=20, le=100_000, description="rows per side in the attack")
    ecl_lgd: float = Field(0.45, gt=0.0, le=1.0, description="loss given default of the ECL example")
    ecl_annual_rate: float = Field(0.12, ge=0.0, le=1.0,
                                   description="effective interest rate of the ECL example (discounting)")

    @field_validator("epsilon_sweep")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(not 0 < e <= 100 for e in v):
            raise ValueError(f"every epsilon must be in (0, 100], got {v}")
        return v

    @field_validator("fl_engine")
    @classmethod
    def _fl_engine_runs_here(cls, v: str) -> str:
        return check_fl_engine(v)

    @field_validator("lr_grid")
    @classmethod
    def _learning_rates(cls, v: list[float]) -> list[float]:
        if any(not 0 < lr <= 1 for lr in v):
            raise ValueError(f"every learning rate must be in (0, 1], got {v}")
        return v

    @field_validator("batch_grid", "epoch_grid")
    @classmethod
    def _counts(cls, v: list[int]) -> list[int]:
        if any(not 1 <= k <= 100_000 for k in v):
            raise ValueError(f"every value must be in [1, 100000], got {v}")
        return v

    @model_validator(mode="after")
    def _budget_fits_the_grid(self) -> Chapter03Params:
        size = len(self.lr_grid) * len(self.batch_grid) * len(self.epoch_grid)
        if self.tuning_budget > size:
            raise ValueError(f"tuning_budget={self.tuning_budget} is larger than the grid "
                             f"lr_grid × batch_grid × epoch_grid ({size} configurations): every "
                             "method must get the same budget")
        return self

    @model_validator(mode="after")
    def _needs_path(self) -> Chapter03Params:
        if self.dataset in _REAL and not self.data_path:
            raise ValueError(f"dataset '{self.dataset}' needs data_path: the path to the CSV")
        if self.dataset == "csv":
            durations = bool(self.duration_column and self.event_column)
            dates = bool(self.origination_column and self.default_column)
            if not (self.data_path and self.party_column and (durations or dates)):
                raise ValueError("dataset 'csv' needs data_path (your table), party_column (each "
                                 "loan's client) and either duration_column and event_column "
                                 "or origination_column and default_column; see data/csv.md")
        return self
