"""Chapter 1's test rows, resampled: every model's per-seed metrics on bootstrap draws of them.

Chapter 1 runs each compared model with several seeds on one fixed data split, so the spread
over seeds says nothing about the noise of the finite test set. Here each model's test
probabilities are kept per seed and institution (:class:`HeldOutScores`) and its metrics
are computed on the full test rows (draw 0) and on every resample of one
:class:`~fedlib.evaluate.uncertainty.RowResamples` draw (draws 1..B), the *same* draw for every
model, seed and ε, so that any difference of two models is paired by seed and by row. The long
frame that :meth:`HeldOutScores.frame` returns has the columns of
:func:`fedlib.fl.fmtl.institution_report` plus ``draw``; the claims
(:mod:`fedlib.papers.p01_fmtl.claims`) group by ``(draw, seed)`` and hand the per-seed arrays to
:meth:`~fedlib.evaluate.uncertainty.Estimate.seeds_and_rows`.

The metrics are those of the chapter: ROC-AUC (paper 000 §6.1), accuracy at 0.5, and the
fairness gaps EOD (eq. 3), DIR and SPD (§6.2) for the decision "flag as defaulters the scores at
or above the institution's cut" (the cut set on training rows, so it does not move with the
test rows), approval (label 0) favourable and ``a = 0`` privileged: each a ratio of weighted
counts, so a thousand resamples cost one matrix product.

References: paper 000 §6.1-6.2, eq. 3; Owen (2007) and Davison & Hinkley (1997) §3.8 for the
resampling (see :meth:`~fedlib.evaluate.uncertainty.Estimate.seeds_and_rows`). Introduced in
chapter 1 (``chapters/01_fmtl_dp_secagg.py``).

Examples
--------
>>> y, a = np.array([0, 0, 1, 1, 0, 1]), np.zeros(6, dtype=int)
>>> rows = HeldOutRows.of_arrays(["Inst-A", "Inst-B"], [y[:4], y[4:]], [a[:4], a[4:]], n_boot=100)
>>> rows.resamples.weights.shape, rows.slices
((101, 6), [slice(0, 4, None), slice(4, 6, None)])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fedlib.evaluate.uncertainty import RowResamples, weighted_auc

__all__ = ["HeldOutRows", "HeldOutScores", "auc_spread", "resampled_metrics"]

METRICS = ("roc_auc", "accuracy", "eod", "dir", "spd")


@dataclass(frozen=True)
class HeldOutRows:
    """The institutions' test rows laid end to end, with one bootstrap draw of them.

    Attributes
    ----------
    names : list of str
        Institution names, in the order of the rows.
    slices : list of slice
        Each institution's rows in the concatenation.
    y, a : numpy.ndarray
        Labels (1 = default) and protected attribute of every test row.
    resamples : RowResamples
        The draw shared by every model: stratified on institution × label, so each resample
        keeps every institution's size and default count (and the AUC stays defined).
    """

    names: list
    slices: list
    y: np.ndarray
    a: np.ndarray
    resamples: RowResamples

    @classmethod
    def of(cls, parts: Sequence, *, n_boot: int, seed: int) -> HeldOutRows:
        """From prepared institutions (``y_test``, ``a_test``)."""
        return cls.of_arrays([p.name for p in parts], [p.y_test for p in parts],
                             [p.a_test for p in parts], n_boot=n_boot, seed=seed)

    @classmethod
    def of_arrays(cls, names: Sequence[str], ys: Sequence, as_: Sequence, *, n_boot: int,
                  seed: int = 0) -> HeldOutRows:
        """From per-institution label and protected-attribute arrays."""
        sizes = [len(y) for y in ys]
        ends = np.cumsum(sizes)
        slices = [slice(int(e - n), int(e)) for e, n in zip(ends, sizes, strict=True)]
        y = np.concatenate([np.asarray(v, dtype=int) for v in ys])
        strata = np.repeat(np.arange(len(sizes)), sizes) * 2 + y
        return cls(list(names), slices, y, np.concatenate([np.asarray(v) for v in as_]),
                   RowResamples.draw(len(y), n_boot=n_boot, strata=strata, seed=seed))


def _ratio(hits: np.ndarray, total: np.ndarray) -> np.ndarray:
    """``hits / total`` per resample, NaN where ``total`` is 0 (an empty group)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, hits / total, np.nan)


