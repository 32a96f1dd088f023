"""Transformations applied to detected spans, as a policy's ``transforms`` section names them.

All operators are pure functions of (span text, entity type, a keyed context), so the same
input gives the same output in every worker process. Pseudonyms and date shifts are keyed
with a workspace secret (HMAC-SHA256): the same real value maps to the same surrogate across
a workspace, nobody without the secret can recompute the mapping, and the surrogate is not
derived reversibly from the value (it is *chosen* by the MAC from public surrogate lists).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from securetune.policy import Operator

# ZIP3 prefixes whose combined population was 20,000 or fewer at the 2000 census
# (HHS guidance on Safe Harbor, 45 CFR 164.514(b)(2)(i)(B)): these become 000.
RESTRICTED_ZIP3 = frozenset(
    [
        "036",
        "059",
        "063",
        "102",
        "203",
        "556",
        "692",
        "790",
        "821",
        "823",
        "830",
        "831",
        "878",
        "879",
        "884",
        "890",
        "893",
    ]
)

_YEAR4 = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/-](\d{1,2})(?:[/-](\d{2}|\d{4}))?\s*$")
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_QUOTED_YEAR = re.compile(r"'(\d{2})\s*$")


@dataclass(frozen=True)
class OperatorContext:
    """What an operator may depend on besides the span: the workspace secret, the subject,
    and the year dates are judged against (the caller passes it, normally the current year,
    so operators stay pure functions of their inputs)."""

    secret: bytes
    subject: str
    reference_year: int
    date_shift_max_days: int = 365
    century_pivot: int = 30  # two-digit years above this are 19xx, else 20xx


def _mac(secret: bytes, *parts: str) -> bytes:
    return hmac.new(secret, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).digest()


def _normalise(value: str) -> str:
    return " ".join(value.split()).casefold()


def placeholder(entity: str) -> str:
    return f"[{entity}]"


def keep_year(text: str, ctx: OperatorContext) -> str:
    """Safe Harbor dates: only the year may stay. No year in the span means nothing stays.

    A year 90 or more years before ``ctx.reference_year`` may reveal an age over 89, and
    Safe Harbor removes every date element, the year included, that indicates such an age:
    those become ``[DATE]`` too.
    """
    years = [int(m.group(1)) for m in _YEAR4.finditer(text)]
    if years:
        return "[DATE]" if _too_old(min(years), ctx) else str(years[0])
    numeric = _NUMERIC_DATE.match(text)
    yy_text = numeric.group(3) if numeric else None
    if yy_text is None:
        quoted = _QUOTED_YEAR.search(text)  # "Nov '97"
        yy_text = quoted.group(1) if quoted else None
    if yy_text is not None:
        yy = int(yy_text)
        year = 1900 + yy if yy > ctx.century_pivot else 2000 + yy
        return "[DATE]" if _too_old(year, ctx) else str(year)
    return "[DATE]"


def _too_old(year: int, ctx: OperatorContext) -> bool:
    """Whether ``year`` may indicate an age over 89 (a birth year, say) at the reference year."""
    return year <= ctx.reference_year - 90


def shift_days(ctx: OperatorContext) -> int:
    """The subject's private offset in [-max, -1] ∪ [1, max] days, the same for all its dates."""
    n = int.from_bytes(_mac(ctx.secret, "date-shift", ctx.subject)[:8], "big")
    span = ctx.date_shift_max_days
    offset = n % (2 * span) - span
    return offset if offset < 0 else offset + 1


