"""Postal addresses of many countries, their postcodes, and cities (all values invented).

The address recognizer is tested on its own (its exact spans), and through the detector
for what a reader of a scrubbed text sees: the whole address gone, the clinical note intact.
"""

from __future__ import annotations

import pytest

from securetune.scrub.detect import plain
from securetune.scrub.dictionaries import load_dictionaries
from securetune.scrub.recognizers import family
from securetune.scrub.recognizers.addresses import AddressRecognizer

from .conftest import at, spans

L, Z = "LOCATION", "ZIP_CODE"


@pytest.fixture(scope="module")
def recognizer() -> AddressRecognizer:
    return AddressRecognizer(load_dictionaries())


def found(recognizer: AddressRecognizer, text: str) -> list[tuple[int, int, str]]:
    """Distinct (start, end, entity) spans, sorted, on the text as the detector hands it."""
    return sorted({(s, e, t) for s, e, t, _ in recognizer.find(plain(text))})


#: (text, the whole address, its postcode or None)
ADDRESSES = [
    # US: number, street type, unit, city, state, ZIP
    (
        "Mail it to 4821 Quarry Hill Road Apt. 12, Millbrook, NY 12545 today.",
        "4821 Quarry Hill Road Apt. 12, Millbrook, NY 12545",
        "12545",
    ),
    # ordinal street names, a '#' unit
    (
        "He lives at 350 5th Avenue #12, New York, NY 10118.",
        "350 5th Avenue #12, New York, NY 10118",
        "10118",
    ),
    # Italy: type first, number after the comma, floor, postcode, province in brackets
    (
        "Indirizzo: Via Garibaldi, 17 Piano 2, 20121 Milano (MI)",
        "Via Garibaldi, 17 Piano 2, 20121 Milano (MI)",
        "20121",
    ),
    # Germany, on an envelope: a compound street word, a "32/15" house number
    (
        "Kastanienring 32/15\n04109 Leipzig\nTel: 0341 555",
        "Kastanienring 32/15\n04109 Leipzig",
        "04109",
    ),
    ("Bitte an Berliner Straße 5, 10115 Berlin.", "Berliner Straße 5, 10115 Berlin", "10115"),
    ("Am Markt 5, 12345 Neustadt", "Am Markt 5, 12345 Neustadt", "12345"),
    # Sweden: "-vägen", a postcode with a space
    ("Skickas till Björkvägen 7, 123 45 Uppsala.", "Björkvägen 7, 123 45 Uppsala", "123 45"),
    # the Netherlands: "-laan", a postcode with letters
    ("verhuisd naar Lindelaan 44, 3909 BO Veenendaal", "Lindelaan 44, 3909 BO Veenendaal", None),
    # France: number first, a lower-case type
    (
        "envoyé au 38, boulevard Voltaire, 75011 Paris.",
        "38, boulevard Voltaire, 75011 Paris",
        "75011",
    ),
    # France, with the no-break spaces of French typography
    (
        "envoyé au 38,\u00a0boulevard Voltaire, 75011\u00a0Paris.",
        "38,\u00a0boulevard Voltaire, 75011\u00a0Paris",
        "75011",
    ),
    # France, no house number: the postcode makes it an address
    ("écrire à rue Colbert, 13001 Marseille.", "rue Colbert, 13001 Marseille", "13001"),
    # Spain: type first, floor
    ("Calle Mayor 5 Piso 3, 28013 Madrid", "Calle Mayor 5 Piso 3, 28013 Madrid", "28013"),
    # Poland: "ul.", a "7/3" house number, "00-950"
    ("ul. Długa 7/3, 00-950 Warszawa", "ul. Długa 7/3, 00-950 Warszawa", "00-950"),
    # Brazil: a particle in the street name, "49390-926"
    (
        "Rua das Flores, 45, 49390-926 Aracaju",
        "Rua das Flores, 45, 49390-926 Aracaju",
        "49390-926",
    ),
    # the United Kingdom: a flat before the street
    (
        "Flat 3, 22 Wellington Crescent, Bristol, BS8 2QT",
        "Flat 3, 22 Wellington Crescent, Bristol, BS8 2QT",
        "BS8 2QT",
    ),
    # the flat's number is the only number
    (
        "Studio 8\nOrchard Mews\nHalesworth\nIP19 8QT",
        "Studio 8\nOrchard Mews\nHalesworth\nIP19 8QT",
        None,
    ),
    # Canada
    (
        "1200 Maple Drive, Kelowna, BC V1Y 6H2",
        "1200 Maple Drive, Kelowna, BC V1Y 6H2",
        "V1Y 6H2",
    ),
    # India: a house-number cue, "Marg", a PIN after a hyphen
    ("H.No. 12, Gandhi Marg, Jaipur-302001", "H.No. 12, Gandhi Marg, Jaipur-302001", "302001"),
    # Australia: unit before the number, state, four-digit postcode
    (
        "Unit 4 17 Wattle Crescent, Ballarat, VIC, 3350",
        "Unit 4 17 Wattle Crescent, Ballarat, VIC, 3350",
        "3350",
    ),
    # Ireland: an Eircode with no comma before it
    ("14 Harbour Street D02 X285 Dublin", "14 Harbour Street D02 X285 Dublin", "D02 X285"),
    # a postcode with a country prefix
    ("Hauptstraße 5, D-80331 München", "Hauptstraße 5, D-80331 München", "D-80331"),
    # a street with no number, then a postcode
    ("Baker Street, London NW1 6XE", "Baker Street, London NW1 6XE", "NW1 6XE"),
    # US military mail and post-office boxes
    ("Unit 2050 Box 4190, APO AP 96278", "Unit 2050 Box 4190, APO AP 96278", None),
    ("P.O. Box 771, Fairhope, AL 36533", "P.O. Box 771, Fairhope, AL 36533", "36533"),
]


