"""The one-run epsilon lower bound (Steinke, Nasr and Jagielski 2023) against an independent
computation with scipy.stats.binom pmf sums, and a closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from securetune.checks.onerun import epsilon_lower_bound, group_privacy, one_run_bound, p_value


def direct_p(eps: float, m: int, r: int, v: int, delta: float) -> float:
    q = math.exp(eps) / (1 + math.exp(eps))
    pmf = [binom.pmf(j, r, q) for j in range(r + 1)]
    beta = sum(pmf[v:])
    alpha = max([sum(pmf[max(0, v - i) : v]) / i for i in range(1, v + 1)], default=0.0)
    return beta + 2 * m * delta * alpha


@pytest.mark.parametrize(
    ("eps", "m", "r", "v", "delta"),
    [
        (0.5, 100, 40, 30, 1e-5),
        (1.0, 1000, 100, 70, 1e-6),
        (2.0, 64, 20, 20, 1e-3),
        (0.0, 10, 10, 5, 0.0),
    ],
)
def test_p_value_matches_a_direct_binomial_sum(
    eps: float, m: int, r: int, v: int, delta: float
) -> None:
    assert p_value(eps, m=m, r=r, v=v, delta=delta) == pytest.approx(
        min(1.0, direct_p(eps, m, r, v, delta)), rel=1e-9, abs=1e-12
    )


def test_all_guesses_right_without_delta_has_a_closed_form() -> None:
    # v = r, delta = 0: p = q^r, so eps_LB = logit(0.05^(1/r)); r = 10 gives 1.0519
    q = 0.05 ** (1 / 10)
    assert epsilon_lower_bound(m=10, r=10, v=10, delta=0.0, significance=0.05) == pytest.approx(
        math.log(q / (1 - q)), abs=1e-5
    )
    assert math.log(q / (1 - q)) == pytest.approx(1.0519, abs=1e-4)


def test_the_bound_is_the_edge_of_rejection() -> None:
    m, r, v, delta = 1000, 200, 150, 1e-5
    eps = epsilon_lower_bound(m=m, r=r, v=v, delta=delta, significance=0.05)
    assert direct_p(eps - 1e-4, m, r, v, delta) < 0.05 <= direct_p(eps + 1e-4, m, r, v, delta)


def test_chance_guessing_certifies_nothing() -> None:
    assert epsilon_lower_bound(m=100, r=100, v=50, delta=1e-5, significance=0.05) == 0.0


def test_perfect_scores_reach_the_certifiable_maximum_and_random_ones_do_not() -> None:
    bits = np.array([i % 2 == 0 for i in range(200)])
    perfect = one_run_bound(bits.astype(float), bits, delta=1e-5)
    assert perfect.epsilon_lower_bound == perfect.epsilon_certifiable_max > 2
    assert perfect.best is not None and perfect.best.correct == perfect.best.guesses == 200
    # Bonferroni over the 6 guess counts: the all-correct r = 200 bound at 0.05/6
    assert perfect.epsilon_certifiable_max == pytest.approx(
        epsilon_lower_bound(m=200, r=200, v=200, delta=1e-5, significance=0.05 / 6), abs=1e-5
    )
    noise = one_run_bound(np.random.default_rng(0).normal(size=200), bits, delta=1e-5)
    assert (
        noise.epsilon_lower_bound < 0.5
        and noise.epsilon_certifiable_max == perfect.epsilon_certifiable_max
    )


def test_group_privacy() -> None:
    assert group_privacy(1.0, 1e-5, 1) == (1.0, 1e-5)
    eps, delta = group_privacy(1.0, 1e-5, 3)
    assert eps == 3.0 and delta == pytest.approx(3 * math.exp(2) * 1e-5)


def test_a_replace_one_run_is_audited_against_its_add_remove_epsilon() -> None:
    from securetune.checks.measures import add_remove_epsilon

    # sigma 0.499, q 1/92, 184 steps, delta 1e-5: 8.425 replace-one, 7.989 add/remove (PLD)
    finish = {
        "neighbours": "replace-one",
        "epsilon_spent": 8.425,
        "noise_multiplier": 0.499,
        "sample_rate": 1 / 92,
        "steps": 184,
    }
    assert add_remove_epsilon(finish, 1e-5) == pytest.approx(7.989, abs=0.01)
    assert add_remove_epsilon({**finish, "neighbours": "add-remove"}, 1e-5) == 8.425
    assert add_remove_epsilon({"epsilon_spent": None}, 1e-5) is None
