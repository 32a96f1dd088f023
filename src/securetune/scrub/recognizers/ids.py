"""Identifying numbers that only a cue word tells apart from lab values.

Each entity has cue words; a number (digits, optionally with letters, dashes or dots,
at least 4 digits) right after its cue is that entity: ``MRN: 0012345``, ``acct #
88-1234``, ``Medicaid ID XJ12345``, ``license no. D1234567``, ``pacemaker serial
PJN123456``, ``VIN 1HGCM82633A004352``, ``driver's license 123 456 789``, ``DL#
S123-4567-8901``. Social security numbers and ZIP codes have shapes of their own
(``123-45-6789``; ``MD 21201``, ``zip 21201-1234``); after an SSN cue, an SSN in any
layout (``SSN 078 05 1120``, ``social security no. 078051120``).

Licence plates follow a plate cue in several languages (``plate``, ``registration no.``,
``car reg``, ``rego``, ``Kennzeichen``, ``kenteken``, ``immatriculation``, ``matrícula``,
``targa``, ...), in any country's layout: one to four groups of capitals and digits
joined by a space or dash, 4-10 characters with at least one digit, ending before a word
in capitals (``F30 RFH``, ``0-KYD-98``, ``M 3759 FW``, ``HB-O-8``); a measurement
(``PLATE 10MM``, ``TAG 12 MM``) is not a plate.
"""

from __future__ import annotations

import re

from securetune.scrub.recognizers.base import Span, SpanRecognizer, register_family

#: An identifier: letters, digits and separators ending in a digit, or a run of capitals and
#: digits holding three digits in a row after its first two characters. Bounded, and the
#: second possessive: unbounded nested repeats made one long token after a cue cubic.
_ID = (
    r"([A-Z]{0,4}[-#]?\d[\dA-Z./-]{2,40}\d"
    r"|(?=[A-Z0-9]{2}[A-Z0-9]{0,40}?\d{3})[A-Z0-9]{5,44}+)"
)
_SEP = r"[\s:#.]*(?:(?:no|num|number|id|#)\b[\s:#.]*)?"

CUES: dict[str, str] = {
    "MEDICAL_RECORD_NUMBER": r"mrn|mr\s*#|mr\s+no|medical\s+record(?:\s+number)?|med\s+rec|"
    r"unit\s+(?:no|number)|hospital\s+(?:no|number)|chart(?:\s+(?:no|number))?|patient\s+id",
    "ACCOUNT_NUMBER": r"account|acct|acc't|billing\s+(?:no|number)|visit\s+(?:no|number)|"
    r"encounter\s+(?:no|number)",
    "HEALTH_PLAN_ID": r"medicare|medicaid|member\s+id|subscriber(?:\s+id)?|policy|insurance"
    r"(?:\s+id)?|health\s+plan|group\s+(?:no|number)|beneficiary(?:\s+id)?|hic",
    "LICENSE_NUMBER": r"license|licence|lic|dea|npi|certificate|cert|"
    r"(?<!/)(?:c?dln?|d/l)(?=\s*[#:]|\s+no\b|\s+number\b)",  # not "mg/dl 1200"
    "DEVICE_ID": r"serial|s/n|sn|device(?:\s+id)?|model|lot|udi|implant\s+id",
    "VEHICLE_ID": r"vin|license\s+plate|plate|tag",
    "US_PASSPORT": r"passport",
}
#: A driver's licence number in digit groups ("123 456 789"), right after a licence cue.
_DL_GROUPS = re.compile(
    r"\b(?:driver'?s?|driving)\s+licen[cs]e(?:\s+(?:no|number|#))?[\s:#.]*(\d{3}(?: \d{3}){2,3})\b",
    re.IGNORECASE,
)
#: A plate cue. The look-ahead on the first letter lets the scan skip most positions
#: (an alternation alone is tried at every word start; this runs on every note).
_PLATE_CUE = re.compile(
    r"(?i:\b(?=[prctvkimaln])(?:plates?|registration(?:\s+(?:no|nr|number|mark))?"
    r"|reg(?:\.|istration)?\s*(?:no|nr|number|mark)|(?:car|vehicle|van|truck)\s+reg"
    r"|reg\s*(?=:)|rego|kenteken|kennzeichen|immatriculation|matr[ií]cula|targa|placa"
    r"|tablica(?:\s+rejestracyjna)?|numer\s+rejestracyjny|registreringsnummer|regnr"
    r"|nummerplaat|nummerskylt)\b"
    r"\.?(?:\s+(?:no|nr|number|#)\b\.?)?(?:\s+(?:is|was|of))?[\s:#.\"'“‘-]*)"
)
#: A measurement in capitals after "plate" in a note: "10MM", "12CM".
_MEASURE = re.compile(r"\d+(?:MM|CM|ML|MG|KG|MCG|CC|UNITS?|HRS?|MIN|X\d*)")
_PLATE = re.compile(r"[A-Z0-9]{1,8}(?:[ -][A-Z0-9]{1,8}){0,3}(?![\w-])")
_PATTERNS = {
    entity: re.compile(rf"\b(?:{cue}){_SEP}{_ID}(?![\w])", re.IGNORECASE)
    for entity, cue in CUES.items()
}
#: Case-sensitive, run on the lower-cased text: four times faster than IGNORECASE here.
_ANY_CUE = re.compile(rf"\b(?:{'|'.join(CUES.values())})")
_VIN = re.compile(r"\b[A-HJ-NPR-Z0-9]{17}\b")
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
#: After an SSN cue, the number in any layout: "SSN 078 05 1120", "SS# 078.05.1120",
#: "social security no. 078051120" (uncued, only the dashed shape is read as an SSN).
_SSN_CUED = re.compile(
    r"(?i:\b(?:ssn|ss\s*#|ss\s+no|social\s+security(?:\s+(?:no|num|number|#))?"
    r"|soc\.?\s*sec\.?(?:\s+(?:no|num|number|#))?)\.?(?:\s+is)?[\s:#.]*)"
    r"((?!000|666|9\d\d)\d{3}([- .]?)(?!00)\d{2}\2(?!0000)\d{4})(?![\w-]|\.\d)"
)
_STATES = frozenset(
    re.findall(
        "[A-Z]{2}",
        "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV "
        "NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP MH FM PW",
    )
)
_ZIP = re.compile(
    rf"(?:\b(?:{'|'.join(sorted(_STATES))})\.?,?\s+|\bzip(?:\s*code)?\s*[:#]?\s*)(\d{{5}}(?:-\d{{4}})?)\b"
    r"|(?<![\w-])(\d{5}-\d{4})(?![\w-])",
)

