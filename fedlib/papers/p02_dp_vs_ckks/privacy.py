"""Chapter 2's privacy: what the server can read, CKKS's security level, the DP audit, attacks.

Serves the chapter's (``chapters/02_dp_vs_ckks.py``) sections "Experiment 2 … and what the
server can read" (a colluding server recovers a client's update), the CKKS security level
(the paper's Table 5), "Privacy-claims audit" (the paper's ε per σ, recomputed) and "Beyond
the paper: what an attacker learns" (membership inference and gradient inversion per mode).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from fedlib.book.glue import glue
from fedlib.crypto.ckks import CKKSKeyHolder
from fedlib.fl.models import predict_proba
from fedlib.papers.p02_dp_vs_ckks.claims import HE_STANDARD_MAX_BITS, ckks_security_level
from fedlib.papers.p02_dp_vs_ckks.experiment import WholeFederation
from fedlib.papers.p02_dp_vs_ckks.training import final_model, glue_values
from fedlib.privacy.attacks import (
    attack_update_payload,
    inversion_error_vs_noise,
    logistic_gradient,
    membership_inference,
)
from fedlib.privacy.audit import audit_paper_epsilons

__all__ = [
    "audit_privacy_claims",
    "ckks_security",
    "Collusion",
    "collusion_attack",
    "gradient_inversion",
    "inversion_table",
    "last_update",
    "membership_attack",
    "membership_table",
]


def membership_table(fed_data, first: Mapping, modes: Sequence[str],
                     dp_epsilon: Mapping[str, float], *, max_rows: int,
                     seed: int) -> pd.DataFrame:
    """Loss-threshold membership inference on each mode's final model (paper setting).

    Parameters
    ----------
    fed_data : HorizontalData
        Members are drawn from the banks' training rows, non-members from the test rows.
    first : mapping
        (setting, label) → run, from :func:`run_seeds`.
    modes : sequence of str
        Mode labels.
    dp_epsilon : mapping
        Label → ε (∞ for the others).
    max_rows : int
        Rows per side.
    seed : int
        Seed of the row draw and of the model shell.

    Returns
    -------
    pandas.DataFrame
        One row per mode: ``mode``, ``epsilon`` and the attack's output (``auc`` …).
    """
    train_X = np.concatenate([d.X for d in fed_data.parties])
    train_y = np.concatenate([d.y for d in fed_data.parties])
    rng = np.random.default_rng(seed)
    k = min(max_rows, len(train_X), len(fed_data.X_test))
    mi = rng.choice(len(train_X), size=k, replace=False)
    ni = rng.choice(len(fed_data.X_test), size=k, replace=False)
    rows = []
    for label in modes:
        m = final_model(first["paper", label], fed_data.n_features, seed)
        out = membership_inference(lambda X, m=m: predict_proba(m, X), train_X[mi], train_y[mi],
                                   fed_data.X_test[ni], fed_data.y_test[ni])
        rows.append({"mode": label, "epsilon": dp_epsilon.get(label, np.inf), **out})
    return pd.DataFrame(rows)


def inversion_table(fed_data, global_params: np.ndarray, ckks, *,
                    noise_multipliers: Sequence[float], clip_norm: float,
                    seed: int) -> tuple[pd.DataFrame, dict]:
    """Gradient inversion of bank 1's first applicant: plaintext, CKKS and DP-SGD updates.

    The gradient of one example's loss at the final standard-FL model is what bank 1 would send
    after a one-example step in gradient-sharing FL.

    Parameters
    ----------
    fed_data : HorizontalData
        The applicant is bank 1's first row.
    global_params : numpy.ndarray
        The final global parameters (weights, then bias).
    ckks : CKKSProtection
        Encrypts the gradient as the HE bank would.
    noise_multipliers : sequence of float
        The σ values of the noised gradients (50 draws each).
    clip_norm : float
        The clipping norm C.
    seed : int
        Seed of the noise draws.

    Returns
    -------
    tuple
        (the table, the attack's result on the plaintext gradient).
    """
    w = global_params
    x0, y0 = fed_data.parties[0].X[0].astype(np.float64), float(fed_data.parties[0].y[0])
    gw, gb = logistic_gradient(x0[None, :], [y0], weight=w[:-1], bias=w[-1])
    gradient = np.r_[gw, gb]
    seen_plain = attack_update_payload(gradient, x_true=x0)
    seen_ckks = attack_update_payload(ckks.protect("bank-1", gradient),
                                      server_context=ckks.public_context, x_true=x0)
    noisy = inversion_error_vs_noise(x0, y0, weight=w[:-1], bias=w[-1],
                                     noise_multipliers=noise_multipliers,
                                     clip_norm=clip_norm, n_trials=50, seed=seed)
    table = pd.DataFrame(
        [{"what the server sees": "plaintext gradient (standard FL)",
          "attack": seen_plain["reason"], "relative error": seen_plain["relative_error"]},
         {"what the server sees": "CKKS ciphertext (HE-FL)",
          "attack": seen_ckks["reason"], "relative error": np.nan}]
        + [{"what the server sees": f"clipped + noised gradient, sigma={s:g}",
            "attack": "ratio attack, median of 50 noise draws", "relative error": e}
           for s, e in noisy.groupby("noise_multiplier").relative_error.median().items()])
    return table, seen_plain


def last_update(run, sender: str, rounds: int):
    """The payload ``sender`` sent the server in the run's last round (from its transcript)."""
    return next(m.payload for m in run.federation.transcript.received_by("server")
                if m.round == rounds and m.label == "model_update" and m.sender == sender)


class Collusion(NamedTuple):
    """The collusion attack: what the server saw and decrypted, and the relative error."""

    table: pd.DataFrame
    relative_error: float


def collusion_attack(params, fed_data, first: Mapping, ckks) -> Collusion:
    """A server colluding with bank 1 decrypts bank 2's update (one CKKS key for all banks).

    The server takes bank 2's last-round ciphertext from the all-HE run's transcript and
    decrypts it with the secret context bank 1 holds; the truth is bank 2's plaintext update in
    the standard run of the same seed (which differs only by CKKS rounding). Glues the relative
    error and the ciphertext's size.

    Returns
    -------
    Collusion
    """
    victim = fed_data.parties[1].name
    ciphertext = last_update(first["paper", "he (ckks)"], victim, params.rounds)
    bank1_key = CKKSKeyHolder.from_secret_context(ckks.key_holder.secret_context(),
                                                  ckks.key_holder.params)
    stolen = bank1_key.decrypt(ciphertext)[: fed_data.n_features + 1]
    truth = np.asarray(last_update(first["paper", "standard"], victim, params.rounds),
                       dtype=float)
    rel = float(np.linalg.norm(stolen - truth) / np.linalg.norm(truth))
    glue_values(collusion_rel=rel, ciphertext_kb=len(ciphertext) / 1e3)
    table = pd.DataFrame({"server's view": [f"bank 2's ciphertext ({len(ciphertext) / 1e3:,.0f} KB)",
                                            "decrypted with bank 1's key", "bank 2's true update"],
                          "first values": [ciphertext[:12].hex() + "…",
                                           np.array2string(stolen[:4], precision=5),
                                           np.array2string(truth[:4], precision=5)]})
    return Collusion(table, rel)


def ckks_security(params) -> dict:
    """The security level of the paper's CKKS parameters (HomomorphicEncryption.org standard).

    Glues N, the modulus bits, the standard's maximum bits for 128- and 192-bit classical
    security at N, and the resulting classical and quantum levels.

    Returns
    -------
    dict
        :func:`~fedlib.papers.p02_dp_vs_ckks.claims.ckks_security_level` output.
    """
    n = params.ckks_poly_modulus_degree
    security = ckks_security_level(n, params.ckks_coeff_mod_bit_sizes)
    glue_values(ckks_n=n, ckks_bits=security["total_bits"], ckks_max128=security["max_bits_128"],
                ckks_max192=HE_STANDARD_MAX_BITS["classical"][192][n],
                ckks_level=security["classical"], ckks_level_q=security["quantum"])
    return security


def audit_privacy_claims(params, results):
    """Four accountants on the paper's two descriptions of its DP setting (ε = 14.13 …).

    :func:`~fedlib.privacy.audit.audit_paper_epsilons`: full batch at the paper's σ values and
    Poisson sampling at ``audit_sample_rate``, ``audit_epochs`` × ``audit_rounds``, δ of the
    chapter. Records every accountant's ε (NaN where it failed; experiment ``privacy_audit``).

    Returns
    -------
    PaperEpsilonAudit
    """
    audit = audit_paper_epsilons(
        paper_epsilons=[14.13, 8.65, 5.74],
        full_batch_sigmas=params.audit_full_batch_noise_multipliers,
        sampled_sigmas=params.audit_noise_multipliers, sample_rate=params.audit_sample_rate,
        epochs=params.audit_epochs, rounds=params.audit_rounds, delta=params.delta)
    res = audit.results
    results.add_metrics(pd.DataFrame({"mode": res.setting,
                                      "setting": [f"sigma={s:g}" for s in res.sigma],
                                      "metric": "epsilon_" + res.method,
                                      "value": res.epsilon.where(res.ok)}),
                        experiment="privacy_audit", party="per client", round=None)
    return audit


def membership_attack(params, results, fed_data, whole: WholeFederation,
                      modes: Sequence[str]) -> pd.DataFrame:
    """Loss-threshold membership inference on every mode's final model, paper setting.

    :func:`membership_table` with ``mia_max_rows`` members (the banks' training rows) and as
    many non-members (test rows). Records each mode's attack AUC (experiment ``attacks``).

    Returns
    -------
    pandas.DataFrame
        One row per mode: its ε and the attack's AUC and advantage.
    """
    runs = whole.runs
    mia = membership_table(fed_data, runs.first, list(modes), runs.dp_epsilon,
                           max_rows=params.mia_max_rows, seed=params.seed)
    results.add_metrics(mia[["mode", "auc"]].rename(columns={"auc": "value"}),
                        experiment="attacks", setting="loss threshold", party="all",
                        round=params.rounds, metric="mia_auc")
    return mia


def gradient_inversion(params, fed_data, whole: WholeFederation, ckks) -> pd.DataFrame:
    """Gradient inversion of one applicant of bank 1 under each mode (:func:`inversion_table`).

    The gradient of its loss at the final standard-FL model is what bank 1 would send after a
    one-example step in gradient-sharing FL; ``x = ∇_w / ∇_b`` recovers it in the clear, CKKS
    leaves nothing to divide, the clipped noisy gradient of eq-02-dpsgd buries it. Glues
    the plaintext reconstruction error.
    """
    table, seen_plain = inversion_table(
        fed_data, whole.runs.first["paper", "standard"].federation.global_params, ckks,
        noise_multipliers=params.noise_multipliers, clip_norm=params.clip_norm,
        seed=params.seed)
    glue("inversion_plain_error", float(seen_plain["relative_error"]), display=False)
    return table
