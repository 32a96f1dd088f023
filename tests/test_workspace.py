"""Workspace creation, layout, permissions, locking and discovery."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from securetune.audit.ledger import Ledger
from securetune.errors import LedgerError, LockError, WorkspaceError
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
