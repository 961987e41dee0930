"""Chapter 2's ε audit: accountant columns, failures, and the measured RDP disagreement."""

from __future__ import annotations

import math

import pytest

from fedlib.privacy.accountants import PrivacyArgumentError, Segment, run_accountant
from fedlib.privacy.audit import audit_paper_epsilons, explain_rdp_disagreement

DELTA = 1e-5


def test_disagreement_is_decomposed_into_measured_factors():
    # The paper's σ = 1.0, q = 0.2, T = 25,000 setting (≈ 2 s).
    d = explain_rdp_disagreement(noise_multiplier=1.0, sample_rate=0.2, steps=25000,
                                 delta=DELTA)
    assert d.total_factor > 1.5                               # the gap the issue reports
    assert d.conversion_factor == pytest.approx(1.0, abs=1e-12)   # same conversion
    assert d.integer_orders_max_rel_diff < 1e-9                   # same curve at integers
    assert d.dropped_orders and all(a != round(a) for a in d.dropped_orders)
    assert d.fractional_max_ratio > 1.05
    assert (d.conversion_factor * d.dropped_orders_factor * d.fractional_values_factor
            == pytest.approx(d.total_factor, rel=1e-12))
    assert d.opacus == pytest.approx(
        run_accountant([Segment(1.0, 0.2, 25000)], delta=DELTA, method="rdp").epsilon)
    assert d.pld < d.opacus < d.dp_accounting
    assert d.pld_replace_one > d.pld                 # the relation would matter; it is shared
    assert abs(d.pld_coarse - d.pld) < 0.01 * d.pld  # discretisation settled
    text = d.text()
    assert "×1.000" in text and "add/remove-one" in text


def test_explain_rejects_full_batch():
    with pytest.raises(PrivacyArgumentError, match="sample_rate must be < 1"):
        explain_rdp_disagreement(noise_multiplier=1.0, sample_rate=1.0, steps=10, delta=DELTA)


def test_audit_marks_failed_accountants_and_explains():
    a = audit_paper_epsilons(paper_epsilons=[8.65], full_batch_sigmas=[], sampled_sigmas=[1.0],
                             sample_rate=0.2, epochs=1000, rounds=5, delta=DELTA)
    row = a.table.iloc[0]
    assert isinstance(row.epsilon_prv, str) and row.epsilon_prv.startswith("failed: ")
    assert isinstance(row.epsilon_rdp, float) and isinstance(row.epsilon_pld, float)
    assert row.epsilon_pld < row.epsilon_rdp < row.epsilon_dp_accounting
    prv = a.results[a.results.method == "prv"].iloc[0]
    assert not prv.ok and math.isnan(prv.epsilon) and "discretise" in prv.failure
    assert len(a.disagreements) == 1
    assert "Opacus PRV failed" in a.explanation and "fractional orders" in a.explanation
    assert list(a.disagreement_table.columns[:3]) == ["noise_multiplier", "sample_rate", "steps"]


def test_audit_rejects_unknown_methods():
    with pytest.raises(PrivacyArgumentError, match="subset"):
        audit_paper_epsilons(paper_epsilons=[1.0], full_batch_sigmas=[1.0], sampled_sigmas=[],
                             sample_rate=0.2, epochs=1, rounds=1, delta=DELTA,
                             methods=("rdp", "moments"))
