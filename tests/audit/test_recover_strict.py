"""`audit recover` signs only entries that parse strictly: canonical bytes, schema and hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from securetune.audit.ledger import Ledger
from securetune.errors import LedgerError
from securetune.workspace import Workspace


def test_a_non_canonical_unsigned_line_is_never_sealed(ws: Workspace) -> None:
    log: Path = ws.ledger_dir / "log.jsonl"
    Ledger.open(ws.ledger_dir).append("check", {"run_id": "r", "mia_auc": 1.5}, actor="intruder")
    lines = log.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[-1])
    # Same fields and hash, but written by hand: spaces, key order and a trailing zero.
    loose = (
        json.dumps({"payload": entry["payload"], **entry}).replace("1.5", "1.50").encode() + b"\n"
    )
    log.write_bytes(b"".join(lines[:-1]) + loose)
    with ws.locked(), pytest.raises(LedgerError):
        ws.recover_ledger()
    log.write_bytes(b"".join(lines))  # the canonical line itself is sealed
    with ws.locked():
        assert ws.recover_ledger() == 1
