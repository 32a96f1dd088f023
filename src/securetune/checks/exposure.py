"""Exposure of a canary (Carlini, Liu, Erlingsson, Kos and Song 2019, "The Secret Sharer").

exposure = log2|R| - log2 rank, where rank is the canary's position among all secrets of the
randomness space R ordered by the model's log-perplexity (lower = more likely). R (10^9
secrets) cannot be enumerated, so the rank is estimated from n references drawn uniformly
from R: with ``below`` references at or under the canary's log-perplexity, the canary's rank
in R is about (below + 1) |R| / (n + 1), so

    exposure_rank = log2((n + 1) / (below + 1)),

which cannot exceed log2(n + 1) (about 13.3 bits for 10,000 references). When the canary
beats every reference the sample says no more, and the paper's extrapolation applies: fit a
skew-normal distribution to the references' log-perplexities (scipy) and take

    exposure_fit = -log2 F(canary's log-perplexity),

F the fitted CDF. The reported exposure is exposure_rank when the canary ranks inside the
sample, and max(exposure_rank, exposure_fit) beyond it, capped at log2|R|.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import skewnorm


@dataclass(frozen=True)
class Exposure:
    exposure: float
    exposure_rank: float
    exposure_fit: float
    below: int  # references at or under the canary's log-perplexity
    references: int
    extrapolated: bool


def exposure(canary: float, references: np.ndarray, *, log2_space: float) -> Exposure:
    refs = np.asarray(references, float)
    below = int(np.sum(refs <= canary))
    by_rank = math.log2((refs.size + 1) / (below + 1))
    a, loc, scale = skewnorm.fit(refs)
    log_cdf = float(skewnorm.logcdf(canary, a, loc=loc, scale=scale))
    by_fit = min(log2_space, max(0.0, -log_cdf / math.log(2)))
    beyond = below == 0
    value = max(by_rank, by_fit) if beyond else by_rank
    return Exposure(
        exposure=min(value, log2_space),
        exposure_rank=by_rank,
        exposure_fit=by_fit,
        below=below,
        references=int(refs.size),
        extrapolated=beyond,
    )
