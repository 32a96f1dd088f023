"""Paths the user chooses for plaintext (`data export -o`) and findings (`scrub --findings`):
a regular file or nothing, outside the workspace and the witness, never through a link, never
replaced without --force, and the format the suffix names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from securetune import datastore
from securetune.audit.ledger import Ledger
from securetune.errors import InputError
from securetune.fsutil import atomic_writer, check_output_path
from securetune.workspace import Workspace

from .conftest import MARKER


@pytest.fixture
def added(ws: Workspace, notes: Path) -> Workspace:
    with ws.locked():
        datastore.add_dataset(ws, notes, "notes")
    return ws


def export(ws: Workspace, out: Path, **kw) -> datastore.ExportResult:
    with ws.locked():
        return datastore.export_dataset(ws, "notes", out, **kw)


def snapshot(*roots: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


def exports_ledgered(ws: Workspace) -> int:
    return sum(e.event == "data.export" for e in Ledger.open(ws.ledger_dir).entries())


@pytest.mark.parametrize(
    "inside",
    [
        "keys/keyring.json",
        "keys/kek.key",
        "ledger/log.jsonl",
        "ledger/checkpoint",
        "securetune.yaml",
        "datasets/notes/manifest.json",
        "datasets/plain.jsonl",  # a new file: plaintext must not land inside the store
        "runs/x.jsonl",
    ],
)
def test_an_export_into_the_workspace_is_refused_and_nothing_changes(
    added: Workspace, inside: str
) -> None:
    before = snapshot(added.root, added.witness_dir)
    with pytest.raises(
        InputError, match=r"^refusing to write .*: it is inside .*, which securetune protects"
    ):
        export(added, added.root / inside, force=True)
    assert snapshot(added.root, added.witness_dir) == before


def test_the_witness_directory_is_protected_too(added: Workspace) -> None:
    witness_file = next(added.witness_dir.iterdir())
    with pytest.raises(InputError, match="which securetune protects"):
        export(added, witness_file, force=True)


def test_the_workspace_is_recognised_through_links_and_dotdot(added: Workspace, tmp_path: Path):
    alias = tmp_path / "alias"
    alias.symlink_to(added.root)
    for sneaky in (
        alias / "keys" / "keyring.json",
        tmp_path / "x" / ".." / "ws" / "securetune.yaml",
    ):
        (tmp_path / "x").mkdir(exist_ok=True)
        with pytest.raises(InputError, match="which securetune protects"):
            export(added, sneaky, force=True)


def test_a_symlink_is_never_written_through(added: Workspace, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "out.jsonl"
    link.symlink_to(victim)
    with pytest.raises(
        InputError, match=r"it is a symbolic link \(outputs are never written through links\)$"
    ):
        export(added, link, force=True)
    assert victim.read_text() == "keep me" and link.is_symlink()


def test_devices_and_directories_are_refused(added: Workspace, tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"/dev/null: it is not a regular file \(a device, pipe or socket\)$"
    ):
        export(added, Path("/dev/null"), force=True)
    with pytest.raises(InputError, match=r"/dev/stdout: it is a symbolic link"):
        export(added, Path("/dev/stdout"), force=True)
    with pytest.raises(InputError, match=r": it is a directory$"):
        export(added, tmp_path, force=True)
    assert exports_ledgered(added) == 0


def test_an_existing_file_is_replaced_only_with_force(added: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("earlier work")
    with pytest.raises(
        InputError,
        match=r"^refusing to replace the existing file .*out\.jsonl; pass --force to replace it$",
    ):
        export(added, out)
    assert out.read_text() == "earlier work" and exports_ledgered(added) == 0
    export(added, out, force=True)
    assert MARKER in out.read_text() and exports_ledgered(added) == 1


def test_a_file_that_appears_during_the_export_is_not_clobbered(tmp_path: Path) -> None:
    out = tmp_path / "race.jsonl"
    with (
        pytest.raises(InputError, match="refusing to replace"),
        atomic_writer(out, replace=False) as fh,
    ):
        fh.write(b"ours")
        out.write_text("theirs")  # created between the check and the rename
    assert out.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.jsonl"]  # no temp file left


def test_the_internal_writer_never_replaces_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "link").symlink_to(victim)
    with pytest.raises(InputError, match="symbolic link"), atomic_writer(tmp_path / "link") as fh:
        fh.write(b"x")
    assert victim.read_text() == "keep me"


def test_parquet_suffix_writes_parquet(added: Workspace, notes: Path, tmp_path: Path) -> None:
    out = tmp_path / "notes.parquet"
    result = export(added, out)
    table = pq.read_table(out)
    assert table.schema.names == ["id", "patient_id", "text"]
    assert [str(t) for t in table.schema.types] == ["int64", "string", "string"]
    original = [json.loads(line) for line in notes.read_text().splitlines()]
    assert table.to_pylist() == original
    assert result.records == 25 and (os.stat(out).st_mode & 0o777) == 0o600
    last = list(Ledger.open(added.ledger_dir).entries())[-1]
    assert last.payload["format"] == "parquet"


def test_parquet_keeps_nested_and_mixed_values_as_json_text(ws: Workspace, tmp_path: Path):
    records = [{"a": [1, 2], "b": 1, "c": "x"}, {"a": {"k": None}, "b": 2.5, "c": 3}]
    with ws.locked():
        datastore.create_dataset(ws, "mixed", records, provenance={"command": "test"})
        datastore.export_dataset(ws, "mixed", tmp_path / "m.parquet")
    assert pq.read_table(tmp_path / "m.parquet").to_pylist() == [
        {"a": "[1, 2]", "b": 1.0, "c": '"x"'},
        {"a": '{"k": null}', "b": 2.5, "c": "3"},
    ]


def test_check_output_path_returns_the_resolved_target(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    got = check_output_path(tmp_path / "d" / ".." / "out.csv", protected=[None], force=False)
    assert got == tmp_path.resolve() / "out.csv"


def test_cli_export_and_scrub_findings_refuse_protected_paths(run, notes: Path, tmp_path: Path):
    assert run("init").exit_code == 0
    assert run("data", "add", str(notes), "-n", "raw").exit_code == 0
    keyring = tmp_path / "ws" / "keys" / "keyring.json"
    before = keyring.read_bytes()
    refused = run("data", "export", "raw", "-o", str(keyring), "--force")
    assert refused.exit_code == 1 and refused.stderr.startswith("error: refusing to write ")
    findings = run(
        "scrub", str(notes), "-p", "hipaa-safe-harbor", "-n", "clean", "--findings", str(keyring)
    )
    assert findings.exit_code == 1 and "which securetune protects" in findings.stderr
    assert keyring.read_bytes() == before
    existing = tmp_path / "f.jsonl"
    existing.write_text("x")
    again = run(
        "scrub", str(notes), "-p", "hipaa-safe-harbor", "-n", "clean", "--findings", str(existing)
    )
    assert again.exit_code == 1 and "pass --force" in again.stderr
    assert existing.read_text() == "x"
