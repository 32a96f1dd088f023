"""Ages over 89 (HIPAA Safe Harbor aggregates them to "90 or older").

``92 yo``, ``92yo``, ``92 y/o``, ``92 y.o.``, ``92 year old``, ``92-year-old``,
``92 yrs``, ``age 92``, ``aged 101``, ``in her 90s``. Ages of 89 and below are not PHI
and are left.
"""

from __future__ import annotations

import re

from securetune.scrub.recognizers.base import Span, SpanRecognizer, register_family

_AGE = r"(9\d|1[01]\d)"
_AFTER = re.compile(
    rf"(?<![\w.]){_AGE}\s*-?\s*(?:yo\b|y/o\b|y\.o\.?|yrs?\b|years?\b|yr\.|year-old|y\b)",
    re.IGNORECASE,
)
_BEFORE = re.compile(rf"\b(?:age|aged|age:)\s*{_AGE}\b", re.IGNORECASE)
#: "in her 90s", "in his mid-90's", "a man in his nineties"
_DECADE = re.compile(
    r"\bin\s+(?:his|her|their)\s+(?:early\s+|mid\s*-?\s*|late\s+)?(9\d'?s|1[01]\d'?s|nineties)",
    re.IGNORECASE,
)

SCORE = 0.85


class ClinicalAgeRecognizer(SpanRecognizer):
    """AGE_OVER_89."""

    VERSION = "1"

    def __init__(self) -> None:
        super().__init__(["AGE_OVER_89"], name="SecuretuneAgeRecognizer")

    def find(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for rx in (_AFTER, _BEFORE, _DECADE):
            for m in rx.finditer(text):
                spans.append((m.start(1), m.end(1), "AGE_OVER_89", SCORE))
        return spans


def build(_dictionaries) -> list[SpanRecognizer]:
    """Factory for the ``ages`` family."""
    return [ClinicalAgeRecognizer()]


register_family("ages", build, builtin=True)
