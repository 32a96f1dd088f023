"""Person names: dictionary hits, context rules, and words that must stay untouched."""

from __future__ import annotations

import pytest

from .conftest import at, spans

P = "PERSON"

MUST_MATCH = [
    # an initial and a surname in capitals or lower case, with a clinician's context
    (
        "INR 3.1. Q. BRANDT AWARE. AS PER Q. BRANDT: CXR",
        [(9, 11, P), (12, 18, P), (33, 35, P), (36, 42, P)],
    ),
    ("plan per k varga.", [(9, 10, P), (11, 16, P)]),
    # a credential before a lower-case first name
    ("NP marjorie made aware of k+.", [(3, 11, P)]),
    # a title-case surname that is also a word, after a title and a first name
    ("Dr Lucinda Gardener and family met.", [(3, 10, P), (11, 19, P)]),
    # names in lower case after a kinship word; a list after a plural relation
    ("social: called son lucius, no answer.", [(19, 25, P)]),
    (
        "Daughters Marjorie, Rosalind and Theda in to visit.",
        [(10, 18, P), (20, 28, P), (33, 38, P)],
    ),
    # a census first name and surname in prose, both also dictionary words
    ("Claimant Lucinda Fowler called twice.", [(9, 16, P), (17, 23, P)]),
    # a relation joined to the name by dashes
    ("SOCIAL:SISTER-MARJORIE---617-555-0101", [(14, 22, P), (25, 37, "PHONE_NUMBER")]),
    # title, coordination, and a surname proven once found again (any case)
    (
        "Seen by Dr. Rakusin and Toolis; Dr Rakusin aware. RAKUSIN to call back.",
        [(12, 19, P), (24, 30, P), (35, 42, P), (50, 57, P)],
    ),
    # relation before a name that is also an ordinary word ("rich")
    ("SOCIAL: Husband Rich Martino in to visit.", [(16, 20, P), (21, 28, P)]),
    ("social: dtr suzette called, questions answered.", [(12, 19, P)]),
    # signatures: initials with their dot, hyphenated surname, credential after
    ("DAN A. FORMAN-LYONS, RRT", [(0, 3, P), (4, 6, P), (7, 19, P)]),
    ("q. lander rrt", [(0, 2, P), (3, 9, P)]),
    # an ordinary word is a name right after a title
    ("pt spoke with dr small about options.", [(17, 22, P)]),
    ("Mr. Nicholson is awake, alert and mouthing words.", [(4, 13, P)]),
    # two capitalised words in no dictionary, in a cased line
    ("Lopie Certusi cell# 410-322-1419", [(0, 5, P), (6, 13, P), (20, 32, "PHONE_NUMBER")]),
    ("MET W/ CASEWORKER LEONA LABOWICH.", [(18, 23, P), (24, 32, P)]),
    ("Family meeting held with Drs. Davis and Tucker today.", [(30, 35, P), (40, 46, P)]),
]

MUST_NOT_MATCH = [
    "Pt received a small amount of lasix. Green sputum noted. Will recheck in am.",
    "Foley catheter draining clear yellow urine; Swan-Ganz in place. Temp 99.1, no vea.",
    "HOUSE STAFF NOTIFIED. Dr. aware of labs.",
    "Cardiac outputs done by thermodilution and fick. Hemodynamics stable.",
    "SATS UPPER 90'S. HEMODY STABLE.",
    "Sputum grew S. aureus in culture. C. diff neg. HCT 27, 1U PRBC ORDERED.",
    "See flowsheet for PA numbers. Abd soft with b. sounds. OOB per c. rehab.",
]


@pytest.mark.parametrize(("text", "expected"), MUST_MATCH)
def test_names_found_with_exact_offsets(detector, text, expected) -> None:
    assert spans(detector, text) == expected


@pytest.mark.parametrize("text", MUST_NOT_MATCH)
def test_clinical_words_are_not_names(detector, text) -> None:
    assert [s for s in spans(detector, text) if s[2] == P] == []


def test_census_name_alone_is_found(detector) -> None:
    text = "Spoke with Vasquez about the plan."
    assert spans(detector, text) == [at(text, "Vasquez", P)]


def test_lower_case_name_in_a_cased_line_needs_context(detector) -> None:
    # "klein" is a census surname, but lower case in a cased line it is left alone...
    assert spans(detector, "Pt was klein and comfortable. BP stable.") == []
    # ...unless a title says otherwise.
    text = "Pt comfortable. Called dr klein about BP."
    assert spans(detector, text) == [at(text, "klein", P)]


def test_dotted_credentials_and_misspellings(detector) -> None:
    text = "Seen by John Smith, M.D. and Mary Jones, R.N. Dr. Benson notifed, recieved report."
    assert spans(detector, text) == [
        at(text, "John", P),
        at(text, "Smith", P),
        at(text, "Mary", P),
        at(text, "Jones", P),
        at(text, "Benson", P),
    ]


def test_the_misspelling_guard_covers_every_dictionary_word_and_skips_longer_tokens() -> None:
    from securetune.scrub.dictionaries import load_dictionaries
    from securetune.scrub.recognizers._text import _LONGEST_WORD, is_typo

    d = load_dictionaries()
    assert max(len(w) for w in d.english | d.medical) < _LONGEST_WORD
    assert is_typo("notifed", d) and is_typo("recieved", d)
    # one edit from no word: a long token (a log line, an encoded blob) is left at once,
    # where trying the 27 x length one-edit candidates made it quadratic
    assert not is_typo("q" * 100_000, d)
