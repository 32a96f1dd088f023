"""Key providers, the wrong-key error, and rotation."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

from securetune import datastore
from securetune.audit.ledger import Ledger
from securetune.crypto.keys import encode_key
from securetune.errors import KeyProviderError, LedgerError
from securetune.fsutil import atomic_write_bytes
from securetune.workspace import COMMIT_MARKER, ROTATION_DIR, Secrets, Workspace, kek_id


def reopen(ws: Workspace, **secrets) -> Workspace:
    return Workspace.open(
        ws.root,
        secrets=Secrets(**secrets) if secrets else Secrets(environ={}),
        witness_dir=ws.witness_dir,
    )


def test_wrong_key_file_is_refused_with_one_clear_line(ws: Workspace) -> None:
    (ws.keys_dir / "kek.key").write_text(encode_key(os.urandom(32)) + "\n")
    with pytest.raises(
        KeyProviderError,
        match=r"^the key does not unlock this workspace \(wrong key, key file or passphrase\)$",
    ):
        reopen(ws).kek()


def test_key_file_readable_by_others_is_refused(ws: Workspace) -> None:
    os.chmod(ws.keys_dir / "kek.key", 0o644)
    with pytest.raises(KeyProviderError, match="chmod 600"):
        reopen(ws).kek()


def test_passphrase_provider_unlocks_with_the_right_passphrase_only(tmp_path: Path) -> None:
    good = Secrets(environ={}, passphrase_prompt=lambda confirm: "correct horse battery")
    ws = Workspace.init(
        tmp_path / "ws", secrets=good, key_provider="passphrase", witness_dir=tmp_path / "w"
    )
    assert not (ws.keys_dir / "kek.key").exists()
    params = ws.keyring().provider
    assert params["kdf"] == "scrypt" and params["n"] >= 2**15 and base64.b64decode(params["salt"])
    assert len(Workspace.open(ws.root, secrets=good).kek()) == 32
    bad = Secrets(environ={}, passphrase_prompt=lambda confirm: "wrong horse battery")
    with pytest.raises(KeyProviderError, match="does not unlock"):
        Workspace.open(ws.root, secrets=bad).kek()


def test_env_provider_reads_the_variable_and_names_it_when_missing(tmp_path: Path) -> None:
    key = encode_key(os.urandom(32))
    ws = Workspace.init(
        tmp_path / "ws",
        secrets=Secrets(environ={"MY_KEK": key}),
        key_provider="env",
        key_env_variable="MY_KEK",
    )
    assert Workspace.open(ws.root, secrets=Secrets(environ={"MY_KEK": key})).kek()
    with pytest.raises(KeyProviderError, match="environment variable MY_KEK is not set"):
        Workspace.open(ws.root, secrets=Secrets(environ={})).kek()
    with pytest.raises(KeyProviderError, match="must hold a 256-bit key"):
        Workspace.open(ws.root, secrets=Secrets(environ={"MY_KEK": encode_key(b"short")})).kek()


def test_rotation_rewraps_every_key_and_the_old_key_stops_working(
    ws: Workspace, notes: Path
) -> None:
    with ws.locked():
        datastore.add_dataset(ws, notes, "a")
        datastore.add_dataset(ws, notes, "b")
    shards_before = {p: p.read_bytes() for p in ws.datasets_dir.rglob("*.stc")}
    old_key_file = (ws.keys_dir / "kek.key").read_text()
    with ws.locked():
        result = ws.rotate_keys()
    assert result.keys_rewrapped == 4  # two data keys, the ledger signing key, the lineage key
    assert result.old_kek_id != result.new_kek_id
    assert {
        p: p.read_bytes() for p in ws.datasets_dir.rglob("*.stc")
    } == shards_before  # not re-encrypted
    fresh = reopen(ws)
    assert sum(1 for _ in datastore.read_dataset(fresh, "a")) == 25
    (ws.keys_dir / "kek.key").write_text(old_key_file)
    with pytest.raises(KeyProviderError, match="does not unlock"):
        reopen(ws).kek()


def test_env_rotation_takes_the_new_key_from_VARIABLE_NEW(tmp_path: Path) -> None:
    old, new = encode_key(os.urandom(32)), encode_key(os.urandom(32))
    ws = Workspace.init(
        tmp_path / "ws",
        secrets=Secrets(environ={"K": old}),
        key_provider="env",
        key_env_variable="K",
    )
    rot = Workspace.open(ws.root, secrets=Secrets(environ={"K": old, "K_NEW": new}))
    with rot.locked():
        rot.rotate_keys()
    assert Workspace.open(ws.root, secrets=Secrets(environ={"K": new})).kek()
    with pytest.raises(KeyProviderError, match="does not unlock"):
        Workspace.open(ws.root, secrets=Secrets(environ={"K": old})).kek()


def test_rotation_interrupted_before_commit_is_discarded(ws: Workspace) -> None:
    staging = ws.keys_dir / ROTATION_DIR
    staging.mkdir()
    (staging / "keyring.json").write_text("half-written")
    with reopen(ws).locked():
        pass
    assert not staging.exists()
    assert reopen(ws).kek()


def test_rotation_interrupted_after_commit_is_completed(ws: Workspace) -> None:
    # Simulate a kill right after the COMMIT marker: stage a real rotation, don't apply it.
    w = reopen(ws)
    old = w.kek()
    new = w.provider().new_key(rotating=True)
    staging = ws.keys_dir / ROTATION_DIR
    staging.mkdir()
    atomic_write_bytes(
        staging / "keyring.json", w.keyring().rewrapped(old, new.key, {"kind": "file"}).to_bytes()
    )
    for name, content in new.files.items():
        atomic_write_bytes(staging / name, content)
    atomic_write_bytes(staging / COMMIT_MARKER, b"")
    with reopen(ws).locked():
        pass
    assert not staging.exists()
    assert reopen(ws).kek() == new.key


def test_keyring_unreadable_is_a_clear_error(ws: Workspace) -> None:
    shutil.copy(ws.keyring_path, ws.root / "backup")
    ws.keyring_path.write_text("{not json")
    with pytest.raises(KeyProviderError, match=r"keyring .* is malformed"):
        reopen(ws).kek()


def _ledger_events(ws: Workspace) -> list[tuple[str, dict]]:
    return [(e.event, e.payload) for e in Ledger.open(ws.ledger_dir).entries()]


def test_rotation_is_ledgered_by_the_library_before_the_new_key_takes_effect(
    ws: Workspace,
) -> None:
    seen_at_record: list[bytes] = []
    real_record = Workspace.record

    def spy(self: Workspace, event: str, payload) -> object:
        seen_at_record.append((ws.keys_dir / "kek.key").read_bytes())
        return real_record(self, event, payload)

    before = (ws.keys_dir / "kek.key").read_bytes()
    w = reopen(ws)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Workspace, "record", spy)
        with w.locked():
            result = w.rotate_keys()
    assert seen_at_record == [before]  # the event was written while the old key was in place
    assert _ledger_events(ws)[-1] == (
        "keys.rotate",
        {"keys_rewrapped": 1, "new_kek_id": result.new_kek_id, "old_kek_id": result.old_kek_id},
    )
    assert (ws.keys_dir / "kek.key").read_bytes() != before


def test_a_rotation_whose_event_cannot_be_ledgered_never_takes_effect(ws: Workspace) -> None:
    before = (ws.keys_dir / "kek.key").read_bytes()
    w = reopen(ws)

    def refuse(self: Workspace, event: str, payload) -> None:
        raise LedgerError("disk full")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Workspace, "record", refuse)
        with pytest.raises(LedgerError), w.locked():
            w.rotate_keys()
    with reopen(ws).locked():
        pass
    assert (ws.keys_dir / "kek.key").read_bytes() == before
    assert not (ws.keys_dir / ROTATION_DIR).exists()
    assert reopen(ws).kek()
    assert [event for event, _ in _ledger_events(ws)] == ["init"]


def test_a_rotation_killed_after_its_event_is_finished_by_the_next_command(
    ws: Workspace,
) -> None:
    w = reopen(ws)

    def killed(self: Workspace, staging: Path) -> None:
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Workspace, "_apply_rotation", killed)
        with pytest.raises(KeyboardInterrupt), w.locked():
            w.rotate_keys()
    assert (ws.keys_dir / ROTATION_DIR).is_dir()
    assert _ledger_events(ws)[-1][0] == "keys.rotate"
    with reopen(ws).locked():
        pass
    assert not (ws.keys_dir / ROTATION_DIR).exists()
    fresh = reopen(ws)
    assert kek_id(fresh.kek()) == _ledger_events(ws)[-1][1]["new_kek_id"]
