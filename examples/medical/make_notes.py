"""Regenerate ``notes.jsonl``: 12 hand-written notes plus seeded synthetic ones.

All PHI in these notes is invented (Faker and public gazetteers); nothing comes from a real
record. ``python examples/medical/make_notes.py`` rewrites the files. It also writes
``notes.truth.jsonl``: where the generator put each PHI value (record id, offsets, entity
type; never the text), which ``score_demo.py`` scores the demo's scrub against. The truth is
shipped rather than regenerated because Faker's output changes between its releases.
"""

from __future__ import annotations

import json
from pathlib import Path

from securetune.scrub.synthetic import generate_notes

HERE = Path(__file__).parent
PATIENTS = 60
NOTES = 228


def main() -> None:
    lines = (HERE / "handwritten.jsonl").read_text(encoding="utf-8").splitlines()
    truth: list[str] = []
    for i, note in enumerate(generate_notes(NOTES, seed=2026), start=len(lines) + 1):
        record = {
            "id": f"note-{i:03d}",
            "patient_id": f"P{100 + i % PATIENTS:03d}",
            "text": note.text,
        }
        lines.append(json.dumps(record))
        truth.extend(
            json.dumps(
                {
                    "record": record["id"],
                    "start": s.start,
                    "end": s.end,
                    "entity_type": s.entity_type,
                }
            )
            for s in note.spans
        )
    (HERE / "notes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (HERE / "notes.truth.jsonl").write_text("\n".join(truth) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
