"""Score the demo's scrub against the synthetic notes' ground truth (offsets only, no text).

The synthetic notes in ``notes.jsonl`` come from a seeded generator that knows where it put
every PHI value; this regenerates those spans and checks them against the findings file
`securetune scrub --findings` wrote, with the PhysioNet corpus's phrase-recall rule.
Prints one JSON object: phrase recall overall and per entity type, character precision.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from make_notes import NOTES

from securetune.scrub.score import Scorer
from securetune.scrub.synthetic import generate_notes

HERE = Path(__file__).parent


def main(findings_path: str) -> None:
    handwritten = len((HERE / "handwritten.jsonl").read_text(encoding="utf-8").splitlines())
    truth = {
        f"note-{i:03d}": note
        for i, note in enumerate(generate_notes(NOTES, seed=2026), start=handwritten + 1)
    }
    found: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for line in Path(findings_path).read_text(encoding="utf-8").splitlines():
        f = json.loads(line)
        if f["field"] == "text":
            found[str(f["record"])].append((f["start"], f["end"]))
    scorer = Scorer()
    for record_id, note in truth.items():
        gold = [(s.start, s.end, s.entity_type) for s in note.spans]
        scorer.add(note.text, gold, found.get(record_id, []))
    r = scorer.result()
    print(json.dumps({
        "notes": len(truth),
        "phrases": r.phrases,
        "recall": round(r.recall, 4),
        "char_precision": round(r.char_precision, 4),
        "per_type": {k: round(v["recall"], 4) for k, v in sorted(r.per_type.items())},
    }, indent=2))


if __name__ == "__main__":
    main(sys.argv[1])
