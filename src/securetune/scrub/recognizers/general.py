"""General PII for banks and insurers: Presidio's own checksum-validated recognizers, and
international phone numbers through ``phonenumbers``.

Taken from Presidio as shipped, loaded explicitly (never ``load_predefined_recognizers``,
which also loads recognizers that need a model) and entirely offline:

* ``CREDIT_CARD``: card-number shapes, kept only when the Luhn check passes;
* ``IBAN_CODE``: country-specific IBAN layouts, kept only when the ISO 7064 mod-97
  checksum passes;
* ``US_ITIN`` (its own digit groups) and ``US_BANK_NUMBER`` (8-17 digits, which Presidio
  scores low unless "account" or "bank" is near; with our threshold only with that context).

Not loaded: Presidio's ``UsLicenseRecognizer`` and ``UsPassportRecognizer``. Both are weak
shapes scored below our threshold unless a context word is near, which is exactly what our
``ids`` family's cues do ("license no. D1234567" -> LICENSE_NUMBER, "passport 912803456"
-> US_PASSPORT); measured on 200 notes they cost more than all our date rules together
(the licence recognizer runs some twenty regexes over every note) for nothing our cues miss.

Not loaded: Presidio's ``NhsRecognizer``: an NHS number is ten digits with a mod-11 check
that one US phone number in eleven also passes, so "201-561-8910" became an NHS number.

Phone numbers of other countries are parsed with Google's ``phonenumbers`` (as Presidio's
``PhoneRecognizer`` does), but only at a "+" or "00" followed by a country code, or right
after a phone cue ("call back on", "tel.") in the national formats of
:data:`NATIONAL_REGIONS`, and only numbers valid in that plan. Everywhere else, national
US formats are our own phone family's job.
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    IbanRecognizer,
    UsBankRecognizer,
    UsItinRecognizer,
)

from securetune.scrub.recognizers.base import Span, SpanRecognizer, register_family

SCORE = 0.85

#: Where a number written internationally may start: "+" or "00" then a digit, not inside
#: a longer number ("1000 ml" is not a dialling prefix).
_INTL_START = re.compile(r"(?<![\w+])(?:\+|00)\s?\(?[1-9]")
_WINDOW = 32  # longer than any number the plans allow, with its spaces and brackets


#: A phone cue, after which a number in any national format of :data:`PHONE_REGIONS` counts:
#: "call back on 0916 033956", "tel. (029) 2018 0344", "contact 07 1027 3464".
_NATIONAL_CUE = re.compile(
    r"(?i:\b(?:phone|tel|telephone|mobile|cell|fax|contact|call(?:ed)?(?:\s+back)?|"
    r"reach\s+(?:me|us|her|him)|ring|dial|number|whatsapp)\b\.?(?:\s+(?:on|at|me|us))?"
    r"[\s:#-]*)(?=[(\d])"
)
#: National formats tried after a cue, in this order (a number valid in several plans is
#: a phone number whichever it belongs to).
NATIONAL_REGIONS = ("US", "GB", "DE", "FR", "IT", "ES", "NL", "AU", "IN", "BR", "IE", "PL", "SE")


class PhonenumbersRecognizer(SpanRecognizer):
    """PHONE_NUMBER parsed by ``phonenumbers`` (the library Presidio's own phone recognizer
    uses): numbers written with a country code, and national formats after a phone cue.

    Presidio's ``PhoneRecognizer`` runs the matcher over the whole text for each region;
    on notes that cost 20 times our other recognizers together, and in a national format
    it reads lab values as local numbers. We run the matcher only on a short window at
    each "+" or "00", where the country code fixes the plan.
    """

    VERSION = "1"

    def __init__(self) -> None:
        super().__init__(["PHONE_NUMBER"], name="PhonenumbersRecognizer")

    def find(self, text: str) -> list[Span]:
        import phonenumbers

        spans: list[Span] = []
        for m in _INTL_START.finditer(text):
            start = m.start()
            window = text[start : start + _WINDOW]
            shift = 0
            if window.startswith("00"):
                window, shift = "+" + window[2:], 1
            for match in phonenumbers.PhoneNumberMatcher(window, "ZZ", leniency=1):
                if match.start == 0 and phonenumbers.is_valid_number(match.number):
                    spans.append((start, start + match.end + shift, "PHONE_NUMBER", SCORE))
                break
        for m in _NATIONAL_CUE.finditer(text):
            start = m.end()
            window = text[start : start + _WINDOW]
            for region in NATIONAL_REGIONS:
                found = next(
                    iter(phonenumbers.PhoneNumberMatcher(window, region, leniency=1)), None
                )
                if found is not None and found.start == 0:
                    spans.append((start, start + found.end, "PHONE_NUMBER", SCORE))
                    break
        return spans


def build(_dictionaries) -> list[EntityRecognizer]:
    """Factory for the ``general`` family."""
    return [
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsItinRecognizer(),
        UsBankRecognizer(),
        PhonenumbersRecognizer(),
    ]


register_family("general", build, builtin=True)
