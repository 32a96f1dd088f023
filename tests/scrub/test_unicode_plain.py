"""Text pasted from word processors, PDFs and web pages: Unicode spaces, dashes, full-width
digits and typographic apostrophes are read as their plain forms, and findings point at the
original characters (offsets never move)."""

from __future__ import annotations

import pytest

from securetune.scrub.detect import plain

NBSP, NNBSP, EN = "\u00a0", "\u202f", "\u2013"
CARD = f"4111{NBSP}1111{NBSP}1111{NBSP}1111"
FR_PHONE = f"01{NNBSP}23{NNBSP}45{NNBSP}67{NNBSP}89"
IBAN = f"DE89{NBSP}3704{NBSP}0044{NBSP}0532{NBSP}0130{NBSP}00"

CASES = [
    (f"Card number {CARD} was lost.", CARD, "CREDIT_CARD"),
    (f"Tél. : {FR_PHONE}", FR_PHONE, "PHONE_NUMBER"),
    (f"phone 555{EN}012{EN}0199 please", f"555{EN}012{EN}0199", "PHONE_NUMBER"),
    (f"SSN 078{NBSP}05{NBSP}1120 on file", f"078{NBSP}05{NBSP}1120", "US_SSN"),
    (f"IBAN {IBAN} today", IBAN, "IBAN_CODE"),
    ("Phone：０３-５５５５-０１９９", "０３-５５５５-０１９９", "PHONE_NUMBER"),
]


@pytest.mark.parametrize(("text", "value", "entity"), CASES)
def test_numbers_with_unicode_separators_are_found_whole(detector, text, value, entity) -> None:
    assert [(text[f.start : f.end], f.entity_type) for f in detector.detect(text)] == [
        (value, entity)
    ]


def test_a_name_after_a_no_break_space_and_a_typographic_apostrophe(detector) -> None:
    text = f"Mr.{NBSP}Quillfeather and Dr. O\u2019Brannigan phoned."
    found = [text[f.start : f.end] for f in detector.detect(text)]
    assert found == ["Quillfeather", "O\u2019Brannigan"]


def test_plain_keeps_every_offset() -> None:
    text = f"a{NBSP}b{EN}c\u2019d０：e"
    assert len(plain(text)) == len(text)
    assert plain(text) == "a b-c'd0:e"
