"""Seeded generator of synthetic clinical notes with ground-truth PHI spans.

Tests and demos need notes whose PHI is known exactly. Each note is assembled from
nursing-note sentence templates whose slots are filled by a seeded ``Faker`` (names,
numbers) and by real places from the gazetteer the detector uses; every filled slot is
recorded as a :class:`SyntheticSpan`. The same seed always yields the same notes.

>>> a = generate_notes(2, seed=7)
>>> a == generate_notes(2, seed=7)
True
>>> all(n.text[s.start:s.end] for n in a for s in n.spans)
True
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from faker import Faker

from securetune.scrub.dictionaries import load_dictionaries


@dataclass(frozen=True)
class SyntheticSpan:
    """A PHI span in a synthetic note, with the entity type the detector should report."""

    start: int
    end: int
    entity_type: str


@dataclass(frozen=True)
class SyntheticNote:
    """A note and its ground truth."""

    text: str
    spans: tuple[SyntheticSpan, ...]


_TEMPLATES = (
    "Pt is a 67 yo M admitted from {FACILITY} on {DATE}. Seen by Dr. {LAST} in the ED.",
    "Dr. {LAST} aware of BP 88/40, 500cc NS bolus given. Will recheck lytes in am.",
    "SOCIAL: {RELATION} {FIRST} in to visit, updated on plan of care. Can be reached at {PHONE}.",
    "pt's {RELATION} {FIRST} {LAST} called, questions answered. lives in {CITY}.",
    "Mr. {LAST} resting comfortably overnight, no vea, HR 80s SR.",
    "Mrs. {LAST} with c/o incisional pain 6/10, dilaudid 0.5mg iv given with effect.",
    "Transferred from {FACILITY} {DATE} for cath. PMH: CABG {YEAR}, MI {YEAR}.",
    "Family meeting held with Drs. {LAST} and {LAST}; pt remains full code.",
    "{FIRST} {INITIAL}. {LAST}, RN",
    "{INITIAL}. {LAST} RRT",
    "Pager #{PAGER}. Time frame 3:00-3:45pm.",
    "Pt is a {AGE} yo woman from {CITY}, {STATE} {ZIP}.",
    "MRN: {MRN}. Insurance: Medicare ID {PLAN}.",
    "Daughter's email {EMAIL}; discharge instructions at {URL}.",
    "Monitor connected to {IP}. Pacemaker serial {SERIAL} interrogated {DATE}.",
    "Last BM on the {ORDINAL}. Follow up with PCP Dr {LAST} {DATE}.",
    "Seen at {FACILITY} in {MONTH}. Fax records to {PHONE}.",
    "PSV 10/5, 40%, TV 450s. Suctioned for thick tan secretions.",
)

_RELATIONS = ("daughter", "son", "wife", "husband", "sister", "brother", "niece", "friend")
#: (name, generic head): only the name part is PHI ("Hospital" identifies nothing).
_FACILITY_FORMS = (
    ("{last} Memorial", " Hospital"),
    ("St. {first}'s", " Hospital"),
    ("{city} General", " Hospital"),
    ("{last}", " Medical Center"),
    ("Holy Cross", ""),
    ("Sacred Heart", ""),
    ("{last}", " Rehab"),
)
_SLOT = re.compile(r"\{([A-Z]+)\}")


class _Filler:
    """Draws slot values from one seeded Faker and one seeded ``random.Random``."""

    def __init__(self, seed: int) -> None:
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.rng = random.Random(seed)
        d = load_dictionaries()
        self.cities = sorted(
            p for p in d.places if len(p) >= 5 and not d.is_common(p) and not d.is_name(p)
        )

    def _city(self) -> str:
        return self.rng.choice(self.cities).title()

    def fill(self, slot: str) -> tuple[str, str | None] | tuple[str, str, str]:
        """Return (value, entity type or None for non-PHI text[, non-PHI suffix])."""
        f, r = self.fake, self.rng
        if slot == "LAST":
            return f.last_name(), "PERSON"
        if slot == "FIRST":
            return f.first_name(), "PERSON"
        if slot == "INITIAL":
            return r.choice("ABCDEFGHJKLMNPRSTW"), "PERSON"
        if slot == "RELATION":
            return r.choice(_RELATIONS), None
        if slot == "CITY":
            return self._city(), "LOCATION"
        if slot == "STATE":
            return f.state_abbr(include_territories=False), None
        if slot == "ZIP":
            return f.zipcode(), "ZIP_CODE"
        if slot == "FACILITY":
            form, head = r.choice(_FACILITY_FORMS)
            value = form.format(last=f.last_name(), first=f.first_name(), city=self._city())
            return value, "FACILITY", head
        if slot == "DATE":
            d = f.date_between(start_date="-30y", end_date="today")
            forms = (
                f"{d.month}/{d.day}",
                f"{d.month}/{d.day}/{d:%y}",
                f"{d.month}/{d.day}/{d.year}",
                f"{d:%b}. {d.day}, {d.year}",
                f"{d:%B} {d.day}",
                f"{d:%Y-%m-%d}",
            )
            return r.choice(forms), "DATE_TIME"
        if slot == "MONTH":
            d = f.date_between(start_date="-30y", end_date="today")
            return r.choice((f"{d:%b}. {d.year}", f"{d:%B} {d.year}")), "DATE_TIME"
        if slot == "YEAR":
            return str(r.randint(1950, 2020)), "DATE_TIME"
        if slot == "ORDINAL":
            n = r.randint(1, 28)
            suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
            return f"{n}{suffix}", "DATE_TIME"
        if slot == "PHONE":
            a, b, c = r.randint(201, 989), r.randint(200, 999), r.randint(0, 9999)
            forms = (
                f"{a}-{b}-{c:04d}",
                f"({a}) {b}-{c:04d}",
                f"{a}/{b}/{c:04d}",
                f"{a}.{b}.{c:04d}",
            )
            return r.choice(forms), "PHONE_NUMBER"
        if slot == "PAGER":
            return str(r.randint(10000, 99999)), "PHONE_NUMBER"
        if slot == "AGE":
            return str(r.randint(90, 104)), "AGE_OVER_89"
        if slot == "MRN":
            return f"{r.randint(0, 99999999):08d}", "MEDICAL_RECORD_NUMBER"
        if slot == "PLAN":
            return f"{r.randint(100, 999)}{f.bothify('??').upper()}{r.randint(1000, 9999)}", (
                "HEALTH_PLAN_ID"
            )
        if slot == "EMAIL":
            return f.free_email(), "EMAIL_ADDRESS"
        if slot == "URL":
            return f"https://www.{f.domain_word()}.com/discharge", "URL"
        if slot == "IP":
            return f.ipv4_private(), "IP_ADDRESS"
        if slot == "SERIAL":
            return f.bothify("??#######").upper(), "DEVICE_ID"
        raise KeyError(slot)


def generate_notes(count: int, *, seed: int, sentences: int = 6) -> list[SyntheticNote]:
    """``count`` notes of ``sentences`` template sentences each, deterministic in ``seed``."""
    filler = _Filler(seed)
    notes = []
    for _ in range(count):
        parts: list[str] = []
        spans: list[SyntheticSpan] = []
        pos = 0
        for template in filler.rng.sample(_TEMPLATES, k=min(sentences, len(_TEMPLATES))):
            last = 0
            for m in _SLOT.finditer(template):
                literal = template[last : m.start()]
                parts.append(literal)
                pos += len(literal)
                value, entity, *suffix = filler.fill(m.group(1))
                parts.append(value)
                if entity:
                    spans.append(SyntheticSpan(pos, pos + len(value), entity))
                pos += len(value)
                for extra in suffix:
                    parts.append(extra)
                    pos += len(extra)
                last = m.end()
            tail = template[last:] + "\n"
            parts.append(tail)
            pos += len(tail)
        notes.append(SyntheticNote(text="".join(parts), spans=tuple(spans)))
    return notes
