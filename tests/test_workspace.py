"""Workspace creation, layout, permissions, locking and discovery."""

from __future__ import annotations

import base64
import re
import shutil
import stat
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from securetune.audit.ledger import Ledger
from securetune.crypto.keys import encode_key
from securetune.errors import KeyProviderError, LedgerError, LockError, WorkspaceError
from securetune.workspace import CONFIG_FILE, Secrets, Workspace, find_root


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_config_keys_areas_and_a_ledger_with_genesis(ws: Workspace) -> None:
    assert (ws.root / CONFIG_FILE).is_file()
    assert ws.datasets_dir.is_dir() and ws.runs_dir.is_dir()
    entries = list(Ledger.open(ws.ledger_dir).entries())
    assert [e.event for e in entries] == ["init"]
    assert entries[0].payload["workspace_id"] == ws.id
    assert ws.verify_ledger().entries == 1


def test_key_material_is_private_to_the_owner(ws: Workspace) -> None:
    assert mode(ws.keys_dir) == 0o700
    assert mode(ws.keys_dir / "kek.key") == 0o600
    assert mode(ws.keyring_path) == 0o600


def test_config_holds_no_secret(ws: Workspace) -> None:
    text = (ws.root / CONFIG_FILE).read_text()
    key_text = (ws.keys_dir / "kek.key").read_text().strip()
    assert key_text not in text
    assert "kek" not in text.lower()


def test_init_refuses_an_existing_workspace(ws: Workspace) -> None:
    with pytest.raises(WorkspaceError, match="already a securetune workspace"):
        Workspace.init(ws.root, secrets=Secrets(environ={}))


def test_opening_a_directory_that_is_not_a_workspace_says_so(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"is not a securetune workspace .*securetune init"):
        Workspace.open(tmp_path, secrets=Secrets(environ={}))


def test_unknown_config_key_is_an_error_naming_the_field(ws: Workspace) -> None:
    path = ws.root / CONFIG_FILE
    path.write_text(path.read_text() + "key_provder: env\n")
    with pytest.raises(WorkspaceError, match="field key_provder"):
        Workspace.open(ws.root, secrets=Secrets(environ={}))


def test_workspace_option_beats_environment_beats_current_directory(tmp_path: Path) -> None:
    env = {"SECURETUNE_WORKSPACE": "/from/env"}
    assert find_root(Path("/explicit"), env, tmp_path) == Path("/explicit")
    assert find_root(None, env, tmp_path) == Path("/from/env")
    assert find_root(None, {}, tmp_path) == tmp_path


def test_a_second_writer_gets_a_lock_error_not_corruption(ws: Workspace) -> None:
    other = Workspace.open(ws.root, secrets=Secrets(environ={}))
    with ws.locked(), pytest.raises(LockError, match="locked by another securetune process"):  # noqa: SIM117
        with other.locked():
            pass  # pragma: no cover - never reached
    with other.locked():
        other.record("test.event", {"n": 1})
    assert ws.verify_ledger().entries == 2


def test_record_requires_the_lock(ws: Workspace) -> None:
    with pytest.raises(WorkspaceError, match="must run under"):
        ws.record("test.event", {})


def test_an_append_without_checkpoint_is_reported_then_recovered_explicitly(ws: Workspace) -> None:
    with ws.locked():
        Ledger.open(ws.ledger_dir).append("data.add", {"dataset": "x"}, actor="t")  # killed here
    with pytest.raises(LedgerError, match="unsigned"):
        ws.verify_ledger()
    with (
        ws.locked(),
        pytest.raises(LedgerError, match="1 unsigned entry from an interrupted command"),
    ):
        ws.record("another.event", {})
    with ws.locked():
        assert ws.recover_ledger() == 1
    result = ws.verify_ledger()
    assert result.entries == 3 and result.events["audit.recover"] == 1


def _rolled_back(ws: Workspace, tmp_path: Path, notes: Path) -> Workspace:
    """The workspace restored to a state older than one this machine has already seen."""
    from securetune import datastore

    shutil.copytree(ws.root, tmp_path / "old")
    with ws.locked():
        datastore.add_dataset(ws, notes, "a")
    shutil.rmtree(ws.root)
    shutil.copytree(tmp_path / "old", ws.root)
    return Workspace.open(ws.root, secrets=Secrets(environ={}), witness_dir=ws.witness_dir)


def test_a_rollback_is_caught_even_if_the_workspace_id_is_edited(
    ws: Workspace, tmp_path: Path, notes: Path
) -> None:
    old = _rolled_back(ws, tmp_path, notes)
    config = ws.root / CONFIG_FILE
    config.write_text(
        re.sub(r"workspace_id: .*", f"workspace_id: {uuid.uuid4()}", config.read_text())
    )
    edited = Workspace.open(ws.root, secrets=Secrets(environ={}), witness_dir=ws.witness_dir)
    with pytest.raises(LedgerError, match="id differs from the one this machine saw"):
        edited.verify_ledger()
    with pytest.raises(LedgerError, match=r"rolled back|older|smaller"):
        old.verify_ledger()


def test_a_write_after_a_rollback_is_refused_and_does_not_bless_it(
    ws: Workspace, tmp_path: Path, notes: Path
) -> None:
    old = _rolled_back(ws, tmp_path, notes)
    with old.locked(), pytest.raises(LedgerError):
        old.record("data.add", {"dataset": "b"})
    with pytest.raises(LedgerError):
        old.verify_ledger()


def test_a_keyring_from_another_workspace_is_refused(tmp_path: Path) -> None:
    env = {"K": encode_key(b"k" * 32)}
    a, b = (
        Workspace.init(
            tmp_path / n, secrets=Secrets(environ=env), key_provider="env", key_env_variable="K"
        )
        for n in ("A", "B")
    )
    shutil.copy(b.keyring_path, a.keyring_path)
    with pytest.raises(KeyProviderError, match="keyring belongs to another workspace"):
        Workspace.open(a.root, secrets=Secrets(environ=env)).kek()


def test_an_edited_ledger_public_key_in_the_config_is_refused_on_write(ws: Workspace) -> None:
    config = ws.root / CONFIG_FILE
    forged = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    config.write_text(
        re.sub(r"ledger_public_key: .*", f"ledger_public_key: {forged}", config.read_text())
    )
    edited = Workspace.open(ws.root, secrets=Secrets(environ={}))
    with (
        edited.locked(),
        pytest.raises(LedgerError, match="does not match the workspace's signing key"),
    ):
        edited.record("x.y", {})
