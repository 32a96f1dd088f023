"""Membership-inference statistics: ROC AUC with a bootstrap interval, TPR at a fixed FPR.

Scores follow one convention everywhere: higher means "more likely a member".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def roc_auc(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """P(score of a random member > score of a random non-member), ties counting one half.

    This is the Mann-Whitney U statistic divided by n1*n0, computed from mid-ranks.
    """
    m, n = np.asarray(members, float), np.asarray(nonmembers, float)
    if m.size == 0 or n.size == 0:
        raise ValueError("AUC needs at least one member and one non-member")
    ranks = rankdata(np.concatenate([m, n]))
    u = ranks[: m.size].sum() - m.size * (m.size + 1) / 2
    return float(u / (m.size * n.size))


def bootstrap_auc_ci(
    members: np.ndarray,
    nonmembers: np.ndarray,
    *,
    rounds: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of the AUC over ``rounds`` stratified bootstrap resamples.

    Members and non-members are resampled separately (with replacement, each at its own
    size), so every resample has both classes. The seed is not a secret: the interval is a
    statement about sampling error, and pinning it makes the number reproducible.
    """
    m, n = np.asarray(members, float), np.asarray(nonmembers, float)
    rng = np.random.default_rng(seed)
    mi = rng.integers(0, m.size, size=(rounds, m.size))
    ni = rng.integers(0, n.size, size=(rounds, n.size))
    both = np.concatenate([m[mi], n[ni]], axis=1)
    ranks = rankdata(both, axis=1)
    u = ranks[:, : m.size].sum(axis=1) - m.size * (m.size + 1) / 2
    aucs = u / (m.size * n.size)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(aucs, [tail, 1 - tail])
    return float(lo), float(hi)


def nonmembers_needed(fpr: float, *, confidence: float = 0.95) -> int:
    """Non-members needed before "no false positive seen" certifies FPR <= ``fpr``.

    With zero false positives among n non-members, the one-sided Clopper-Pearson upper
    bound on the FPR is 1 - (1 - confidence)^(1/n); it falls to ``fpr`` at
    n = ln(1 - confidence) / ln(1 - fpr): 299 for 1%, 2995 for 0.1% (the "rule of three").
    """
    return math.ceil(math.log(1 - confidence) / math.log(1 - fpr))


@dataclass(frozen=True)
class TprAtFpr:
    fpr: float
    tpr: float
    threshold: float
    false_positives: int
    nonmembers: int
    nonmembers_needed: int

    @property
    def certified(self) -> bool:
        return self.nonmembers >= self.nonmembers_needed


def tpr_at_fpr(members: np.ndarray, nonmembers: np.ndarray, fpr: float) -> TprAtFpr:
    """Fraction of members scored strictly above the threshold that lets at most
    floor(fpr * n0) non-members through (the highest such threshold from the data)."""
    m, n = np.asarray(members, float), np.sort(np.asarray(nonmembers, float))[::-1]
    allowed = math.floor(fpr * n.size + 1e-9)
    threshold = float(n[allowed]) if allowed < n.size else -math.inf
    return TprAtFpr(
        fpr=fpr,
        tpr=float(np.mean(m > threshold)),
        threshold=threshold,
        false_positives=int(np.sum(n > threshold)),
        nonmembers=int(n.size),
        nonmembers_needed=nonmembers_needed(fpr),
    )
