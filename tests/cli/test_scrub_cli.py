"""`securetune scrub` as users meet it."""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import write_jsonl

NOTE = {
    "id": "n1",
    "pid": "77",
    "text": "Pt Lionel Vasquez-Trent seen 03/14/2024, call 617-555-0142.",
}


def test_scrub_json_summary_and_no_pii_on_any_stream(run, tmp_path: Path) -> None:
    run("init")
    path = write_jsonl(tmp_path / "n.jsonl", [NOTE])
    result = run(
        "scrub",
        str(path),
        "--policy",
        "hipaa-safe-harbor",
        "--name",
        "clean",
        "--id-field",
        "id",
        "--subject-field",
        "pid",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["records"] == 1 and summary["records_changed"] == 1
    assert summary["spans_per_type"]["PHONE_NUMBER"] == 1
    assert {"records_per_s", "policy_sha256", "dataset_id"} <= set(summary)
    for value in ("Vasquez", "617-555-0142", "03/14"):
        assert value not in result.stdout and value not in result.stderr
    shown = json.loads(run("data", "show", "clean", "--json").stdout)
    assert shown["scrubbed"] is True and shown["provenance"]["policy"] == "hipaa-safe-harbor"


def test_scrub_bad_inputs_fail_in_one_line(run, tmp_path: Path) -> None:
    run("init")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": \n')
    malformed = run("scrub", str(bad), "--policy", "hipaa-safe-harbor", "--name", "x")
    assert malformed.exit_code == 1 and malformed.stderr.count("\n") == 1
    assert "bad.jsonl: line 2: not valid JSON" in malformed.stderr
    unknown = run("scrub", str(bad), "--policy", "nope", "--name", "x")
    assert unknown.exit_code == 1 and "unknown policy 'nope'" in unknown.stderr
    missing = run(
        "scrub", str(tmp_path / "absent.jsonl"), "--policy", "hipaa-safe-harbor", "--name", "x"
    )
    assert missing.exit_code == 1 and "no such file or directory" in missing.stderr
    assert json.loads(run("data", "ls", "--json").stdout) == {"datasets": []}


def test_scrub_of_empty_input_warns_and_succeeds(run, tmp_path: Path) -> None:
    run("init")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run("scrub", str(empty), "--policy", "hipaa-safe-harbor", "--name", "e")
    assert result.exit_code == 0 and "held no records" in result.stderr
