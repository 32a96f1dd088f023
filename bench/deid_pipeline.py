"""The `securetune scrub` command itself, scored on a PhysioNet-deid-format corpus.

    python bench/deid_pipeline.py --corpus ../shared/data/physionet-deid-dev --json

`bench/deid.py` measures the detector; this measures what users run: the corpus is written
as JSONL into a temporary directory, a temporary workspace is created, `securetune scrub
--policy hipaa-safe-harbor --findings F` runs as a subprocess, and the findings file
(offsets only) is scored with the corpus README's rules (phrase recall, character
precision). Nothing from the corpus is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _report import emit
from securetune.scrub.corpus import read_corpus
from securetune.scrub.score import Scorer


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--policy", default="hipaa-safe-harbor")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    notes = read_corpus(args.corpus)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus.jsonl"
        corpus.write_text(
            "".join(
                json.dumps({"id": i, "patient": n.patient, "text": n.text}) + "\n"
                for i, n in enumerate(notes)
            )
        )
        env = {
            **os.environ,
            "SECURETUNE_WORKSPACE": str(root / "ws"),
            "SECURETUNE_WITNESS_DIR": str(root / "w"),
        }
        st = [sys.executable, "-m", "securetune"]
        subprocess.run([*st, "init"], env=env, check=True, capture_output=True)
        done = subprocess.run(
            [
                *st,
                "scrub",
                str(corpus),
                "--policy",
                args.policy,
                "--name",
                "deid",
                "--id-field",
                "id",
                "--subject-field",
                "patient",
                "--findings",
                str(root / "findings.jsonl"),
                "--workers",
                str(args.workers),
                "--json",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        summary = json.loads(done.stdout)
        spans: dict[int, list[tuple[int, int]]] = {}
        for line in (root / "findings.jsonl").read_text().splitlines():
            f = json.loads(line)
            spans.setdefault(f["record"], []).append((f["start"], f["end"]))
    scorer = Scorer()
    for i, note in enumerate(notes):
        scorer.add(
            note.text, [(p.start, p.end, p.phi_type) for p in note.phrases], spans.get(i, [])
        )
    score = scorer.result()
    result = {
        "recall": round(score.recall, 4),
        "recall_without_dateyear": round(score.recall_without_dateyear, 4),
        "name_recall": round(score.name_recall, 4),
        "char_precision": round(score.char_precision, 4),
        "per_type_recall": {t: round(v["recall"], 4) for t, v in score.per_type.items()},
        "misses_by_type": {t: n for t, n in score.misses_by_type.items() if n},
        "records_per_s": summary["records_per_s"],
        "config": {
            "policy": args.policy,
            "notes": len(notes),
            "phrases": score.phrases,
            "workers": args.workers,
        },
    }
    emit(result, compact=args.json, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
