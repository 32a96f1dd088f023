"""General PII for banks and insurers: Presidio's own checksum-validated recognizers, and
international phone numbers through ``phonenumbers``.

Taken from Presidio as shipped, loaded explicitly (never ``load_predefined_recognizers``,
which also loads recognizers that need a model) and entirely offline:

* ``CREDIT_CARD``: card-number shapes, kept only when the Luhn check passes;
* ``IBAN_CODE``: country-specific IBAN layouts, kept only when the ISO 7064 mod-97
  checksum passes;
* ``US_ITIN``, ``US_PASSPORT``, ``US_DRIVER_LICENSE``, ``US_BANK_NUMBER``: weak shapes that
  Presidio scores low unless a context word ("passport", "license", "account") is near; with
  our default threshold they count only with that context;

Not loaded: Presidio's ``NhsRecognizer``: an NHS number is ten digits with a mod-11 check
that one US phone number in eleven also passes, so "201-561-8910" became an NHS number.

International phone numbers come from Presidio's ``PhoneRecognizer`` (Google's
``phonenumbers`` matcher) for a wide set of regions. In clinical notes it would read lab
values and doses as local numbers, so we keep only numbers written internationally
(starting with ``+`` or ``00``); national US formats are our own phone family's job.
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    IbanRecognizer,
    PhoneRecognizer,
    UsBankRecognizer,
    UsItinRecognizer,
    UsLicenseRecognizer,
    UsPassportRecognizer,
)

from securetune.scrub.recognizers.base import register_family

#: Regions whose numbering plans the international matcher knows; any number written with
#: a country code is parsed by its own plan whatever this list holds, the list only
#: decides which national formats are tried.
PHONE_REGIONS = (
    "US", "CA", "GB", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "LU", "IT", "ES", "PT",
    "SE", "NO", "DK", "FI", "PL", "CZ", "IN", "AU", "NZ", "BR", "MX", "JP", "ZA", "IL",
)  # fmt: skip


class InternationalPhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recognizer, kept to numbers written with a country code."""

    def __init__(self) -> None:
        super().__init__(supported_regions=PHONE_REGIONS, name="InternationalPhoneRecognizer")

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if "+" not in text and "00" not in text:
            return []  # the matcher is slow; without either there is nothing to keep
        out = []
        for r in super().analyze(text, entities, nlp_artifacts):
            value = text[r.start : r.end].lstrip("( ")
            if value.startswith("+") or value.startswith("00"):
                r.score = max(r.score, 0.85)
                out.append(r)
        return out


def build(_dictionaries) -> list[EntityRecognizer]:
    """Factory for the ``general`` family."""
    return [
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsItinRecognizer(),
        UsPassportRecognizer(),
        UsLicenseRecognizer(),
        UsBankRecognizer(),
        InternationalPhoneRecognizer(),
    ]


register_family("general", build, builtin=True)
