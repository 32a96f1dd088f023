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


def test_texts_do_not_depend_on_the_process_hash_seed() -> None:
    import os
    import subprocess
    import sys

    from securetune.scrub import pii_text

    # load the module file alone (it needs only Faker), not the whole scrub package
    code = (
        "import importlib.util as u, sys;"
        f"s = u.spec_from_file_location('p', {pii_text.__file__!r});"
        "m = sys.modules['p'] = u.module_from_spec(s); s.loader.exec_module(m);"
        "print([t.text for t in m.generate_pii_texts(80, seed=0)])"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outs) == 1
