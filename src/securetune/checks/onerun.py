"""One-run empirical epsilon lower bound (Steinke, Nasr and Jagielski 2023, "Privacy auditing
with one (1) training run", Theorem 3.1 / Algorithm 2 in its (epsilon, delta) form).

m canaries are each included independently with probability 1/2. The auditor scores them,
guesses "included" for the k+ highest and "excluded" for the k- lowest (r = k+ + k- guesses,
abstaining on the rest) and counts v correct guesses. Under (epsilon, delta)-DP, with
q = e^eps / (1 + e^eps):

    beta  = P[Bin(r, q) >= v]
    alpha = max_{i = 1..v} (1/i) * P[v - i <= Bin(r, q) < v]
    p     = beta + 2 m delta alpha

is a valid p-value for "the mechanism is (eps, delta)-DP". The lower bound is the largest
eps with p < 1 - confidence (p grows with v and shrinks with eps, so bisection finds it).
Trying several guess counts is paid for with a Bonferroni correction: each is tested at
(1 - confidence) / (number tried).

``certifiable_max`` is what *perfect* guessing (v = r) would certify with the same m, r and
delta: a small measured bound next to a small certifiable maximum says "this audit cannot
see far", not "this model is safe".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

EPS_MAX = 100.0


def p_value(epsilon: float, *, m: int, r: int, v: int, delta: float) -> float:
    q = math.exp(epsilon) / (1 + math.exp(epsilon)) if epsilon < 700 else 1.0
    beta = float(binom.sf(v - 1, r, q))  # P[Bin >= v]
    alpha = 0.0
    if v > 0:
        i = np.arange(1, v + 1)
        window = binom.cdf(v - 1, r, q) - binom.cdf(v - i - 1, r, q)  # P[v-i <= Bin < v]
        alpha = float(np.max(window / i))
    return min(1.0, beta + 2 * m * delta * alpha)


def epsilon_lower_bound(
    *, m: int, r: int, v: int, delta: float, significance: float, tol: float = 1e-6
) -> float:
    """Largest eps with p_value(eps) < significance (0 when even eps = 0 is not rejected)."""
    if r == 0 or p_value(0.0, m=m, r=r, v=v, delta=delta) >= significance:
        return 0.0
    lo, hi = 0.0, EPS_MAX
    if p_value(hi, m=m, r=r, v=v, delta=delta) < significance:
        return hi
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if p_value(mid, m=m, r=r, v=v, delta=delta) < significance:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class Guess:
    k_plus: int
    k_minus: int
    correct: int
    epsilon_lb: float
    epsilon_certifiable: float

    @property
    def guesses(self) -> int:
        return self.k_plus + self.k_minus


@dataclass(frozen=True)
class OneRunBound:
    epsilon_lower_bound: float
    epsilon_certifiable_max: float
    best: Guess | None
    guesses: list[Guess]
    canaries: int
    confidence: float
    delta: float


DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
"""Share of canaries guessed (half "in" from the top, half "out" from the bottom)."""


def one_run_bound(
    scores: Sequence[float],
    included: Sequence[bool],
    *,
    delta: float,
    confidence: float = 0.95,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> OneRunBound:
    """Guess from ``scores`` (higher = more likely included) and bound epsilon."""
    s = np.asarray(scores, float)
    bits = np.asarray(included, bool)
    m = int(s.size)
    order = np.argsort(-s, kind="stable")
    settings = sorted({max(1, round(f * m / 2)) for f in fractions if f > 0})
    settings = [k for k in settings if 2 * k <= m]
    significance = (1 - confidence) / max(1, len(settings))
    guesses = []
    for k in settings:
        top, bottom = order[:k], order[m - k :]
        v = int(bits[top].sum() + (~bits[bottom]).sum())
        guesses.append(
            Guess(
                k_plus=k,
                k_minus=k,
                correct=v,
                epsilon_lb=epsilon_lower_bound(
                    m=m, r=2 * k, v=v, delta=delta, significance=significance
                ),
                epsilon_certifiable=epsilon_lower_bound(
                    m=m, r=2 * k, v=2 * k, delta=delta, significance=significance
                ),
            )
        )
    best = max(guesses, key=lambda g: g.epsilon_lb, default=None)
    return OneRunBound(
        epsilon_lower_bound=best.epsilon_lb if best else 0.0,
        epsilon_certifiable_max=max((g.epsilon_certifiable for g in guesses), default=0.0),
        best=best,
        guesses=guesses,
        canaries=m,
        confidence=confidence,
        delta=delta,
    )


def group_privacy(epsilon: float, delta: float, k: int) -> tuple[float, float]:
    """(eps, delta)-DP for one unit gives (k eps, k e^((k-1) eps) delta) for a group of k."""
    return k * epsilon, k * math.exp((k - 1) * epsilon) * delta
