"""General PII for banks and insurers: card numbers, Presidio's own checksum-validated
recognizers, and international phone numbers through ``phonenumbers``.

``CREDIT_CARD`` is ours (:class:`CardNumberRecognizer`): Presidio's ``CreditCardRecognizer``
only knows numbers of 13-17 digits whose first digit is 1, 3, 4, 5 (50-55) or 6, grouped
4-3/4-3/4-3/5, so it missed the Mastercard 2-series, 12-digit Maestro, 18-19 digit Visa,
Discover and UnionPay numbers, and any number printed in fours whose last group is short.
Ours knows every issuer's prefix and lengths and keeps Presidio's Luhn check.

Taken from Presidio as shipped, loaded explicitly (never ``load_predefined_recognizers``,
which also loads recognizers that need a model) and entirely offline:

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

Phone numbers written with a country code are judged with Google's ``phonenumbers`` (as
Presidio's ``PhoneRecognizer`` does), but only at a "+" or "00"; national layouts of every
country are our ``phones`` family's job.
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer
from presidio_analyzer.predefined_recognizers import (
    EsNieRecognizer,
    EsNifRecognizer,
    IbanRecognizer,
    ItFiscalCodeRecognizer,
    UkNinoRecognizer,
    UsBankRecognizer,
    UsItinRecognizer,
)

from securetune.scrub.recognizers.base import Span, SpanRecognizer, register_family
from securetune.scrub.recognizers.phones import EXT as _EXT
from securetune.scrub.recognizers.phones import phone_length

SCORE = 0.85

#: Issuer prefixes (ISO/IEC 7812 IINs) and the lengths their numbers have: Visa; Mastercard
#: (51-55 and the 2-series); Mir; Amex; Diners; JCB (with its legacy 15-digit 1800/2131 and
#: the old 30xx-33xx ranges); Discover, UnionPay, RuPay and Maestro (50, 56-69: 12-19).
_ISSUERS: tuple[tuple[str, str, range], ...] = (
    ("4", "4", range(13, 20)),
    ("51", "55", range(16, 17)),
    ("2221", "2720", range(16, 17)),
    ("2200", "2204", range(16, 20)),
    ("34", "34", range(15, 16)),
    ("37", "37", range(15, 16)),
    ("300", "305", range(14, 20)),
    ("36", "36", range(14, 20)),
    ("38", "39", range(14, 20)),
    ("3088", "3094", range(16, 20)),
    ("3096", "3102", range(16, 20)),
    ("3112", "3120", range(16, 20)),
    ("3158", "3159", range(16, 20)),
    ("3337", "3349", range(16, 20)),
    ("3528", "3589", range(16, 20)),
    ("1800", "1800", range(15, 16)),
    ("2131", "2131", range(15, 16)),
    ("50", "50", range(12, 20)),
    ("56", "69", range(12, 20)),
)
#: Digit groups as cards are printed: run together, or groups of 4-6 digits (4-4-4-4,
#: Amex 4-6-5, Diners 4-6-4, 19 digits as 6-13 or 4-4-4-4-3) split by one space or dash,
#: the last group shorter when the length is not a multiple of four.
_CARD = re.compile(
    r"(?<![\w.,/+-])\d{4,19}(?:([ -])\d{1,13}(?:\1\d{1,13}){0,4})?(?![\w/+-]|[.,]\d)"
)
#: Words that say a card number is near, in the languages our users write.
_CARD_CUE = re.compile(
    r"(?i:\b(?:card|cards|credit|debit|visa|master\s?card|amex|american\s+express|discover|"
    r"jcb|diners|maestro|union\s?pay|karte|kreditkarte|carte|tarjeta|carta|kaart|"
    r"karta|kort|kortet|cart[aã]o)\b)"
)
_CUE_WINDOW = 48


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number carries."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_issuer_fits(digits: str) -> bool:
    """Whether an issuer with this prefix prints numbers of this length."""
    return any(
        lo <= digits[: len(lo)] <= hi and len(digits) in lengths for lo, hi, lengths in _ISSUERS
    )


class CardNumberRecognizer(SpanRecognizer):
    """CREDIT_CARD: 12-19 digits, run together or in printed groups, that pass the Luhn check
    and either start with an issuer's prefix at that issuer's length (14 digits or more)
    or follow a card word. One random digit string in ten passes Luhn, so a 12-13 digit
    number, or one no issuer uses, needs the word."""

    VERSION = "1"

    def __init__(self) -> None:
        super().__init__(["CREDIT_CARD"], name="SecuretuneCardRecognizer")

    def find(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for m in _CARD.finditer(text):
            end = _card_end(m.group())
            if end is None:
                continue
            digits = re.sub(r"[ -]", "", m.group()[:end])
            if len(digits) < 14 or not card_issuer_fits(digits):
                before = text[max(0, m.start() - _CUE_WINDOW) : m.start()]
                if _CARD_CUE.search(before) is None:
                    continue
            spans.append((m.start(), m.start() + end, "CREDIT_CARD", SCORE))
        return spans


def _card_end(run: str) -> int | None:
    """Length of the longest leading part of a digit run that is grouped like a card and
    passes Luhn (a card number may be followed by an expiry or a code), or None."""
    groups = re.split(r"[ -]", run)
    for k in range(len(groups), 0, -1):
        head = groups[:k]
        if k > 1 and not all(4 <= len(g) <= 6 for g in head[:-1]):
            continue
        digits = "".join(head)
        if 12 <= len(digits) <= 19 and luhn_ok(digits):
            return sum(len(g) for g in head) + k - 1
    return None


#: Where a number written internationally may start: "+" or "00" then a digit, not inside
#: a longer number ("1000 ml" is not a dialling prefix).
_INTL_START = re.compile(r"(?<![\w+])(?<!\d\s)(?:\(\+|\+|00)\s?\(?[1-9]")
#: Clock times in a row ("0030 0100 0130") start with "00" too.
_CLOCK_TIMES = re.compile(r"00\d\d(?:\s[0-2]\d\d\d)+")
_WINDOW = 32  # longer than any number the plans allow, with its spaces and brackets
_TRUNK_IN_BRACKETS = re.compile(r"\(0\)")


class PhonenumbersRecognizer(SpanRecognizer):
    """PHONE_NUMBER for numbers written with a country code ("+44 20 7946 0958",
    "+49(0)9742648147", "0033 1 23 45 67 89"), judged by ``phonenumbers`` (the library
    Presidio's own phone recognizer uses).

    A number ``phonenumbers`` finds valid at the "+" counts; so does one laid out like a
    phone number whose country code exists and whose length that country's plan allows
    (``is_possible_number``): customers mistype, and a number outside the allocated
    ranges is still somebody's. Presidio's ``PhoneRecognizer`` runs the matcher over the
    whole text for each region, 20 times our other recognizers together on notes; we run
    it only at a "+" or "00", where the country code fixes the plan. National layouts are
    the ``phones`` family's.
    """

    VERSION = "2"

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
            found = next(iter(phonenumbers.PhoneNumberMatcher(window, "ZZ", leniency=1)), None)
            end = 0
            if found is not None and found.start == 0:
                end = found.end + shift
            n = phone_length(text, start, 10 if shift else 8, trim=not shift)
            if n > end and _possible(text[start : start + n]):
                end = n
            if shift and (
                _CLOCK_TIMES.match(text, start)
                or text[start + end : start + end + 2].strip().isdigit()
            ):
                continue  # times in a row, or a longer list of values
            if end:
                spans.append((start, start + end, "PHONE_NUMBER", SCORE))
        return spans


def _possible(number: str) -> bool:
    """Whether a number written with its country code has a length its plan allows."""
    import phonenumbers

    digits = re.sub(r"\D", "", _TRUNK_IN_BRACKETS.sub("", _EXT.sub("", number)))
    if number.startswith("00"):
        digits = digits[2:]
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse("+" + digits, None))
    except phonenumbers.NumberParseException:
        return False


#: National identity and tax numbers with a shape no clinical number takes (letters at fixed
#: places) and, but for the NINO, a check letter Presidio validates: UK National Insurance,
#: Spanish DNI/NIF and NIE, Italian codice fiscale. One type, NATIONAL_ID, for all of them,
#: run on English text (Presidio files the Spanish and Italian ones under their own
#: languages). Left out: the all-digit ones (PESEL, German tax id, Aadhaar, TFN, SIN): 9-12
#: digits with a check digit that one random number in ten or eleven passes, the shape of
#: phone numbers.
class NinoRecognizer(UkNinoRecognizer):
    """Presidio's NINO pattern, only on a text with two letters then six digits."""

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        if _MAYBE_NINO.search(text) is None:
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)


class FiscalCodeRecognizer(ItFiscalCodeRecognizer):
    """Presidio's codice fiscale (check letter validated), only on a text with six letters
    then two digits: its case-blind pattern alone cost as much as all our date rules."""

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        if _MAYBE_FISCAL_CODE.search(text) is None:
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)


_MAYBE_NINO = re.compile(r"[A-Za-z]{2} ?\d\d ?\d\d ?\d\d")
_MAYBE_FISCAL_CODE = re.compile(r"[A-Za-z]{6}\d\d[A-Za-z]")
NATIONAL_IDS = (NinoRecognizer, EsNifRecognizer, EsNieRecognizer, FiscalCodeRecognizer)


def build(_dictionaries) -> list[EntityRecognizer]:
    """Factory for the ``general`` family."""
    return [
        CardNumberRecognizer(),
        IbanRecognizer(),
        UsItinRecognizer(),
        UsBankRecognizer(),
        PhonenumbersRecognizer(),
        *(cls(supported_entity="NATIONAL_ID", supported_language="en") for cls in NATIONAL_IDS),
    ]


register_family("general", build, builtin=True)
