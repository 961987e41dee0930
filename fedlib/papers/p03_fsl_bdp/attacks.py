"""Chapter 3's section "Beyond the paper: membership inference at equal ε".

A loss-threshold membership attack (eq. 1's loss) on the three federated models of Table 3:
no DP, classical DP and BDP at the same ε. The paper runs no attack.

References: Amed, Sen & Banerjee (2026), FSL-BDP, eq. 1.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from fedlib.survival.experiment import survival_membership_inference

__all__ = ["membership_attacks"]


def membership_attacks(results, main: dict, data, P) -> pd.DataFrame:
    """A loss-threshold membership attack (eq. 1's loss) on the three federated models.

    Records each attack's AUC (``attack``); nothing when ``P.run_attack`` is off.

    Returns
    -------
    pandas.DataFrame
        One row per model (empty without the attack).
    """
    if not P.run_attack:
        return pd.DataFrame()
    Xtr, ttr, etr, _ = data.pooled("train")
    Xte, tte, ete, _ = data.pooled("test")
    rows = []
    for sc in ("Federated (No DP)", "Federated (Classical DP)", "Federated (BDP)"):
        out = survival_membership_inference(main.runs[sc].model, (Xtr, ttr, etr),
                                            (Xte, tte, ete), grid=data.grid, n=P.mia_rows,
                                            seed=P.seed)
        rows.append({"model": sc, "epsilon": "∞" if "No DP" in sc else f"{P.target_epsilon:g}",
                     **asdict(out)})
        results.add_metric(experiment="attack", mode=sc, setting="loss threshold",
                           metric="mia_auc", value=out.auc)
    return pd.DataFrame(rows)
