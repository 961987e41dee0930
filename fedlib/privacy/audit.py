"""Privacy-claims audit: run the accountants on the settings a paper states.

A paper's ε is a claim about a computation: noise multiplier σ, sampling rate q, number of
steps T, δ and an accountant. :func:`audit_paper_epsilons` reruns that computation for each
setting the paper describes, with three accountants (Opacus RDP, Opacus PRV, Google
``dp_accounting`` RDP), and then asks the inverse question: what σ, or how many steps, would
have produced the paper's numbers?

Paper 001 describes two settings for ε = 14.13 / 8.65 / 5.74: full-batch DP-SGD (q = 1) at
σ ∈ {1.2, 1.6, 2.0} over 1000 local epochs × 5 rounds (T = 5000 steps), and σ ∈ {0.5, 1.0, 1.5}
at q = 0.2 over the same schedule (T = 1000 · 5 / 0.2 = 25,000 steps: one epoch is 1/q
expected steps).

References: paper 001 §4 "Differential privacy configuration and accounting", Table 1;
Mironov 2017 (RDP); Gopi et al. 2021 (PRV). Introduced in chapter 2.

Examples
--------
>>> a = audit_paper_epsilons(paper_epsilons=[14.13], full_batch_sigmas=[1.2],
...                          sampled_sigmas=[], sample_rate=0.2, epochs=2, rounds=1,
...                          delta=1e-5, methods=("rdp",))
>>> a.table[["setting", "sigma", "steps"]].values.tolist()
[['full batch', 1.2, 2]]
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedlib.privacy.accountants import PrivacyArgumentError, epsilon_for
from fedlib.privacy.calibrate import calibrate_noise_multiplier, find_settings_for_epsilon

__all__ = ["EpsilonAudit", "audit_paper_epsilons", "steps_for_epsilon"]


def steps_for_epsilon(*, target_epsilon: float, noise_multiplier: float, sample_rate: float,
                      delta: float) -> int | None:
    """Largest number of steps whose ε stays ≤ ``target_epsilon``; ``None`` if one step exceeds it."""
    try:
        return find_settings_for_epsilon(target_epsilon=target_epsilon, delta=delta,
                                         noise_multiplier=noise_multiplier,
                                         sample_rate=sample_rate).steps
    except PrivacyArgumentError:
        return None


@dataclass
class EpsilonAudit:
    """The audit's two tables and a one-paragraph verdict."""

    table: pd.DataFrame
    inverse: pd.DataFrame
    delta: float

    @property
    def summary(self) -> str:
        t = self.table.dropna(subset=["paper_epsilon"])
        if t.empty:
            return "No paper ε to compare."
        ratio = (t.epsilon_rdp / t.paper_epsilon).astype(float)
        held = np.isclose(t.epsilon_rdp, t.paper_epsilon, rtol=0.05)
        if held.all():
            return "Every ε the paper reports follows from its stated settings (within 5 %)."
        lines = [f"{int((~held).sum())} of {len(t)} reported ε values do not follow from the "
                 f"settings the paper states: the RDP accountant gives between "
                 f"{ratio.min():.3g}× and {ratio.max():.3g}× the reported value. "]
        full = self.inverse[self.inverse.question == "full-batch steps giving the paper's ε"]
        if not full.empty:
            steps = ", ".join(f"{int(v):,}" if pd.notna(v) else "none"
                              for v in full.answer)
            lines.append(f"At the stated noise multipliers, full-batch training reaches the "
                         f"reported ε after only {steps} steps, not 5,000. ")
        lines.append("The paper's privacy claims do not hold as stated.")
        return "".join(lines)


def audit_paper_epsilons(*, paper_epsilons: Sequence[float], full_batch_sigmas: Sequence[float],
                         sampled_sigmas: Sequence[float], sample_rate: float, epochs: int,
                         rounds: int, delta: float,
                         methods: Sequence[str] = ("rdp", "prv", "dp_accounting")) -> EpsilonAudit:
    """ε for each stated setting with each accountant, and the inverse search.

    The i-th σ of each setting is paired with the i-th paper ε (the paper lists them in that
    order). Full batch: one step per epoch; sampled: ``1/sample_rate`` steps per epoch.
    """
    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
    settings = [("full batch", s, 1.0, epochs * rounds) for s in full_batch_sigmas]
    settings += [(f"q={sample_rate:g}", s, sample_rate, int(round(epochs * rounds / sample_rate)))
                 for s in sampled_sigmas]
    rows = []
    for name, sigma, q, steps in settings:
        group = full_batch_sigmas if name == "full batch" else sampled_sigmas
        i = list(group).index(sigma)
        row = {"setting": name, "sigma": sigma, "sample_rate": q, "steps": steps,
               "paper_epsilon": paper_epsilons[i] if i < len(paper_epsilons) else np.nan}
        notes = []
        for method in methods:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                row[f"epsilon_{method}"] = epsilon_for(noise_multiplier=sigma, sample_rate=q,
                                                       steps=steps, delta=delta, method=method)
            notes += [f"{method}: {w.message}" for w in caught
                      if "Optimal order is the smallest alpha" not in str(w.message)]
        row["note"] = "; ".join(notes)
        rows.append(row)
    inverse = []
    for i, eps in enumerate(paper_epsilons):
        if i < len(full_batch_sigmas):
            sigma = full_batch_sigmas[i]
            inverse.append({"paper_epsilon": eps, "question": "full-batch steps giving the paper's ε",
                            "given": f"σ = {sigma:g}, q = 1",
                            "answer": steps_for_epsilon(target_epsilon=eps, noise_multiplier=sigma,
                                                        sample_rate=1.0, delta=delta)})
            inverse.append({"paper_epsilon": eps, "question": "σ giving the paper's ε, full batch",
                            "given": f"q = 1, T = {epochs * rounds:,}",
                            "answer": calibrate_noise_multiplier(
                                target_epsilon=eps, delta=delta, sample_rate=1.0,
                                steps=epochs * rounds)})
        if i < len(sampled_sigmas):
            steps = int(round(epochs * rounds / sample_rate))
            sigma = sampled_sigmas[i]
            inverse.append({"paper_epsilon": eps,
                            "question": f"steps giving the paper's ε, q={sample_rate:g}",
                            "given": f"σ = {sigma:g}, q = {sample_rate:g}",
                            "answer": steps_for_epsilon(target_epsilon=eps, noise_multiplier=sigma,
                                                        sample_rate=sample_rate, delta=delta)})
            inverse.append({"paper_epsilon": eps, "question": f"σ giving the paper's ε, q={sample_rate:g}",
                            "given": f"q = {sample_rate:g}, T = {steps:,}",
                            "answer": calibrate_noise_multiplier(
                                target_epsilon=eps, delta=delta, sample_rate=sample_rate,
                                steps=steps)})
    return EpsilonAudit(pd.DataFrame(rows), pd.DataFrame(inverse), delta)
