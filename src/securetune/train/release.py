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

from securetune.controls import evaluate
from securetune.errors import LedgerError, TrainingError
from securetune.evidence import gather, run_evidence
from securetune.fsutil import fsync_dir
from securetune.train.budget import lifetime_reader
from securetune.train.checkpoint import (
    ADAPTER_DIR,
    ADAPTER_WEIGHTS,
    ENC_SUFFIX,
    RunStore,
    files_sha256,
    run_key_name,
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


def release(ws: Workspace, run_id: str, out: Path) -> ReleaseResult:
    """Write ``out/`` as a peft adapter directory, after every control passed. Hold the lock."""
    evidence = gather(ws, lifetime=lifetime_reader(ws))
    if not evidence.ok:
        raise LedgerError(f"the ledger did not verify: {evidence.error}")
    run = run_evidence(evidence, run_id)
    # The run's controls exactly as the report shows them.
    controls = evaluate(run, ledger_ok=True)
    blocking = [c for c in controls if c.status != "passed"]
    if blocking:
        first = blocking[0]
        more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
        raise ReleaseRefused(
            f"release refused: control {first.id!r} {first.status.replace('_', ' ')}: "
            f"{first.observed}{more}"
        )
    if run.finish is None:  # unreachable while the epsilon control passes; kept explicit
        raise ReleaseRefused(f"release refused: run {run_id} has not finished")
    finish = run.finish.payload
    adapter_dir = ws.runs_dir / run_id / ADAPTER_DIR
    # Read each file once, hash exactly those bytes, and release exactly those bytes: a file
    # swapped on disk after the check can never be the one written out.
    files = _read_regular_files(adapter_dir)
    if files_sha256(files) != finish.get("adapter_sha256"):
        raise TrainingError(f"run {run_id}: the adapter on disk is not the one the ledger recorded")
    encrypted = bool(finish.get("adapter_encrypted"))
    key = ws.keyring().get(ws.kek(), run_key_name(run_id)) if encrypted else None
    store = RunStore(ws.runs_dir / run_id, run_id, key)
    rel = f"{ADAPTER_DIR}/{ADAPTER_WEIGHTS}"
    try:
        weights = (
            store.decrypt(rel, files[ADAPTER_WEIGHTS + ENC_SUFFIX])
            if encrypted
            else files[ADAPTER_WEIGHTS]
        )
        config = files[ADAPTER_CONFIG]
    except KeyError as exc:
        raise TrainingError(f"run {run_id}: the adapter has no {exc.args[0]}") from None
    weights_sha = hashlib.sha256(weights).hexdigest()

    out = Path(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, data in ((ADAPTER_WEIGHTS, weights), (ADAPTER_CONFIG, config)):
            _write_new(staging / name, data)
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
        # mkdir fails if anything exists at `out` (rename would replace an empty directory).
        os.mkdir(out, 0o700)
        for name in (ADAPTER_WEIGHTS, ADAPTER_CONFIG):
            os.rename(staging / name, out / name)
        fsync_dir(out)
        fsync_dir(out.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
    return ReleaseResult(
        run_id=run_id,
        out_dir=str(out),
        adapter_sha256=str(finish.get("adapter_sha256")),
        weights_sha256=weights_sha,
        controls_passed=len(controls),
        ledger_seq=entry.seq,
    )


def _read_regular_files(directory: Path) -> dict[str, bytes]:
    """Every regular file directly in ``directory``, never through a link."""
    files: dict[str, bytes] = {}
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            raise TrainingError(f"{directory}: {entry.name} is not a regular file")
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            files[entry.name] = fh.read()
    return files


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
