"""Regenerate ``notes.jsonl``: 12 hand-written notes plus seeded synthetic ones.

All PHI in these notes is invented (Faker and public gazetteers); nothing comes from a real
record. ``python examples/medical/make_notes.py`` rewrites the file byte for byte.
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
    for i, note in enumerate(generate_notes(NOTES, seed=2026), start=len(lines) + 1):
        record = {
            "id": f"note-{i:03d}",
            "patient_id": f"P{100 + i % PATIENTS:03d}",
            "text": note.text,
        }
        lines.append(json.dumps(record))
    (HERE / "notes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
