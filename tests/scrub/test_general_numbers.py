"""Card numbers of every issuer, phone numbers in many countries' layouts, licence plates and
driver's licences after their cue words; and the clinical numbers none of them may take.

Every value here is invented. Card numbers are the issuers' published test numbers; where a
length has none (19-digit Visa, 12-digit Maestro, the Mastercard 2-series ends) the body is
zeros with a valid Luhn digit. US phone numbers are in 555-01xx, UK ones in Ofcom's drama
ranges (0121 496 0xxx, 020 7946 0xxx)."""

from __future__ import annotations

import pytest

from securetune.scrub.recognizers.general import card_issuer_fits, luhn_ok

from .conftest import at, spans

CC = "CREDIT_CARD"
PH = "PHONE_NUMBER"
VEH = "VEHICLE_ID"

#: One number per issuer and length, as an issuer prints it.
ISSUER_NUMBERS = [
    "4111111111111111",  # Visa 16
    "4000000000000000006",  # Visa 19 (no published test number: zeros and a Luhn digit)
    "5555555555554444",  # Mastercard 51-55
    "2720000000000005",  # Mastercard 2-series, top of the range (zeros, Luhn digit)
    "2221000000000009",  # Mastercard 2-series, bottom (zeros, Luhn digit)
    "378282246310005",  # American Express 15
    "30569309025904",  # Diners Club 14
    "3530111333300000",  # JCB 16
    "6011111111111117",  # Discover 16
    "6205500000000000004",  # UnionPay 19
]


@pytest.mark.parametrize("number", ISSUER_NUMBERS)
def test_every_issuers_number_is_a_card_without_a_cue_word(detector, number) -> None:
    text = f"Reference {number} was settled."
    assert spans(detector, text) == [at(text, number, CC)]


@pytest.mark.parametrize(
    "printed",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "3782 822463 10005",  # Amex 4-6-5
        "3056 930902 5904",  # Diners 4-6-4
        "4000 0000 0000 0000 006",  # 19 digits in fours, a short last group
        "620550 0000000000004",  # 19 digits as 6-13
    ],
)
def test_grouped_as_printed(detector, printed) -> None:
    text = f"paid with {printed}, thanks"
    assert spans(detector, text) == [at(text, printed, CC)]


def test_a_card_followed_by_its_expiry_ends_at_the_number(detector) -> None:
    text = "card 4111 1111 1111 1111 12 28"
    assert [s for s in spans(detector, text) if s[2] == CC] == [at(text, "4111 1111 1111 1111", CC)]


def test_short_or_unknown_prefix_numbers_need_a_card_word(detector) -> None:
    # 12-digit Maestro, 13-digit Visa, a Luhn-valid 16 digits no issuer uses
    for number in ("501800000009", "675900000000", "4222222222222", "1000000000000008"):
        with_cue = f"my debit card {number} is blocked"
        assert spans(detector, with_cue) == [at(with_cue, number, CC)]
        assert [s for s in spans(detector, f"sample {number} received") if s[2] == CC] == []


def test_luhn_decides() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    assert card_issuer_fits("378282246310005")
    assert not card_issuer_fits("3782822463100055")  # Amex has 15 digits, not 16
    assert not card_issuer_fits("1000000000000008")


def test_a_number_failing_luhn_is_no_card(detector) -> None:
    text = "card 4111 1111 1111 1112 declined"
    assert [s for s in spans(detector, text) if s[2] == CC] == []


NATIONAL_WITHOUT_CUE = [
    "(0833)-828793",  # bracketed area code and a dash
    "026 6666233",
    "0351560688",  # run together with its trunk 0
    "04 85 65 15 05",  # French pairs
    "04.85.65.15.05",
    "048-788 58 20",  # Swedish
    "(0121) 4960554",
    "030/12345678",  # German slash after the area code
    "99 2921-4684",  # Brazilian
    "(11) 91234-5678",
    "98765 43210",  # Indian mobile
    "13812345678",  # Chinese mobile
    "044 668 18 00",  # Swiss
    "0(532) 123 45 67",  # Turkish
    "2065550143",  # North American, run together
    "206.555.0143x9150",  # with an extension
]


@pytest.mark.parametrize("number", NATIONAL_WITHOUT_CUE)
def test_national_layouts_without_a_cue(detector, number) -> None:
    text = f"Mrs Ode, {number}, asked for a callback."
    assert [s for s in spans(detector, text) if s[2] == PH] == [at(text, number, PH)]


