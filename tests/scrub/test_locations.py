"""Places and facilities: gazetteer, hospital head words, saints, abbreviations, wards."""

from __future__ import annotations

import pytest

from .conftest import at, spans

F, L = "FACILITY", "LOCATION"

MUST_MATCH = [
    # a state university's hospital, in any case, with the state spelled or abbreviated
    ("transferred from univ of ohio med center today", [(17, 29, "FACILITY")]),
    ("PRESENTED TO U OF VA MEDICAL CENTER ON", [(13, 20, "FACILITY")]),
    # a distinctive word and a generic one after a transfer cue; emergency-ward shorthand
    ("TAKEN TO HOLLISTER REGIONAL WHERE CK POS", [(9, 27, "FACILITY")]),
    ("sent to Ardmore Pike EW where EKG showed", [(8, 20, "FACILITY")]),
    ("found down-> WCH EW today", [(13, 16, "FACILITY")]),
    # a ward glued to its floor number
    ("ADMITTED TO TALBOTT7 W/ CHF", [(12, 20, "FACILITY")]),
    # a postal address: USPS suffix, unit, city, state, ZIP
    ("moved to 8156 Quarry Mills Suite 784, Port Avaline, NV 08664 last", [(9, 60, "LOCATION")]),
    # regions and neighbourhoods
    ("family drove from the Western Shore- son", [(22, 35, "LOCATION")]),
    ("pt lives in Linden Heights with wife", [(12, 26, "LOCATION")]),
    (
        "PT ADMITTED IN TRANSFER FROM CALVERT HOSPITAL FOR MENTAL STATUS CHANGES. "
        "7/23 AT CALVERT- 2 FFP.",
        [(29, 36, F), (73, 77, "DATE_TIME"), (81, 88, L)],
    ),
    ("Was accepted by St. Agnes but cannot leave. EKG with ST depression.", [(16, 25, F)]),
    ("pt to go to sacred heart hospital this afternoon.", [(12, 24, F)]),
    ("pt to go to Sacred Heart Memorial tomorrow.", [(12, 33, F)]),
    ("lives in catonsville with husband; sister called from Seattle.", [(9, 20, L), (54, 61, L)]),
    ("transferred to GH for cath; h/o ICH in the past.", [(15, 17, F)]),
    ("Pt transferred to Quartermain 3 today. On CPAP 5 overnight.", [(18, 29, F)]),
    ("Knows she is in General Hospital Medical Center in Lochearn.", [(16, 23, F), (51, 59, L)]),
    ("Admitted from Chatsworth General Hospital on arrival.", [(14, 32, F)]),
    (
        "Family in San Diego and Baltimore, MD 21201.",
        [(10, 19, L), (24, 33, L), (38, 43, "ZIP_CODE")],
    ),
    ("He lives at Carpenter Assisted Living.", [(12, 21, F)]),
]

MUST_NOT_MATCH = [
    "NPN\nCCU\n7 PM - 7 AM. Pt to the ER. OSH ER gave lasix. Brought to ED by EMS.",
    "Family meeting in the General Regional area. Lower side of wound clean.",
    "outside hospital records reviewed; taken to the cath lab; previous hospital stay ok.",
    "EKG: ST depression V4-V6, ST elevation resolved, ST changes noted.",
    "the general hospital course was uneventful. In hospital x3 days.",
    "Pt is in good spirits. Sats in the high 90's. Sent to CT.",
    "On CPAP 5, SIMV 10 overnight, transferred to floor 2 in am.",
]


@pytest.mark.parametrize(("text", "expected"), MUST_MATCH)
def test_locations_found_with_exact_offsets(detector, text, expected) -> None:
    assert spans(detector, text) == expected


@pytest.mark.parametrize("text", MUST_NOT_MATCH)
def test_generic_places_are_not_phi(detector, text) -> None:
    assert spans(detector, text) == []


def test_facility_word_found_again_in_the_same_note(detector) -> None:
    text = "Transferred to Blake 7. Blake charge nurse aware."  # a ward named for a person
    assert spans(detector, text) == [at(text, "Blake", F), at(text, "Blake", F, 1)]


def test_street_addresses(detector) -> None:
    text = "Lives at 123 Main St, Apt 4B with wife. Moved from 45 OAK HILL ROAD in 2019."
    assert spans(detector, text) == [
        at(text, "123 Main St, Apt 4B", L),
        at(text, "45 OAK HILL ROAD", L),
        at(text, "2019", "DATE_TIME"),
    ]


@pytest.mark.parametrize(
    "text", ["2 peripheral iv's in place.", "over a 2 hour period. Dr. aware.", "2 mediastinal ct"]
)
def test_clinical_phrases_are_not_addresses(detector, text) -> None:
    assert [s for s in spans(detector, text) if s[2] == L] == []


def test_employers_after_a_work_cue(detector) -> None:
    text = "HUSBAND CEO OF IBM. Worried about his business Genentech. Works at night."
    assert spans(detector, text) == [
        at(text, "IBM", "ORGANIZATION"),
        at(text, "Genentech", "ORGANIZATION"),
    ]
