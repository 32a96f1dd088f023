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
from securetune.scrub.corpus import Note, read_corpus
from securetune.scrub.score import Scorer


def scrub_spans(
    notes: list[Note], *, policy: str, workers: int, pythonpath: str | None = None
) -> tuple[dict[int, list[tuple[int, int]]], dict]:
    """Run ``securetune scrub`` on ``notes`` (``pythonpath``: another source tree, e.g. an
    older release's rules); return the detected spans per note index and the summary."""
    # the corpus copy holds real notes: keep it under the working directory, not /tmp
    with tempfile.TemporaryDirectory(prefix=".deid-", dir=Path.cwd()) as tmp:
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
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        st = [sys.executable, "-m", "securetune"]
        subprocess.run([*st, "init"], env=env, check=True, capture_output=True)
        done = subprocess.run(
            [
                *st,
                "scrub",
                str(corpus),
                "--policy",
                policy,
                "--name",
                "deid",
                "--id-field",
                "id",
                "--subject-field",
                "patient",
                "--findings",
                str(root / "findings.jsonl"),
                "--workers",
                str(workers),
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            # the CLI's one-line error names settings, never record text
            raise SystemExit(f"scrub failed: {done.stderr.strip().splitlines()[-1:]}")
        summary = json.loads(done.stdout)
        spans: dict[int, list[tuple[int, int]]] = {}
        for line in (root / "findings.jsonl").read_text().splitlines():
            f = json.loads(line)
            spans.setdefault(f["record"], []).append((f["start"], f["end"]))
    return spans, summary


def score_spans(notes: list[Note], spans: dict[int, list[tuple[int, int]]]) -> dict:
    """The corpus README's scores for ``spans`` (per note index)."""
    scorer = Scorer()
    for i, note in enumerate(notes):
        scorer.add(
            note.text, [(p.start, p.end, p.phi_type) for p in note.phrases], spans.get(i, [])
        )
    score = scorer.result()
    return {
        "recall": round(score.recall, 4),
        "recall_without_dateyear": round(score.recall_without_dateyear, 4),
        "name_recall": round(score.name_recall, 4),
        "char_precision": round(score.char_precision, 4),
        "per_type_recall": {t: round(v["recall"], 4) for t, v in score.per_type.items()},
        "misses_by_type": {t: n for t, n in score.misses_by_type.items() if n},
        "phrases": score.phrases,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--policy", default="hipaa-safe-harbor")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    notes = read_corpus(args.corpus)
    spans, summary = scrub_spans(notes, policy=args.policy, workers=args.workers)
    scores = score_spans(notes, spans)
    result = {
        **{k: v for k, v in scores.items() if k != "phrases"},
        "records_per_s": summary["records_per_s"],
        "config": {
            "policy": args.policy,
            "notes": len(notes),
            "phrases": scores["phrases"],
            "workers": args.workers,
        },
    }
    emit(result, compact=args.json, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
