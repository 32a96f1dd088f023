"""The workspace agrees with its ledger: datasets and runs on disk are exactly the ones the
ledger accounts for; `audit verify` names every disagreement and writes refuse past them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from securetune import datastore
from securetune.audit.ledger import Ledger
from securetune.errors import WorkspaceError
from securetune.workspace import Workspace


def add(ws: Workspace, notes: Path, name: str = "notes") -> str:
    with ws.locked():
        return datastore.add_dataset(ws, notes, name).dataset.dataset_id


def events(ws: Workspace) -> list[str]:
    return [e.event for e in Ledger.open(ws.ledger_dir).entries()]


def refused_write(ws: Workspace, notes: Path) -> str:
    before = events(ws)
    with ws.locked(), pytest.raises(WorkspaceError) as err:
        datastore.add_dataset(ws, notes, "another")
    assert events(ws) == before and not (ws.datasets_dir / "another").exists()
    return str(err.value)


def test_a_clean_workspace_agrees(ws: Workspace, notes: Path) -> None:
    add(ws, notes)
    assert not ws.disagreements()


def test_a_dataset_deleted_by_hand_is_reported_and_blocks_writes(
    ws: Workspace, notes: Path
) -> None:
    dataset_id = add(ws, notes)
    shutil.rmtree(ws.datasets_dir / "notes")
    expected = (
        f"dataset notes ({dataset_id}) was created in the ledger (entry 1) and never removed,"
        " but is not on disk"
    )
    assert ws.disagreements().blocking == [expected]
    assert refused_write(ws, notes) == (
        f"the workspace disagrees with its ledger: {expected}; nothing was changed."
        " See `securetune audit verify` and docs/WORKSPACE.md"
    )


def test_a_dataset_renamed_to_a_temporary_name_is_put_back_not_deleted(
    ws: Workspace, notes: Path
) -> None:
    dataset_id = add(ws, notes)
    for temp in (f".tmp-{dataset_id}", f".tmp-rm-{dataset_id}"):
        (ws.datasets_dir / "notes").rename(ws.datasets_dir / temp)
        add(ws, notes, "other-rm" if "rm" in temp else "other")  # the next write recovers
        assert datastore.verify_dataset(ws, "notes").records == 25
        assert f"dataset:{dataset_id}" in ws.keyring().wrapped
    assert "data.rm" not in events(ws)


def test_a_shredded_dataset_restored_from_backup_is_reported(
    ws: Workspace, notes: Path, tmp_path: Path
) -> None:
    dataset_id = add(ws, notes)
    shutil.copytree(ws.datasets_dir / "notes", tmp_path / "backup")
    keyring_backup = ws.keyring_path.read_bytes()
    with ws.locked():
        datastore.remove_dataset(ws, "notes")
    shutil.copytree(tmp_path / "backup", ws.datasets_dir / "notes")
    ws.keyring_path.write_bytes(keyring_backup)
    expected = (
        f"dataset notes ({dataset_id}) was removed (data.rm, entry 2) but is on disk again:"
        " restored from a backup?"
    )
    key_restored = (
        f"the keyring holds the data key of dataset notes ({dataset_id}), removed by data.rm"
        " at entry 2: its crypto-shred was undone, the keyring restored from a backup?"
    )
    assert ws.disagreements().blocking == [expected, key_restored]
    assert expected in refused_write(ws, notes)


def test_a_dataset_swapped_for_another_is_reported(ws: Workspace, notes: Path) -> None:
    a = add(ws, notes, "a")
    b = add(ws, notes, "b")
    shutil.rmtree(ws.datasets_dir / "a")
    shutil.copytree(ws.datasets_dir / "b", ws.datasets_dir / "a")
    assert ws.disagreements().blocking == [
        f"dataset a on disk is {b}, but the ledger created a as {a} (entry 1): replaced on disk"
    ]


def test_an_unledgered_run_directory_is_reported_but_does_not_block_writes(
    ws: Workspace, notes: Path
) -> None:
    (ws.runs_dir / "run-forged").mkdir()
    assert ws.disagreements().reported == [
        "run run-forged is on disk but the ledger never started it"
    ]
    add(ws, notes)


def test_audit_verify_lists_disagreements_and_exits_1(run, notes: Path, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    assert run("data", "add", str(notes), "-n", "raw").exit_code == 0
    assert json.loads(run("audit", "verify", "--json").stdout)["disagreements"] == []
    shutil.rmtree(tmp_path / "ws" / "datasets" / "raw")
    result = run("audit", "verify", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and len(doc["disagreements"]) == 1
    assert result.stderr.startswith("warning: disagreement: dataset raw (")


def test_a_published_checkpoint_catches_a_rollback_without_the_witness(
    run, notes: Path, tmp_path: Path
) -> None:
    assert run("init").exit_code == 0
    ws = tmp_path / "ws"
    shutil.copytree(ws / "ledger", tmp_path / "old-ledger")
    assert run("data", "add", str(notes), "-n", "raw").exit_code == 0
    published = tmp_path / "archive" / "checkpoint.txt"
    published.parent.mkdir()
    assert run("audit", "publish", str(published)).exit_code == 0
    assert published.read_bytes() == (ws / "ledger" / "checkpoint").read_bytes()
    inside = run("audit", "publish", str(ws / "ledger" / "checkpoint"))
    assert inside.exit_code == 1 and "which securetune protects" in inside.stderr
    # Roll the ledger back and lose the witness: only the published checkpoint knows.
    shutil.rmtree(ws / "ledger")
    shutil.copytree(tmp_path / "old-ledger", ws / "ledger")
    shutil.rmtree(ws / "datasets" / "raw")
    shutil.rmtree(tmp_path / "witness")
    caught = run("audit", "verify", "--expect-checkpoint", str(published))
    assert caught.exit_code == 1
    assert caught.stderr == (
        "error: ledger was rolled back: its checkpoint covers 1 entries but the trusted"
        " checkpoint covers 3 (entries 1..2 are gone)\n"
    )


@pytest.mark.parametrize("where", ["datasets", "runs"])
def test_a_hidden_directory_in_datasets_or_runs_is_reported_and_blocks_writes(
    ws: Workspace, notes: Path, where: str
) -> None:
    # A readable copy hidden from `data ls` would outlive the dataset's `data rm`.
    add(ws, notes)
    shutil.copytree(ws.datasets_dir / "notes", ws.root / where / ".keep")
    expected = (
        f"{where}/.keep is a hidden entry the ledger does not account for: a leftover"
        " temporary, or a copy hidden by hand"
    )
    assert ws.disagreements().blocking == [expected]
    assert expected in refused_write(ws, notes)


def test_a_data_key_of_a_removed_dataset_restored_with_the_keyring_is_reported(
    ws: Workspace, notes: Path
) -> None:
    dataset_id = add(ws, notes)
    keyring_backup = ws.keyring_path.read_bytes()
    with ws.locked():
        datastore.remove_dataset(ws, "notes")
    ws.keyring_path.write_bytes(keyring_backup)  # the ciphertext may survive in any backup
    expected = (
        f"the keyring holds the data key of dataset notes ({dataset_id}), removed by data.rm"
        " at entry 2: its crypto-shred was undone, the keyring restored from a backup?"
    )
    assert ws.disagreements().blocking == [expected]
    assert expected in refused_write(ws, notes)


def test_a_data_key_no_ledger_event_created_is_reported(ws: Workspace, notes: Path) -> None:
    add(ws, notes)
    keyring = ws.keyring()
    keyring.add(ws.kek(), "dataset:0000-forged", b"k" * 32)
    keyring.save(ws.keyring_path)
    assert ws.disagreements().blocking == [
        "the keyring holds a data key for 0000-forged, a dataset no ledger event created"
    ]


def test_audit_verify_reports_hidden_entries_and_restored_keys(
    run, notes: Path, tmp_path: Path
) -> None:
    assert run("init").exit_code == 0
    assert run("data", "add", str(notes), "-n", "raw").exit_code == 0
    keyring = tmp_path / "ws" / "keys" / "keyring.json"
    backup = keyring.read_bytes()
    (tmp_path / "ws" / "runs" / ".old").mkdir()
    assert run("data", "rm", "raw", "--yes").exit_code == 1  # refused: the hidden entry
    (tmp_path / "ws" / "runs" / ".old").rmdir()
    assert run("data", "rm", "raw", "--yes").exit_code == 0
    keyring.write_bytes(backup)
    result = run("audit", "verify", "--json")
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)["disagreements"]
    assert problem.startswith("the keyring holds the data key of dataset raw (")
