"""Exposure (The Secret Sharer) by rank and by skew-normal extrapolation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, skewnorm

from securetune.checks.exposure import exposure

LOG2_R = math.log2(10**9)


def test_rank_inside_the_sample_gives_log2_of_n_plus_1_over_rank() -> None:
    refs = np.arange(10, dtype=float)  # log-perplexities 0..9
    e = exposure(2.5, refs, log2_space=LOG2_R)
    assert e.below == 3 and not e.extrapolated
    assert e.exposure == e.exposure_rank == pytest.approx(math.log2(11 / 4))


def test_the_worst_canary_has_zero_exposure() -> None:
    e = exposure(100.0, np.arange(10, dtype=float), log2_space=LOG2_R)
    assert e.exposure == 0.0


def test_beyond_the_sample_the_skew_normal_fit_extrapolates() -> None:
    refs = norm.rvs(loc=40, scale=4, size=20_000, random_state=np.random.default_rng(1))
    e = exposure(40 - 5 * 4, refs, log2_space=LOG2_R)  # five standard deviations better
    assert e.extrapolated and e.below == 0
    a, loc, scale = skewnorm.fit(refs)
    assert e.exposure_fit == pytest.approx(
        -skewnorm.logcdf(20, a, loc=loc, scale=scale) / math.log(2)
    )
    # a normal sample: close to -log2 Phi(-5) = 21.9 bits, beyond log2(20,001) = 14.3
    assert e.exposure == pytest.approx(-norm.logcdf(-5) / math.log(2), abs=1.0)
    assert e.exposure_rank == pytest.approx(math.log2(20_001))


def test_exposure_is_capped_at_log2_of_the_space() -> None:
    refs = norm.rvs(loc=40, scale=4, size=2_000, random_state=np.random.default_rng(1))
    assert exposure(0.0, refs, log2_space=LOG2_R).exposure == LOG2_R


def test_extrapolation_never_lowers_what_the_sample_shows() -> None:
    refs = np.linspace(10, 20, 1000)
    e = exposure(9.99, refs, log2_space=LOG2_R)
    assert e.exposure >= e.exposure_rank == pytest.approx(math.log2(1001))
