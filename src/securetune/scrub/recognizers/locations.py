"""Locations and facilities: a gazetteer plus the ways notes name hospitals.

* places from the GeoNames gazetteer (US cities, states, counties, countries); a place
  that is also an ordinary word or a person name needs a location cue before it
  ("lives in", "from", "to", "at");
* facilities anchored on a head word: ``Calvert Hospital``, ``kernan hosp``,
  ``Carpenter Assisted Living``, ``Zagaria campus``, ``Frederick Memorial`` (the head
  word itself is kept out of the span unless it is part of the name, like "Memorial");
* religious hospital names: ``St. Agnes``, ``St Mary's``, ``Holy Cross``, ``Sacred Heart``;
* hospital abbreviations after a location cue: ``to GH``, ``from VAMC``, ``the GBMC``;
* ward names with a floor number after a transfer cue: ``transferred to Blake 7``;
* street addresses: ``123 Main St``, ``4 Oak Hill Road, Apt 2B``;
* employers after a work cue (ORGANIZATION): ``CEO of IBM``, ``his business Genentech``.

A facility word found by these rules is found again elsewhere in the same note.
"""

from __future__ import annotations

import re

from securetune.scrub.dictionaries import Dictionaries, words
from securetune.scrub.recognizers._text import Kind, Tok, gap, tokenize
from securetune.scrub.recognizers.addresses import AddressRecognizer
from securetune.scrub.recognizers.base import Span, SpanRecognizer, register_family

CUES = words("in from to at near of by @ the toward towards via into leave")
_STRONG_CUES = words(
    """
    in from to at near @
    """
)

HEADS = words(
    """
    hospital hospitals hosp hospiatal hopital clinic clinics rehab rehabilitation
    infirmary hospice campus manor sanitarium sanatorium
    """
)
#: Head phrases of two words: "medical center", "assisted living", "nursing home".
HEAD_PAIRS = frozenset(
    {
        ("medical", "center"),
        ("med", "center"),
        ("med", "ctr"),
        ("medical", "ctr"),
        ("health", "center"),
        ("health", "care"),
        ("assisted", "living"),
        ("nursing", "home"),
        ("nursing", "facility"),
        ("care", "center"),
        ("cancer", "center"),
        ("heart", "institute"),
    }
)
#: Head words that belong to the name itself.
NAME_HEADS = words("memorial adventist baptist methodist presbyterian lutheran episcopal samaritan")

#: Words that are part of a facility name only after a distinctive word:
#: "Chatsworth General Hospital", "Howard County General", but not "the general hospital".
NAME_PARTS = words("general community regional county city state university children's")

#: Words that modify a head word without naming anything.
GENERIC = words(
    """
    outside osh other another local same previous prior referring receiving transferring
    this that the a an his her their our your my any psych psychiatric mental acute
    chronic rehab nursing long term day home     va vah private
    public  hospital hospitals hosp medical inpatient outpatient er ed icu ccu
    micu sicu ticu nicu cath lab unit floor admitted admission transfer transferred
    discharged discharge sent went taken brought returned return back prior recent his
    new old visit stay course previous  area nearby
    """
)

SAINT_NAMES_AFTER = words(
    """
    holy sacred
    """
)
SAINT_OBJECTS = words(
    """
    cross heart family name spirit trinity redeemer innocents rosary
    """
)
_NOT_SAINT = words(
    """
    elevation elevations depression depressions segment segments wave waves change
    changes changes t
    """
)

_ABBREV = re.compile(r"^(?:[a-z]{1,3}h|[a-z]{1,3}mc|[a-z]{1,2}hc)$", re.IGNORECASE)
#: Medical abbreviations with the shape of a hospital abbreviation.
_ABBREV_EXCLUDE = words(
    """
    ich sah sdh edh ivh bph lvh rvh pih nph osh ash hh bh dh ch ph oh ah uh eh sh nh th
    wh lmh mch hch ugh rh mh ddh cah adh tsh fsh lh gnrh crh acth pth hgh siadh dh sch
    lch mrh rvmc
    """
)

_FLOOR = re.compile(
    r"\s?(\d{1,2})(?:/\d{1,2})?(?![\d/:]|\.\d|\s*(?:mg|mcg|ml|cc|u|units|l|%))", re.IGNORECASE
)

