"""Person names in bank, insurer and customer-service text of many countries.

Every name here is invented. Each case lists the exact words reported as PERSON, in order,
and nothing else in the text may be reported as a person.
"""

from __future__ import annotations

import pytest

from securetune.scrub.dictionaries import load_dictionaries

from .conftest import at

P = "PERSON"


def people(detector, text: str) -> list[str]:
    """The words reported as PERSON, in text order."""
    return [text[f.start : f.end] for f in detector.detect(text) if f.entity_type == P]


FOUND = [
    # words in any alphabet stay whole: accented and Polish letters, Irish apostrophes
    ("Customer Jadwiga Grześków called about the card.", ["Jadwiga", "Grześków"]),
    ("Direct debit signed by Íñigo Velázquez; first debit on the 3rd.", ["Íñigo", "Velázquez"]),
    ("Beneficiary: Caoimhe O'Brannigan. Policy renewed.", ["Caoimhe", "O'Brannigan"]),
    # compound given names and surnames
    ("Vitor Gabriel Peixoto moved to the new address.", ["Vitor", "Gabriel", "Peixoto"]),
    ("The refund went to Karl-Josef Hönig last week.", ["Karl-Josef", "Hönig"]),
    # surname particles inside a name, and after an honorific
    (
        "The adjuster met Maartje van den Brink at the office.",
        ["Maartje", "van", "den", "Brink"],
    ),
    ("Mr. de Gruijter asked for a copy.", ["de", "Gruijter"]),
    ("Sra. da Cunha asked for a copy.", ["da", "Cunha"]),
    ("Corinne Le Gall moved to the coast.", ["Corinne", "Le", "Gall"]),
    # a particle found in a name is not a surname everywhere else in the text
    (
        "Beneficiary: Tyler van der Schuijt. Der Antrag ist von der Bank.",
        ["Tyler", "van", "der", "Schuijt"],
    ),
    # a first name alone after an introduction; a surname alone after an honorific
    ("My name is Ines and my card stopped working.", ["Ines"]),
    ("Mr. Montecchi asked that the card go to the branch.", ["Montecchi"]),
    # honorifics of other languages; after one, an ordinary word is a surname too
    ("Frau Weiß and Mme Aubert called; Sra. Bueno wrote.", ["Weiß", "Aubert", "Bueno"]),
    ("Pan Wojciech Zięba and Pani Łucja Kowal signed.", ["Wojciech", "Zięba", "Łucja", "Kowal"]),
    ("Sr. Peinado called twice.", ["Peinado"]),
    # a role or an introduction before a full name
    ("Hi, this is Dagrun Solheim from the claims desk.", ["Dagrun", "Solheim"]),
    (
        "Claimant Pauric Walls and customer Daniel White called.",
        ["Pauric", "Walls", "Daniel", "White"],
    ),
    # a first name that is also a word, then a surname
    (
        "Hi, this is Luce Maréchal. Beneficiary: Roan van den Brand.",
        ["Luce", "Maréchal", "Roan", "van", "den", "Brand"],
    ),
    # a name in capitals, as cards and account systems print it, after a "name:" field
    ("Cardholder name: JOHN A SMITH", ["JOHN", "A", "SMITH"]),
    ("Name: ANA RUIZ GARCIA. Policy 7.", ["ANA", "RUIZ", "GARCIA"]),
    # greetings and thanks before a name
    ("Hi Siobhán, thanks for the call.", ["Siobhán"]),
    (
        "Hello Mr Oyelaran, thank you Anneliese, thanks, Bartosz.",
        ["Oyelaran", "Anneliese", "Bartosz"],
    ),
    # a sign-off with the name on the next line
    ("Kind regards,\nOdile Marchetti", ["Odile", "Marchetti"]),
    # a given name of another country, alone, written as a name
    ("Please ask Sigmar to call back after five.", ["Sigmar"]),
    # a known given name makes the capitalised word after it a surname, even a word
    ("Claimant Lina Fagotto, policy 12.", ["Lina", "Fagotto"]),
    # names typed in lower case: after a cue, or a first name then a surname
    ("the form was signed by bartosz kowalczyk yesterday", ["bartosz", "kowalczyk"]),
    ("signed by janne van der emmelen today", ["janne", "van", "der", "emmelen"]),
    ("We wrote to christopher larsen twice.", ["christopher", "larsen"]),
    # chat shorthand next to a lower-case name is no part of it
    ("pls send it to sigmar oberländer asap", ["sigmar", "oberländer"]),
]

NOT_PEOPLE = [
    # a role noun before ordinary capitalised words
    "Customer Service will call you back; the account holder Bank Transfer form is attached.",
    # cues followed by ordinary words
    "My name is on the account. I am Happy to help, this is fine, signed by hand.",
    "Beneficiary: Policy renewal. Dear Customer, thanks.",
    "Regards,\nClaims Team",
    "Hi, this is fine. Hello World. Thanks Again. Thank you Doctor.",
    # clinical shorthand that some countries use as given names ("Fem", "Gerd", "Ama")
    "Sys BP 90s, fem line in place, hx GERD, left AMA.",
    # capitals in no name list are an acronym, after a "name:" field or a role too
    "Name: MRSA screen.",
    "Dear Sir, Name: MRSA screen.",
    "CUSTOMER MRSA SCREEN, CONTACT VRE SWAB",
    # honorifics that are also words or abbreviations need a name-like word after them
    "Sig: Take one tablet daily. Pan Cultured yesterday. Sr. Resident aware.",
    # heart rate is no Swedish "Hr."; an acronym after a cue is no name
    "HR 88, contact MRSA precautions, Will recheck.",
    "Pt comfortable, this is Lasix day 2. mae, stong grips.",
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_names_of_many_countries_are_found(detector, text, expected) -> None:
    assert people(detector, text) == expected


@pytest.mark.parametrize("text", NOT_PEOPLE)
def test_ordinary_and_clinical_words_after_cues_are_not_names(detector, text) -> None:
    assert people(detector, text) == []


def test_a_place_with_a_particle_stays_a_place(detector) -> None:
    text = "We flew to Rio de Janeiro in May."
    assert at(text, "Rio de Janeiro", "LOCATION") in _spans(detector, text)
    assert people(detector, text) == []


def test_a_sentence_opener_is_not_grown_into_the_name_after_it(detector) -> None:
    text = "Ask Sigmar to call the branch."
    assert [s for s in _spans(detector, text) if s[2] == P] == [at(text, "Sigmar", P)]


def test_a_short_foreign_given_name_opening_a_sentence_needs_more_than_the_list(
    detector,
) -> None:
    # "Sys" is a Faker given name and clinical shorthand for systolic
    assert people(detector, "Labile. Sys BP 100s.") == []
    assert people(detector, "We called Sys twice.") == ["Sys"]


def test_world_given_names_exclude_words_and_census_names() -> None:
    d = load_dictionaries()
    assert {"sigmar", "aoife", "mariusz", "caoimhe", "maartje"} <= d.world_first_names
    # words and clinical shorthand some lists carry as given names are no evidence
    assert not {"unknown", "doctor", "colon", "general", "said"} & d.world_first_names
    # the census names keep their own list
    assert "mary" in d.first_names and "mary" not in d.world_first_names
    assert d.sources["faker"]


def _spans(detector, text: str) -> list[tuple[int, int, str]]:
    return [(f.start, f.end, f.entity_type) for f in detector.detect(text)]
