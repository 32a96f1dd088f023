"""Seeded generator of general-PII text (bank, insurer and customer-service prose) with
known spans, in many locales.

The clinical corpora say nothing about how the scrubber does on a bank's or an insurer's
text, so this writes it: sentence templates whose slots a seeded ``Faker`` of one of
:data:`LOCALES` fills (names, street addresses, postcodes, phone numbers in each
country's formats, card numbers with a valid Luhn digit, IBANs with a valid checksum,
SSNs, licence plates, emails, dates), each slot recorded as a :class:`PiiSpan` with the
entity type a policy would name. The same seed always yields the same texts.

>>> a = generate_pii_texts(3, seed=1)
>>> a == generate_pii_texts(3, seed=1)
True
>>> all(t.text[s.start:s.end].strip() == t.text[s.start:s.end] for t in a for s in t.spans)
True
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from faker import Faker

#: Locales whose formats the generator draws from (addresses, phones, IBANs differ).
LOCALES = (
    "en_US", "en_GB", "en_CA", "en_AU", "en_IN", "en_IE", "de_DE", "fr_FR", "es_ES",
    "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE",
)  # fmt: skip

#: Slot name -> (entity type the detector should report, Faker provider).
SLOTS: dict[str, tuple[str, str]] = {
    "name": ("PERSON", "name"),
    "first_name": ("PERSON", "first_name"),
    "last_name": ("PERSON", "last_name"),
    "address": ("LOCATION", "address"),
    "street": ("LOCATION", "street_address"),
    "city": ("LOCATION", "city"),
    "postcode": ("ZIP_CODE", "postcode"),
    "phone": ("PHONE_NUMBER", "phone_number"),
    "intl_phone": ("PHONE_NUMBER", "intl_phone"),
    "card": ("CREDIT_CARD", "credit_card_number"),
    "iban": ("IBAN_CODE", "iban"),
    "ssn": ("US_SSN", "ssn"),
    "email": ("EMAIL_ADDRESS", "email"),
    "date": ("DATE_TIME", "date_of_birth"),
    "plate": ("VEHICLE_ID", "license_plate"),
    "company": ("ORGANIZATION", "company"),
    "ip": ("IP_ADDRESS", "ipv4"),
    "url": ("URL", "url"),
}

TEMPLATES = (
    "Customer {name} called from {phone} about the card ending in {card}.",
    "Please transfer the refund to IBAN {iban}, account holder {name}.",
    "{name} moved to {street}, {city} {postcode} and updated the phone to {intl_phone}.",
    "Claimant {name}, SSN {ssn}, born {date}, reported the vehicle with plate {plate} stolen.",
    "Send the statement to {email} or by post to {street}, {postcode} {city}.",
    "Card {card} was declined twice; {name} asked us to call back on {phone}.",
    "Beneficiary: {name}. IBAN: {iban}. Reference: policy renewal.",
    "Hi, this is {name} from {company}, you can reach me at {intl_phone} or {email}.",
    "The adjuster met {name} at {street} in {city} on {date}.",
    "Direct debit mandate signed by {name}; debit IBAN {iban}; contact {phone}.",
    "My name is {first_name} and my card {card} stopped working yesterday.",
    "Please update my mailing address to {address} before the next statement.",
    "{name}\n{address}\nTel: {phone}",
    "Mr. {last_name} asked that the replacement card go to {address}.",
    "Ms. {last_name} disputes a charge on card {card} made on {date}.",
    "Ask {first_name} to call {phone} after five.",
    "Login from {ip} was blocked for the account of {name}.",
    "{name} uploaded the claim form at {url} from {ip}.",
    "Is the address {street} still right for {name}, or should we write to {city}?",
    "our records show {name} at {street}, {city}, phone {phone}",
)

_SSN_LOCALES = {"en_US"}
_DATE_FORMATS = ("%d/%m/%Y", "%B %d, %Y", "%Y-%m-%d", "%d.%m.%Y", "%b %d %Y", "%m/%d/%y")
_CARD_TYPES = (
    "amex", "diners", "discover", "jcb15", "jcb16", "maestro", "mastercard", "visa13",
    "visa16", "visa19",
)  # fmt: skip


@dataclass(frozen=True)
class PiiSpan:
    """A PII span and the entity type a policy names it by."""

    start: int
    end: int
    entity_type: str


@dataclass(frozen=True)
class PiiText:
    """One generated text, its locale and its ground truth."""

    locale: str
    text: str
    spans: tuple[PiiSpan, ...]


def _value(fake: Faker, slot: str, locale: str, us: Faker) -> str:
    if slot == "intl_phone":
        # a number as written to a foreign reader: "+<country code> ..." (Faker's own
        # country-code formats where the locale has them)
        for _ in range(20):
            value = fake.phone_number()
            if value.startswith("+"):
                return value
        return "+" + re.sub(r"^\+?", "", fake.msisdn())
    if slot == "ssn" and locale not in _SSN_LOCALES:
        return us.ssn()  # an SSN is American whoever holds it
    if slot == "date":
        return fake.date_of_birth().strftime(fake.random_element(_DATE_FORMATS))
    if slot == "name":  # no "Mrs." or "MD": the name itself is the span
        name = f"{fake.first_name()} {fake.last_name()}"
        return name.lower() if fake.random_int(0, 19) == 0 else name  # typed in a hurry
    if slot == "street":
        return fake.street_address().replace("\n", ", ")
    if slot == "address":  # a whole postal address, on one line or as written on an envelope
        sep = fake.random_element((", ", "\n"))
        return fake.address().replace("\n", sep)
    if slot == "card":  # every issuer's length, as printed or in groups of four
        number = fake.credit_card_number(card_type=fake.random_element(_CARD_TYPES))
        if fake.random_int(0, 2) == 0:
            sep = fake.random_element((" ", "-"))
            number = sep.join(number[i : i + 4] for i in range(0, len(number), 4))
        return number
    return str(getattr(fake, SLOTS[slot][1])())


def generate_pii_texts(count: int, *, seed: int = 0) -> list[PiiText]:
    """``count`` texts drawn evenly over :data:`LOCALES` and :data:`TEMPLATES`."""
    rng = random.Random(seed)
    fakers = {}
    for i, loc in enumerate(LOCALES):
        f = Faker(loc)
        f.seed_instance(seed * 1000 + i)
        # some locales build word lists from sets (it_IT cities), whose order changes with
        # each process's hash seed: sort them, or a seed would not fix the texts
        for provider in f.get_providers():
            for name in ("cities", "city_names"):
                values = getattr(provider, name, None)
                if isinstance(values, list):
                    setattr(provider, name, sorted(values))
        fakers[loc] = f
    out = []
    for n in range(count):
        locale = LOCALES[n % len(LOCALES)]
        template = TEMPLATES[rng.randrange(len(TEMPLATES))]
        fake = fakers[locale]
        pieces: list[str] = []
        spans: list[PiiSpan] = []
        pos = 0
        for m in re.finditer(r"\{(\w+)\}", template):
            pieces.append(template[pos : m.start()])
            start = sum(len(p) for p in pieces)
            value = _value(fake, m.group(1), locale, fakers["en_US"]).strip()
            pieces.append(value)
            spans.append(PiiSpan(start, start + len(value), SLOTS[m.group(1)][0]))
            pos = m.end()
        pieces.append(template[pos:])
        out.append(PiiText(locale, "".join(pieces), tuple(spans)))
    return out
