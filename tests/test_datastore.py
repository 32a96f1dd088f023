"""Encrypted datasets: round trip, tamper detection naming dataset and shard, atomicity,
crypto-shredding, and no plaintext at rest."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from securetune import datastore
from securetune.audit.ledger import Ledger
from securetune.errors import (
    DatasetError,
    DecryptionError,
    InputError,
    LedgerError,
    WorkspaceError,
)
from securetune.workspace import Workspace

from .conftest import MARKER


def add(ws: Workspace, path: Path, name: str = "notes", **kw) -> datastore.AddResult:
    with ws.locked():
        return datastore.add_dataset(ws, path, name, **kw)


def test_records_round_trip_exactly_and_the_manifest_describes_them(
    ws: Workspace, notes: Path
) -> None:
    result = add(ws, notes)
    expected = [json.loads(line) for line in notes.read_text().splitlines()]
    assert list(datastore.read_dataset(ws, "notes")) == expected
    summary = datastore.show_dataset(ws, "notes")
    assert summary.records == 25 and summary.scrubbed is False
    assert summary.schema == {"id": ["integer"], "patient_id": ["string"], "text": ["string"]}
    assert summary.provenance["input_sha256"] == result.input_sha256
    assert summary.provenance["command"] == "data add"


def test_many_shards_round_trip(ws: Workspace) -> None:
    records = [{"i": i, "text": "x" * i} for i in range(60)]
    with ws.locked():
        datastore.create_dataset(ws, "notes", records, provenance={}, shard_bytes=200)
    assert datastore.show_dataset(ws, "notes").shards > 5
    assert list(datastore.read_dataset(ws, "notes")) == records
    assert datastore.verify_dataset(ws, "notes").records == 60


def test_csv_and_parquet_inputs_are_read(ws: Workspace, tmp_path: Path) -> None:
    csv_path = tmp_path / "n.csv"
    csv_path.write_text('id,text\n1,"a, quoted ""note"""\n2,second\n', encoding="utf-8")
    add(ws, csv_path, "from-csv")
    assert list(datastore.read_dataset(ws, "from-csv")) == [
        {"id": "1", "text": 'a, quoted "note"'},
        {"id": "2", "text": "second"},
    ]
    pq.write_table(pa.table({"id": [1, 2], "text": ["a", "b"]}), tmp_path / "n.parquet")
    add(ws, tmp_path / "n.parquet", "from-parquet")
    assert list(datastore.read_dataset(ws, "from-parquet")) == [
        {"id": 1, "text": "a"},
        {"id": 2, "text": "b"},
    ]


