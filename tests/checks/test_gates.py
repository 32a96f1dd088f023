"""The membership-inference gate has three outcomes: within the limit, clearly above it, and
undecided, because a handful of held-out units cannot tell an AUC of 0.75 from chance."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from securetune.checks.gates import apply_gates
from securetune.policy import ChecksPolicy

RULES = ChecksPolicy(mia_auc_max=0.6, epsilon_lb_within_epsilon=False)
DP_RUN = SimpleNamespace(dp=True)


def mia_gate(auc: float, adjusted: list[float] | None) -> dict[str, object]:
    result = {"mia_auc": auc, "mia_auc_ci_adjusted": adjusted}
    (gate,) = [g for g in apply_gates(result, RULES, run=DP_RUN) if g.name == "mia_auc"]
    return {"passed": gate.passed, "note": gate.note}


def test_an_auc_within_the_limit_passes() -> None:
    assert mia_gate(0.58, [0.41, 0.74]) == {"passed": True, "note": ""}


def test_an_auc_whose_whole_adjusted_interval_is_above_the_limit_fails() -> None:
    assert mia_gate(0.93, [0.81, 1.0]) == {
        "passed": False,
        "note": "adjusted interval [0.81, 1.0]",
    }


def test_an_auc_above_the_limit_on_too_few_units_to_tell_is_undecided_not_passed() -> None:
    gate = mia_gate(0.76, [0.42, 1.0])
    assert gate["passed"] is None
    assert gate["note"] == (
        "inconclusive: the adjusted interval [0.42, 1.0] includes the limit; "
        "hold out more units (--validation-fraction) to decide"
    )


def test_without_an_interval_the_point_estimate_decides() -> None:
    assert mia_gate(0.7, None)["passed"] is False


@pytest.mark.parametrize(("auc", "expected"), [(0.6, True), (0.61, None)])
def test_the_limit_itself_passes(auc: float, expected: bool | None) -> None:
    assert mia_gate(auc, [0.5, 0.9])["passed"] is expected
