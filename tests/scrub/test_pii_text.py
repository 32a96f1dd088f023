"""The general-PII text generator: seeded, many locales, spans that point at the values."""

from __future__ import annotations

from securetune.scrub.pii_text import LOCALES, SLOTS, generate_pii_texts


def test_same_seed_same_texts_and_every_locale_used() -> None:
    texts = generate_pii_texts(len(LOCALES) * 2, seed=5)
    assert texts == generate_pii_texts(len(LOCALES) * 2, seed=5)
    assert texts != generate_pii_texts(len(LOCALES) * 2, seed=6)
    assert {t.locale for t in texts} == set(LOCALES)


def test_spans_cover_the_filled_slots_exactly() -> None:
    kinds = {entity for entity, _ in SLOTS.values()}
    for t in generate_pii_texts(60, seed=2):
        assert t.spans, t.locale
        for s in t.spans:
            value = t.text[s.start : s.end]
            assert value and value == value.strip()
            assert "{" not in value and s.entity_type in kinds
        starts = [s.start for s in t.spans]
        assert starts == sorted(starts)