def test_empty_input_gives_an_empty_dataset(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    assert add(ws, tmp_path / "empty.jsonl").dataset.records == 0
    assert list(datastore.read_dataset(ws, "notes")) == []
    assert datastore.verify_dataset(ws, "notes").records == 0


def test_an_existing_name_is_refused(ws: Workspace, notes: Path) -> None:
    add(ws, notes)
    with pytest.raises(DatasetError, match="dataset notes already exists"):
        add(ws, notes)


def test_malformed_record_names_the_line_and_writes_nothing(ws: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n{"id": 2}\n{"id": 3, \n{"id": 4}\n')
    with pytest.raises(InputError, match=r"bad.jsonl: line 3: not valid JSON"):
        add(ws, bad)
    assert list(ws.datasets_dir.iterdir()) == []
    assert [e.event for e in Ledger.open(ws.ledger_dir).entries()] == ["init"]


def test_on_error_skip_counts_malformed_records(ws: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": 1}\n[1, 2]\n\xff\xfe\n{"id": 4}\n')
    result = add(ws, bad, on_error="skip")
    assert (result.dataset.records, result.skipped) == (2, 2)


def test_non_utf8_input_is_named(ws: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"text": "caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(InputError, match="line 1: not valid UTF-8"):
        add(ws, bad)


def test_a_crash_mid_write_leaves_no_dataset_and_no_temp_files(ws: Workspace) -> None:
    def records() -> Iterator[dict]:
        yield {"text": MARKER}
        raise KeyboardInterrupt

    with ws.locked(), pytest.raises(KeyboardInterrupt):
        datastore.create_dataset(ws, "half", records(), provenance={})
    assert list(ws.datasets_dir.iterdir()) == []
    assert "dataset:" not in ws.keyring_path.read_text()


def _first_shard(ws: Workspace, name: str = "notes") -> Path:
    return sorted((ws.datasets_dir / name).glob("shard-*.stc"))[0]


@pytest.mark.parametrize("offset", [0, 9, 20, 45, 80, -17, -1])
def test_a_flipped_byte_anywhere_in_a_shard_names_dataset_and_shard(
    ws: Workspace, notes: Path, offset: int
) -> None:
    add(ws, notes)
    shard = _first_shard(ws)
    data = bytearray(shard.read_bytes())
    data[offset] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(DecryptionError, match=r"^dataset notes: shard shard-00000\.stc "):
        datastore.verify_dataset(ws, "notes")


def test_a_truncated_shard_is_detected(ws: Workspace, notes: Path) -> None:
    add(ws, notes)
    shard = _first_shard(ws)
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(DecryptionError, match=r"shard shard-00000\.stc failed authentication"):
        datastore.verify_dataset(ws, "notes")


@pytest.mark.parametrize("field", ["record_count", "created", "provenance"])
def test_any_change_to_the_manifest_is_detected(ws: Workspace, notes: Path, field: str) -> None:
    add(ws, notes)
    path = ws.datasets_dir / "notes" / "manifest.json"
    doc = json.loads(path.read_text())
    doc["manifest"][field] = {
        "record_count": 24,
        "created": "2020-01-01",
        "provenance": {"scrubbed": True},
    }[field]
    path.write_text(json.dumps(doc))
    with pytest.raises(DecryptionError, match="dataset notes: manifest failed authentication"):
        datastore.show_dataset(ws, "notes")


def test_a_shard_moved_between_datasets_fails_authentication(ws: Workspace, notes: Path) -> None:
    add(ws, notes, "a")
    add(ws, notes, "b")
    _first_shard(ws, "b").write_bytes(_first_shard(ws, "a").read_bytes())
    with pytest.raises(DecryptionError, match=r"dataset b: shard shard-00000\.stc"):
        datastore.verify_dataset(ws, "b")


def test_no_plaintext_reaches_the_workspace_or_temp_dir(
    ws: Workspace, notes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch-tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    add(ws, notes)
    datastore.verify_dataset(ws, "notes")
    needle = MARKER.encode()
    for root in (ws.root, scratch):
        for path in root.rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), f"plaintext marker found in {path}"


def test_export_writes_plaintext_0600_and_is_ledgered(
    ws: Workspace, notes: Path, tmp_path: Path
) -> None:
    add(ws, notes)
    out = tmp_path / "export.jsonl"
    with ws.locked():
        result = datastore.export_dataset(ws, "notes", out)
    assert out.read_bytes() == notes.read_bytes().replace(b", ", b",").replace(b": ", b":")
    assert (os.stat(out).st_mode & 0o777) == 0o600
    events = list(Ledger.open(ws.ledger_dir).entries())
    assert events[-1].event == "data.export" and events[-1].payload["out_sha256"] == result.sha256


def test_export_to_an_unwritable_path_is_a_clear_error(
    ws: Workspace, notes: Path, tmp_path: Path
) -> None:
    add(ws, notes)
    with (
        ws.locked(),
        pytest.raises(InputError, match=r"cannot write .*: the directory does not exist"),
    ):
        datastore.export_dataset(ws, "notes", tmp_path / "missing-dir" / "x.jsonl")
    locked_dir = tmp_path / "ro"
    locked_dir.mkdir()
    locked_dir.chmod(0o500)
    if os.geteuid() != 0:  # root ignores directory permissions
        with ws.locked(), pytest.raises(InputError, match="permission denied"):
            datastore.export_dataset(ws, "notes", locked_dir / "x.jsonl")


def test_remove_destroys_the_data_key_so_copies_are_unreadable(
    ws: Workspace, notes: Path, tmp_path: Path
) -> None:
    add(ws, notes)
    backup = tmp_path / "backup"
    shutil.copytree(ws.datasets_dir / "notes", backup)
    with ws.locked():
        datastore.remove_dataset(ws, "notes")
    assert not (ws.datasets_dir / "notes").exists()
    shutil.copytree(backup, ws.datasets_dir / "notes")  # restore the ciphertext from a "backup"
    with pytest.raises(DecryptionError, match="no data key"):
        datastore.read_dataset(ws, "notes")
    assert Ledger.open(ws.ledger_dir).size == 3


def test_a_manifest_that_is_not_a_regular_file_is_refused(ws: Workspace, notes: Path) -> None:
    # A FIFO could serve one manifest to the MAC check and another to the reader.
    add(ws, notes)
    manifest = ws.datasets_dir / "notes" / "manifest.json"
    manifest.unlink()
    os.mkfifo(manifest)
    with pytest.raises(DatasetError, match="manifest is not a regular file"):
        datastore.show_dataset(ws, "notes")


def test_rm_takes_the_key_to_destroy_only_from_an_authenticated_manifest(
    ws: Workspace, notes: Path
) -> None:
    add(ws, notes, "a")
    b = add(ws, notes, "b").dataset.dataset_id
    path = ws.datasets_dir / "a" / "manifest.json"
    doc = json.loads(path.read_text())
    doc["manifest"]["dataset_id"] = b  # point a's manifest at b's key
    path.write_text(json.dumps(doc))
    # Refused before any effect: the disk no longer agrees with the ledger (a's id changed).
    with ws.locked(), pytest.raises(WorkspaceError, match="replaced on disk"):
        datastore.remove_dataset(ws, "a")
    assert f"dataset:{b}" in ws.keyring().wrapped
    assert datastore.verify_dataset(ws, "b").records == 25


def test_an_export_that_cannot_be_ledgered_writes_nothing(
    ws: Workspace, notes: Path, tmp_path: Path
) -> None:
    add(ws, notes)
    Ledger.open(ws.ledger_dir).append("forged.event", {}, actor="intruder")  # unsigned tail
    out = tmp_path / "out.jsonl"
    with ws.locked(), pytest.raises(LedgerError, match="unsigned"):
        datastore.export_dataset(ws, "notes", out)
    assert not out.exists() and list(tmp_path.glob(".out.jsonl.*")) == []


def test_a_removal_killed_after_its_event_is_finished_key_included(
    ws: Workspace, notes: Path
) -> None:
    dataset_id = add(ws, notes).dataset.dataset_id
    (ws.datasets_dir / "notes").rename(ws.datasets_dir / f".tmp-rm-{dataset_id}")
    ledger = Ledger.open(ws.ledger_dir)  # the command ledgered data.rm, then was killed
    ledger.append("data.rm", {"dataset": "notes", "dataset_id": dataset_id}, actor="t")
    ledger.write_checkpoint(ws.signing_key())
    with ws.locked():
        pass
    assert f"dataset:{dataset_id}" not in ws.keyring().wrapped
    assert list(ws.datasets_dir.iterdir()) == []


def test_a_removal_killed_before_its_event_is_undone(ws: Workspace, notes: Path) -> None:
    dataset_id = add(ws, notes).dataset.dataset_id
    (ws.datasets_dir / "notes").rename(ws.datasets_dir / f".tmp-rm-{dataset_id}")  # killed here
    with ws.locked():
        pass
    assert datastore.verify_dataset(ws, "notes").records == 25
    assert [e.event for e in Ledger.open(ws.ledger_dir).entries()] == ["init", "data.add"]