CONTEXT_SCORE = 0.85
GAZETTEER_SCORE = 0.7

#: An employer after a work cue: "CEO of IBM", "works at Genentech", "his business Acme".
#: The name must be capitalised or an all-caps acronym (case-sensitive on purpose).
_EMPLOYER = re.compile(
    r"(?i:\b(?:works?|worked|working|employed|employee|retired|ceo|cfo|president|owner|"
    r"founder|manager|engineer|consultant)\s+(?:at|for|of|from|by|with)"
    r"|\b(?:his|her|their|family|own)\s+(?:business|company|firm|employer))"
    r"\s+(?:the\s+)?(?P<org>[A-Z][A-Za-z&'-]*[A-Za-z](?:\s+[A-Z][A-Za-z&'-]*[A-Za-z]){0,2})"
)

#: Street suffixes (the common USPS Publication 28 ones) and their abbreviations.
_STREET_TYPES = re.findall(
    r"\w+",
    "Street St Avenue Ave Road Rd Boulevard Blvd Drive Dr Lane Ln Way Court Ct Place Pl "
    "Terrace Ter Circle Cir Highway Hwy Parkway Pkwy Square Sq Trail Trl Pike Turnpike "
    "Alley Aly Bypass Byp Causeway Cswy Crescent Cres Crossing Xing Expressway Expy "
    "Freeway Fwy Gardens Gdns Grove Grv Heights Hts Hollow Holw Junction Jct Loop Mall "
    "Manor Mnr Meadows Mdws Mews Path Plaza Plz Point Ridge Rdg Row Run Spur Walk "
    "Crest Close Estates Ests Glen Gln Green Grn Knoll Knls Landing Lndg Ramp Route Rte "
    "Shoals Station Sta Summit Smt Trace Trce Track Trak Valley Vly View Vw Villa Ville Vis "
    "Vista Wells Wls Creek Crk Ford Frd Fork Frk Harbor Hbr Haven Hvn Island Isle Lake Lk "
    "Motorway Mews Orchard Orch Oval Park Parkways Pass Pines Port Ranch Shore Spring "
    "Springs Stream Throughway Tunnel Underpass Union Unions Mill Mills Well Island Islands "
    "Burg Burgs Bridge Knoll Falls Land Lodge Mount Mountain Neck Plains Prairie River "
    "Skyway Stravenue Via Viaduct Wall Branch Brook Brooks Camp Canyon Cape Cliff Cliffs "
    "Common Corner Corners Cove Coves Curve Dale Divide Extension Field Fields Flat Flats "
    "Forest Forge Fort Gateway Hill Hills Inlet Key Keys Lakes Meadow Mission Overpass "
    "Rapids Roads Shores Squares Streets Ways Village Villages",
)
_TITLE_TYPES = "|".join(_STREET_TYPES)
#: In capitals, short suffixes read as clinical shorthand ("8 BEAT RUN", "24 YR OLD PT"):
#: only the long ones and the classic abbreviations count.
_UPPER_TYPES = "|".join(t.upper() for t in _STREET_TYPES if len(t) >= 5 or t in _STREET_TYPES[:30])
_UNIT_WORDS = r"(?:Apt|APT|Apartment|Unit|UNIT|Suite|SUITE|Ste|Flat|FLAT|Floor|Fl)"
_UNIT = rf"(?:,?\s*(?:{_UNIT_WORDS}|#)\.?\s*#?\w{{1,6}})?"
#: "123 Main St", "4 Oak Hill Road, Apt 2B", "12 ELM STREET": a house number, one to three
#: capitalised words, a street type. Case-sensitive on purpose: "2 peripheral iv's in
#: place" and "2 hour period. Dr. Smith" are not addresses.
_STREET = re.compile(
    rf"(?<![\w/.-])\d{{1,6}}[A-Za-z]?\s+(?:[NSEW]\.?\s+)?"
    rf"(?P<name>(?:[A-Z][a-z'-]+\s+){{1,3}}(?:{_TITLE_TYPES})"
    rf"|(?:[A-Z'-]{{2,}}\s+){{1,3}}(?:{_UPPER_TYPES}))"
    rf"\b(?!\.?\s+(?!{_UNIT_WORDS}\b)[A-Z][a-z])\.?{_UNIT}"
    # the rest of a postal address on the same line: ", Springfield, IL 62704",
    # ", 2031 Springvale", ", Lake Ruth 04412"
    r"(?:,[ \t]*(?:\d{4,5}[ \t]+)?[A-Z][a-z][\w'-]*(?:[ \t]+[A-Z][a-z][\w'-]*){0,2}"
    r"(?:,?[ \t]+[A-Z]{2}\b)?"
    r"(?:,?[ \t]+\d{5}(?:-\d{4})?\b|[ \t]+\d{4}\b|[ \t]+[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}\b)?)?"
)

