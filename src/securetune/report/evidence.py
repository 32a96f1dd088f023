"""The only inputs a report may use: the verified ledger and files whose hash it signs.

A compliance report is evidence, so it is built from nothing the ledger does not vouch for.
:func:`gather` verifies the whole ledger first (chain, signed checkpoint, witness); when that
fails the report states the failure and shows no facts at all, because facts read from a
ledger that does not verify could have been written by anyone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from securetune.audit.ledger import Entry, Ledger
from securetune.errors import SecuretuneError
from securetune.workspace import Workspace


@dataclass(frozen=True)
class Evidence:
    """A verified ledger's entries, or the reason the ledger could not be verified."""

    ok: bool
    error: str | None
    entries: tuple[Entry, ...] = ()
    root: str | None = None
    checkpoint_size: int = 0
    verifier_key: str | None = None
    key_name: str | None = None
    workspace_id: str | None = None
    runs_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def events(self, *names: str) -> Iterator[Entry]:
        """Entries whose event is one of ``names`` (or every entry), in ledger order."""
        for entry in self.entries:
            if not names or entry.event in names:
                yield entry

    def run_events(self, run_id: str) -> list[Entry]:
        """Every entry that names this run, in ledger order."""
        return [e for e in self.entries if e.payload.get("run_id") == run_id]

    def last(self, *names: str) -> Entry | None:
        found = None
        for entry in self.events(*names):
            found = entry
        return found


def gather(ws: Workspace) -> Evidence:
    """Verify the ledger and return its entries; a verification failure is returned, not raised."""
    try:
        result = ws.verify_ledger()
        entries = tuple(Ledger.open(ws.ledger_dir, clock=ws.clock).entries())
    except SecuretuneError as exc:
        return Evidence(ok=False, error=str(exc), workspace_id=ws.config.workspace_id)
    if len(entries) != result.entries:
        # The log grew between verification and reading: refuse rather than mix the two.
        return Evidence(
            ok=False,
            error="the ledger changed while the report was being built; run it again",
            workspace_id=ws.config.workspace_id,
        )
    return Evidence(
        ok=True,
        error=None,
        entries=entries,
        root=result.root,
        checkpoint_size=result.checkpoint_size,
        verifier_key=ws.verifier_key(),
        key_name=ws.config.ledger_key_name,
        workspace_id=ws.config.workspace_id,
        runs_dir=ws.runs_dir,
    )


def signed_jsonl(path: Path, expected_sha256: str | None) -> list[dict[str, Any]] | None:
    """Rows of a JSONL file, only when its SHA-256 is the one the ledger signed.

    Returns None when the file is absent, unsigned, encrypted or altered: the report then
    says the figure is unavailable instead of drawing something the ledger does not vouch for.
    """
    if expected_sha256 is None or not path.is_file():
        return None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected_sha256:
        return None
    rows: list[dict[str, Any]] = []
    for line in data.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            return None
        if isinstance(row, dict):
            rows.append(row)
    return rows
