"""Chapter 3's section "IFRS 9 lifetime expected credit loss" (the paper's §5.3).

The lifetime ECL of one early and one late test defaulter from a trained model's hazards, with
an amortising exposure: the marginal PD discounted as IFRS 9 asks, the sum of hazards as the
paper prints it, and the 12-month (stage 1) ECL.

References: Amed, Sen & Banerjee (2026), FSL-BDP, §5.3.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fedlib.book.glue import glue
from fedlib.survival.ecl import discount_factors, lifetime_ecl
from fedlib.survival.model import predict_hazards

__all__ = ["amortising_ead", "ecl_examples"]


def amortising_ead(principal: float, *, annual_rate: float, n_months: int) -> np.ndarray:
    r"""Exposure at the start of each month of a loan repaid in equal monthly instalments.

    The outstanding balance of an annuity at monthly rate :math:`r = a/12` after :math:`t`
    payments, :math:`P\,((1+r)^T - (1+r)^t)/((1+r)^T - 1)`, for :math:`t = 0..T-1` (the EAD
    of §5.3's ECL).

    Examples
    --------
    >>> amortising_ead(1000, annual_rate=0.12, n_months=2).round(2).tolist()
    [1000.0, 502.49]
    """
    r_m = annual_rate / 12
    T = n_months
    return principal * ((1 + r_m) ** T - (1 + r_m) ** np.arange(T)) / ((1 + r_m) ** T - 1)


def ecl_examples(model, ds, data, P) -> pd.DataFrame:
    """§5.3's lifetime ECL of one early and one late test defaulter, three ways.

    For a loan of 10,000 amortised over the window (:func:`amortising_ead`) with LGD
    ``P.ecl_lgd``: the marginal PD :math:`h_t S_{t-1}`, discounted (IFRS 9); the sum of
    hazards as printed; and the 12-month (stage 1) ECL. Glues ``ecl_window``, ``ecl_rate`` and
    ``ecl_lgd``.

    Returns
    -------
    pandas.DataFrame
        One row per borrower.
    """
    Xte, tte, ete, _ = data.pooled("test")
    early, late = (ete == 1) & (tte < ds.window / 2), (ete == 1) & (tte >= ds.window / 2)
    H = predict_hazards(model, Xte)
    pick = {"early defaulter": int(np.flatnonzero(early)[0]) if early.any() else 0,
            "late defaulter": int(np.flatnonzero(late)[0]) if late.any() else 0}
    T = ds.window
    ead = amortising_ead(10_000, annual_rate=P.ecl_annual_rate, n_months=T)
    df_t = discount_factors(annual_rate=P.ecl_annual_rate, n_months=T)
    rows = [{"borrower": name, "observed default month": tte[i] + 0.5,
             "ECL (marginal PD, discounted)": lifetime_ecl(H[i], lgd=P.ecl_lgd, ead=ead,
                                                           discount=df_t),
             "ECL as printed (sum of hazards)": lifetime_ecl(H[i], lgd=P.ecl_lgd, ead=ead,
                                                             marginal=False),
             "12-month ECL (stage 1)": lifetime_ecl(H[i][:12], lgd=P.ecl_lgd, ead=ead[:12],
                                                    discount=df_t[:12])}
            for name, i in pick.items()]
    glue("ecl_window", T, display=False)
    glue("ecl_rate", P.ecl_annual_rate, display=False)
    glue("ecl_lgd", P.ecl_lgd, display=False)
    return pd.DataFrame(rows).set_index("borrower")