_STATE_AFTER = re.compile(
    r",\s*(?:A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|"
    r"PA|RI|S[CD]|T[NX]|UT|V[TA]|W[AVIY]|Md|Mass|Calif|Penn|Va|Fla)\b\.?"
)


_STATE_NAMES = (
    "alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|georgia|"
    "hawaii|idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|"
    "massachusetts|michigan|minnesota|mississippi|missouri|montana|nebraska|nevada|"
    "new\\s+hampshire|new\\s+jersey|new\\s+mexico|new\\s+york|north\\s+carolina|north\\s+dakota|"
    "ohio|oklahoma|oregon|pennsylvania|rhode\\s+island|south\\s+carolina|south\\s+dakota|"
    "tennessee|texas|utah|vermont|virginia|washington|west\\s+virginia|wisconsin|wyoming|"
    "penn|mass|calif|fla|conn|wash|mich|minn|wisc|tenn|ariz|colo|mo|md|va|ky|nc|sc|nd|sd|"
    "ny|nj|nm|nh|pa|ri|wv|wi|wy|tx|ut|vt|ok|or|oh|ia|ks|la|me|mn|ms|mt|ne|nv|il|in|id|"
    "ga|fl|de|ct|co|ca|az|ar|ak|al|hi|ma|mi|tn|wa|dc"
)
#: "University of Iowa Hospitals", "U of NM Med Center", "Univ. of Penn": a state
#: university's hospital named by its state. The head words stay out of the span, as with
#: every other facility.
_UNIVERSITY_OF = re.compile(
    rf"(?i:\b(?:university|univ\.?|u)\s+of\s+(?:{_STATE_NAMES})\b\.?)"
    rf"(?=\s+(?i:medical|med\.?|hospitals?|hosp\.?|health|school|clinic|campus|system|"
    rf"center|ctr)\b|\s*[,.;)\n]|\s+(?i:on|in|yesterday|today|for|where|with|and|er|ed|ew)\b)"
)
#: Emergency-ward shorthand after a hospital's name or abbreviation: "Mercer General ER",
#: "GH EW", "St Luke ED". Case-sensitive: the ward is written in capitals.
_WARD_AFTER = re.compile(r"[ \t]+(?:EW|ER|ED|E\.R\.|ICU|CCU|MICU|SICU)\b")
#: Regions: "the Gulf Coast", "West Coast", "the Upper Peninsula", "South Side".
_REGION = re.compile(
    r"\b(?:(?:Eastern|Western|Northern|Southern|North|South|East|West|Upper|Lower)\s+"
    r"(?:Shore|Coast|Valley|Side|End|Hills|Heights|Plains|Panhandle|Peninsula|Highlands|"
    r"Slope|Mountains|Woods|Bay)"
    r"|(?:EASTERN|WESTERN|NORTHERN|SOUTHERN|NORTH|SOUTH|EAST|WEST|UPPER|LOWER)\s+"
    r"(?:SHORE|COAST|VALLEY|SIDE|END|HILLS|HEIGHTS|PLAINS|PANHANDLE|PENINSULA|HIGHLANDS|"
    r"SLOPE|MOUNTAINS|WOODS|BAY))\b"
)
#: Neighbourhoods after a residence cue: "lives in Fells Point", "from Roland Park".
_NEIGHBOURHOOD = re.compile(
    r"(?i:\b(?:lives|living|lived|resides|residing|moved|home|house|apartment|neighborhood|"
    r"neighbourhood)\s+(?:is\s+)?(?:in|at|near|from|to)\s+(?:the\s+)?)"
    r"((?:[A-Z][a-z'-]+|[A-Z]{2,})(?:\s+(?:[A-Z][a-z'-]+|[A-Z]{2,})){0,2}\s+"
    r"(?:Park|Heights|Village|Hills|Hill|Point|Harbor|Harbour|Beach|Springs|Falls|Square|"
    r"Gardens|Grove|Terrace|Landing|Estates|Township|PARK|HEIGHTS|VILLAGE|HILLS|HILL|"
    r"POINT|HARBOR|BEACH|SPRINGS|FALLS|SQUARE|GARDENS|GROVE|ESTATES))\b"
)


