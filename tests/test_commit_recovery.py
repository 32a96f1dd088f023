"""A command that fails or is killed after its ledger entry is signed never bricks the
workspace: the ledger event is the commit point, and what it says happened is finished
(rolled forward) by the same command or the next one; what it never recorded is undone.

Kills are real: a child process sends itself SIGKILL at the named point."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import securetune
from securetune import datastore
from securetune.audit.ledger import Ledger
from securetune.errors import LedgerError, WorkspaceError
from securetune.workspace import Secrets, Workspace

SRC = Path(securetune.__file__).resolve().parents[1]  # the securetune under test

#: Where a child process kills itself: (module, attribute, before or after the first call).
KILL_POINTS = {
    "before the event": ("securetune.workspace", "Workspace.record", "before"),
    "after the append, before the checkpoint": (
        "securetune.audit.writer",
        "Ledger.write_checkpoint",
        "before",
    ),
    "after the checkpoint, before the effect": (
        "securetune.audit.writer",
        "Ledger.write_checkpoint",
        "after",
    ),
}


def kill_during(
    tmp_path: Path, point: tuple[str, str, str], operation: str, *, setup: str = ""
) -> None:
    """Run ``operation`` (Python, with ``ws`` open and locked) in a child that SIGKILLs
    itself just before or just after the first call of ``module.Class.method`` returns."""
    module, attribute, when = point
    owner, method = attribute.split(".")
    script = textwrap.dedent(
        f"""
        import importlib, os, signal
        from pathlib import Path
        from securetune import datastore
        from securetune.workspace import Secrets, Workspace
        {setup}
        owner = getattr(importlib.import_module({module!r}), {owner!r})
        original = getattr(owner, {method!r})
        def killing(*args, **kwargs):
            if {when!r} == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = original(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
        setattr(owner, {method!r}, killing)
        ws = Workspace.open(Path({str(tmp_path / "ws")!r}), secrets=Secrets(environ={{}}),
                            witness_dir=Path({str(tmp_path / "witness")!r}), actor="tester@test")
        with ws.locked():
            {operation}
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]


def reopen(tmp_path: Path) -> Workspace:
    return Workspace.open(
        tmp_path / "ws",
        secrets=Secrets(environ={}),
        witness_dir=tmp_path / "witness",
        actor="tester@test",
    )


def next_command(tmp_path: Path, notes: Path) -> Workspace:
    """What a user does next: any write (after `audit recover` if the ledger asks for it)."""
    ws = reopen(tmp_path)
    with ws.locked():
        try:
            ws.ledger_ready()
        except LedgerError as err:
            assert "audit recover" in str(err)
            ws.recover_ledger()
        datastore.add_dataset(ws, notes, "next")
    assert not ws.disagreements()
    return ws


def events(ws: Workspace) -> list[str]:
    return [e.event for e in Ledger.open(ws.ledger_dir).entries()]


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_dataset_add_killed_anywhere_is_finished_or_undone_by_the_next_command(
    ws: Workspace, notes: Path, tmp_path: Path, point: str
) -> None:
    kill_during(
        tmp_path, KILL_POINTS[point], f"datastore.add_dataset(ws, Path({str(notes)!r}), 'raw')"
    )
    ws = next_command(tmp_path, notes)
    created = point != "before the event"
    assert (ws.datasets_dir / "raw").is_dir() == created
    assert events(ws).count("data.add") == 1 + created
    assert sorted(p.name for p in ws.datasets_dir.iterdir()) == sorted(
        ["next", *(["raw"] if created else [])]
    )
    if created:
        assert datastore.verify_dataset(ws, "raw").records == 25


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_data_rm_killed_anywhere_leaves_the_dataset_whole_or_shredded(
    ws: Workspace, notes: Path, tmp_path: Path, point: str
) -> None:
    with ws.locked():
        dataset_id = datastore.add_dataset(ws, notes, "raw").dataset.dataset_id
    kill_during(tmp_path, KILL_POINTS[point], "datastore.remove_dataset(ws, 'raw')")
    ws = next_command(tmp_path, notes)
    removed = point != "before the event"
    assert (f"dataset:{dataset_id}" in ws.keyring().wrapped) is not removed
    assert (ws.datasets_dir / "raw").is_dir() is not removed
    assert ("data.rm" in events(ws)) is removed


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_key_rotation_killed_anywhere_leaves_one_working_key(
    ws: Workspace, notes: Path, tmp_path: Path, point: str
) -> None:
    with ws.locked():
        datastore.add_dataset(ws, notes, "raw")
    kill_during(tmp_path, KILL_POINTS[point], "ws.rotate_keys()")
    ws = next_command(tmp_path, notes)
    assert ("keys.rotate" in events(ws)) is (point != "before the event")
    assert datastore.verify_dataset(ws, "raw").records == 25


def test_a_witness_that_fails_after_the_event_is_signed_does_not_lose_the_dataset(
    ws: Workspace, notes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the error path deleted the staged dataset the signed ledger says exists, and
    # every later command refused ("created in the ledger ... but is not on disk").
    import securetune.audit.witness as witness

    signed_before = (ws.ledger_dir / "checkpoint").read_text()

    def disk_full(path: Path, data: bytes, **kwargs: object) -> None:
        if json.loads(data)["checkpoint"] != signed_before:  # the new checkpoint only
            raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(witness, "atomic_write_bytes", disk_full)
        with ws.locked(), pytest.raises(LedgerError) as err:
            datastore.add_dataset(ws, notes, "raw")
    assert str(err.value).startswith("data.add was ledgered and signed (entry 1), but cannot write")
    assert datastore.verify_dataset(ws, "raw").records == 25
    assert not ws.disagreements()
    with ws.locked():
        datastore.add_dataset(ws, notes, "next")  # not bricked
    assert ws.verify_ledger().entries == 3


def test_a_witness_directory_that_cannot_be_written_refuses_before_any_effect(
    ws: Workspace, notes: Path, tmp_path: Path
) -> None:
    (tmp_path / "witness").rename(tmp_path / "witness-moved")
    (tmp_path / "witness").write_text("a file where the witness directory should be")
    with ws.locked(), pytest.raises(LedgerError) as err:
        datastore.add_dataset(ws, notes, "raw")
    assert str(err.value) == (
        f"the witness directory {tmp_path / 'witness'} is a file; remove it or set"
        " SECURETUNE_WITNESS_DIR to a directory"
    )
    assert events(ws) == ["init"] and list(ws.datasets_dir.iterdir()) == []
    assert set(ws.keyring().wrapped) <= {"ledger-signing", "lineage-key"}


def test_a_forged_commit_journal_is_refused_never_signed(ws: Workspace, notes: Path) -> None:
    # The journal's events are signed on recovery; one written by anyone without the KEK
    # must not make securetune sign an event of theirs.
    with ws.locked():
        dataset_id = datastore.add_dataset(ws, notes, "raw").dataset.dataset_id
    forged = {
        "members": [
            {"dataset_id": dataset_id, "name": "raw", "event": "data.add", "payload": {}},
            {"dataset_id": "x", "name": "x", "event": "data.create", "payload": {"records": 0}},
        ],
        "mac": "0" * 64,
    }
    journal = ws.datasets_dir / ".commit-forged.json"
    journal.write_text(json.dumps(forged))
    before = events(ws)
    with pytest.raises(WorkspaceError) as err, ws.locked():
        pass
    assert str(err.value) == (
        f"the commit journal {journal} of an interrupted command is unreadable or was modified;"
        " see docs/WORKSPACE.md"
    )
    assert events(ws) == before
