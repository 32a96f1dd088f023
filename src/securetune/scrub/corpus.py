"""Reader for the PhysioNet deid gold-standard format (used by the benchmark).

``id.text`` holds records ``START_OF_RECORD=<patient>||||<note>||||`` + newline, the note,
then ``||||END_OF_RECORD``; ``id-phi.phrase`` holds one PHI phrase a line:
``<patient> <note> <start> <end> <type> <text>`` with offsets into the note text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from securetune.errors import InputError

_RECORD = re.compile(
    r"START_OF_RECORD=(\d+)\|\|\|\|(\d+)\|\|\|\|\n(.*?)\|\|\|\|END_OF_RECORD", re.DOTALL
)


@dataclass(frozen=True)
class Phrase:
    """One annotated PHI phrase: offsets into its note and its type."""

    start: int
    end: int
    phi_type: str


@dataclass(frozen=True)
class Note:
    """One note with its gold phrases."""

    patient: str
    note: str
    text: str
    phrases: tuple[Phrase, ...] = field(default=())


def read_corpus(path: str | Path) -> list[Note]:
    """Read ``id.text`` and ``id-phi.phrase`` from the folder ``path``."""
    root = Path(path)
    text_file, phrase_file = root / "id.text", root / "id-phi.phrase"
    for f in (text_file, phrase_file):
        if not f.is_file():
            raise InputError(f"Corpus file {f} is missing.")
    raw = text_file.read_text(encoding="utf-8", errors="replace")
    notes = {(m.group(1), m.group(2)): m.group(3) for m in _RECORD.finditer(raw)}
    if not notes:
        raise InputError(f"No records found in {text_file}.")
    phrases: dict[tuple[str, str], list[Phrase]] = {}
    for lineno, line in enumerate(phrase_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=5)
        if len(parts) < 5:
            raise InputError(f"{phrase_file}:{lineno}: expected at least 5 fields.")
        key = (parts[0], parts[1])
        if key not in notes:
            raise InputError(f"{phrase_file}:{lineno}: refers to a note not in id.text.")
        start, end = int(parts[2]), int(parts[3])
        if not 0 <= start < end <= len(notes[key]):
            raise InputError(f"{phrase_file}:{lineno}: offsets out of range.")
        phrases.setdefault(key, []).append(Phrase(start, end, parts[4]))
    return [
        Note(patient=p, note=n, text=t, phrases=tuple(phrases.get((p, n), ())))
        for (p, n), t in notes.items()
    ]