class ClinicalLocationRecognizer(SpanRecognizer):
    """LOCATION (places) and FACILITY (hospitals, rehabs, wards)."""

    VERSION = "2"

    def __init__(self, dictionaries: Dictionaries) -> None:
        super().__init__(
            ["LOCATION", "FACILITY", "ORGANIZATION"], name="SecuretuneLocationRecognizer"
        )
        self.d = dictionaries
        self._first_words = frozenset(m[0] for m in dictionaries.multiword_places)

    def find(self, text: str) -> list[Span]:
        toks = tokenize(text, self.d)
        spans: list[Span] = []
        facility_words: set[str] = set()
        n = len(toks)
        i = 0
        while i < n:
            t = toks[i]
            # multi-word places: "san diego", "new york"
            hit = self._multiword(toks, i, text) if t.low in self._first_words else 0
            if hit:
                if self._place_ok(toks, i, text, ambiguous=False):
                    spans.append((t.start, toks[i + hit - 1].end, "LOCATION", GAZETTEER_SCORE))
                i += hit
                continue
            if t.low in self.d.places and len(t.low) >= 3:
                ambiguous = t.kind in (Kind.AMBIG, Kind.COMMON, Kind.STOP) or self.d.is_name(t.low)
                if self._place_ok(toks, i, text, ambiguous=ambiguous):
                    score = 0.9 if self.with_state(text, t) else GAZETTEER_SCORE
                    spans.append((t.start, t.end, "LOCATION", score))
            i += 1

        for i, t in enumerate(toks):
            low = t.low
            head = low in HEADS or (low.startswith("hosp") and len(low) <= 10)
            pair = i + 1 < n and (low, toks[i + 1].low) in HEAD_PAIRS
            if head or pair or low in NAME_HEADS:
                got = self._before_head(text, toks, i, include_head=low in NAME_HEADS)
                if got:
                    first, last = toks[min(got)], toks[max(got)]
                    spans.append((first.start, last.end, "FACILITY", CONTEXT_SCORE))
                for k in got:
                    if toks[k].kind in (Kind.NAME, Kind.UNKNOWN):
                        facility_words.add(toks[k].low)
            if low in ("st", "saint", "ste") and i + 1 < n:
                self._saint(text, toks, i, spans)
            if low in SAINT_NAMES_AFTER and i + 1 < n:
                nxt = toks[i + 1]
                if nxt.low in SAINT_OBJECTS and _adjacent(text, t, nxt):
                    end = nxt.end
                    after = toks[i + 2] if i + 2 < n else None
                    if after and after.low in NAME_HEADS and _adjacent(text, nxt, after):
                        end = after.end
                    spans.append((t.start, end, "FACILITY", CONTEXT_SCORE))
            if (
                i > 0
                and _ABBREV.match(t.text)
                and t.low not in _ABBREV_EXCLUDE
                and (len(t.low) == 2 or not (t.low in self.d.english or t.low in self.d.medical))
            ):
                prev = toks[i - 1]
                if (
                    prev.low in CUES
                    and prev.line == t.line
                    and (t.text.isupper() or not t.cased)
                    and gap(text, prev, t).strip() in ("", "@")
                ):
                    spans.append((t.start, t.end, "FACILITY", CONTEXT_SCORE))
                    facility_words.add(t.low)
            if (
                i > 0
                and toks[i - 1].low in ("to", "from", "on", "per", "at")
                and (
                    t.kind in (Kind.UNKNOWN, Kind.NAME)
                    or (t.kind is Kind.AMBIG and t.cap and t.cased)
                )
                and len(t.low) >= 4
            ):
                m = _FLOOR.match(text, t.end)
                if m and 0 < int(m.group(1)) <= 20:
                    # a floor glued to the ward's name is part of the name ("BLAKE7")
                    end = m.end(1) if m.start(1) == t.end else t.end
                    spans.append((t.start, end, "FACILITY", CONTEXT_SCORE))
                    facility_words.add(t.low)

        for rx in (_UNIVERSITY_OF,):
            for m in rx.finditer(text):
                spans.append((m.start(), m.end(), "FACILITY", CONTEXT_SCORE))
        for m in _REGION.finditer(text):
            spans.append((m.start(), m.end(), "LOCATION", CONTEXT_SCORE))
        for m in _NEIGHBOURHOOD.finditer(text):
            spans.append((m.start(1), m.end(1), "LOCATION", CONTEXT_SCORE))
        self._named_wards(text, toks, spans, facility_words)

        for m in _EMPLOYER.finditer(text):
            span = self._employer(m.group("org"))
            if span:
                start = m.start("org")
                spans.append((start, start + span, "ORGANIZATION", CONTEXT_SCORE))

        for m in _STREET.finditer(text):
            words_in = m.group("name").split()
            # the street name must not be a clinical phrase ("2 units PRBC Rd" is not a street)
            if all(w.lower().strip(".") not in self.d.medical for w in words_in[:-1]):
                spans.append((m.start(), m.end(), "LOCATION", CONTEXT_SCORE))

        if facility_words:
            covered = {(s, e) for s, e, _, _ in spans}
            for t in toks:
                if (t.start, t.end) not in covered:
                    base = re.sub(r"\d+$", "", t.low)
                    if t.low in facility_words or base in facility_words:
                        spans.append((t.start, t.end, "FACILITY", CONTEXT_SCORE))
            # "QUARTERMAIN3": a facility word glued to a floor number
            for word in facility_words:
                for m in re.finditer(rf"(?i)\b{re.escape(word)}(?=\d)", text):
                    spans.append((m.start(), m.end(), "FACILITY", CONTEXT_SCORE))
        return spans

    def _named_wards(
        self, text: str, toks: list[Tok], spans: list[Span], facility_words: set[str]
    ) -> None:
        """A hospital named by a distinctive word and a generic one or a ward: "Tolland
        Regional" after a transfer cue, "Ardmore Pike ER", "WCH EW"."""
        for i, t in enumerate(toks):
            ward = _WARD_AFTER.match(text, t.end) if t.text[:1].isupper() else None
            regional = (
                t.low in NAME_PARTS
                and t.low not in ("state", "city", "university", "children's")
                and (t.cap or not t.cased)
            )
            if not (ward or regional):
                continue
            picked: list[int] = []
            k = i if ward and not regional else i - 1
            while k >= 0 and len(picked) < 3:
                w = toks[k]
                if k < i and (w.line != toks[k + 1].line or gap(text, w, toks[k + 1]).strip()):
                    break
                if w.low in GENERIC or w.kind is Kind.STOP or w.low in self.d.medical:
                    break
                if not (w.cap or not w.cased) or w.kind is Kind.INITIAL:
                    break
                if w.kind is Kind.COMMON and not w.text.isupper() and w.low not in NAME_PARTS:
                    break
                picked.append(k)
                k -= 1
            if not picked or all(toks[k].low in NAME_PARTS for k in picked):
                continue
            first = toks[min(picked)]
            cue = min(picked) > 0 and toks[min(picked) - 1].low in CUES
            if regional and not cue and not ward:
                continue
            if (
                ward
                and not regional
                and len(picked) == 1
                and not (
                    (_ABBREV.match(first.text) and first.low not in _ABBREV_EXCLUDE)
                    or first.kind in (Kind.NAME, Kind.UNKNOWN)
                    or cue
                )
            ):
                continue
            end = t.end if regional or ward else toks[max(picked)].end
            spans.append((first.start, end, "FACILITY", CONTEXT_SCORE))
            for k in picked:
                if toks[k].kind in (Kind.NAME, Kind.UNKNOWN):
                    facility_words.add(toks[k].low)

    def _employer(self, name: str) -> int:
        """Length of the employer name to keep (0: none). Title case ("Home Depot") is a
        name; in capitals only a word no dictionary knows ("IBM", "GENENTECH") is."""
        kept = 0
        pos = 0
        for word in name.split():
            low = word.lower()
            if low in self.d.stopwords or low in self.d.medical:
                break
            titled = word[0].isupper() and word[1:].islower() if len(word) > 1 else False
            if not titled and (low in self.d.english or self.d.is_name(low)):
                break
            pos = name.index(word, pos) + len(word)
            kept = pos
        return kept

    def _multiword(self, toks: list[Tok], i: int, text: str) -> int:
        if toks[i].low not in self._first_words:
            return 0
        for size in (3, 2):
            if i + size <= len(toks):
                words = tuple(t.low for t in toks[i : i + size])
                if words in self.d.multiword_places and all(
                    _adjacent(text, toks[k], toks[k + 1]) for k in range(i, i + size - 1)
                ):
                    return size
        return 0

    def _place_ok(self, toks: list[Tok], i: int, text: str, *, ambiguous: bool) -> bool:
        t = toks[i]
        if self.with_state(text, t):
            return True  # "Baltimore, MD", "Frederick, Md."
        cue = i > 0 and toks[i - 1].low in _STRONG_CUES and toks[i - 1].line == t.line
        if t.cased and not t.cap and not (cue and not ambiguous):
            return False
        if not ambiguous:
            return True
        if i == 0:
            return False
        prev = toks[i - 1]
        if prev.line != t.line or gap(text, prev, t).strip() not in ("", "@", ","):
            return False
        if prev.low not in _STRONG_CUES:
            return False
        if t.kind in (Kind.COMMON, Kind.STOP, Kind.AMBIG):
            return (
                t.cased
                and t.cap
                and self.d.is_name(t.low) is False
                and i >= 2
                and (toks[i - 2].low in ("lives", "live", "living", "resides", "moved", "home"))
            )
        return True

    @staticmethod
    def with_state(text: str, t: Tok) -> bool:
        """Is ``t`` followed by a US state abbreviation ("Baltimore, MD")?"""
        return _STATE_AFTER.match(text, t.end) is not None

    def _before_head(self, text: str, toks: list[Tok], i: int, *, include_head: bool) -> list[int]:
        out: list[int] = []
        k = i - 1
        while k >= 0 and len(out) < 4:
            t = toks[k]
            nxt = toks[k + 1]
            if t.line != nxt.line or gap(text, t, nxt).strip(" -") != "":
                break
            if t.low in GENERIC or t.kind is Kind.STOP:
                break
            if t.low in self.d.medical and not (t.cap and t.cased and self.d.is_name(t.low)):
                break  # "cath lab", but "Jackson Medical Center", "Morse Memorial"
            lowercase_word = t.cased and not t.cap and t.kind not in (Kind.NAME, Kind.UNKNOWN)
            if lowercase_word and t.low not in self.d.places:
                break
            if t.kind is Kind.INITIAL:
                break
            out.append(k)
            k -= 1
        if all(toks[k].low in NAME_PARTS for k in out) and not all(
            toks[k].cased and toks[k].cap for k in out
        ):
            out = []  # "the general hospital": nothing distinctive, no proper-noun case
        if out and include_head:
            out.append(i)
        return out

    def _saint(self, text: str, toks: list[Tok], i: int, spans: list[Span]) -> None:
        t, nxt = toks[i], toks[i + 1]
        if not _adjacent(text, t, nxt) or nxt.low in _NOT_SAINT:
            return
        if gap(text, t, nxt).strip(" .") != "":
            return
        if t.cased and not (t.cap and nxt.cap):
            return
        if nxt.kind is Kind.INITIAL:
            cue = re.search(
                r"(?:\b(?:to|at|from|in|by)|@)\s*$", text[max(0, t.start - 8) : t.start]
            )
            if text[nxt.end : nxt.end + 1] != "." or not cue:
                return
        elif nxt.low not in self.d.first_names and nxt.kind not in (Kind.NAME, Kind.UNKNOWN):
            return
        spans.append((t.start, nxt.end, "FACILITY", CONTEXT_SCORE))


def _adjacent(text: str, a: Tok, b: Tok) -> bool:
    g = gap(text, a, b)
    return a.line == b.line and g.strip(" .") == "" and len(g) <= 3


def build(dictionaries: Dictionaries) -> list[SpanRecognizer]:
    """Factory for the ``locations`` family: places and facilities, and postal addresses
    of many countries (:mod:`securetune.scrub.recognizers.addresses`)."""
    return [ClinicalLocationRecognizer(dictionaries), AddressRecognizer(dictionaries)]


register_family("locations", build, builtin=True)
