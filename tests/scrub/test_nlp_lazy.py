"""Presidio's NLP artifacts are built only when a context-word check reads them, and the
findings are the same as when they are built for every text."""

from __future__ import annotations

import pytest

from securetune.scrub.nlp import OfflineSpacyNlpEngine
from securetune.scrub.pii_text import generate_pii_texts

from .conftest import spans


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Texts for which spaCy's tokenizer ran, in order."""
    seen: list[str] = []
    real = OfflineSpacyNlpEngine.artifacts

    def counting(self, text: str, language: str):
        seen.append(text)
        return real(self, text, language)

    monkeypatch.setattr(OfflineSpacyNlpEngine, "artifacts", counting)
    return seen


def test_a_note_with_nothing_that_needs_context_words_is_not_tokenized_by_spacy(
    detector, builds: list[str]
) -> None:
    text = "Seen by Dr. Quillfeather on 7/22, BP 120/80, resting."
    assert spans(detector, text) == [(12, 24, "PERSON"), (28, 32, "DATE_TIME")]
    assert builds == []


def test_a_finding_whose_recognizer_reads_context_words_tokenizes_its_text_once(
    detector, builds: list[str]
) -> None:
    text = "Refund to IBAN GB82 WEST 1234 5698 7654 32 today."
    assert any(e == "IBAN_CODE" for _, _, e in spans(detector, text))
    assert builds == [text]


def test_a_context_word_still_lifts_a_weak_pattern_over_the_threshold(detector) -> None:
    # Presidio's ITIN pattern without dashes scores below the threshold; "taxpayer" lifts it
    assert spans(detector, "Taxpayer 912711234 on the return.") == [(9, 18, "US_ITIN")]
    assert spans(detector, "Reference 912711234 on the return.") == []


def test_findings_are_the_same_as_with_artifacts_built_for_every_text(
    detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [t.text for t in generate_pii_texts(84, seed=3)] + [
        "Pt's daughter Ilse Vandermolen called from 617 555 0142 re: account 4417 1234 5678.",
        "Bank account number 123456789012 on file; social security 078-05-1120.",
        "Taxpayer 912711234 on the return.",
    ]
    lazy = [spans(detector, t) for t in texts]
    monkeypatch.setattr(
        OfflineSpacyNlpEngine,
        "process_text",
        lambda self, text, language: self.artifacts(text, language),
    )
    assert [spans(detector, t) for t in texts] == lazy
