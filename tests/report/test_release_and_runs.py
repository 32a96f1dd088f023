"""`runs ls|show` describe runs without record text; `release` gets an adapter out only when
every control of its policy passed, ledgered before the files appear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from securetune.audit.ledger import Ledger
from tests.conftest import MARKER
from tests.report.conftest import record_check

pytestmark = pytest.mark.filterwarnings("error:A test tried to use socket")


def test_runs_ls_and_show_name_the_run_its_budget_and_controls(run, trained) -> None:
    listing = run("runs", "ls", "--json")
    assert listing.exit_code == 0, listing.stderr
    [row] = json.loads(listing.stdout)["runs"]
    assert (row["run_id"], row["dataset"], row["status"], row["checked"]) == (
        trained["run_id"],
        "notes",
        "finished",
        False,
    )
    assert row["epsilon"] == trained["epsilon_spent"]

    shown = run("runs", "show", trained["run_id"])
    assert shown.exit_code == 0, shown.stderr
    assert f"epsilon {trained['epsilon_spent']:.3g}" in shown.stdout
    assert "[not run] memorization-check" in shown.stdout
    assert MARKER not in shown.stdout + listing.stdout


def test_release_is_refused_until_a_check_passed(run, trained, tmp_path: Path) -> None:
    out = tmp_path / "adapter-out"
    result = run("release", trained["run_id"], "--out", str(out))
    assert result.exit_code == 3
    assert (
        result.stderr
        == "error: release refused: control 'memorization-check' not run: no check of the finished adapter recorded for this run\n"
    )
    record_check(tmp_path, trained["run_id"], passed=False)
    result = run("release", trained["run_id"], "--out", str(out))
    assert result.exit_code == 3
    assert "control 'gate-mia_auc_max' failed: 0.93" in result.stderr
    assert not out.exists()
    assert not [
        e for e in Ledger.open(tmp_path / "ws" / "ledger").entries() if e.event == "release"
    ]


def test_a_released_adapter_loads_with_peft_and_the_release_is_ledgered(
    run, trained, tmp_path: Path
) -> None:
    from peft import PeftModel

    from securetune.train.model import load_base_model

    record_check(tmp_path, trained["run_id"], passed=True)
    out = tmp_path / "adapter-out"
    result = run("release", trained["run_id"], "--out", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert sorted(p.name for p in out.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    [entry] = [e for e in Ledger.open(tmp_path / "ws" / "ledger").entries() if e.event == "release"]
    assert entry.seq == doc["ledger_seq"]
    assert entry.payload["adapter_sha256"] == trained["adapter_sha256"]
    assert entry.payload["destination"] == str(out.resolve())

    base = load_base_model("tiny").model
    model = PeftModel.from_pretrained(base, str(out))
    lora = {k: v for k, v in model.state_dict().items() if "lora_B" in k}
    assert lora and any(v.abs().sum() > 0 for v in lora.values())  # trained weights, not zeros

    again = run("release", trained["run_id"], "--out", str(out))
    assert again.exit_code == 1 and "already exists" in again.stderr

    report = json.loads(run("audit", "report", trained["run_id"], "--format", "json").stdout)
    assert [r["seq"] for r in report["identity"]["releases"]] == [entry.seq]


def test_release_never_writes_inside_the_workspace(run, trained, tmp_path: Path) -> None:
    record_check(tmp_path, trained["run_id"], passed=True)
    result = run("release", trained["run_id"], "--out", str(tmp_path / "ws" / "runs" / "x"))
    assert result.exit_code == 1 and "inside" in result.stderr


def test_a_check_signed_only_by_audit_recover_is_not_evidence(run, trained, tmp_path: Path) -> None:
    # Anyone who can write the log file can append a well-formed, hash-chained entry; only
    # `audit recover` would then sign it. Such an entry is shown, never counted.
    Ledger.open(tmp_path / "ws" / "ledger").append(
        "check",
        {
            "run_id": trained["run_id"],
            "gates": [{"name": "mia_auc", "value": 0.5, "limit": 0.6, "passed": True}],
        },
        actor="intruder",
    )
    assert run("audit", "recover").exit_code == 0
    result = run("release", trained["run_id"], "--out", str(tmp_path / "out"))
    assert result.exit_code == 3
    assert "no check of the finished adapter" in result.stderr
    doc = json.loads(run("audit", "report", trained["run_id"], "--format", "json").stdout)
    assert "sealed-late" in {h["id"] for h in doc["hazards"]}  # shown to the reader, flagged
    assert not (tmp_path / "out").exists()


def test_a_workspace_that_disagrees_with_its_ledger_gets_no_report(
    run, trained, tmp_path: Path
) -> None:
    import shutil

    shutil.rmtree(tmp_path / "ws" / "datasets" / "notes")
    result = run("audit", "report", trained["run_id"], "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ledger"]["verified"] is False
    assert doc["ledger"]["error"].startswith("the workspace disagrees with its ledger")
    assert "guarantee" not in doc
