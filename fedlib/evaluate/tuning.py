"""One tuning rule for every method a chapter compares: same validation rows, same budget.

A comparison between methods is only fair when each gets the same chance to be good. The rule
here is the whole protocol, so chapters cannot drift apart from it:

* every method is scored by the caller's ``evaluate(method, config)``, which must fit on the
  training rows and score on the *validation* rows (never the test rows);
* every method gets exactly ``budget`` configurations: its grid when the grid has exactly
  ``budget`` points, otherwise ``budget`` points drawn without replacement from the grid with
  a seeded generator (a grid smaller than the budget is an error: that method would get less
  tuning than the others);
* the chosen configuration is the one with the highest validation score (the first on ties),
  and the whole sweep is returned so the chapter can show it.

For DP methods the grid holds the training settings (learning rate, clipping norm, batch size)
at a fixed target ε; the caller calibrates the noise for each configuration's final schedule,
so every point of the sweep spends the same ε. The tuning itself uses the private rows
non-privately: chapters say that the chosen hyper-parameters are not covered by ε.

References: issue 8 of the project (compared methods tuned alike). Introduced in chapter 1
(``chapters/01_fmtl_dp_secagg.py``).

Examples
--------
>>> grids = {"a": [{"lr": 0.1}, {"lr": 1.0}], "b": [{"lr": 0.5}, {"lr": 2.0}]}
>>> res = tune(grids, lambda m, c: -abs(c["lr"] - 1.0), budget=2)
>>> res.chosen
{'a': {'lr': 1.0}, 'b': {'lr': 0.5}}
>>> res.sweep.shape
(4, 4)
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TuningResult", "grid", "tune"]


@dataclass(frozen=True)
class TuningResult:
    """The sweep and the chosen configuration per method.

    ``sweep`` has one row per method and configuration, with ``val_score`` and ``chosen``.
    """

    sweep: pd.DataFrame
    chosen: dict[str, dict[str, Any]]
    budget: int

    def describe(self) -> str:
        """One sentence per method for the chapter text, e.g. ``FMTL: lam=0.1, lr=1``."""
        return "; ".join(f"{m}: " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else
                                             f"{k}={v}" for k, v in cfg.items())
                         for m, cfg in self.chosen.items())


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """The full Cartesian grid of named axes.

    >>> grid(lr=[0.1, 1.0], lam=[0.0])
    [{'lr': 0.1, 'lam': 0.0}, {'lr': 1.0, 'lam': 0.0}]
    """
    names = list(axes)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*axes.values())]


def tune(grids: Mapping[str, Sequence[Mapping[str, Any]]],
         evaluate: Callable[[str, dict[str, Any]], float], *, budget: int, seed: int = 0,
         progress: Callable[[str], None] | None = None) -> TuningResult:
    """Tune every method with the same budget and selection rule (see the module docstring).

    Parameters
    ----------
    grids
        Method name → candidate configurations (dicts of hyper-parameters).
    evaluate
        ``evaluate(method, config) -> validation score`` (higher is better). NaN counts as the
        worst score.
    budget
        Configurations evaluated per method; every grid must have at least this many.
    seed
        Seeds the draw from grids larger than ``budget``.
    progress
        Called with a short line after each evaluation (e.g. ``print``).

    Raises
    ------
    ValueError
        If ``budget`` < 1, a grid is smaller than ``budget``, or ``grids`` is empty.
    """
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    if not grids:
        raise ValueError("grids is empty: give at least one method and its candidates")
    small = {m: len(g) for m, g in grids.items() if len(g) < budget}
    if small:
        raise ValueError(f"every method needs at least budget={budget} candidates so that all "
                         f"are tuned alike; too few: {small}")
    rows, chosen = [], {}
    for method, candidates in grids.items():
        # One generator per method, keyed by its name: a method's draw does not depend on
        # which methods come before it or on their grid sizes.
        rng = np.random.default_rng([seed, zlib.crc32(method.encode())])
        picks = (range(len(candidates)) if len(candidates) == budget
                 else sorted(rng.choice(len(candidates), size=budget, replace=False)))
        best, best_score = None, -np.inf
        for i in picks:
            config = dict(candidates[i])
            score = float(evaluate(method, config))
            rows.append({"method": method, "config": config, "val_score": score})
            if progress is not None:
                progress(f"tuning {method} {config}: validation score {score:.4f}")
            if np.isfinite(score) and score > best_score:
                best, best_score = config, score
        if best is None:
            raise ValueError(f"every configuration of {method!r} scored NaN on validation")
        chosen[method] = best
    sweep = pd.DataFrame(rows)
    sweep["chosen"] = [r["config"] == chosen[r["method"]] for r in rows]
    sweep["config"] = [", ".join(f"{k}={v}" for k, v in c.items()) for c in sweep["config"]]
    return TuningResult(sweep, chosen, budget)
