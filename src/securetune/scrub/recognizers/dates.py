"""Dates in every clinical form, and bare years.

Shapes: ``7/22``, ``7/22/97``, ``8/16/2017``, ``8-16-2017``, ``2017-08-16`` (also with
``/`` or ``.``), ``16.08.2017`` (day first, as written in most of Europe), ``4/97``
(month/year), ``Nov. 2016``, ``November 3rd``, ``3 Nov``, ``'92``, ``74'``, ``on the 3rd``,
``the 11th``, and four-digit years 1900-2039. Look-alikes are refused: blood pressures
(``120/80``: no month 120), pain and strength scores (``8/10``, ``5/5``), ratios after
"pain", military times after "at"/"@", and dose or volume numbers followed by a unit.
"""

from __future__ import annotations

import re

from securetune.scrub.recognizers.base import Span, SpanRecognizer, register_family

_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_ORD = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_UNIT = r"(?:mg|mcg|ml|cc|l|g|kg|u|units?|mmhg|hrs?|h|min|mins|meq|%|x)\b"

_MD = r"(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])"
_NUMERIC = re.compile(
    r"(?=\d)(?<![\d/])(?<!\d\.)(?<!\d:)"  # the look-ahead first: most positions fail at once
    rf"(?:{_MD}\s?-\s?{_MD}(?![\d/])"  # a range of month/days: 6/30-7/2
    rf"|{_MD}/{_MD}(?![\d/])"  # two month/days run together: 10/03/10/04
    rf"|{_MD}\.(?:19|20)?\d\d(?![\d.])"  # m/d.yy
    r"|(?:0?[1-9]|1[0-2])[/-](?:0?[1-9]|[12]\d|3[01])[/-](?:19|20)?\d\d"  # m/d/y
    r"|(?:1[3-9]|2\d|3[01])[/.-](?:0?[1-9]|1[0-2])[/.-](?:19|20)\d\d"  # d/m/yyyy, day > 12
    r"|(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:19|20)\d\d"  # d.m.yyyy (Europe)
    r"|(?:19|20)\d\d([-/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])"  # y-m-d, y/m/d, y.m.d
    # with a machine timestamp's clock time (exports and logs): one value, one span
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?(?!\d))?"
    r"|(?:0?[1-9]|1[0-2])/(?:\d{1,2}|(?:19|20)\d\d))"  # m/d or m/yy or m/yyyy
    r"(?![\w/]|\.\d|-\d)",
    re.IGNORECASE,
)
_MONTH_NAME = re.compile(
    rf"(?<![\w])(?:(?:{_ORD})\s*(?:-\s*(?:{_ORD})\s+)?(?:of\s+)?)?(?:{_MONTHS})\b\.?"
    rf"(?:\s*(?:{_ORD})\b(?:\s*-\s*(?:{_ORD})\b)?(?:,?\s*'?(?:19|20)?\d\d\b)?"
    rf"|,?\s*(?:19|20)\d\d\b|,?\s*'\d\d\b|,\s*\d\d\b)?",
    re.IGNORECASE,
)
_ORDINAL = re.compile(
    r"(?<![\w])(?:(?:on|of|since|until|by)\s+)?the\s+((?:[12]?\d|3[01])(?:st|nd|rd|th))\b(?!\s*(?:degree|unit|time|dose|line|floor|day|week|grade|intercostal|ics|rib))",
    re.IGNORECASE,
)
_APOS_YEAR = re.compile(r"(?<![\d'])'(\d\d)\b(?!['\"\d])|(?<![\w'/.])(\d\d)'(?![\w'])")
_YEAR = re.compile(r"(?<![\w/.:,-])((?:19\d\d|20[0-3]\d))(?![\w/:]|\.\d|-\d)")
_YEAR_REFUSE_BEFORE = re.compile(
    r"(?:\bat|@|approx\.?|approximately|around|until|till|by|since|from|~|\bx|q|=|"
    r"\b(?:plt|plts|platelets|wbc|hr|bp|rr|tv|vt|ve|uo|u/o|i/o|intake|output|total|"
    r"glucose|bs|fs|fsbs|ck|ldh|ast|alt|amylase|lipase|ptt|po2|pco2|cvp|svr|pvr|mv|ci|co))\s*$",
    re.IGNORECASE,
)
_YEAR_REFUSE_AFTER = re.compile(rf"\s*(?:{_UNIT}|-\s*\d|to\s+\d)", re.IGNORECASE)
_SCORE_BEFORE = re.compile(
    r"\b(?:pain|scale|score|strength|rated|rates|grade|motor|power|pulses?|\+|\bx)\s*(?:of\s*)?(?:is\s*)?$",
    re.IGNORECASE,
)
#: Ventilator settings look like dates: "PSV 10/5", "PEEP/PS 5/10", "flowby 6/3".
_VENT_WORDS = (
    r"(?:ps|psv|peep|cpap|bi-?pap|simv|a/c|imv|ipap|epap|settings?|flowby|"
    r"fio2|prvc|aprv|tv|rr|peep/ps|ps/peep)"
)
#: The setting names right before the numbers (not anywhere in the last words: "rr 30s.
#: On 9/3" is a date, and "CARDIAC:" ends in "AC").
_VENT_BEFORE = re.compile(rf"(?<![A-Za-z/]){_VENT_WORDS}\b|%\W{{0,4}}$|\dx$", re.I)
#: Where the words before a number stop counting: a sentence end or a line break.
_CLAUSE_END = re.compile(r".*(?:\.\s|\n)", re.DOTALL)
_VENT = re.compile(rf"\b{_VENT_WORDS}\b", re.IGNORECASE)
_DAY_MON_YEAR = re.compile(rf"(?<![\w/-])\d{{1,2}}-(?:{_MONTHS})-(?:19|20)?\d\d\b", re.IGNORECASE)
#: Holidays date an event as precisely as "12/25" does. Matched on the lower-cased text
#: (faster than IGNORECASE for a long alternation).
_HOLIDAY = re.compile(
    r"\b(?:christmas(?:\s+(?:eve|day))?|thanksgiving(?:\s+day)?|easter(?:\s+sunday)?|"
    r"new\s+year'?s(?:\s+(?:eve|day))?|valentine'?s\s+day|independence\s+day|"
    r"(?:4th|fourth)\s+of\s+july|labor\s+day|memorial\s+day|veterans\s+day|halloween|"
    r"hanukk?ah|chanukah|passover|yom\s+kippur|rosh\s+hashanah|ramadan|eid)\b",
)
#: Events a medical history dates with a bare two-digit year: "CABG 81", "MI '95",
#: "09 PTCA to LCX". Generic clinical vocabulary, not taken from any corpus.
_EVENTS = (
    r"cabg|redo|ptca|pci|stent(?:s|ed|ing)?|mi|nstemi|stemi|ami|cva|tia|avr|mvr|tvr|ppm|aicd|icd|"
    r"pacemaker|chf|dx|diagnosed|cath|angioplasty|bypass|lap|chole|cholecystectomy|appy|"
    r"appendectomy|turp|tah|hysterectomy|thr|tkr|hip|knee|cea|endarterectomy|fem-?pop|"
    r"aaa|repair|resection|colectomy|mastectomy|lumpectomy|nephrectomy|transplant|"
    r"ablation|valvuloplasty|pe|dvt|sbo|gib|ugib|lgib|crf|esrd|hd|ca|cancer|xrt|chemo|"
    r"surgery"
)
_HISTORY_LINE = re.compile(
    r"\b(?:pmh|psh|pshx|pmhx|hx|history|h/o|s/p|status\s+post|past\s+medical|past\s+surgical)\b",
    re.IGNORECASE,
)
_HISTORY_YEAR = re.compile(
    rf"(?i:\b(?:{_EVENTS})\.?\s+(?:in\s+)?(\d\d)\b(?![./:%-]?\d|\s*(?:x\b|%|{_UNIT}|/|yo|y/o|yr|year|day|week|month|hour|min|pack|ppd|times)))"
    rf"|(?<![\w./:-])(\d\d)(?=\s+(?i:{_EVENTS})\b)(?<![./]\d\d)"
)
_MAY_VERB = re.compile(r"^may\b\.?$", re.IGNORECASE)

