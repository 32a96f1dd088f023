"""Policy gates over a check's numbers: pass, fail, or "not measured" (never a silent pass)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from securetune.policy import ChecksPolicy, Policy


@dataclass(frozen=True)
class Gate:
    name: str
    value: Any
    limit: Any
    passed: bool | None  # None: not measured (the check was skipped or --only left it out)
    note: str = ""


def rules_for(policy: Policy | None) -> tuple[ChecksPolicy, str]:
    if policy is not None and policy.checks is not None:
        return policy.checks, f"policy {policy.name}"
    return ChecksPolicy(), "the default check gates"


def _at_most(name: str, value: Any, limit: Any) -> Gate | None:
    if limit is None:
        return None
    if value is None:
        return Gate(name, None, limit, None, "not measured")
    return Gate(name, value, limit, value <= limit)


def _mia_gate(result: dict[str, Any], limit: float | None) -> Gate | None:
    """Three outcomes, because a held-out set of a few units cannot tell 0.75 from 0.5.

    Pass: the strongest attack's AUC is within the limit. Fail: even the low end of its
    interval (widened for having picked the strongest of four attacks) is above the limit,
    so the excess is not sampling noise. Otherwise the check could not decide, which is
    reported as not measured (a report then reads "incomplete", never "passed")."""
    value, interval = result.get("mia_auc"), result.get("mia_auc_ci_adjusted")
    gate = _at_most("mia_auc", value, limit)
    if gate is None or gate.passed is not False or interval is None:
        return gate
    low, high = interval
    if low > limit:  # type: ignore[operator]
        return Gate("mia_auc", value, limit, False, f"adjusted interval [{low}, {high}]")
    return Gate(
        "mia_auc",
        value,
        limit,
        None,
        f"inconclusive: the adjusted interval [{low}, {high}] includes the limit; "
        "hold out more units (--validation-fraction) to decide",
    )


def apply_gates(result: dict[str, Any], rules: ChecksPolicy, *, run: Any) -> list[Gate]:
    gates = [
        _mia_gate(result, rules.mia_auc_max),
        _at_most(
            "canaries_extracted", result.get("canaries_extracted"), rules.canaries_extracted_max
        ),
        _at_most("pii_regurgitated", result.get("pii_regurgitated"), rules.pii_regurgitated_max),
        _at_most("exposure_max_included", result.get("exposure_max_included"), rules.exposure_max),
        _at_most("extraction_rate", result.get("extraction_rate"), rules.extraction_rate_max),
    ]
    if rules.epsilon_lb_within_epsilon:
        lb, eps = result.get("epsilon_lower_bound"), result.get("epsilon_compared")
        if not run.dp:
            gates.append(
                Gate(
                    "epsilon_lower_bound", lb, None, None, "non-private run: no epsilon to compare"
                )
            )
        elif lb is None or eps is None:
            gates.append(Gate("epsilon_lower_bound", lb, eps, None, "not measured"))
        else:
            ok = lb <= eps
            note = (
                ""
                if ok
                else (
                    "BUG: the measured lower bound exceeds the accountant's epsilon; the DP "
                    "mechanism or its accounting is broken"
                )
            )
            gates.append(Gate("epsilon_lower_bound", lb, eps, ok, note))
    return [g for g in gates if g is not None]
