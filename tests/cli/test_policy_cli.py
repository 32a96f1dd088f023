"""`securetune policy ls|show|validate`: policies are inspectable and a bad one is one line."""

from __future__ import annotations

import json
from pathlib import Path


def test_ls_lists_the_built_in_policies_with_their_hashes(run) -> None:
    result = run("policy", "ls", "--json")
    assert result.exit_code == 0, result.stderr
    names = {p["name"]: p for p in json.loads(result.stdout)["policies"]}
    assert {"hipaa-safe-harbor", "gdpr-pseudonymisation"} <= set(names)
    shown = json.loads(run("policy", "show", "hipaa-safe-harbor").stdout)
    assert shown["sha256"] == names["hipaa-safe-harbor"]["sha256"]
    assert shown["training"]["allow_no_dp"] is False


def test_a_workspace_policy_is_found_by_name(run, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    (tmp_path / "ws" / "policies").mkdir()
    (tmp_path / "ws" / "policies" / "ward-7.yaml").write_text(
        "version: 1\nname: ward-7\ndescription: local rules\ndetection: {entities: [PERSON]}\n"
    )
    result = run("policy", "show", "ward-7")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["detection"]["entities"] == ["PERSON"]


def test_validate_names_the_bad_key_in_one_line(run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nname: bad\ndetection: {entities: [PERSON]}\ntraining: {max_epsilon: -1}\n"
    )
    result = run("policy", "validate", str(bad))
    assert result.exit_code == 1
    assert (
        result.stderr
        == "error: policy bad.yaml: training.max_epsilon: Input should be greater than 0\n"
    )
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\nname: good\ndetection: {entities: [PERSON]}\n")
    result = run("policy", "validate", str(good), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["valid"] is True