SCORE = 0.85


def _vent_before(text: str, start: int) -> bool:
    """Do ventilator settings (a mode, a setting name, an oxygen percentage, "600x")
    come right before ``start`` in the same clause?"""
    lo = max(0, start - 22)
    window = text[lo:start]
    cut = _CLAUSE_END.match(window)
    if cut:
        window, lo = window[cut.end() :], lo + cut.end()
    if lo > 0 and text[lo - 1].isalpha():  # the window must not start inside a word
        window = window.split(None, 1)[1] if " " in window.strip() else ""
    return _VENT_BEFORE.search(window) is not None


class ClinicalDateRecognizer(SpanRecognizer):
    """DATE_TIME for calendar dates and years (not clock times or durations)."""

    VERSION = "3"

    def __init__(self) -> None:
        super().__init__(["DATE_TIME"], name="SecuretuneDateRecognizer")

    def find(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for m in _NUMERIC.finditer(text):
            value = m.group()
            before = text[max(0, m.start() - 20) : m.start()]
            if re.fullmatch(r"\d{1,2}/\d{1,2}(?:/\d\d)?", value) and (
                _vent_before(text, m.start()) or _VENT.match(text[m.end() : m.end() + 12].strip())
            ):
                continue
            if any(f in ("1/2", "1/3", "2/3", "1/4", "3/4") for f in re.split(r"\s?-\s?", value)):
                continue
            if text[m.end() : m.end() + 1] == "%":
                continue  # "12/40%": ventilator rate and oxygen
            if re.fullmatch(r"\d{1,2}/\d{1,2}\s?[-/]\s?\d{1,2}/\d{1,2}", value) and (
                _SCORE_BEFORE.search(before) or _vent_before(text, m.start())
            ):
                continue  # "strength 5/5-4/5", "PS 10/5/12/5": scores and settings
            if re.fullmatch(r"\d{1,2}/\d{1,2}", value):
                den = int(value.split("/")[1])
                if _SCORE_BEFORE.search(before) or (
                    den in (4, 5, 10)
                    and int(value.split("/")[0]) <= den
                    and _SCORE_BEFORE.search(before)
                ):
                    continue
                if den == 10 and re.search(r"pain|/10", before + text[m.end() : m.end() + 8], re.I):
                    continue
                if re.match(rf"\s*{_UNIT}", text[m.end() : m.end() + 8], re.I):
                    continue
            spans.append((m.start(), m.end(), "DATE_TIME", SCORE))
        for m in _MONTH_NAME.finditer(text):
            word = m.group().strip()
            bare = re.fullmatch(rf"(?:{_MONTHS})\.?", word, re.IGNORECASE)
            if bare:
                # a bare month name only when it cannot be a verb or an abbreviation
                if word.lower().rstrip(".") in ("may", "mar", "dec", "jan", "jun", "aug"):
                    continue
                if len(word.rstrip(".")) <= 3 and not word.endswith("."):
                    continue
                if not (word[0].isupper() or word.endswith(".")):
                    continue
            if _MAY_VERB.match(word):
                continue
            spans.append((m.start(), m.start() + len(m.group().rstrip()), "DATE_TIME", SCORE))
        for m in _DAY_MON_YEAR.finditer(text):
            spans.append((m.start(), m.end(), "DATE_TIME", SCORE))
        low = text.lower()
        if len(low) == len(text):  # offsets hold (a few Unicode letters lengthen when lowered)
            for m in _HOLIDAY.finditer(low):
                spans.append((m.start(), m.end(), "DATE_TIME", SCORE))
        else:
            for m in re.finditer(_HOLIDAY.pattern, text, re.IGNORECASE):
                spans.append((m.start(), m.end(), "DATE_TIME", SCORE))
        for m in _ORDINAL.finditer(text):
            spans.append((m.start(1), m.end(1), "DATE_TIME", SCORE))
        for m in _APOS_YEAR.finditer(text):
            spans.append((m.start(), m.end(), "DATE_TIME", SCORE))
        if _HISTORY_LINE.search(text):
            self._history_years(text, spans)
        for m in _YEAR.finditer(text):
            before = text[max(0, m.start() - 16) : m.start()]
            after = text[m.end() : m.end() + 10]
            if _YEAR_REFUSE_BEFORE.search(before) or _YEAR_REFUSE_AFTER.match(after):
                continue
            spans.append((m.start(), m.end(), "DATE_TIME", SCORE))
        return spans

    @staticmethod
    def _history_years(text: str, spans: list[Span]) -> None:
        """Two-digit years next to a dated event, on the lines of a history section."""
        lines = text.split("\n")
        pos = 0
        history = False
        for line in lines:
            # a history section runs from its heading to the next blank line
            if _HISTORY_LINE.search(line):
                history = True
            elif not line.strip():
                history = False
            if history:
                for m in _HISTORY_YEAR.finditer(line):
                    g = 1 if m.group(1) else 2
                    value = int(m.group(g))
                    if m.group(g)[0] == "0" and value == 0:
                        continue
                    spans.append((pos + m.start(g), pos + m.end(g), "DATE_TIME", SCORE))
            pos += len(line) + 1


def build(_dictionaries) -> list[SpanRecognizer]:
    """Factory for the ``dates`` family."""
    return [ClinicalDateRecognizer()]


register_family("dates", build, builtin=True)
