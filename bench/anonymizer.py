"""Presidio's AnonymizerEngine (with our custom operators) against our direct replacement.

    python bench/anonymizer.py --corpus ../shared/data/physionet-deid-dev --json

Detects once, then times only the replacement step both ways on the same findings, under
each built-in policy, and checks that both give the same text. Ratios in one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _report import emit
from securetune.policy import load_policy
from securetune.scrub.corpus import read_corpus
from securetune.scrub.operators import OperatorContext
from securetune.scrub.pipeline import (
    RecordResult,
    RecordScrubber,
    ScrubOptions,
    detect_long,
    join_adjacent,
)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    notes = read_corpus(args.corpus)
    result: dict = {"config": {"notes": len(notes)}}
    for name in ("hipaa-safe-harbor", "gdpr-pseudonymisation"):
        policy = load_policy(name)
        timed = {}
        outputs = {}
        for presidio in (True, False):
            rs = RecordScrubber(
                policy, b"k" * 32, ScrubOptions(), 2026, use_presidio_anonymizer=presidio
            )
            found = [join_adjacent(detect_long(rs.detector, n.text), n.text) for n in notes]
            best = float("inf")
            for _ in range(3):
                texts = []
                t0 = time.perf_counter()
                for n, fs in zip(notes, found, strict=True):
                    ctx = OperatorContext(secret=rs.secret, subject=n.patient, reference_year=2026)
                    texts.append(rs._replace(n.text, fs, ctx, RecordResult(0, {})))
                best = min(best, time.perf_counter() - t0)
            timed[presidio] = best
            outputs[presidio] = texts
        result[name] = {
            "presidio_anonymizer_notes_per_s": round(len(notes) / timed[True], 1),
            "direct_notes_per_s": round(len(notes) / timed[False], 1),
            "presidio_over_direct_time": round(timed[True] / timed[False], 2),
            "identical_output": outputs[True] == outputs[False],
        }
    emit(result, compact=args.json, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
