"""Getting a trained adapter out: a plain peft directory, only when the policy's controls hold.

An encrypted adapter is useless to its owner until it is released, and a released adapter is
beyond the workspace's protection, so `release` is itself a control point: every control the
run's policy imposes (re-checked against the verified ledger, exactly as the report shows
them) must have passed, including a memorization `check` recorded after training. The release
is ledgered (run, adapter hash, destination, actor) before the files appear, so no adapter
leaves without a trace.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from securetune.controls import Control, evaluate
from securetune.errors import LedgerError, TrainingError
from securetune.evidence import gather, run_evidence
from securetune.fsutil import fsync_dir
from securetune.train.checkpoint import (
    ADAPTER_DIR,
    ADAPTER_WEIGHTS,
    RunStore,
    run_key_name,
    tree_sha256,
)
from securetune.workspace import Workspace

RELEASE = "release"
ADAPTER_CONFIG = "adapter_config.json"


class ReleaseRefused(TrainingError):
    """A release control did not pass; nothing was written."""

    exit_code = 3


@dataclass(frozen=True)
class ReleaseResult:
    run_id: str
    out_dir: str
    adapter_sha256: str
    weights_sha256: str
    controls_passed: int
    ledger_seq: int


def release_controls(ws: Workspace, run_id: str) -> list[Control]:
    """The run's controls as the report shows them; raises when the ledger does not verify."""
    evidence = gather(ws)
    if not evidence.ok:
        raise LedgerError(f"the ledger did not verify: {evidence.error}")
    return evaluate(run_evidence(evidence, run_id), ledger_ok=True)


def release(ws: Workspace, run_id: str, out: Path) -> ReleaseResult:
    """Write ``out/`` as a peft adapter directory, after every control passed. Hold the lock."""
    controls = release_controls(ws, run_id)
    blocking = [c for c in controls if c.status != "passed"]
    if blocking:
        first = blocking[0]
        more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
        raise ReleaseRefused(
            f"release refused: control {first.id!r} {first.status.replace('_', ' ')}: "
            f"{first.observed}{more}"
        )
    evidence = gather(ws)
    run = run_evidence(evidence, run_id)
    assert run.finish is not None  # a passed epsilon-per-run control implies a finish event
    finish = run.finish.payload
    run_dir = ws.runs_dir / run_id
    key = (
        ws.keyring().get(ws.kek(), run_key_name(run_id))
        if finish.get("adapter_encrypted")
        else None
    )
    store = RunStore(run_dir, run_id, key)
    weights = store.read(f"{ADAPTER_DIR}/{ADAPTER_WEIGHTS}")
    config = (run_dir / ADAPTER_DIR / ADAPTER_CONFIG).read_bytes()
    if tree_sha256(run_dir / ADAPTER_DIR) != finish.get("adapter_sha256"):
        raise TrainingError(f"run {run_id}: the adapter on disk is not the one the ledger recorded")

    out = Path(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, data in ((ADAPTER_WEIGHTS, weights), (ADAPTER_CONFIG, config)):
            fd = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        weights_sha = hashlib.sha256(weights).hexdigest()
        entry = ws.record(
            RELEASE,
            {
                "run_id": run_id,
                "adapter_sha256": finish.get("adapter_sha256"),
                "weights_sha256": weights_sha,
                "destination": str(out.resolve()),
                "controls_passed": len(controls),
            },
        )
        os.rename(staging, out)  # fails if out appeared meanwhile: never merge into a directory
        fsync_dir(out.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
        raise
    return ReleaseResult(
        run_id=run_id,
        out_dir=str(out),
        adapter_sha256=str(finish.get("adapter_sha256")),
        weights_sha256=weights_sha,
        controls_passed=len(controls),
        ledger_seq=entry.seq,
    )
