"""Membership-inference statistics against scipy and hand computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from securetune.checks.stats import bootstrap_auc_ci, nonmembers_needed, roc_auc, tpr_at_fpr

MEMBERS = np.array([0.9, 0.8, 0.8, 0.4, 0.35])
NONMEMBERS = np.array([0.8, 0.5, 0.3, 0.2])


def test_auc_is_the_mann_whitney_statistic_over_n1_n0() -> None:
    u = mannwhitneyu(MEMBERS, NONMEMBERS, alternative="two-sided").statistic
    assert roc_auc(MEMBERS, NONMEMBERS) == pytest.approx(u / (5 * 4))
    # by hand: pairs won 0.9:4, 0.8:3+0.5 tie, 0.8:3.5, 0.4:2, 0.35:2 -> 15/20
    assert roc_auc(MEMBERS, NONMEMBERS) == 0.75


def test_auc_extremes() -> None:
    assert roc_auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert roc_auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert roc_auc(np.array([1.0, 1.0]), np.array([1.0])) == 0.5


def test_bootstrap_interval_matches_a_plain_loop_over_the_same_resamples() -> None:
    lo, hi = bootstrap_auc_ci(MEMBERS, NONMEMBERS, rounds=500, seed=3)
    rng = np.random.default_rng(3)
    mi = rng.integers(0, 5, size=(500, 5))
    ni = rng.integers(0, 4, size=(500, 4))
    aucs = [
        np.mean([(a > b) + 0.5 * (a == b) for a in MEMBERS[m] for b in NONMEMBERS[n]])
        for m, n in zip(mi, ni, strict=True)
    ]
    assert (lo, hi) == pytest.approx(tuple(np.quantile(aucs, [0.025, 0.975])))
    assert lo < 0.75 < hi


def test_a_perfect_separation_has_a_degenerate_interval() -> None:
    assert bootstrap_auc_ci(np.array([5.0, 6.0, 7.0]), np.array([1.0, 2.0]), rounds=100) == (
        1.0,
        1.0,
    )


def test_tpr_at_fpr_by_hand() -> None:
    nonmembers = np.arange(100, dtype=float)  # 0..99
    members = np.array([98.5, 99.5, 100.0, 50.0])
    # 1% of 100 non-members may pass: the threshold is the 2nd highest (98); 98.5, 99.5, 100 pass
    r = tpr_at_fpr(members, nonmembers, 0.01)
    assert (r.threshold, r.false_positives, r.tpr) == (98.0, 1, 0.75)
    assert not r.certified and r.nonmembers_needed == 299
    # with fewer than 1/fpr non-members no false positive is allowed: above the max only
    r = tpr_at_fpr(members, nonmembers, 0.001)
    assert (r.threshold, r.false_positives, r.tpr) == (99.0, 0, 0.5)


def test_non_members_needed_to_certify_a_false_positive_rate() -> None:
    assert nonmembers_needed(0.01) == 299
    assert nonmembers_needed(0.001) == 2995
    n = nonmembers_needed(0.01)
    assert 1 - 0.05 ** (1 / n) <= 0.01 < 1 - 0.05 ** (1 / (n - 1))
