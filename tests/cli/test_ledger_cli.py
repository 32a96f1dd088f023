"""`audit upgrade`: a workspace made by securetune 0.1.0 (ledger format v1) is upgraded by
one explicit, ledgered command, and refuses other writes until then."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from securetune.audit.ledger import Ledger
from securetune.workspace import Secrets, Workspace


def make_v1_workspace(tmp_path: Path) -> Workspace:
    """A workspace whose ledger was written in format v1, as securetune 0.1.0 wrote it."""
    ws = Workspace.init(tmp_path / "ws", secrets=Secrets(environ={}), witness_dir=None)
    shutil.rmtree(ws.ledger_dir)
    Ledger.create(
        ws.ledger_dir,
        signing_key=ws.signing_key(),
        origin=ws.config.ledger_origin,
        actor="old@host",
        payload={"workspace_id": ws.id},
        version=1,
    )
    return ws


def test_a_v1_workspace_refuses_writes_until_audit_upgrade(run, notes: Path, tmp_path: Path):
    make_v1_workspace(tmp_path)
    assert json.loads(run("audit", "verify", "--json").stdout)["entries"] == 1
    refused = run("data", "add", str(notes), "--name", "raw")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: the ledger is in format v1, whose signed roots lack RFC 6962 leaf hashes;"
        " run `securetune audit upgrade` once (it is ledgered) before other commands\n"
    )
    upgraded = run("audit", "upgrade", "--json")
    assert json.loads(upgraded.stdout) == {
        "entries_before": 1,
        "from_version": 1,
        "seq": 1,
        "to_version": 2,
        "upgraded": True,
    }
    assert run("data", "add", str(notes), "--name", "raw").exit_code == 0
    events = json.loads(run("audit", "verify", "--json").stdout)["events"]
    assert events == {"init": 1, "ledger.upgrade": 1, "data.add": 1, "data.dedup": 1}
    again = run("audit", "upgrade")
    assert again.exit_code == 1 and "already format v2" in again.stderr
