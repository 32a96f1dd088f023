"""The compliance report shows the run's last `eval` as a Utility section."""

from __future__ import annotations

import pytest

from securetune import report as reporting
from securetune.evaluation.runner import EvalOptions, evaluate_run
from securetune.report.output import _num
from tests.conftest import MARKER


def test_the_report_shows_base_adapter_baseline_and_forgetting(runs) -> None:  # type: ignore[no-untyped-def]
    result = evaluate_run(runs.ws, runs.dp, EvalOptions(bootstrap=100))
    built = reporting.build(runs.ws, runs.dp)
    u = built.doc["utility"]
    assert u["ran"] is True and u["eval_id"] == result["eval_id"]
    assert u["heldout"] == result["heldout"] and u["forgetting"] == result["forgetting"]
    assert u["baseline_run_id"] == runs.nodp
    html = reporting.render(built, "html").decode()
    section = html[html.index('<section id="utility">') :]
    section = section[: section.index("</section>")]
    for name in ("base", "adapter", "baseline"):
        assert _num(result["heldout"][name]["perplexity"]) in section
        assert _num(result["forgetting"][name]["perplexity"]) in section
    assert "the cost of privacy" in section and "Not run" not in section
    assert MARKER not in html


def test_a_run_never_evaluated_says_so(runs) -> None:  # type: ignore[no-untyped-def]
    doc = reporting.build(runs.ws, runs.nodp).doc
    if doc["utility"]["ran"]:  # another test evaluated it first: the section then reports it
        pytest.skip("the non-private run was evaluated by an earlier test")
    assert doc["utility"] == {
        "ran": False,
        "note": "`securetune eval` has not been run on this adapter.",
    }
