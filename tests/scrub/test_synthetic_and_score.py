"""The seeded synthetic generator round trip, the deid scoring rule and the corpus reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from securetune.errors import InputError
from securetune.scrub.corpus import read_corpus
from securetune.scrub.score import Scorer
from securetune.scrub.synthetic import generate_notes


def test_generation_is_deterministic_in_the_seed() -> None:
    a = generate_notes(5, seed=11)
    assert a == generate_notes(5, seed=11)
    assert a != generate_notes(5, seed=12)
    assert all(s.end <= len(n.text) for n in a for s in n.spans)


def test_synthetic_phi_is_recalled(detector) -> None:
    scorer = Scorer()
    missed_types = []
    for note in generate_notes(40, seed=2024):
        gold = [(s.start, s.end, s.entity_type) for s in note.spans]
        found = [(f.start, f.end) for f in detector.detect(note.text)]
        missed_types += [t for _, _, t in scorer.add(note.text, gold, found)]
    result = scorer.result()
    assert result.phrases > 400
    assert result.recall >= 0.98, missed_types
    assert result.char_precision >= 0.95


def test_scoring_counts_non_space_characters_only() -> None:
    s = Scorer()
    text = "Dr Ann Lee on 7/22 ok"
    gold = [(3, 10, "HCPName"), (14, 18, "Date")]
    # "Ann" and "Lee" detected separately: the space between them does not matter.
    assert s.add(text, gold, [(3, 6), (7, 10), (19, 21)]) == [(14, 18, "Date")]
    r = s.result()
    assert (r.phrases, r.caught, r.recall, r.name_recall) == (2, 1, 0.5, 1.0)
    assert r.misses_by_type == {"Date": 1, "HCPName": 0}
    assert (r.detected_chars, r.true_chars, r.char_precision) == (8, 6, 0.75)
    assert r.recall_without_dateyear == 0.5


def _write_corpus(root: Path, phrases: str) -> Path:
    root.mkdir()
    note = "Seen by Dr Smith 7/22.\n"
    (root / "id.text").write_text(f"START_OF_RECORD=1||||1||||\n{note}||||END_OF_RECORD\n")
    (root / "id-phi.phrase").write_text(phrases)
    return root


def test_corpus_reader_reads_notes_and_phrases(tmp_path) -> None:
    root = _write_corpus(tmp_path / "c", "1 1 11 16 HCPName Smith\n1 1 17 21 Date 7/22\n")
    (note,) = read_corpus(root)
    assert note.text[11:16] == "Smith"
    assert [(p.start, p.end, p.phi_type) for p in note.phrases] == [
        (11, 16, "HCPName"),
        (17, 21, "Date"),
    ]


@pytest.mark.parametrize("phrases", ["1 1 11 99 HCPName x\n", "2 1 0 1 Date x\n", "1 1\n"])
def test_corpus_reader_rejects_bad_phrase_lines(tmp_path, phrases) -> None:
    with pytest.raises(InputError):
        read_corpus(_write_corpus(tmp_path / "c", phrases))
