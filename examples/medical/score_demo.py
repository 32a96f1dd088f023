"""Score the demo's scrub against the synthetic notes' ground truth (offsets only, no text).

``notes.truth.jsonl`` says where the generator put every PHI value in the synthetic notes;
this checks each against the findings file `securetune scrub --findings` wrote, with the
PhysioNet corpus's rule (a phrase is caught when every non-space character of it lies inside
a detected span). Prints one JSON object: phrase recall overall and per entity type, and
character precision. The 12 hand-written notes have no ground truth and are not scored.

    python examples/medical/score_demo.py FINDINGS.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from securetune.scrub.score import Scorer

HERE = Path(__file__).parent


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def main(findings_path: str) -> None:
    texts = {r["id"]: r["text"] for r in _jsonl(HERE / "notes.jsonl")}
    truth: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for t in _jsonl(HERE / "notes.truth.jsonl"):
        truth[t["record"]].append((t["start"], t["end"], t["entity_type"]))
    found: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for f in _jsonl(Path(findings_path)):
        if f["field"] == "text":
            found[str(f["record"])].append((f["start"], f["end"]))
    scorer = Scorer()
    for record_id, gold in truth.items():
        scorer.add(texts[record_id], gold, found.get(record_id, []))
    r = scorer.result()
    print(
        json.dumps(
            {
                "notes": len(truth),
                "phrases": r.phrases,
                "recall": round(r.recall, 4),
                "char_precision": round(r.char_precision, 4),
                "per_type": {k: round(v["recall"], 4) for k, v in sorted(r.per_type.items())},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