@pytest.mark.parametrize(("text", "address", "postcode"), ADDRESSES)
def test_whole_postal_addresses_are_one_location(recognizer, text, address, postcode) -> None:
    got = found(recognizer, text)
    if address is not None:
        assert at(text, address, L) in got
        # nothing else of the address is a LOCATION of its own beyond it
        start, end, _ = at(text, address, L)
        assert all(s >= start and e <= end for s, e, t in got)
    if postcode is not None:
        assert at(text, postcode, Z) in got


POSTCODES_AND_CITIES = [
    # a cue makes any postcode shape one
    ("Her postcode: SW1A 1AA, thanks", [at("Her postcode: SW1A 1AA, thanks", "SW1A 1AA", Z)]),
    ("zip code 90210 on file", [at("zip code 90210 on file", "90210", Z)]),
    # a city and a state code: the state stays (Safe Harbor keeps states)
    (
        "Springfield, IL 62704",
        [at("Springfield, IL 62704", "Springfield", L), at("Springfield, IL 62704", "62704", Z)],
    ),
    # a British postcode next to a city
    (
        "she moved to London SW1A 1AA",
        [
            at("she moved to London SW1A 1AA", "London", L),
            at("she moved to London SW1A 1AA", "SW1A 1AA", Z),
        ],
    ),
    # a state and a ZIP code with no comma; a city before a country
    (
        "Office in Boston MA 02110 now",
        [
            at("Office in Boston MA 02110 now", "Boston", L),
            at("Office in Boston MA 02110 now", "02110", Z),
        ],
    ),
    ("moved from Lyon, France", [at("moved from Lyon, France", "Lyon", L)]),
    # a street named without a number, after a location cue
    ("He lives on Baker Street with his son", [(12, 24, L)]),
    # cities in prose: a cue and the gazetteer, or the shape of a place name
    ("moved to Gothenburg last year", [(9, 19, L)]),
    ("or should we write to Fentonville?", [(22, 33, L)]),
    ("sent to Lake Marvinborough by bus", [(8, 26, L)]),
    ("family in Harlanville, KY", [(10, 21, L)]),
]


@pytest.mark.parametrize(("text", "expected"), POSTCODES_AND_CITIES)
def test_postcodes_and_cities_need_an_address_or_a_cue(recognizer, text, expected) -> None:
    assert found(recognizer, text) == sorted(expected)


CLINICAL = [
    "SBP 83-105, HR 70-80 on dopamine",  # ranges are no Polish postcodes
    "Pt remains in NSR with rate 60; admitted to OSH 2 days ago",  # shorthand, no city
    "2 Left Arterial Line placed, 1 Right IJ Line",  # clinical words before a street type
    "Heparin 5000 Units, IV 1000 ml",  # doses, not "City, ST 12345"
    "1000 ML NS given, 1500 MG Vancomycin",  # dose units, not Dutch postcodes
    "Monitoring 2 times; Montoring 2, Pt stable",  # "-ring" words and a number
    "Via PEG 500 ml; Via Email 2 copies sent",  # "Via" before shorthand or plain words
    "seen by C. Smith 5 days ago",  # an initial, not "calle"
    "transferred from Quinton cath lab",  # a device named for a place
    "a bare number 12345 and 2100 in a note",  # numbers alone are never postcodes
    "Patient ID 12345 today",  # a state code's shape before five digits, no city
    "The Main Street Clinic called",  # a street name with no cue, no number, no postcode
]


@pytest.mark.parametrize("text", CLINICAL)
def test_clinical_shorthand_is_no_address(recognizer, text) -> None:
    assert found(recognizer, text) == []


def test_locations_family_builds_the_address_recognizer() -> None:
    built = family("locations")(load_dictionaries())
    assert [type(r).__name__ for r in built] == [
        "ClinicalLocationRecognizer",
        "AddressRecognizer",
    ]


def test_detector_removes_the_whole_address_and_keeps_the_note(detector) -> None:
    text = (
        "Refund to Mr. Okafor at Lindelaan 44, 3909 BO Veenendaal. "
        "Pt on heparin 5000 units, SBP 90-110."
    )
    got = spans(detector, text)
    assert at(text, "Lindelaan 44, 3909 BO Veenendaal", L) in got
    assert not any(s >= text.index("Pt on") for s, _, _ in got)