def resampled_metrics(y: np.ndarray, a: np.ndarray, proba: np.ndarray, cut: float,
                      weights: np.ndarray) -> dict[str, np.ndarray]:
    """One institution's metrics under each row of ``weights``.

    Parameters
    ----------
    y, a, proba
        Labels, protected attribute and predicted default probabilities of its test rows.
    cut
        The decision threshold: flag (predict default) when ``proba >= cut``.
    weights
        Row weights, shape ``(K, n)``.

    Returns
    -------
    dict
        ``roc_auc``, ``accuracy`` (at 0.5), ``eod``, ``dir``, ``spd``, each of shape ``(K,)``;
        a fairness metric is NaN where a group has no weight (or, for DIR, the privileged group
        is never approved), as :func:`fedlib.evaluate.fairness.fairness_report` reports it.

    Examples
    --------
    >>> y, a = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    >>> m = resampled_metrics(y, a, np.array([0.1, 0.6, 0.7, 0.9]), 0.5, np.ones((1, 4)))
    >>> {k: float(v[0]) for k, v in m.items()}
    {'roc_auc': 1.0, 'accuracy': 0.75, 'eod': 1.0, 'dir': 0.0, 'spd': 0.5}
    """
    approved = proba < cut                        # favourable outcome: approval (label 0)
    privileged = a == 0
    good = y == 0
    correct = (proba >= 0.5) == (y == 1)
    # Every rate is a ratio of weighted counts: one matrix product gives all of them for every
    # resample (a single pass over the weights instead of one per count).
    groups = {"good_u": good & ~privileged, "good_p": good & privileged,
              "all_u": ~privileged, "all_p": privileged}
    columns = [correct, np.ones_like(correct)]
    for within in groups.values():
        columns += [within, approved & within]
    counts = weights @ np.column_stack(columns).astype(float)
    rate = {name: _ratio(counts[:, 3 + 2 * k], counts[:, 2 + 2 * k])
            for k, name in enumerate(groups)}
    if privileged.all() or not privileged.any():  # one group only: every gap is undefined
        nan = np.full(len(weights), np.nan)
        fairness = {"eod": nan, "dir": nan, "spd": nan}
    else:
        fairness = {"eod": np.abs(rate["good_u"] - rate["good_p"]),
                    "dir": _ratio(rate["all_u"], np.nan_to_num(rate["all_p"])),
                    "spd": np.abs(rate["all_u"] - rate["all_p"])}
    return {"roc_auc": weighted_auc(y, proba, weights),
            "accuracy": counts[:, 0] / counts[:, 1], **fairness}


@dataclass
class HeldOutScores:
    """Every model's test probabilities per seed and institution, and their resampled metrics.

    Parameters
    ----------
    rows
        The test rows and their bootstrap draw.

    Notes
    -----
    :meth:`add` keeps one model run's probabilities (one array per institution, in the order
    of ``rows.names``) with its decision cuts; :meth:`frame` returns the metrics of every kept
    run on every draw of the rows.
    """

    rows: HeldOutRows
    runs: list = field(default_factory=list)

    def add(self, *, experiment: str, model: str, seed: int, proba: Sequence[np.ndarray],
            cuts: Sequence[float], epsilon: float = np.inf) -> None:
        """Keep one run's test probabilities (per institution) and decision cuts."""
        sizes = [s.stop - s.start for s in self.rows.slices]
        if [len(p) for p in proba] != sizes or len(cuts) != len(sizes):
            raise ValueError(f"need one probability per test row of each institution "
                             f"({sizes}) and one cut each, got {[len(p) for p in proba]} and "
                             f"{len(cuts)} cuts")
        self.runs.append({"experiment": experiment, "model": model, "seed": seed,
                          "epsilon": float(epsilon), "proba": [np.asarray(p) for p in proba],
                          "cuts": [float(c) for c in cuts]})

    def frame(self, experiment: str) -> pd.DataFrame:
        """Long frame of the metrics of ``experiment``'s runs on every draw of the test rows.

        One row per model, ε, seed, institution and draw (0 = the full test rows, 1..B the
        resamples), with the columns ``model, epsilon, seed, institution, draw`` and
        :data:`METRICS`.
        """
        rows, blocks = self.rows, []
        n_draws = len(rows.resamples.weights)
        for run in (r for r in self.runs if r["experiment"] == experiment):
            for name, part, proba, cut in zip(rows.names, rows.slices, run["proba"], run["cuts"],
                                              strict=True):
                metrics = resampled_metrics(rows.y[part], rows.a[part], proba, cut,
                                            rows.resamples.restrict(part))
                blocks.append(pd.DataFrame({"model": run["model"], "epsilon": run["epsilon"],
                                            "seed": run["seed"], "institution": name,
                                            "draw": np.arange(n_draws), **metrics}))
        if not blocks:
            raise ValueError(f"no runs kept for experiment {experiment!r}")
        return pd.concat(blocks, ignore_index=True)


def auc_spread(frame: pd.DataFrame) -> pd.DataFrame:
    """Standard deviation (ddof 0) of the test AUC across institutions, per draw, seed, model.

    The paper's "inter-institution variance" (§8.2, Fig. 4) on every draw of the rows.

    >>> f = pd.DataFrame({"draw": 0, "seed": 1, "model": "FMTL", "roc_auc": [0.6, 0.8]})
    >>> auc_spread(f).auc_std.round(3).tolist()
    [0.1]
    """
    return (frame.groupby(["draw", "seed", "model"]).roc_auc.std(ddof=0)
            .rename("auc_std").reset_index())