SCORE = 0.85
CUED_SCORE = 0.9


class ClinicalIdRecognizer(SpanRecognizer):
    """Record, account, plan, license, device and vehicle numbers; SSN; ZIP codes."""

    VERSION = "4"

    def __init__(self) -> None:
        super().__init__([*CUES, "US_SSN", "ZIP_CODE"], name="SecuretuneIdRecognizer")

    def find(self, text: str) -> list[Span]:
        spans: list[Span] = []
        low = text.lower()
        cued = _ANY_CUE.search(low) is not None  # one scan instead of six
        for entity, rx in _PATTERNS.items() if cued else ():
            for m in rx.finditer(text):
                value = m.group(1)
                if sum(c.isdigit() for c in value) < 4:
                    continue
                spans.append((m.start(1), m.end(1), entity, SCORE))
        spans.extend(_plates(text))
        if "licen" in text or "LICEN" in text or "Licen" in text:
            for m in _DL_GROUPS.finditer(text):
                spans.append((m.start(1), m.end(1), "LICENSE_NUMBER", SCORE))
        for m in _VIN.finditer(text):
            value = m.group()
            if any(c.isalpha() for c in value) and sum(c.isdigit() for c in value) >= 5:
                spans.append((m.start(), m.end(), "VEHICLE_ID", SCORE))
        for m in _SSN.finditer(text):
            spans.append((m.start(), m.end(), "US_SSN", SCORE))
        if "ss" in low or "soc" in low:
            for m in _SSN_CUED.finditer(text):
                # the cue names the type: it outranks a phone layout read in the same digits
                spans.append((m.start(1), m.end(1), "US_SSN", CUED_SCORE))
        for m in _ZIP.finditer(text):
            g = 1 if m.group(1) else 2
            spans.append((m.start(g), m.end(g), "ZIP_CODE", SCORE))
        return spans


def _plates(text: str) -> list[Span]:
    """Plates after a plate cue: up to four groups of capitals and digits, 4-10 characters
    with a digit (trailing groups dropped until it fits: "AB 12 CD STOLEN")."""
    spans: list[Span] = []
    for cue in _PLATE_CUE.finditer(text):
        m = _PLATE.match(text, cue.end())
        if m is None:
            continue
        groups = re.split(r"[ -]", m.group())
        for i, g in enumerate(groups):
            if len(g) >= 4 and g.isalpha():  # a word in capitals ends it: "8 HOLES"
                del groups[i:]
                break
        while groups:
            plate = "".join(groups)
            if len(plate) <= 10:
                break
            groups.pop()
        if not 4 <= len(plate) <= 10 or not any(c.isdigit() for c in plate):
            continue
        if (plate.isdigit() and len(plate) < 5) or _MEASURE.fullmatch(plate):
            continue
        end = cue.end() + sum(len(g) for g in groups) + len(groups) - 1
        spans.append((cue.end(), end, "VEHICLE_ID", SCORE))
    return spans


def build(_dictionaries) -> list[SpanRecognizer]:
    """Factory for the ``ids`` family."""
    return [ClinicalIdRecognizer()]


register_family("ids", build, builtin=True)
