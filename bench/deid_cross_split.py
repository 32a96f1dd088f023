"""Rules written on one split, scored on the other: both directions, one run.

    python bench/deid_cross_split.py \\
        --split dev=../shared/data/physionet-deid-dev \\
        --split dev2=../shared/data/physionet-deid-dev2 \\
        --rules "first-release:d6fe718:dev" --rules "current:WORKTREE:dev2" \\
        --out bench/results/deid_cross_split.json

Each ``--rules NAME:REV:TUNED_ON`` names a rule set by git revision (``WORKTREE`` is the
checked-out source) and the split its rules were written while looking at (``dev+dev2`` when
rules written on one were later extended while looking at the other: then no split is held out). The revision's
``src/`` is exported with ``git archive`` into a temporary directory and ``securetune scrub``
runs from it (as ``bench/deid_pipeline.py`` does) on every split; each cell of the table
says whether it is held out (honest: the rules never saw that split) or in-sample.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from _report import emit
from deid_pipeline import score_spans, scrub_spans
from securetune.scrub.corpus import read_corpus

ROOT = Path(__file__).resolve().parent.parent


def export_src(rev: str, into: Path) -> str:
    """The ``src`` directory of ``rev`` (or of the working tree) as a PYTHONPATH entry
    (with the built-in policies that sit beside it in the repository)."""
    if rev == "WORKTREE":
        return str(ROOT / "src")
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "src", "policies"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    if not (into / "src" / "securetune" / "__init__.py").is_file():
        # else the venv's installed securetune would run instead, silently
        raise SystemExit(f"revision {rev} has no src/securetune")
    return str(into / "src")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", action="append", required=True, help="NAME=PATH")
    ap.add_argument("--rules", action="append", required=True, help="NAME:REV:TUNED_ON")
    ap.add_argument("--policy", default="hipaa-safe-harbor")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    splits = dict(s.split("=", 1) for s in args.split)
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.rules:
            name, rev, tuned_on = spec.split(":")
            src = export_src(rev, Path(tmp) / name)
            for split, path in splits.items():
                notes = read_corpus(path)
                spans, summary = scrub_spans(notes, policy=args.policy, workers=1, pythonpath=src)
                cells.append(
                    {
                        "rules": name,
                        "revision": rev,
                        "rules_written_on": tuned_on,
                        "scored_on": split,
                        "held_out": split not in tuned_on.split("+"),
                        "notes": len(notes),
                        "records_per_s": summary["records_per_s"],
                        **score_spans(notes, spans),
                    }
                )
    emit({"policy": args.policy, "cells": cells}, compact=args.json, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
