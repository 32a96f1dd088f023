"""Start-up is a feature: the CLI's entry point and its light commands never import the
heavy stages (torch, transformers, Presidio, spaCy). Timings live in bench/cli_startup.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers", "presidio_analyzer", "spacy", "opacus", "peft")

PROBE = """
import json, sys
from securetune.cli.main import cli
args = json.loads(sys.argv[1])
if args:
    try:
        cli(args, prog_name="securetune")
    except SystemExit as exit:
        assert not exit.code, exit.code
print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)), file=sys.stderr)
"""


def heavy_modules_loaded(
    args: list[str], tmp_path: Path, modules: tuple[str, ...] = HEAVY
) -> list[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "SECURETUNE_WORKSPACE": str(tmp_path / "ws"),
        "SECURETUNE_WITNESS_DIR": str(tmp_path / "witness"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE.replace("{heavy}", repr(modules)), json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_stage(tmp_path: Path) -> None:
    assert heavy_modules_loaded([], tmp_path) == []


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], ["data", "ls"], ["audit", "verify"], ["data", "--help"]]
)
def test_light_commands_import_no_heavy_stage(args: list[str], run, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    assert heavy_modules_loaded(args, tmp_path) == []


def test_every_listed_command_loads_and_unknown_ones_are_refused(run) -> None:
    listing = run("--help").stdout
    for name in ("audit", "data", "init", "keys", "plan", "scrub", "train"):
        assert f"\n  {name} " in listing, name
    unknown = run("nosuch")
    assert unknown.exit_code == 2 and "No such command 'nosuch'" in unknown.stderr


def test_the_command_listing_opens_no_workspace_machinery(tmp_path: Path) -> None:
    # --help imports every command module for its options; none may pull in the workspace,
    # the ledger or a stage (0.7 s of imports when cli/check.py read its check names there).
    light = ("securetune.workspace", "securetune.checks.runner", "securetune.evaluation")
    assert heavy_modules_loaded(["--help"], tmp_path, light) == []
