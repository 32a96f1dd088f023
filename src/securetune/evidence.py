"""Evidence: the verified ledger's entries, and files whose hash it signs.

The compliance report and `release` decide from nothing the ledger does not vouch for.
:func:`gather` verifies the whole ledger first (chain, signed checkpoint, witness); when that
fails the caller states the failure and uses no facts at all, because facts read from a
ledger that does not verify could have been written by anyone.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from securetune.audit.ledger import Entry, Ledger
from securetune.controls import RunEvidence
from securetune.errors import SecuretuneError
from securetune.workspace import Workspace

DATASET_CREATED = ("data.add", "scrub")


class ReportError(SecuretuneError):
    """What was asked for is not in the evidence (an unknown run, ...)."""


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
    policy_dirs: tuple[Path, ...] = ()
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
        policy_dirs=(ws.root / "policies",),
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


def run_evidence(evidence: Evidence, run_id: str) -> RunEvidence:
    entries = evidence.run_events(run_id)
    start = next((e for e in entries if e.event == "train.start"), None)
    if start is None:
        known = [e.payload.get("run_id") for e in evidence.events("train.start")]
        hint = (
            f"; known runs: {', '.join(str(k) for k in known[-5:])}" if known else "; no runs yet"
        )
        raise ReportError(f"no training run {run_id!r} in the ledger{hint}")
    finish = next((e for e in entries if e.event == "train.finish"), None)
    fail = next((e for e in entries if e.event == "train.fail"), None)
    checkpoints = tuple(e for e in entries if e.event == "train.checkpoint")
    checks = tuple(e for e in entries if e.event == "check")
    dataset_id = start.payload.get("dataset_id")
    origin = None
    for entry in evidence.events(*DATASET_CREATED):
        if entry.payload.get("dataset_id") == dataset_id:
            origin = entry
    lifetime, runs = _lifetime_spend(evidence, start.payload)
    return RunEvidence(
        start=start,
        finish=finish,
        fail=fail,
        checkpoints=checkpoints,
        dataset_origin=origin,
        checks=checks,
        lifetime_epsilon=lifetime,
        lifetime_runs=runs,
    )


def _same_data(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("dataset_lineage", "dataset_id", "dataset_content_sha256")
    return any(a.get(k) is not None and a.get(k) == b.get(k) for k in keys)


def _lifetime_spend(
    evidence: Evidence, start: Mapping[str, Any]
) -> tuple[float, tuple[Entry, ...]]:
    """Epsilon summed over every run on the same data, as the budget check computes it."""
    total = 0.0
    used: list[Entry] = []
    for entry in evidence.events("train.start"):
        if not _same_data(entry.payload, start):
            continue
        run_id = entry.payload.get("run_id")
        events = evidence.run_events(str(run_id))
        finish = next((o for o in events if o.event == "train.finish"), None)
        fail = next((o for o in events if o.event == "train.fail"), None)
        if fail is not None and not fail.payload.get("released", True) and finish is None:
            continue  # refused before its first checkpoint: nothing left the process
        used.append(entry)
        if entry.payload.get("no_dp"):
            total = math.inf
        elif finish is not None:
            total += float(
                finish.payload.get("epsilon_spent", entry.payload.get("epsilon_target", 0))
            )
        else:
            total += float(entry.payload.get("epsilon_target") or 0)
    return total, tuple(used)
