"""Telephone, fax and pager numbers in the shapes notes use.

``(201) 223-4567``, ``201-223-4567``, ``201/324/1423``, ``201.223.4567``, ``+1 201 223
4567``, ``223-4567`` with an extension ``x123``; and short pager or extension numbers
(4-6 digits) only right after a cue: ``pager #54321``, ``PG 33445``, ``beeper 1234``,
``ext. 4411``.

Typed fast, a number loses or doubles its separators: ``201- 223- 4567``, ``201 223-4567``,
``201--223--4567``, ``(201)223-4567``, ``201 2234567``; it may follow a label with a dash
(``CELL-201 223 4567``, ``SON---201-223-4567``); after a phone cue it may be run together
(``cell 2012234567``). A separator may be any of space, dot, slash or dash, at most one
punctuation mark (doubled dashes count as one) with spaces around it.
"""

from __future__ import annotations

import re

from securetune.scrub.recognizers.base import Span, SpanRecognizer, register_family

#: One separator between digit groups: spaces, or one punctuation mark (a doubled dash is
#: one mark) with optional spaces on either side.
_SEP = r"(?:\s{0,2}(?:[./]|-{1,3})\s{0,2}|\s{1,2})"
_FULL = re.compile(
    r"(?=[\d(+])(?<![\w/.])(?<!\d-)(?<!\d\s-)(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?-?\s?|\d{3}"
    + _SEP
    + r")\d{3}"
    + r"(?:"
    + _SEP
    + r")?\d{4}"
    r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w/]|\.\d|-\d)",
    re.IGNORECASE,
)
#: Ten digits run together, only after a phone cue ("cell 2012234567").
_RUN = re.compile(
    r"(?i:\b(?:phone|ph|tel|telephone|cell|cellular|mobile|fax|home|work|pager|beeper|call|"
    r"contact|number|no|#))\W{0,4}(?:at\s+)?(1?\d{10})(?!\d)"
)
_LOCAL = re.compile(r"(?<![\w/.:-])\d{3}-\d{4}(?![\w/]|\.\d|-\d)")
_CUE = (
    r"(?:pager|pgr|pg|page|paged|beeper|bpr|beep|ext|extension|phone|ph|tel|telephone|"
    r"cell|mobile|fax|home|work|office|call|number|no|#)"
)
_SHORT = re.compile(
    rf"(?<![\w])({_CUE})\.?\s*(?:#|number|no\.?|:)?\s*:?\s*#?\s*(\d{{4,6}})(?![\w/]|\.\d)",
    re.IGNORECASE,
)
_LOCAL_CUE = re.compile(rf"{_CUE}\W*(?:\w+\W+){{0,2}}$", re.IGNORECASE)

SCORE = 0.85


class ClinicalPhoneRecognizer(SpanRecognizer):
    """PHONE_NUMBER for phone, fax and pager numbers."""

    VERSION = "2"

    def __init__(self) -> None:
        super().__init__(["PHONE_NUMBER"], name="SecuretunePhoneRecognizer")

    def find(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for m in _FULL.finditer(text):
            start, end = m.start(), m.end()
            if start > 0 and text[start - 1] == "(" and text[end : end + 1] == ")":
                start, end = start - 1, end + 1
            spans.append((start, end, "PHONE_NUMBER", SCORE))
        for m in _RUN.finditer(text):
            spans.append((m.start(1), m.end(1), "PHONE_NUMBER", SCORE))
        for m in _LOCAL.finditer(text):
            if _LOCAL_CUE.search(text[max(0, m.start() - 30) : m.start()]):
                spans.append((m.start(), m.end(), "PHONE_NUMBER", SCORE))
        for m in _SHORT.finditer(text):
            cue = m.group(1).lower()
            if cue in ("no", "number", "#", "home", "work", "call", "office") and not re.search(
                r"(?:pager|beeper|phone|cell|tel|fax|ext)\w*\W*$",
                text[max(0, m.start() - 20) : m.start(1)],
                re.IGNORECASE,
            ):
                continue
            spans.append((m.start(2), m.end(2), "PHONE_NUMBER", SCORE))
        return spans


def build(_dictionaries) -> list[SpanRecognizer]:
    """Factory for the ``phones`` family."""
    return [ClinicalPhoneRecognizer()]


register_family("phones", build, builtin=True)
