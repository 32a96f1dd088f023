"""Phones and pagers, ages over 89, and identifying numbers with their cue words."""

from __future__ import annotations

import pytest

from .conftest import at, spans

PH = "PHONE_NUMBER"

MUST_MATCH = [
    # missing, doubled and spaced separators; a label joined by dashes; run together
    ("son 617- 555- 0199. ", [(4, 18, "PHONE_NUMBER")]),
    (
        "CELL-617 555-0142 & WORK---617--555--0188",
        [(5, 17, "PHONE_NUMBER"), (27, 41, "PHONE_NUMBER")],
    ),
    (
        "call wife at (617)555-0123 x14 or cell 6175550177",
        [(13, 30, "PHONE_NUMBER"), (39, 49, "PHONE_NUMBER")],
    ),
    (
        "Call (201) 555-0145 or 201-555-0191; fax 201/555/0123; pager #54321; PG 33445.",
        [(5, 19, PH), (23, 35, PH), (41, 53, PH), (62, 67, PH), (72, 77, PH)],
    ),
    ("home 555-1234, cell 617.555.0142 x204", [(5, 13, PH), (20, 37, PH)]),
    (
        "92 yo woman; 92 year old; age 101; 89 yo man; 95-year-old.",
        [
            (0, 2, "AGE_OVER_89"),
            (13, 15, "AGE_OVER_89"),
            (30, 33, "AGE_OVER_89"),
            (46, 48, "AGE_OVER_89"),
        ],
    ),
    (
        "a woman in her mid-90's, in his nineties",
        [(19, 23, "AGE_OVER_89"), (32, 40, "AGE_OVER_89")],
    ),
    (
        "MRN: 0012345. Acct # 88-123456. Medicare ID 1EG4TE5MK73. license no. D1234567.",
        [
            (5, 12, "MEDICAL_RECORD_NUMBER"),
            (21, 30, "ACCOUNT_NUMBER"),
            (44, 55, "HEALTH_PLAN_ID"),
            (69, 77, "LICENSE_NUMBER"),
        ],
    ),
    (
        "pacemaker serial PJN123456. VIN 1HGCM82633A004352. SSN 123-45-6789.",
        [(17, 26, "DEVICE_ID"), (32, 49, "VEHICLE_ID"), (55, 66, "US_SSN")],
    ),
    # after an SSN cue, any layout of the nine digits is the SSN (not a phone number)
    (
        "SSN 078 05 1120; social security no. 078051120; SS# 078.05.1120.",
        [(4, 15, "US_SSN"), (37, 46, "US_SSN"), (52, 63, "US_SSN")],
    ),
    (
        "Boston, MA 02115-1234 and zip 21201.",
        [(0, 6, "LOCATION"), (11, 21, "ZIP_CODE"), (30, 35, "ZIP_CODE")],
    ),
]

MUST_NOT_MATCH = [
    "HR 72, 10 beats, 12345 not a pager, BP 110/60, Na 138, K 4.0.",
    "Hgb 12.3, plt 245000, lot of secretions, model of care, serial ABGs.",
    "89 yo male, 45 year old daughter, 90 minutes of PT, BP in the 90s.",
    "I/O 1200/3400, UO 45cc/hr, CVP 12-15, 2130 pt resting.",
    "SSN 000 12 3456 and SSN 666-12-3456 are not issued; social security 078 05 1120.5.",
]


@pytest.mark.parametrize(("text", "expected"), MUST_MATCH)
def test_numbers_found_with_exact_offsets(detector, text, expected) -> None:
    assert spans(detector, text) == expected


@pytest.mark.parametrize("text", MUST_NOT_MATCH)
def test_clinical_numbers_are_left(detector, text) -> None:
    assert spans(detector, text) == []


def test_general_pii_checksums_decide(detector) -> None:
    # Luhn-valid card, mod-97-valid IBAN, a number written with a country code
    text = "card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, tel +44 20 7946 0958"
    assert spans(detector, text) == [
        at(text, "4111 1111 1111 1111", "CREDIT_CARD"),
        at(text, "GB82 WEST 1234 5698 7654 32", "IBAN_CODE"),
        at(text, "+44 20 7946 0958", "PHONE_NUMBER"),
    ]
    # one digit changed: neither checksum holds, so neither is reported
    bad = "card 4111 1111 1111 1112, IBAN GB82 WEST 1234 5698 7654 33"
    assert [s for s in spans(detector, bad) if s[2] in ("CREDIT_CARD", "IBAN_CODE")] == []


def test_passport_needs_its_cue(detector) -> None:
    text = "passport no. 912803456 on file; order 912803456 units"
    assert spans(detector, text) == [at(text, "912803456", "US_PASSPORT")]


def test_national_formats_of_other_countries_after_a_phone_cue(detector) -> None:
    text = "call back on (029) 2018 0344, tel. 04 42 91 18 62 or contact 07 1027 3464"
    assert [s for s in spans(detector, text) if s[2] == "PHONE_NUMBER"] == [
        at(text, "(029) 2018 0344", "PHONE_NUMBER"),
        at(text, "04 42 91 18 62", "PHONE_NUMBER"),
        at(text, "07 1027 3464", "PHONE_NUMBER"),
    ]
    # a cue alone does not make a number a phone number
    assert spans(detector, "call 911. phone in 5 mins. number 3 of 4. Cell count 12000.") == []
