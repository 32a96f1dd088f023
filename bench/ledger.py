"""Benchmark the audit ledger: append rate, checkpoint, open and `audit verify` time.

Usage::

    .venv/bin/python bench/ledger.py --json [--entries 100000] [--fsync-sample 2000]
        [--out bench/results/ledger.json]

``appends_per_s`` is measured with durable appends (one ``fsync`` per entry, as real
ledgers are written) over ``--fsync-sample`` entries, because fsync cost is a property of
the disk, not of our code. The 100,000-entry ledger that verify reads is then built with
``durable=False``; that rate is reported as ``appends_per_s_no_fsync``. Absolute times
depend on the machine; ``verify_vs_json_parse`` (verify time divided by the time to merely
``json.loads`` every line) is the ratio to compare across machines. ``verify_s`` is the
median of ``--repeat`` runs over the same ledger; ``verify_cpu_s`` the median CPU time of
the same runs, which is what verification costs when the machine is not shared (on a
loaded machine wall time is inflated by waiting for a core: compare ``load_average``).
``write_decision_s`` is verification plus collecting the state every write now decides
from (``reconcile.LedgerView``: lineage, budget, agreement), once per command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from securetune.audit.ledger import LOG_FILE, Ledger, verify_ledger
from securetune.reconcile import LedgerView

ORIGIN = "bench.securetune.invalid/ledger"
SEED = hashlib.sha256(b"securetune bench ledger key").digest()


class _TickClock:
    """A deterministic clock: one millisecond per call, so timing excludes clock reads."""

    def __init__(self) -> None:
        self._now = datetime(2025, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now


def _payload(i: int) -> dict[str, object]:
    """A typical event payload: hashes, counts, parameters, versions."""
    digest = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
    return {
        "dataset": f"notes-{i % 7}",
        "sha256": digest,
        "records": 1000 + i,
        "policy": "hipaa-safe-harbor",
        "params": {"epsilon": 3.0, "delta": 1e-5, "lora_r": 8},
        "version": "0.1.0",
    }


def _append_rate(
    directory: Path, key: Ed25519PrivateKey, count: int, *, durable: bool
) -> tuple[Ledger, float]:
    """Create a ledger and append ``count - 1`` entries; return it and the append rate."""
    ledger = Ledger.create(
        directory,
        signing_key=key,
        origin=ORIGIN,
        actor="bench",
        payload={"version": "0.1.0"},
        clock=_TickClock(),
        durable=durable,
    )
    start = time.perf_counter()
    for i in range(count - 1):
        ledger.append("dataset.encrypt", _payload(i), actor="bench")
    elapsed = time.perf_counter() - start
    return ledger, (count - 1) / elapsed


def run(entries: int, fsync_sample: int, repeat: int) -> dict[str, object]:
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    with tempfile.TemporaryDirectory(prefix="securetune-bench-ledger-") as tmp:
        root = Path(tmp)
        _, appends_fsync = _append_rate(root / "durable", key, fsync_sample, durable=True)
        ledger, appends_no_fsync = _append_rate(root / "big", key, entries, durable=False)

        start = time.perf_counter()
        ledger.write_checkpoint(key)
        checkpoint_s = time.perf_counter() - start

        del ledger  # drop the writer's in-memory state before timing the reader
        load_before = os.getloadavg()[0]
        verify_runs, verify_cpu, decision_runs = [], [], []
        for _ in range(repeat):  # interleaved, so both see the same machine load
            start, cpu = time.perf_counter(), time.process_time()
            result = verify_ledger(root / "big", key.public_key())
            verify_runs.append(time.perf_counter() - start)
            verify_cpu.append(time.process_time() - cpu)
            start = time.perf_counter()
            view = LedgerView()
            verify_ledger(root / "big", key.public_key(), on_entry=view.add_entry)
            decision_runs.append(time.perf_counter() - start)
        verify_s = statistics.median(verify_runs)
        load_after = os.getloadavg()[0]

        start = time.perf_counter()
        with (root / "big" / LOG_FILE).open("rb") as f:
            for line in f:
                json.loads(line)
        parse_s = time.perf_counter() - start

        # What one CLI command adds to a large ledger: open, one durable append, checkpoint.
        start = time.perf_counter()
        ledger = Ledger.open(root / "big")
        open_s = time.perf_counter() - start
        ledger.append("dataset.encrypt", _payload(entries), actor="bench")
        ledger.write_checkpoint(key)
        command_s = time.perf_counter() - start

        log_bytes = (root / "big" / LOG_FILE).stat().st_size
    if result.entries != entries:
        raise RuntimeError(f"verify saw {result.entries} entries, expected {entries}")
    return {
        "appends_per_s": round(appends_fsync, 1),
        "appends_per_s_no_fsync": round(appends_no_fsync, 1),
        "verify_s_100k": round(verify_s, 3) if entries == 100_000 else None,
        "verify_s": round(verify_s, 3),
        "verify_runs_s": [round(t, 3) for t in verify_runs],
        "verify_cpu_s": round(statistics.median(verify_cpu), 3),
        "write_decision_s": round(statistics.median(decision_runs), 3),
        "write_decision_vs_verify": round(statistics.median(decision_runs) / verify_s, 2),
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "verify_entries_per_s": round(entries / verify_s, 1),
        "verify_vs_json_parse": round(verify_s / parse_s, 2),
        "checkpoint_s": round(checkpoint_s, 3),
        "open_s": round(open_s, 4),
        "command_overhead_s": round(command_s, 3),
        "log_bytes": log_bytes,
        "config": {
            "entries": entries,
            "fsync": {"appends_per_s": True, "appends_per_s_no_fsync": False},
            "fsync_sample": fsync_sample,
            "verify_repeat": repeat,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--fsync-sample", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="verify runs (median reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--out", type=Path, default=Path("bench/results/ledger.json"))
    args = parser.parse_args(argv)
    if args.entries < 2 or args.fsync_sample < 2 or args.repeat < 1:
        parser.error("--entries and --fsync-sample must be at least 2, --repeat at least 1")
    result = run(args.entries, args.fsync_sample, args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    else:
        for name, value in result.items():
            sys.stderr.write(f"{name}: {value}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
