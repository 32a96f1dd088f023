"""Scrub pipeline scaling: records/s with 1 worker vs N workers, measured in one run.

    python bench/scrub_workers.py --json [--notes 2000] [--workers 2] [--out FILE]

Notes come from the seeded synthetic generator (realistic nursing-note shape, known PHI).
Each configuration first scrubs a warm-up batch so every worker has built its engine, then
times the full set; the result is the ratio, which is what transfers between machines.
Target (issue 3): 2 workers >= 1.6x one worker.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from _report import emit
from securetune.policy import load_policy
from securetune.scrub.pipeline import Pipeline, ScrubOptions
from securetune.scrub.synthetic import generate_notes


def records_per_s(records: list[dict], workers: int, policy_name: str) -> float:
    options = ScrubOptions(text_fields=("text",), id_field="id", workers=workers)
    with Pipeline(load_policy(policy_name), os.urandom(32), options) as pipeline:
        for _ in pipeline.run(records[: 64 * workers]):  # warm-up: every worker builds its engine
            pass
        start = time.perf_counter()
        count = sum(1 for _ in pipeline.run(records))
        return count / (time.perf_counter() - start)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--policy", default="hipaa-safe-harbor")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    notes = generate_notes(args.notes, seed=11)
    records = [{"id": i, "text": n.text} for i, n in enumerate(notes)]
    one = records_per_s(records, 1, args.policy)
    many = records_per_s(records, args.workers, args.policy)
    result = {
        "records_per_s_1": round(one, 1),
        f"records_per_s_{args.workers}": round(many, 1),
        "speedup": round(many / one, 3),
        "config": {
            "notes": args.notes,
            "workers": args.workers,
            "policy": args.policy,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "mean_chars": round(sum(len(r["text"]) for r in records) / len(records)),
        },
    }
    emit(result, compact=args.json, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
