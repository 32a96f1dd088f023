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

Numbers of other countries, without a cue: a national number with its trunk prefix 0
(``0351 560688``, ``04 85 65 15 05``, ``(0833)-828793``, ``026 6666233``: 9-12 digits;
dates, clock times and lists of values, which share the shape, are refused); Brazilian
``99 2921-4684``, Indian ``98765 43210``, Chinese ``13812345678``; ten digits run together
shaped like a North American number (``4397140329``). After a phone cue (``tel``, ``call
back on``, ``contact``) any digit groups of 7-15 digits in a phone layout count
(``5162.0466``, ``08-65 15 94``), but not decimals or clock times (``pH 7.35/45/80``,
``called at 2130 2200``). Numbers with a country code (``+49(0)9742648147``) are the
``general`` family's.
"""

from __future__ import annotations

import re
from itertools import pairwise

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
    # one possessive run of blanks, colons and hashes (four optional "\s*" in a row made a
    # padded field after a cue O(n^4): 400 blanks took 19 s)
    rf"(?<![\w])({_CUE})\.?[\s:#]*+(?:(?:number|no\.?)[\s:#]*+)?(\d{{4,6}})(?![\w/]|\.\d)",
    re.IGNORECASE,
)
_LOCAL_CUE = re.compile(rf"{_CUE}\W*(?:\w+\W+){{0,2}}$", re.IGNORECASE)

#: A phone number's digit groups, anchored where a number starts: optional "+", groups of
#: digits or a bracketed area code, one separator between groups (space, or a dash, dot or
#: slash with optional spaces; none needed next to a bracket; never a line break), an
#: optional extension.
_GROUPS = re.compile(
    r"(?:\(\+\d{1,4}\)[ \t]?|\+[ \t]?)?(?:\(\d{1,5}\)|\d{1,15})"
    r"(?:(?:[ \t]?[-./][ \t]?|[ \t]|(?<=\))-?|(?=\())(?:\(\d{1,5}\)|\d{1,12})){0,7}"
    r"(?:[ \t]?(?:x|ext\.?|extension)[ \t]?\d{1,5})?(?![\w/]|[.,-]\d)",
    re.IGNORECASE,
)
#: A phone cue; the number after it may be written in any country's layout. The look-ahead
#: on the first letter lets the scan skip most word starts. Not "ph" ("pH 7.35/45/80"), nor
#: "number" alone ("account number 12345678" is the ids family's).
CUE = re.compile(
    r"(?i:\b(?=[pmtcfrdnwshgk])(?:phone|tel|telephone|mobile|mob|cell|fax|contact|"
    r"call(?:ed|ing)?(?:\s+back)?|reach\s+(?:me|us|her|him)|ring|dial|whatsapp|sms|text|"
    r"hotline|telefon|telefone|telefono|teléfono|téléphone|tél|portable|handy|gsm|móvil|"
    r"celular|cellulare|komórka)\b\.?"
    r"(?:\s+(?:on|at|from|me|us|her|him|them|to)){0,2}(?:\s+(?:no|number|nr))?\.?"
    r"[\s:#-]*)(?=[(+\d])"
)
_END = r"(?![\w/]|[.,-]\d)"
#: Where a national number starts, in one scan (the look-ahead first lets it skip every
#: position that is not a digit or a bracket): with its trunk prefix, "0" or "(0" and a
#: digit, not inside a longer token or a list ("trunk"; its length is judged afterwards);
#: or whole, in a layout clinical numbers do not take: Brazilian "(11) 91234-5678", Indian
#: mobile "98765 43210", Chinese mobile "13812345678", North American run together.
_NATIONAL = re.compile(
    r"(?=[\d(])(?<![\w./:+,-])(?:(?P<trunk>(?<!\d\s)(?:\(?0[1-9]|0\(\d))"
    rf"|\(?[1-9]\d\)?\s\d{{4,5}}-\d{{4}}{_END}|[6-9]\d{{4}}[ -]\d{{5}}{_END}"
    rf"|1[3-9]\d{{9}}{_END}|[2-9]\d\d[2-9]\d{{6}}{_END})"
)
#: A date at the start ("14-02-2019 0830"); dotted dates fall to the mixed-separator rule.
_DATE_START = re.compile(r"\d{1,4}([/-])(?:0?[1-9]|[12]\d|3[01])\1\d{2,4}")
_SLASHED = re.compile(r"\(?0\d{1,5}\)?\s?/\s?\d{5,}(?:[ -]\d+)*")
_SPACED = re.compile(r"[\d ]+")
#: Space-separated layouts with four or more groups: French pairs "04 85 65 15 05", Swiss
#: and Swedish "044 668 18 00", "070 123 45 67".
_PAIRS = re.compile(r"0\d \d\d \d\d \d\d \d\d|0\d{1,3} \d{3} \d\d \d\d")
#: A vital-sign, ventilator or lab label right before a run of values ("CVP 08 10 12 11
#: 09", "PEEP 05 08 10 12 14"): zero-padded readings in pairs are no French number. Not
#: "T" or "Co" ("T : 01 42 ...", "Dupont & Co 01 ..." are a French card's phone).
_READING_LABEL = re.compile(
    r"(?i:\b(?:cvp|hr|rr|bp|sbp|dbp|nbp|abp|map|pap|pcwp|wedge|svr|pvr|ci|tmax|temp|"
    r"sat|sats|spo2|sao2|svo2|fio2|peep|tv|vt|mv|pip|icp|cpp|gcs|uo|u/o|fsbs|glucose|"
    r"hct|hgb|plt|wbc|inr|ptt|bun|lactate)"
    r"\s*[:=]?\s*$)"
)
#: Counts rounded to hundreds ("65000 72000") are lab values, not a phone number's groups.
_ROUND = re.compile(r"00(?:\s|-|$)")
_ZIP4 = re.compile(r"\d{5}-\d{4}")  # a US ZIP+4 code, "02115-1234"
EXT = re.compile(r"\s?(?:x|ext\.?|extension)\s?\d{1,5}$", re.IGNORECASE)

SCORE = 0.85


def phone_length(
    text: str, start: int, min_digits: int, max_digits: int = 15, *, trim: bool = True
) -> int:
    """Length of the phone-shaped run at ``start`` with ``min_digits``-``max_digits`` digits,
    or 0. With ``trim``, groups beyond the limit are dropped (after a cue, a number may be
    followed by another); without, a longer run is no phone number (a list of values)."""
    m = _GROUPS.match(text, start)
    if m is None:
        return 0
    run = m.group()
    ext = EXT.search(run)
    body = run[: ext.start()] if ext else run
    while True:
        n = sum(c.isdigit() for c in body)
        if min_digits <= n <= max_digits:
            return len(run) if ext and len(body) == ext.start() else len(body)
        cut = max(body.rfind(" "), body.rfind("-"), body.rfind("."), body.rfind("/"))
        if n < min_digits or cut <= 0 or not trim:
            return 0
        body = body[:cut].rstrip(" -./")


def _laid_out(value: str) -> bool:
    """Digit groups laid out as a phone number, not as clinical values: dots only with dots
    ("5162.0466", not "7.35/45/80" or "7.41 38 95"), and not clock times in a row
    ("2130 2200", "0800 1200 1600")."""
    if "." in value and any(c in value for c in " -/"):
        return False
    groups = [g for g in re.split(r"[\s()./-]+", value) if g]
    return len(groups) < 2 or not all(_clock(g) for g in groups)


def _clock(group: str) -> bool:
    """Whether four digits read as a 24-hour clock time ("0830", "2400")."""
    return len(group) == 4 and group[:2] <= "24" and group[2:] <= "59"


def _national(value: str) -> bool:
    """A national number with trunk 0, not a date, clock times or a list of values."""
    if _DATE_START.match(value.lstrip("(")) or _ZIP4.fullmatch(value):
        return False
    if "/" in value and _SLASHED.fullmatch(value) is None:
        return False  # "07/2019 1200" is a month and a time; "0171/1234567" a number
    if not _laid_out(value):
        return False
    groups = re.split(r"[\s().-]+", value.strip("()"))
    if len(groups) >= 4 and _SPACED.fullmatch(value):
        # four or more groups split by spaces alone are a list of values ("082 091 100
        # 110"), unless laid out in pairs the French or Swiss way and not counting up
        counting = all(int(b) == int(a) + 1 for a, b in pairwise(groups))
        return _PAIRS.fullmatch(value) is not None and not counting
    return True


class ClinicalPhoneRecognizer(SpanRecognizer):
    """PHONE_NUMBER for phone, fax and pager numbers."""

    VERSION = "4"

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
        spans.extend(_world(text))
        return spans


def _world(text: str) -> list[Span]:
    """Other countries' layouts: after a phone cue, with a trunk 0, Brazilian, run together."""
    spans: list[Span] = []
    for m in CUE.finditer(text):
        n = phone_length(text, m.end(), 7)
        if n and _laid_out(text[m.end() : m.end() + n]):
            spans.append((m.end(), m.end() + n, "PHONE_NUMBER", SCORE))
    for m in _NATIONAL.finditer(text):
        start, n = m.start(), m.end() - m.start()
        value = text[start : start + n]
        if m.group("trunk"):
            n = phone_length(text, start, 9, 12, trim=False)
            if not n or not _national(text[start : start + n]):
                continue
            if _READING_LABEL.search(text[max(0, start - 12) : start]):
                continue  # readings after their label: "CVP 08 10 12 11 09"
        elif _ROUND.search(value) or all(_clock(g) for g in re.findall(r"\d+", value)[-2:]):
            continue  # "65000 72000" are counts; "12 0800-1200" a value and a time range
        spans.append((start, start + n, "PHONE_NUMBER", SCORE))
    return spans


def build(_dictionaries) -> list[SpanRecognizer]:
    """Factory for the ``phones`` family."""
    return [ClinicalPhoneRecognizer()]


register_family("phones", build, builtin=True)