@pytest.mark.parametrize(
    "number",
    [
        "+49(0)9742648147",
        "+46 (0)344 964 05",
        "+1-780-555-0183x7783",
        "+55 45 0077-2837",  # a possible Brazilian length, outside the allocated ranges
        "(+44) 20 7946 0958",
        "0033 1 23 45 67 89",
        "001-206-555-0142x7385",
    ],
)
def test_numbers_with_a_country_code(detector, number) -> None:
    text = f"new number {number} from Monday"
    assert [s for s in spans(detector, text) if s[2] == PH] == [at(text, number, PH)]


def test_an_unknown_country_code_is_not_a_phone_number(detector) -> None:
    # +999 is no country's code; the shape alone does not make a phone number
    assert [s for s in spans(detector, "balance +9991234567 pts") if s[2] == PH] == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("call back on 5162.0466", "5162.0466"),
        ("Tel: 08-65 15 94", "08-65 15 94"),
        ("ring me on 2559 2350 tonight", "2559 2350"),
        ("Telefon 612 34 56 78", "612 34 56 78"),
        ("called from 61508773", "61508773"),
    ],
)
def test_short_national_numbers_after_a_phone_cue(detector, text, number) -> None:
    assert [s for s in spans(detector, text) if s[2] == PH] == [at(text, number, PH)]


CLINICAL = [
    "BP 120/80 HR 72 RR 18 SpO2 98% on vent 12/5 FiO2 0.40 PEEP 5 TV 450",
    "K 4.2 Na 138 glucose 110 mg/dl 1200 ml INR 1.2 plt 245000 Hct 30.1",
    "meds at 0800 1200 1600 and 0400; urine 0030 0100 0130 0200",
    "I/O 1200/850 + 250 ml, +1500 since midnight, +2 pitting edema",
    "cultures 01 02 03 04 05 pending; weights 082 091 100 110 kg",
    "CVP 08 12 10 09 11 15 13 12 over the shift; temps 0037 0038 0039 0040",
    "labs at 1200: 7.35/45/80/24; NS 1000 ml @ 125 ml/hr; 14-02 0830 1230",
    "card 2 of 3; credit to nursing; sample 1234567890123 sent",
    "REG INSULIN 10 UNITS; reg 100 MG; growth plate 12 mm; plate 3",
    "LCP PLATE 8 HOLES, PLATE 10MM; PLAQUE 2 X 3 CM; TAG 12 MM; ID tag on wrist",
    "ABG pH 7.35/45/80/24; ph 7.41 38 95 0.98; plt 65000 72000; NPO 12 0800-1200",
    "MD called at 2130 2200; called at 0800 1200 1600; contact 10 12 14",
    "glucose 98 mg/dl: 1200 ml; mg/dL 1500",
]


@pytest.mark.parametrize("text", CLINICAL)
def test_clinical_numbers_are_left(detector, text) -> None:
    assert spans(detector, text) == []


@pytest.mark.parametrize(
    ("text", "plate"),
    [
        ("reported the vehicle with plate F30 RFH stolen", "F30 RFH"),
        ("licence plate 0-KYD-98, blue hatchback", "0-KYD-98"),
        ("Registration No. 12-D-4567", "12-D-4567"),
        ("car reg: WW11 XOT", "WW11 XOT"),
        ("Kennzeichen M 3759 FW", "M 3759 FW"),
        ("kenteken 5-KJW-91", "5-KJW-91"),
        ("immatriculation GC-284-SC", "GC-284-SC"),
        ("matrícula 4600 KMN", "4600 KMN"),
        ("targa XS336NA", "XS336NA"),
        ("PLATE AB 12 CD STOLEN", "AB 12 CD"),  # capitals throughout: the word is dropped
        ("plate HB-O-8", "HB-O-8"),
        ('license plate no. "ABC 1234"', "ABC 1234"),
        ("tag # 7ABC123", "7ABC123"),
    ],
)
def test_plates_after_a_plate_cue(detector, text, plate) -> None:
    assert [s for s in spans(detector, text) if s[2] == VEH] == [at(text, plate, VEH)]


def test_a_plate_shape_without_its_cue_is_left(detector) -> None:
    assert [s for s in spans(detector, "ward F30 RFH, bay 0-KYD-98") if s[2] == VEH] == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("driver's license 123 456 789", "123 456 789"),
        ("DL# S123-4567-8901", "S123-4567-8901"),
        ("DL no. A1234567", "A1234567"),
        ("DL: 123456789", "123456789"),
        ("DLN: MORGA753116SM9IJ", "MORGA753116SM9IJ"),
    ],
)
def test_driver_licences_after_their_cue(detector, text, number) -> None:
    assert spans(detector, text) == [at(text, number, "LICENSE_NUMBER")]
