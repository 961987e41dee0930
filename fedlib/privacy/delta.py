"""δ must be below 1/n for every party: checked before any training.

(ε, δ)-DP with δ ≥ 1/n permits the "name-and-shame" mechanism that publishes one random row
of the n in full with probability δ·n ≥ 1: such a δ certifies nothing. Each party's guarantee
is over its own n rows, so the bound is per party, δ < 1/n_k for every k — the largest party
binds — and it has to hold for whatever data a reader brings (a user-supplied file included).
:func:`check_delta` is called by the DP entry points (:func:`fedlib.fl.fmtl.make_clients`,
:func:`fedlib.fl.experiment.build_parties`, :func:`fedlib.survival.experiment.calibrate_clients`
and ``run_scenarios``) before they train or calibrate anything.

References: Dwork & Roth 2014, §2.3 (δ "less than the inverse of any polynomial in the size
of the database"); paper 000 §5.3, paper 001 §4.3, paper 002 §4.3 (δ = 1e-5). Used by
chapters 1-3.

Examples
--------
>>> check_delta(1e-5, rows={"bank-1": 5000, "bank-2": 800})
1e-05
>>> try:
...     check_delta(1e-2, rows={"bank-1": 50, "bank-2": 120})
... except ValueError as err:
...     print(str(err).split(";")[0])
delta=0.01 is not below 1/n for party 'bank-2' with n=120 rows: it needs delta < 1/120 = 0.00833
"""

from __future__ import annotations

from collections.abc import Mapping

from fedlib.privacy.accountants import PrivacyArgumentError, _check_delta

__all__ = ["check_delta"]


def check_delta(delta: float, *, rows: Mapping[str, int]) -> float:
    """Return ``delta`` if ``0 < delta < 1/n`` for every party's ``n`` in ``rows``, else raise.

    Parameters
    ----------
    delta
        The DP δ every party reports its ε at.
    rows
        Party name → its number of training rows (the rows its DP guarantee is over).

    Raises
    ------
    PrivacyArgumentError
        Naming the first party whose ``n`` violates the bound, its ``n``, ``delta`` and the
        largest δ allowed for it; or if ``rows`` is empty or a count is not a positive integer.
    """
    d = _check_delta(delta)
    if not rows:
        raise PrivacyArgumentError("rows is empty: give each party's number of training rows")
    for name, n in rows.items():
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise PrivacyArgumentError(f"party {name!r}: row count must be an integer >= 1, "
                                       f"got {n!r}")
        if not d * int(n) < 1:
            raise PrivacyArgumentError(
                f"delta={d:g} is not below 1/n for party {name!r} with n={int(n)} rows: "
                f"it needs delta < 1/{int(n)} = {1 / int(n):.3g}; with delta >= 1/n a mechanism may publish a whole row; lower delta "
                "(e.g. 1e-5) or merge the party's rows with another's")
    return d
