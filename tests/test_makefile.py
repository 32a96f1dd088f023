"""The Makefile's promises that can be checked without installing anything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_removes_the_demos_plaintext_export_findings_and_witness(tmp_path: Path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    leftovers = [
        "demo-workspace/keys/keyring.json",
        "demo-workspace.export.jsonl",
        "demo-workspace.findings.jsonl",
        "demo-workspace.witness/w.json",
    ]
    for name in leftovers:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "keep.jsonl").write_text("mine")
    subprocess.run(["make", "-s", "clean", "VENV=.venv-none"], cwd=tmp_path, check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Makefile", "keep.jsonl"]


def test_torch_is_a_range_in_the_package_and_pinned_before_the_package_install() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"torch>=2.2,<3"' in pyproject and "torch==" not in pyproject
    makefile = (ROOT / "Makefile").read_text()
    assert "TORCH_SPEC  ?= torch==2.13.0" in makefile
    assert makefile.index("'$(TORCH_SPEC)'") < makefile.index("-e '.[dev]'")
