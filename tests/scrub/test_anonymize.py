"""Transforms run through Presidio's AnonymizerEngine: same text as our own replacement."""

from __future__ import annotations

import pytest

from securetune.policy import load_policy
from securetune.scrub.detect import Finding
from securetune.scrub.operators import OperatorContext
from securetune.scrub.pipeline import RecordResult, RecordScrubber, ScrubOptions
from securetune.scrub.synthetic import generate_notes

CTX = OperatorContext(secret=b"s" * 32, subject="patient-1", reference_year=2025)


@pytest.mark.parametrize("policy", ["hipaa-safe-harbor", "gdpr-pseudonymisation"])
def test_presidio_anonymizer_and_direct_replacement_agree(policy) -> None:
    pol = load_policy(policy)
    via, direct = (
        RecordScrubber(pol, b"s" * 32, ScrubOptions(), 2025, use_presidio_anonymizer=flag)
        for flag in (True, False)
    )
    for note in generate_notes(12, seed=4):
        found = [Finding(s.start, s.end, s.entity_type, 0.85, "gold") for s in note.spans]
        a, b = RecordResult(0, {}), RecordResult(0, {})
        assert via._replace(note.text, found, CTX, a) == direct._replace(note.text, found, CTX, b)
        assert sorted(a.mapping) == sorted(b.mapping)  # the engine works from the end


def test_each_operator_through_the_engine() -> None:
    pol = load_policy("hipaa-safe-harbor")
    rs = RecordScrubber(pol, b"s" * 32, ScrubOptions(), 2025)
    text = "Seen 8/16/2017 by Dr Ames, age 93 yo, ZIP 21201."
    found = [
        Finding(5, 14, "DATE_TIME", 0.85, "t"),
        Finding(21, 25, "PERSON", 0.85, "t"),
        Finding(31, 33, "AGE_OVER_89", 0.85, "t"),
        Finding(42, 47, "ZIP_CODE", 0.85, "t"),
    ]
    out = rs._replace(text, found, CTX, RecordResult(0, {}))
    assert out == "Seen 2017 by Dr [PERSON], age 90+ yo, ZIP 212."
