"""A workspace with a scrubbed dataset and one finished DP run, trained once per module."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from securetune.cli.main import cli
from tests.conftest import MARKER, write_jsonl
from tests.train.conftest import FAST_ARGS

FAST = [*FAST_ARGS, "--accountant", "rdp", "--epochs", "1"]


def _notes(n: int = 40) -> list[dict[str, Any]]:
    # Each note carries the marker (not PII to the scrubber, so it reaches training) and a
    # planted name and phone number that scrub must remove: none may appear in any report.
    return [
        {
            "id": i,
            "patient_id": f"p{i % 20}",
            "text": f"{MARKER} seen by Dr. Okafor, call 617-555-01{i:02d}, reports fever for {i % 4 + 1} days.",
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def _trained_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A workspace with a scrubbed dataset and one finished DP run, built once through the CLI."""
    base = tmp_path_factory.mktemp("trained")
    env = {
        "SECURETUNE_WORKSPACE": str(base / "ws"),
        "SECURETUNE_WITNESS_DIR": str(base / "witness"),
    }
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    src = write_jsonl(base / "notes.jsonl", _notes())
    assert run("init").exit_code == 0
    result = run(
        "scrub",
        str(src),
        "--policy",
        "hipaa-safe-harbor",
        "--name",
        "notes",
        "--id-field",
        "id",
        "--subject-field",
        "patient_id",
    )
    assert result.exit_code == 0, result.stderr
    result = run("train", "--data", "notes", "--epsilon", "8", "--json", *FAST)
    assert result.exit_code == 0, result.stderr
    return base, json.loads(result.stdout)


@pytest.fixture
def trained(_trained_once: tuple[Path, dict[str, Any]], tmp_path: Path) -> dict[str, Any]:
    """A private copy of the trained workspace (and its witness) for each test to read or damage."""
    base, result = _trained_once
    shutil.copytree(base / "ws", tmp_path / "ws", symlinks=True)
    shutil.copytree(base / "witness", tmp_path / "witness", symlinks=True)
    return result


def record_check(tmp_path: Path, run_id: str, *, passed: bool) -> None:
    """Append a `check` event as `securetune check` writes it (gates and numbers, no text)."""
    from securetune.workspace import Secrets, Workspace

    ws = Workspace.open(
        tmp_path / "ws", secrets=Secrets(environ={}), witness_dir=tmp_path / "witness"
    )
    with ws.locked():
        ws.record(
            "check",
            {
                "run_id": run_id,
                "mia_auc": 0.51,
                "epsilon_lower_bound": 0.0,
                "gates": {
                    "mia_auc_max": {
                        "passed": passed,
                        "value": 0.51 if passed else 0.93,
                        "limit": 0.6,
                    }
                },
            },
        )