def date_shift(text: str, ctx: OperatorContext) -> str:
    """Shift full dates by the subject's offset, keeping their format; else a placeholder.

    Partial dates (a month and day with no year, "the 3rd") are shifted within a leap year
    so intervals between one patient's dates still hold; anything unparsable is replaced
    outright rather than risk leaving a real date.
    """
    delta = timedelta(days=shift_days(ctx))
    iso = _ISO_DATE.match(text)
    if iso:
        parsed = _safe_date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        return (parsed + delta).isoformat() if parsed else "[DATE]"
    numeric = _NUMERIC_DATE.match(text)
    if not numeric:
        return "[DATE]"
    month, day, year_text = int(numeric.group(1)), int(numeric.group(2)), numeric.group(3)
    sep = "/" if "/" in text else "-"
    if year_text is None:
        parsed = _safe_date(2000, month, day)
        if not parsed:
            return "[DATE]"
        shifted = parsed + delta
        return f"{shifted.month}{sep}{shifted.day}"
    year = int(year_text)
    if len(year_text) == 2:
        year = 1900 + year if year > ctx.century_pivot else 2000 + year
    parsed = _safe_date(year, month, day)
    if not parsed:
        return "[DATE]"
    shifted = parsed + delta
    shown_year = f"{shifted.year % 100:02d}" if len(year_text) == 2 else str(shifted.year)
    return f"{shifted.month}{sep}{shifted.day}{sep}{shown_year}"


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def age_90_plus(text: str) -> str:
    """Ages over 89 are aggregated into a single category: the whole span becomes "90+".

    Detected spans may join several ages ("92 93 yo"); replacing only one number would
    leak the others, so nothing of the span is kept.
    """
    return "90+"


def zip3(text: str) -> str:
    """Keep the first three ZIP digits, or 000 for the low-population prefixes."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 5:
        return "[ZIP_CODE]"
    prefix = digits[:3]
    return "000" if prefix in RESTRICTED_ZIP3 else prefix


@lru_cache(maxsize=1)
def _faker():
    from faker import Faker  # imported lazily: only the pseudonym operator needs it

    return Faker("en_US")


def pseudonym(text: str, entity: str, ctx: OperatorContext) -> str:
    """A realistic surrogate chosen by HMAC(secret, entity, normalised value).

    Same value → same surrogate across the workspace; the surrogate reveals nothing about
    the value without the secret. Collisions (two values, one surrogate) are possible and
    harmless for privacy; they only merge two identities in the training text.
    """
    seed = int.from_bytes(_mac(ctx.secret, "pseudonym", entity, _normalise(text))[:8], "big")
    fake = _faker()
    fake.seed_instance(seed)
    if entity == "PERSON":
        parts = text.split()
        if len(parts) == 1:
            return fake.last_name() if text[:1].isupper() else fake.last_name().lower()
        return fake.name()
    generators = {
        "LOCATION": fake.city,
        "FACILITY": lambda: (
            f"{fake.last_name()} {fake.random_element(['Hospital', 'Medical Center', 'Clinic'])}"
        ),
        "PHONE_NUMBER": lambda: f"{fake.numerify('###')}-555-01{fake.numerify('##')}",
        "EMAIL_ADDRESS": lambda: f"{fake.user_name()}@example.org",
        "URL": lambda: f"https://example.org/{fake.slug()}",
        "IP_ADDRESS": lambda: f"192.0.2.{fake.random_int(1, 254)}",
        "ZIP_CODE": lambda: fake.numerify("#####"),
        "US_SSN": lambda: f"900-{fake.numerify('##')}-{fake.numerify('####')}",
    }
    if entity in generators:
        return generators[entity]()
    # Identifiers (MRN, account, plan, licence, device, vehicle): same shape, other characters.
    return "".join(
        fake.random_element("0123456789")
        if ch.isdigit()
        else fake.random_element("ABCDEFGHJKLMNPRSTUVWXYZ")
        if ch.isalpha()
        else ch
        for ch in text
    )


def apply(operator: Operator, text: str, entity: str, ctx: OperatorContext) -> str:
    """The replacement for one detected span under ``operator``."""
    if operator == "placeholder":
        return placeholder(entity)
    if operator == "redact":
        return ""
    if operator == "keep":
        return text
    if operator == "keep_year":
        return keep_year(text, ctx) if entity == "DATE_TIME" else placeholder(entity)
    if operator == "date_shift":
        return date_shift(text, ctx) if entity == "DATE_TIME" else placeholder(entity)
    if operator == "age_90_plus":
        return age_90_plus(text) if entity == "AGE_OVER_89" else placeholder(entity)
    if operator == "zip3":
        return zip3(text) if entity == "ZIP_CODE" else placeholder(entity)
    if operator == "pseudonym":
        return pseudonym(text, entity, ctx)
    raise ValueError(f"unknown operator {operator}")  # unreachable: the policy schema forbids it
