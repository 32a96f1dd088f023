"""Clinical shorthand and foreign prepositions that the general-PII rules must not read as
personal data: drug names, consult services, gauges, readings in pairs, "von" before a
name. Every value here is invented; each case pins the exact findings.
"""

from __future__ import annotations

import pytest

from securetune.scrub.dictionaries import load_dictionaries

from .conftest import at, spans

P = "PERSON"


@pytest.mark.parametrize(
    "text",
    [
        "Started Dex gtt at 0.4 mcg/kg/hr",  # dexmedetomidine, a given name in some lists
        "Paralytic agent Nimbex held.",  # "agent" is no role noun in a note
        "Thanks Heme for recs.",  # thanks go to consult services too
        "Blood bank tag 20G IV placed, tag CX23 sent.",  # a tag is no licence plate
        "CVP 08 10 12 11 09.",  # readings in pairs after their label
        "PEEP: 05 08 10 12 14 over the shift",
    ],
)
def test_clinical_shorthand_is_no_personal_data(detector, text) -> None:
    assert spans(detector, text) == []


def test_drug_shorthand_is_taken_out_of_the_world_first_names() -> None:
    world = load_dictionaries().world_first_names
    assert {"dex", "nore", "metro"} & world == set()


def test_a_first_name_after_thanks_is_still_a_name(detector) -> None:
    text = "Thanks Siobhan for the call."
    assert spans(detector, text) == [at(text, "Siobhan", P)]


def test_a_role_noun_still_introduces_a_surname_alone(detector) -> None:
    text = "Claimant Przybyszewski called."
    assert spans(detector, text) == [at(text, "Przybyszewski", P)]


def test_a_plate_cue_still_reads_a_plate(detector) -> None:
    text = "Registration number: KX21 BVM, parked outside."
    assert spans(detector, text) == [at(text, "KX21 BVM", "VEHICLE_ID")]


def test_pairs_without_a_reading_label_are_still_a_french_number(detector) -> None:
    text = "Appelez le 04 65 71 15 05 demain."
    assert spans(detector, text) == [at(text, "04 65 71 15 05", "PHONE_NUMBER")]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Zahlung von Herrn Jürgen Groß", ["Jürgen", "Groß"]),  # an honorific ends no name
        ("Zahlung von Jürgen Groß erhalten.", ["Jürgen", "Groß"]),  # "von": from
        ("Virement de Jean Dupont reçu.", ["Jean", "Dupont"]),
        # a particle before a surname alone stays in the name
        ("Beau van den Heuvel called.", ["Beau", "van", "den", "Heuvel"]),
    ],
)
def test_a_preposition_before_a_whole_name_is_not_part_of_it(detector, text, name) -> None:
    assert [text[s:e] for s, e, kind in spans(detector, text) if kind == P] == name


@pytest.mark.parametrize("label", ["T :", "Dupont & Co"])
def test_a_french_card_label_is_no_reading_label(detector, label) -> None:
    text = f"{label} 04 65 71 15 05"
    assert [s for s in spans(detector, text) if s[2] == "PHONE_NUMBER"] == [
        at(text, "04 65 71 15 05", "PHONE_NUMBER")
    ]
