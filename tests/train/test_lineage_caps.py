"""Data derived from capped data keeps the caps: an export of HIPAA-scrubbed notes, scrubbed
again under a lax workspace policy, is still trained under the stricter of the two."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from securetune.policy import builtin_dirs
from tests.conftest import write_jsonl

pytestmark = __import__("pytest").mark.filterwarnings("error:A test tried to use socket")


def test_a_rescrubbed_export_keeps_its_sources_caps(run, tmp_path: Path) -> None:
    notes = [
        {"id": i, "patient_id": f"p{i % 20}", "text": f"Seen on day {i} for cough."}
        for i in range(40)
    ]
    src = write_jsonl(tmp_path / "notes.jsonl", notes)
    assert run("init").exit_code == 0
    doc = yaml.safe_load((builtin_dirs()[0] / "hipaa-safe-harbor.yaml").read_text())
    doc["name"] = "lax"
    doc["training"].update(allow_no_dp=True, max_epsilon=1000, lifetime_epsilon=None)
    (tmp_path / "ws" / "policies").mkdir()
    (tmp_path / "ws" / "policies" / "lax.yaml").write_text(yaml.safe_dump(doc))
    scrub = ["--id-field", "id", "--subject-field", "patient_id"]
    assert (
        run("scrub", str(src), "--policy", "hipaa-safe-harbor", "--name", "clean", *scrub).exit_code
        == 0
    )
    export = tmp_path / "clean.jsonl"
    assert run("data", "export", "clean", "--out", str(export)).exit_code == 0
    result = run("scrub", str(export), "--policy", "lax", "--name", "copy", *scrub)
    assert result.exit_code == 0, result.stderr
    shown = json.loads(run("data", "show", "copy", "--json").stdout)
    assert "hipaa-safe-harbor" in json.dumps(shown)  # the lineage names its source's policy

    plan = run("plan", "--data", "copy", "--model", "tiny", "--no-dp")
    assert plan.exit_code == 1 and "hipaa-safe-harbor" in plan.stderr and "--no-dp" in plan.stderr
    plan = run("plan", "--data", "copy", "--model", "tiny", "--epsilon", "500")
    assert plan.exit_code == 1 and "hipaa-safe-harbor" in plan.stderr
