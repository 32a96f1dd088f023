"""Transformations: what each operator turns a detected span into."""

from __future__ import annotations

import pytest

from securetune.scrub.operators import (
    OperatorContext,
    age_90_plus,
    apply,
    date_shift,
    keep_year,
    pseudonym,
    shift_days,
    zip3,
)

CTX = OperatorContext(secret=b"s" * 32, subject="patient-1", reference_year=2025)


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        ("8/16/2017", "2017"),
        ("7/22/97", "1997"),
        ("1/2/05", "2005"),
        ("nov. 2016", "2016"),
        ("Nov '97", "1997"),
        ("7/22", "[DATE]"),  # no year: nothing may stay
        ("the 3rd", "[DATE]"),
        ("11th", "[DATE]"),
    ],
)
def test_keep_year_keeps_only_the_year(span: str, expected: str) -> None:
    assert keep_year(span, CTX) == expected


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        ("DOB 3/4/1925", "[DATE]"),  # a birth year revealing an age over 89 goes too
        ("3/4/1935", "[DATE]"),  # 90 years before the reference year: may be 90 already
        ("3/4/1936", "1936"),  # at most 89
        ("1890", "[DATE]"),
        ("7/22/33", "[DATE]"),  # two-digit year: 1933 under the default century pivot
        ("Nov '34", "[DATE]"),
        ("Nov '36", "1936"),
        ("1925-2024", "[DATE]"),  # any old year in the span removes it
    ],
)
def test_keep_year_drops_years_that_reveal_an_age_over_89(span: str, expected: str) -> None:
    assert keep_year(span, CTX) == expected


def test_keep_year_judges_against_the_reference_year_it_is_given() -> None:
    later = OperatorContext(secret=b"s" * 32, subject="patient-1", reference_year=2030)
    assert keep_year("3/4/1936", CTX) == "1936"
    assert keep_year("3/4/1936", later) == "[DATE]"
    assert apply("keep_year", "DOB 3/4/1925", "DATE_TIME", CTX) == "[DATE]"


def test_date_shift_keeps_intervals_within_a_subject_and_format() -> None:
    days = shift_days(CTX)
    assert days != 0 and -365 <= days <= 365
    a, b = date_shift("1/10/2020", CTX), date_shift("1/20/2020", CTX)
    from datetime import datetime

    da, db = (datetime.strptime(x, "%m/%d/%Y") for x in (a, b))
    assert (db - da).days == 10
    assert date_shift("2020-01-10", CTX) == da.date().isoformat()


def test_date_shift_differs_between_subjects_and_secrets() -> None:
    others = {
        shift_days(OperatorContext(secret=b"s" * 32, subject=f"patient-{i}", reference_year=2025))
        for i in range(20)
    }
    assert len(others) > 15
    assert shift_days(
        OperatorContext(secret=b"t" * 32, subject="patient-1", reference_year=2025)
    ) != shift_days(CTX)


def test_unparsable_dates_are_replaced_not_kept() -> None:
    assert date_shift("on the 3rd", CTX) == "[DATE]"
    assert date_shift("13/45/2020", CTX) == "[DATE]"


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        ("02139", "021"),
        ("02139-4307", "021"),
        ("03601", "000"),
        ("89001", "000"),
        ("123", "[ZIP_CODE]"),
    ],
)
def test_zip3_keeps_three_digits_or_000_for_small_areas(span: str, expected: str) -> None:
    assert zip3(span) == expected


@pytest.mark.parametrize("span", ["92", "103 yo", "aged 92 93 yo", "92-93", "ninety-two"])
def test_ages_over_89_become_90_plus_for_the_whole_span(span: str) -> None:
    # a joined span ("92 93") must not leak its second number
    assert age_90_plus(span) == "90+"
    assert apply("age_90_plus", span, "AGE_OVER_89", CTX) == "90+"


def test_pseudonyms_are_consistent_keyed_and_realistic() -> None:
    first = pseudonym("Margaret Okafor", "PERSON", CTX)
    assert pseudonym("margaret   OKAFOR", "PERSON", CTX) == first  # normalised value
    assert (
        pseudonym(
            "Margaret Okafor",
            "PERSON",
            OperatorContext(secret=b"x" * 32, subject="p", reference_year=2025),
        )
        != first
    )
    assert "Okafor" not in first and len(first.split()) >= 2
    mrn = pseudonym("4471902", "MEDICAL_RECORD_NUMBER", CTX)
    assert mrn != "4471902" and mrn.isdigit() and len(mrn) == 7


def test_apply_dispatches_on_the_policy_operator() -> None:
    assert apply("placeholder", "Jane", "PERSON", CTX) == "[PERSON]"
    assert apply("redact", "Jane", "PERSON", CTX) == ""
    assert apply("keep", "Jane", "PERSON", CTX) == "Jane"
    assert apply("keep_year", "Jane", "PERSON", CTX) == "[PERSON]"  # only dates have a year


def test_type_specific_operators_never_leak_other_entities() -> None:
    # zip3 on an SSN would keep its first three digits; age_90_plus on a date the rest of it
    assert apply("zip3", "123-45-6789", "US_SSN", CTX) == "[US_SSN]"
    assert apply("age_90_plus", "3/4/2020 92", "DATE_TIME", CTX) == "[DATE_TIME]"
    assert apply("date_shift", "617-555-0142", "PHONE_NUMBER", CTX) == "[PHONE_NUMBER]"
    assert apply("zip3", "02139", "ZIP_CODE", CTX) == "021"
