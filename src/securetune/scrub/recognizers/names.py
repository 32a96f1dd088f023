"""Person names: census dictionaries plus the context rules clinicians write by.

A token is a name on its own when it is a census first name or surname and not an ordinary
English or medical word. Anything else needs context, as in the notes themselves:

* a title before it: ``Dr``, ``Drs'``, ``Mr``, ``Mrs``, ``Ms``, ``Miss``;
* a credential after it, as in signatures: ``Q. Lander RRT``, ``Dan A. Forman-Lyons, RN``;
* a relation or role before it: ``husband Rich``, ``dtr suzette``, ``caseworker Leona``;
* a coordination with a name found by context: ``Dr. Rakusin and Toolis``;
* an initial: ``S. Dominico``.

A name found by context is then extended over the adjacent name-like words (``Dr. Van
Leeuwen``, ``mary theresa kondouli``), and a surname that context proved once is found
again anywhere else in the same note (``Dr Rakusin`` ... ``RAKUSIN AWARE``).
"""

from __future__ import annotations

import re

from securetune.scrub.dictionaries import Dictionaries, words
from securetune.scrub.recognizers._text import Kind, Tok, classify_token, gap, tokenize
from securetune.scrub.recognizers.base import Span, SpanRecognizer, register_family

TITLES = words(
    """
    dr drs doctor dr's drs' mr mrs ms miss mister mssrs prof professor
    """
)

CREDENTIALS = words(
    """
    rn rrt crt md lpn cna np pa-c phd msw lcsw licsw crna rnc bsn ccrn cnm pharmd dpt
    mpt otr slp rd ldn ptr sn do
    """
)

RELATIONS = words(
    """
    husband wife son daughter dtr dau sister brother mother father mom dad friend niece
    neice nephew aunt uncle cousin grandson granddaughter grandmother grandfather
    grandma grandpa fiance fiancee boyfriend girlfriend partner spouse proxy hcp
    caregiver caseworker nurse resident intern fellow attending surgeon cardiologist
    neurologist physician physicians pcp therapist chaplain companion roommate neighbor
    guardian sibling stepdaughter stepson staff manager worker sister-in-law
    brother-in-law son-in-law daughter-in-law sons daughters sisters brothers dtrs
    grandsons granddaughters cousins nieces nephews stepmother stepfather godson
    goddaughter
    """
)

#: Kinship words after which informal notes write a first name in lower case ("son lucius").
KIN = words(
    """
    husband wife son daughter dtr dau sister brother mother father mom dad niece neice
    nephew aunt uncle cousin grandson granddaughter grandmother grandfather grandma grandpa
    fiance fiancee boyfriend girlfriend partner spouse sons daughters sisters brothers
    friend sibling
    """
)

#: Credentials written before a first name: "NP odette made aware", "RN Lucinda in to help".
#: Not "PA" (pulmonary artery) or "MD" (Maryland): both precede ordinary words too often.
PRE_NAME_CREDENTIALS = words("np rn lpn cna rrt dr")

#: What a clinician does right after being named: "Q. BRANDT AWARE", "K. VARGA: ...".
_CLINICIAN_ACTS = words(
    """aware notified paged informed called made here said says states stated ordered
    consulted spoke came saw examined updated following followed agrees agreed"""
)
#: Words before a clinician's initial and surname: "per k varga", "paged Q. Brandt".
_BEFORE_INITIAL = words("per paged notified called informed dr")

#: Words that follow a title without being a name ("Dr. aware", "MD on call").
_NOT_AFTER_TITLE = words(
    """aware notified paged called note notes order orders office appt appointment team
    service services visit here said states stated on in at to of and or the"""
)

#: Words between a relation and the name they introduce: "daughter is Mrs. X", "son, X".
_RELATION_FILLERS = words(
    """
    is named called step
    """
)

#: Honorifics of other languages: "Herr Gießler", "Mme Aubry", "Sra. Peinado", "Pani Łodej".
#: Only a capitalised one in a cased line counts ("Frau", not "FRAU" or "frau").
FOREIGN_TITLES = words(
    """
    herr herrn frau fru fröken mme mlle madame monsieur sr sra srta señor señora señorita
    signor signora dott dhr mevr mevrouw heer pan pani sir madam dame mx
    """
)
#: Honorifics that are also words or abbreviations ("Pan cultured", "Sr. resident"): after
#: them the next word must look like a name by itself. ("Sig", the prescription's "Sig:",
#: is left out altogether.)
_WEAK_TITLES = words("sr pan pani sir dame madam")

#: Words that name a person's role in bank, insurer and customer-service text; a name
#: written right after one is that person ("claimant Ana Ruiz", "Beneficiary: Ana Ruiz").
#: No word that clinical notes use of things ("paralytic agent Nimbex").
ROLE_NOUNS = words(
    """
    customer customers client claimant beneficiary beneficiaries policyholder holder
    cardholder insured payee payer applicant borrower debtor creditor signatory
    tenant landlord caller sender recipient addressee subscriber guarantor cosigner
    co-signer assignee grantor heir executor executrix adjuster representative
    contact attn attention
    """
)

#: Phrases after which the next capitalised words (or a first name in lower case) are a
#: person: introductions, signatures and who an account or a letter belongs to.
_CUE_PHRASES = (
    ("name", "is"),
    ("names", "are"),
    ("i", "am"),
    ("i'm",),
    ("this", "is"),
    ("signed", "by"),
    ("account", "of"),
    ("behalf", "of"),
    ("spoke", "with"),
    ("spoke", "to"),
    ("speaking", "with"),
    ("speaking", "to"),
    ("dear",),
    ("hi",),
    ("hello",),
    ("hey",),
    ("thanks",),
    ("thank", "you"),
    ("regards",),
    ("sincerely",),
    ("faithfully",),
)
#: Sign-offs, after which the name is often on the next line ("Regards,\nAna Ruiz").
_SIGN_OFFS = words("regards sincerely faithfully")
_CUES_BY_LAST: dict[str, list[tuple[str, ...]]] = {}
for _cue in _CUE_PHRASES:
    _CUES_BY_LAST.setdefault(_cue[-1], []).append(_cue)

#: Surname particles: lower case inside a name ("Beau van den Heuvel", "Diogo da Mota").
PARTICLES = words(
    """
    van von vom der den de del della delle dei degli di da das dos do du des la le lo
    ten ter te zu y e bin ibn al el
    """
)

#: Never part of a name ("Pan" stays possible: it is a surname as well as a title).
_NEVER = TITLES | CREDENTIALS | RELATIONS | (FOREIGN_TITLES - {"pan"})

#: Every word that may end a cue: one set lookup per word before any cue is looked at.
_CUE_WORDS = FOREIGN_TITLES | ROLE_NOUNS | frozenset(_CUES_BY_LAST) | {"name"}

_NAME_LIKE = (Kind.NAME, Kind.AMBIG, Kind.UNKNOWN, Kind.INITIAL)

_DOTTED_CREDENTIAL = re.compile(r"(?:M\.D|R\.N|D\.O|N\.P|P\.A|Ph\.D|R\.R\.T|L\.P\.N)\.", re.I)

CONTEXT_SCORE = 0.85
DICTIONARY_SCORE = 0.6


def _adjacent(text: str, a: Tok, b: Tok) -> bool:
    """Two tokens in a row on one line, separated by spaces or an initial's dot."""
    g = gap(text, a, b)
    if "." in g and a.kind is not Kind.INITIAL:
        return False
    return a.line == b.line and g.strip(" .") == "" and len(g) <= 3


def _sentence_start(text: str, start: int) -> bool:
    """Does a sentence, line or field begin at ``start``?"""
    i = start - 1
    while i >= 0 and text[i] in " \t":  # no slice of everything before: called per word
        i -= 1
    return i < 0 or text[i] in ".!?:;\n"


def _nameish(t: Tok, *, strict: bool) -> bool:
    """May ``t`` continue a name? ``strict`` forbids ambiguous words that are lower case
    in a cased line (so "Dr. Smith aware" stops at "aware")."""
    if t.kind in (Kind.NAME, Kind.UNKNOWN, Kind.INITIAL):
        return True
    if t.kind is Kind.AMBIG:
        return not (strict and t.cased and not t.cap)
    return False


class ClinicalNameRecognizer(SpanRecognizer):
    """PERSON from census dictionaries and clinical context rules."""

    VERSION = "3"

    def __init__(self, dictionaries: Dictionaries) -> None:
        super().__init__(["PERSON"], name="SecuretuneNameRecognizer")
        self.d = dictionaries

    def find(self, text: str) -> list[Span]:
        toks = tokenize(text, self.d)
        n = len(toks)
        score = [0.0] * n
        proven: set[str] = set()

        def mark(i: int, s: float) -> None:
            if s > score[i]:
                score[i] = s
            if (
                s >= CONTEXT_SCORE
                and toks[i].kind in (Kind.NAME, Kind.UNKNOWN)
                and toks[i].low not in PARTICLES  # "der" in "van der Ven" is no surname
            ):
                proven.add(toks[i].low)

        for i, t in enumerate(toks):
            if t.kind is Kind.NAME and not (t.cased and not t.cap) and t.low not in _NEVER:
                mark(i, DICTIONARY_SCORE)
            elif (
                t.cased
                and self._world_first(t)
                and t.text.istitle()
                and (len(t.low) > 3 or not _sentence_start(text, t.start))
            ):
                # "Ask Sigmar to call": written as a name; a short one opening a sentence
                # is as often an abbreviation ("Sys BP 90s")
                mark(i, DICTIONARY_SCORE)
            low = t.low
            if low in TITLES and i + 1 < n:
                j = i + 1
                if toks[j].line == t.line and gap(text, t, toks[j]).strip(" .'") == "":
                    nxt = toks[j]
                    plain = (
                        (
                            nxt.kind is Kind.COMMON
                            or (nxt.kind is Kind.STOP and nxt.low in self.d.last_names)
                        )
                        and (len(nxt.low) >= 3 or (nxt.cap and nxt.cased))
                        and nxt.low not in _NOT_AFTER_TITLE
                        and (nxt.cap or not nxt.cased)
                    )
                    surname = self._after_particles(text, toks, j)
                    if surname > 0:  # "Mr. van der Kint", "Sr. da Cunha"
                        for m in range(j, surname + 1):
                            mark(m, CONTEXT_SCORE)
                    elif (nxt.kind in _NAME_LIKE and nxt.kind is not Kind.INITIAL) or plain:
                        self._extend(text, toks, j, mark)
                    elif toks[j].kind is Kind.INITIAL and j + 1 < n:
                        mark(j, CONTEXT_SCORE)
                        self._extend(text, toks, j, mark)
            elif low in RELATIONS:
                self._after_relation(text, toks, i, mark)
            elif low in CREDENTIALS and self._is_credential(text, toks, i):
                self._before_credential(text, toks, i, mark)
            elif t.kind is Kind.INITIAL and _DOTTED_CREDENTIAL.match(text, t.start) and i > 0:
                self._before_credential(text, toks, i, mark)  # "John Smith, M.D."
            elif (
                t.kind is Kind.INITIAL
                and t.cap
                and i + 1 < n
                and (t.start == 0 or text[t.start - 1] in " \t\n(")
            ):
                nxt = toks[i + 1]
                if (
                    text[t.end : t.end + 1] == "."
                    and _adjacent(text, t, nxt)
                    and nxt.kind in (Kind.NAME, Kind.UNKNOWN)
                    and len(nxt.low) >= 4
                    and (nxt.cap or not nxt.cased)
                ):
                    mark(i, CONTEXT_SCORE)
                    self._extend(text, toks, i + 1, mark)

        self._cued(text, toks, mark)
        self._lower_case_pairs(text, toks, mark)
        self._initial_surname(text, toks, mark)
        self._credential_first_name(text, toks, mark)
        joined: list[Span] = []  # names inside hyphenated tokens: spans, not whole tokens
        self._hyphen_joined(text, toks, joined)
        self._social_lines(text, toks, mark)

        # Two capitalised words in a row in a cased line, neither an ordinary word
        # (or a first name then an unknown word): "Lopie Certusi", "Hank Przybylo".
        for i in range(n - 1):
            a, b = toks[i], toks[i + 1]
            if not (a.cased and a.text.istitle() and b.text.istitle() and _adjacent(text, a, b)):
                continue
            if text[a.end : b.start] != " " or a.low in _NEVER or b.low in _NEVER:
                continue
            first_ok = (
                a.kind in (Kind.NAME, Kind.UNKNOWN)
                or (a.kind is Kind.AMBIG and a.low in self.d.first_names)
                or self._world_first(a)
            )
            if (
                (
                    first_ok
                    and b.kind in (Kind.NAME, Kind.UNKNOWN)
                    and (Kind.UNKNOWN in (a.kind, b.kind) or a.low in self.d.first_names)
                )
                or self._census_pair(a, b)
                or (self._plain_first(a) and self._surname_after_first(a, b))
            ):
                mark(i, CONTEXT_SCORE)
                mark(i + 1, CONTEXT_SCORE)

        # A capitalised name-like word, particles, a capitalised surname: "Beau van den
        # Heuvel", "Corinne Le Gall" (in English prose the shape is only a name's).
        for i in range(n - 2):
            a = toks[i]
            if toks[i + 1].low not in PARTICLES or not (a.cased and a.text.istitle()):
                continue
            if a.low in _NEVER or a.low in PARTICLES or a.low in self.d.medical:
                continue
            if a.kind in (Kind.NAME, Kind.UNKNOWN, Kind.AMBIG) or self._world_first(a):
                end = self._after_particles(text, toks, i + 1)
                if end < 0 or not _adjacent(text, a, toks[i + 1]):
                    continue
                if tuple(t.low for t in toks[i : end + 1]) not in self.d.multiword_places:
                    for m in range(i, end + 1):  # not "Rio de Janeiro"
                        mark(m, CONTEXT_SCORE)

        # Coordination: "Dr. Rakusin and Toolis", "Suzette and Hank".
        for i in range(1, n - 1):
            if toks[i].low in ("and", "&") and score[i - 1] >= DICTIONARY_SCORE:
                nxt = toks[i + 1]
                if nxt.line != toks[i].line or nxt.low in _NEVER:
                    continue
                proven_left = score[i - 1] >= CONTEXT_SCORE
                plain = nxt.kind in (Kind.NAME, Kind.UNKNOWN) and (nxt.cap or not nxt.cased)
                ambiguous = (
                    nxt.kind is Kind.AMBIG
                    and (nxt.cap or not nxt.cased)
                    and (proven_left or (nxt.cased and nxt.low in self.d.first_names))
                )
                if plain or ambiguous:
                    mark(i + 1, CONTEXT_SCORE)

        # Extend every found name over adjacent name-like words.
        for i in range(n):
            if score[i] >= DICTIONARY_SCORE:
                self._grow(text, toks, i, score)

        # A surname proven by context is a name everywhere in the note.
        if proven:
            for i, t in enumerate(toks):
                if score[i] == 0.0 and t.low in proven:
                    score[i] = CONTEXT_SCORE

        out = list(joined)
        for i, t in enumerate(toks):
            if score[i]:
                end = t.end
                if t.kind is Kind.INITIAL and text[end : end + 1] == ".":
                    end += 1  # "S." is the phrase, dot included
                out.append((t.start, end, "PERSON", score[i]))
        return out

    def _cue_at(self, text: str, toks: list[Tok], i: int) -> int:
        """How strongly ``toks[i]`` ends a cue for a name right after it: 0 (no cue),
        1 (a role or a phrase: the name must look like one) or 2 (an honorific or a
        "name:" field: a capitalised ordinary word is a surname too, "Frau Weiß",
        "Sra. Bueno", and a name in capitals is a name, "Name: ANA RUIZ")."""
        t = toks[i]
        low = t.low
        if low in FOREIGN_TITLES:
            if not (t.cased and t.text.istitle()):
                return 0
            return 1 if low in _WEAK_TITLES else 2
        if low == "name" and text.startswith(":", t.end):
            return 2
        if low in ROLE_NOUNS:
            return 1
        for cue in _CUES_BY_LAST.get(low, ()):
            k = i - len(cue) + 1
            if k >= 0 and all(
                toks[k + m].low == word and toks[k + m].line == t.line for m, word in enumerate(cue)
            ):
                return 2 if cue[0] in ("name", "names") else 1
        return 0

    def _cued(self, text: str, toks: list[Tok], mark) -> None:
        """A name right after a cue: "Beneficiary: Ana Ruiz", "signed by ana ruiz",
        "My name is Ines", "Herr Gießler", "Regards,\nAna Ruiz"."""
        n = len(toks)
        for i in range(n - 1):
            if toks[i].low not in _CUE_WORDS:
                continue
            strength = self._cue_at(text, toks, i)
            if not strength:
                continue
            t, nxt = toks[i], toks[i + 1]
            g = gap(text, t, nxt)
            same_line = nxt.line == t.line
            if not same_line and not (t.low in _SIGN_OFFS and nxt.line == t.line + 1):
                continue
            allowed = " :,-\n" + ("." if t.low in FOREIGN_TITLES else "")
            if g.strip(allowed) != "" or len(g.strip(" ")) > 2:
                continue
            if self._thanks(toks, i) and nxt.kind is Kind.UNKNOWN and not self._is_first(nxt.low):
                continue  # thanks go to teams and services too ("Thanks Heme for recs")
            end = self._name_slot(text, toks, i + 1, strength)
            for k in range(i + 1, end):
                mark(k, CONTEXT_SCORE)

    @staticmethod
    def _thanks(toks: list[Tok], i: int) -> bool:
        """Does ``toks[i]`` end "thanks" or "thank you"?"""
        low = toks[i].low
        return low == "thanks" or (low == "you" and i > 0 and toks[i - 1].low == "thank")

    def _name_slot(self, text: str, toks: list[Tok], j: int, strength: int) -> int:
        """The end (exclusive) of the name that starts at ``toks[j]`` after a cue, or
        ``j`` when no name starts there."""
        f = toks[j]
        if f.low in PARTICLES:
            surname = self._after_particles(text, toks, j)  # "Sra. da Cunha"
            return surname + 1 if surname > 0 else j
        if f.kind in (Kind.STOP, Kind.INITIAL) or f.low in _NEVER:
            return j
        if strength >= 2 and f.cased and f.text.isupper():
            return self._capitals_name(text, toks, j)
        upper = f.cap and f.cased
        if upper:
            if not self._capitalised_name_word(f, strength) and not (
                # a word then a surname: "Luce Maréchal", "Roan van den Brand"
                f.kind is Kind.AMBIG and self._surname_follows(text, toks, j)
            ):
                return j
        elif f.cased or f.kind is not Kind.COMMON:
            # lower case in a cased line (typed in a hurry), or a line without case
            if not self._lower_name_word(f, first=True) and not (
                j + 1 < len(toks)
                and f.kind is Kind.UNKNOWN
                and not f.cap
                and self._lower_name_word(toks[j + 1], first=False)
                and _adjacent(text, f, toks[j + 1])
            ):
                return j
        else:
            return j
        k = j + 1
        while k < len(toks) and k - j < 4 and _adjacent(text, toks[k - 1], toks[k]):
            nxt = toks[k]
            if nxt.low in PARTICLES:
                m = k + 1
                if m < len(toks) and toks[m].low in PARTICLES:
                    m += 1  # "van den Heuvel", "van der Ven"
                if (
                    m < len(toks)
                    and all(_adjacent(text, toks[x], toks[x + 1]) for x in range(k, m))
                    and self._continues(toks[m], upper, None)
                ):
                    k = m + 1
                    continue
                break
            if not self._continues(nxt, upper, toks[k - 1]):
                break
            k += 1
        return k

    def _capitals_name(self, text: str, toks: list[Tok], j: int) -> int:
        """A name in capitals after an honorific or a "name:" field, as cards and
        account systems print it ("Cardholder name: ANA M RUIZ"): the end (exclusive)."""
        k = j
        while k < len(toks) and k - j < 4 and (k == j or _adjacent(text, toks[k - 1], toks[k])):
            t = toks[k]
            if not t.text.isupper() or t.low in _NEVER or t.low in self.d.medical:
                break
            if t.kind is Kind.INITIAL and k > j:
                k += 1
                continue
            if t.kind not in (Kind.NAME, Kind.UNKNOWN, Kind.AMBIG):
                break
            if k == j and not (t.kind is Kind.NAME or self._is_first(t.low)):
                return j  # capitals in no name list are an acronym ("Name: MRSA screen")
            k += 1
        while k > j and toks[k - 1].kind is Kind.INITIAL:
            k -= 1  # an initial ends no name
        return k

    def _full_name_at(self, text: str, toks: list[Tok], j: int) -> bool:
        """Does a first name and a capitalised surname start at ``toks[j]``? Then a
        particle before it is a preposition ("von", "de": from), not part of the name."""
        t = toks[j]
        if t.kind not in (Kind.NAME, Kind.UNKNOWN, Kind.AMBIG) or not self._is_first(t.low):
            return False
        return self._surname_follows(text, toks, j) and toks[j + 1].low not in PARTICLES

    def _surname_follows(self, text: str, toks: list[Tok], j: int) -> bool:
        """Is ``toks[j]`` followed by a capitalised word in no list or a name that is no
        word, or by particles and a surname?"""
        if j + 1 >= len(toks) or not _adjacent(text, toks[j], toks[j + 1]):
            return False
        nxt = toks[j + 1]
        if nxt.low in PARTICLES:
            return self._after_particles(text, toks, j + 1) > 0
        return (
            nxt.kind in (Kind.NAME, Kind.UNKNOWN)
            and nxt.cap
            and not nxt.text.isupper()
            and nxt.low not in _NEVER
        )

    def _capitalised_name_word(self, t: Tok, strength: int) -> bool:
        """A capitalised word that may be a name after a cue: a name or an unknown word,
        a first name that is also a word ("Will"), or, after an honorific, any word that
        is not clinical or a function word ("Frau Weiß", "Mr. Bueno")."""
        if t.text.isupper() and len(t.low) > 1 and t.kind is not Kind.NAME:
            return False  # an acronym in a cased line ("contact MRSA")
        if t.kind in (Kind.NAME, Kind.UNKNOWN):
            return True
        if t.low in self.d.medical or t.low in self.d.stopwords:
            return False
        if t.kind is Kind.AMBIG:  # "Customer Service": a surname alone needs an honorific
            return strength >= 2 or self._is_first(t.low)
        return strength >= 2 and t.kind is Kind.COMMON and len(t.low) >= 3

    def _lower_name_word(self, t: Tok, *, first: bool) -> bool:
        """A lower-case word that may be part of a name: a census name that is not an
        ordinary word, a first name, or (after the first word) a word in no list."""
        if t.cap or t.low in _NEVER or t.low in self.d.medical:
            return False
        if t.kind is Kind.NAME:
            return True
        if t.kind is Kind.AMBIG:
            return self._is_first(t.low) if first else t.low in self.d.last_names
        if first:
            return self._world_first(t)
        return t.kind is Kind.UNKNOWN

    def _continues(self, t: Tok, upper: bool, prev: Tok | None) -> bool:
        """May ``t`` carry on a name begun after a cue, in the same case? ``prev`` is the
        word before it (None after a particle, where any capitalised word is a surname)."""
        if t.low in _NEVER or t.kind in (Kind.STOP, Kind.INITIAL):
            return False
        if upper:
            if not t.cap or (t.text.isupper() and t.kind is not Kind.NAME):
                return False
            if t.kind in (Kind.NAME, Kind.UNKNOWN, Kind.AMBIG):
                return True
            # an ordinary word as a surname after a first name: "Pauric Walls"
            return (
                (prev is None or self._is_first(prev.low))
                and t.low not in self.d.medical
                and len(t.low) >= 3
            )
        return self._lower_name_word(t, first=False)

    def _is_first(self, low: str) -> bool:
        """A first name of the census or of another country, hyphenated ones too
        ("hans-uwe", "karl-josef")."""
        d = self.d
        if low in d.first_names or low in d.world_first_names:
            return True
        return "-" in low and all(
            p in d.first_names or p in d.world_first_names for p in low.split("-")
        )

    def _plain_first(self, t: Tok) -> bool:
        """A first name that is no ordinary word ("Francis", "Lina", "Sigmar"), so a
        capitalised word after it is its surname even when it is a word ("Lina Fagotto")."""
        return (t.kind is Kind.NAME and self._is_first(t.low)) or self._world_first(t)

    def _world_first(self, t: Tok) -> bool:
        """A given name of another country that is no word ("Sigmar"; "Primitiva", which
        the misspelling guard reads as "primitive")."""
        if t.kind is not Kind.UNKNOWN and t.kind is not Kind.COMMON:
            return False
        return t.low in self.d.world_first_names or ("-" in t.low and self._is_first(t.low))

    def _lower_case_pairs(self, text: str, toks: list[Tok], mark) -> None:
        """A name typed in lower case: a first name that is no ordinary word, then a
        surname or a word in no list ("christopher larsen"; "gautam bhavsar" is not
        enough, neither word is in a name list). A first name that is also a word
        ("johnny", "anne") counts only in a cased line and before a census surname."""
        for i in range(len(toks) - 1):
            a, b = toks[i], toks[i + 1]
            if a.cap or b.cap or b.kind not in (Kind.NAME, Kind.UNKNOWN) or len(a.low) < 3:
                continue
            plain = (a.kind is Kind.NAME and self._is_first(a.low)) or (
                len(a.low) >= 4 and self._world_first(a)
            )
            ambiguous = (
                a.kind is Kind.AMBIG
                and a.cased
                and a.low in self.d.first_names
                and a.low not in self.d.medical  # "mae" (moves all extremities)
            )
            if not (plain or ambiguous):
                continue
            if text[a.end : b.start] != " " or b.line != a.line or len(b.low) < 3:
                continue
            if b.kind in (Kind.NAME, Kind.UNKNOWN) and self._lower_name_word(b, first=False):
                if ambiguous and (b.kind is not Kind.NAME or len(b.low) < 4):
                    continue
                mark(i, CONTEXT_SCORE)
                mark(i + 1, CONTEXT_SCORE)

    def _extend(self, text: str, toks: list[Tok], j: int, mark) -> None:
        """Mark ``toks[j]`` and up to two following name-like words as a name."""
        mark(j, CONTEXT_SCORE)
        k = j
        while k + 1 < len(toks) and k - j < 2:
            nxt = toks[k + 1]
            if not _adjacent(text, toks[k], nxt):
                break
            if not _nameish(nxt, strict=True) and not self._surname_after_first(toks[k], nxt):
                break
            if (
                nxt.kind is Kind.AMBIG
                and not nxt.cap
                and not (toks[j].kind is Kind.AMBIG or toks[k].kind is Kind.INITIAL)
            ):
                break
            mark(k + 1, CONTEXT_SCORE)
            k += 1

    def _after_particles(self, text: str, toks: list[Tok], k: int) -> int:
        """Where ``toks[k]`` starts one or two surname particles followed by a capitalised
        surname ("van der Ven", "da Mota", "De Oliveira"), the surname's index; else -1 (also
        where a first name and a surname follow: the particle is then a preposition)."""
        j = k
        while j < len(toks) and j - k < 2 and toks[j].low in PARTICLES:
            j += 1
        if j == k or j >= len(toks) or not _adjacent(text, toks[j - 1], toks[j]):
            return -1
        if any(text[toks[m].end : toks[m + 1].start] != " " for m in range(k, j)):
            return -1
        t = toks[j]
        if not (t.cased and t.cap) or t.text.isupper() or t.low in _NEVER:
            return -1
        if t.kind in (Kind.STOP, Kind.INITIAL) or t.low in self.d.medical:
            return -1
        if self._full_name_at(text, toks, j):
            return -1  # a preposition before a whole name: "Zahlung von Jürgen Groß"
        return j

    def _grow(self, text: str, toks: list[Tok], i: int, score: list[float]) -> None:
        s = max(score[i], DICTIONARY_SCORE)
        for step in (1, -1):
            k = i
            while 0 <= k + step < len(toks):
                a, b = (toks[k], toks[k + step]) if step == 1 else (toks[k + step], toks[k])
                nxt = toks[k + step]
                if not _adjacent(text, a, b) or score[k + step] >= s:
                    break
                if nxt.low in _NEVER:
                    break
                if step == -1 and nxt.low in PARTICLES and self._full_name_at(text, toks, k):
                    break  # "Zahlung von Jürgen Groß": the name starts after the particle
                if step == 1 and nxt.low in PARTICLES:
                    end = self._after_particles(text, toks, k + 1)
                    if end < 0:
                        break
                    for m in range(k + 1, end + 1):
                        score[m] = max(score[m], s)
                    k = end
                    continue
                if nxt.kind is Kind.INITIAL:
                    # an initial is followed by "." or is a capital in a cased line
                    dotted = text[nxt.end : nxt.end + 1] == "."
                    if not dotted and not (nxt.cap and nxt.cased):
                        break
                elif nxt.kind is Kind.UNKNOWN:
                    if nxt.cased and not nxt.cap:
                        break
                elif nxt.kind is Kind.AMBIG:
                    if not (nxt.cap and nxt.cased) and not (
                        nxt.low in self.d.first_names and toks[k].kind is Kind.NAME
                    ):
                        break
                    if (
                        step == -1
                        and nxt.low not in self.d.first_names
                        and _sentence_start(text, nxt.start)
                    ):
                        break  # capitalised only as a sentence's first word ("Ask Ines to")
                elif nxt.kind is not Kind.NAME:
                    break
                score[k + step] = s
                k += step

    def _after_relation(self, text: str, toks: list[Tok], i: int, mark) -> None:
        j = i + 1
        while j < len(toks) and toks[j].low in _RELATION_FILLERS:
            j += 1
        if j >= len(toks) or toks[j].line != toks[i].line:
            return
        if gap(text, toks[j - 1], toks[j]).strip(" ,:(-") != "":
            return
        t = toks[j]
        if t.low in TITLES:
            return  # the title rule takes it from here
        kin = toks[i].low in KIN
        ok = t.kind in (Kind.NAME, Kind.UNKNOWN) and (t.cap or not t.cased or kin)
        if t.kind is Kind.AMBIG:
            ok = (t.cap and t.cased) or (
                (not t.cased or kin) and t.low in self.d.first_names and t.low not in _NEVER
            )
        if not ok:
            return
        self._extend(text, toks, j, mark)
        # a list of names after one relation: "sons A, B and C"
        k = j
        while k + 2 < len(toks):
            while k + 1 < len(toks) and toks[k + 1].line == t.line and self._marked(toks, k):
                k += 1
            sep = toks[k + 1] if k + 1 < len(toks) else None
            if sep is None or sep.line != t.line:
                break
            g = gap(text, toks[k], sep).strip()
            if sep.low == "and" and g in ("", ","):
                nxt_i = k + 2
            elif g == "," and sep.low not in _NEVER:
                nxt_i = k + 1
            else:
                break
            if nxt_i >= len(toks):
                break
            nxt = toks[nxt_i]
            if nxt.line != t.line or nxt.low in _NEVER:
                break
            if not (
                (nxt.kind in (Kind.NAME, Kind.UNKNOWN) and (nxt.cap or not nxt.cased))
                or (
                    nxt.kind is Kind.AMBIG
                    and nxt.low in self.d.first_names
                    and (nxt.cap or not nxt.cased)
                )
            ):
                break
            self._extend(text, toks, nxt_i, mark)
            k = nxt_i

    def _census_pair(self, a: Tok, b: Tok) -> bool:
        """A census first name then a census surname, both capitalised in a cased line,
        even when the dictionary also knows both as words ("Diana Joseph", "Eric Price"):
        in running prose two such words in a row are far more often a person."""
        return (
            a.kind is Kind.AMBIG
            and b.kind in (Kind.AMBIG, Kind.NAME)
            and a.low in self.d.first_names
            and b.low in self.d.last_names
            and not (a.low in self.d.medical or b.low in self.d.medical)
            and len(a.low) >= 3
            and len(b.low) >= 3
        )

    def _marked(self, toks: list[Tok], k: int) -> bool:
        """Is the token after ``k`` part of the same name (an adjacent name word)?"""
        nxt = toks[k + 1]
        return nxt.kind in (Kind.NAME, Kind.UNKNOWN) and nxt.cap and nxt.start - toks[k].end == 1

    def _surname_after_first(self, first: Tok, nxt: Tok) -> bool:
        """A title-case word after a first name in a cased line is a surname even when it is
        also an ordinary word ("Odette Gardener", "Dr Lucinda Fowler")."""
        return (
            self._is_first(first.low)
            and first.kind is not Kind.INITIAL
            and nxt.cased
            and nxt.text.istitle()
            and nxt.kind is Kind.COMMON
            and nxt.low not in self.d.medical
            and nxt.low not in self.d.stopwords
            and nxt.low not in _NEVER
            and len(nxt.low) >= 3
        )

    def _initial_surname(self, text: str, toks: list[Tok], mark) -> None:
        """An initial and a surname with a clinician's context: "Q. BRANDT AWARE",
        "per k varga", "paged Q. Brandt"."""
        n = len(toks)
        for i in range(n - 1):
            t, sur = toks[i], toks[i + 1]
            if t.kind is not Kind.INITIAL or t.low in ("a", "i") or not _adjacent(text, t, sur):
                continue
            if sur.kind in (Kind.STOP, Kind.INITIAL) or sur.low in _NEVER or len(sur.low) < 3:
                continue
            if not sur.text.isalpha() or (sur.cased and not sur.cap):
                continue
            dotted = text[t.end : t.end + 1] == "."
            if not (dotted or not t.cased) or (t.start and text[t.start - 1].isalnum()):
                continue  # "1U PRBC": a unit, not an initial
            if t.cased and t.cap is False and sur.cap:
                continue
            before = toks[i - 1] if i > 0 else None
            cue = (
                before is not None
                and before.line == t.line
                and before.low in _BEFORE_INITIAL
                and gap(text, before, t).strip(" .:") == ""
            )
            after = toks[i + 2] if i + 2 < n else None
            acts = False
            if after is not None and after.line == sur.line and after.low in _CLINICIAN_ACTS:
                acts = gap(text, sur, after).strip() in ("", ",")
            if text[sur.end : sur.end + 1] == ":" and t.cap and text[t.end : t.end + 1] == ".":
                acts = True
            # with only a cue before it, the surname must not be an ordinary word
            # ("per c. rehab"); a clinician's act after it is context enough
            if cue and not acts and sur.kind is Kind.COMMON:
                continue
            if cue or acts:
                mark(i, CONTEXT_SCORE)
                mark(i + 1, CONTEXT_SCORE)

    def _credential_first_name(self, text: str, toks: list[Tok], mark) -> None:
        """A credential written before a first name: "NP odette made aware"."""
        for i in range(len(toks) - 1):
            t, nxt = toks[i], toks[i + 1]
            if t.low not in PRE_NAME_CREDENTIALS or not (t.text.isupper() or t.low == "dr"):
                continue
            if nxt.line != t.line or gap(text, t, nxt).strip(" .:") != "":
                continue
            if nxt.kind in (Kind.STOP, Kind.INITIAL) or nxt.low in _NEVER:
                continue
            if nxt.low in self.d.first_names and nxt.low not in self.d.medical:
                self._extend(text, toks, i + 1, mark)

    def _hyphen_joined(self, text: str, toks: list[Tok], out: list[Span]) -> None:
        """A relation joined to a name by dashes ("DAUGHTER-ANNA", "son-bob"), or a name
        joined to the next word ("son Lucius-who states")."""
        for i, t in enumerate(toks):
            if "-" not in t.text:
                continue
            parts = t.text.split("-")
            head = parts[0].lower()
            if head in KIN and len(parts) == 2 and len(parts[1]) >= 2:
                rest = parts[1]
                kind = self._kind(rest)
                if kind in (Kind.NAME, Kind.UNKNOWN) or (
                    kind is Kind.AMBIG and rest.lower() in self.d.first_names
                ):
                    start = t.start + len(parts[0]) + 1
                    out.append((start, start + len(rest), "PERSON", CONTEXT_SCORE))
            elif (
                i > 0
                and toks[i - 1].low in KIN
                and toks[i - 1].line == t.line
                and self._kind(parts[-1]) is Kind.STOP
                and parts[0].lower() in self.d.first_names
                and parts[0].lower() not in _NEVER
            ):
                out.append((t.start, t.start + len(parts[0]), "PERSON", CONTEXT_SCORE))

    def _kind(self, word: str) -> Kind:
        return classify_token(word, self.d)

    def _social_lines(self, text: str, toks: list[Tok], mark) -> None:
        """In a "social:" line, a census first name is a name in any case."""
        lines = {
            text.count("\n", 0, m.start())
            for m in re.finditer(r"(?im)^\W*social(?:\s+hx|\s+history|\s+work)?\s*[:-]", text)
        }
        if not lines:
            return
        for i, t in enumerate(toks):
            if (
                t.line in lines
                and t.kind is Kind.NAME
                and t.low in self.d.first_names
                and t.low not in _NEVER
            ):
                mark(i, CONTEXT_SCORE)

    @staticmethod
    def _is_credential(text: str, toks: list[Tok], i: int) -> bool:
        t = toks[i]
        if t.low == "do" and t.text != "DO":
            return False
        if t.cased and not t.text.isupper():
            return False
        if re.match(r"\.?\s*\d{5}\b", text[t.end : t.end + 8]):
            return False  # "Baltimore, MD 21201": a state, not a credential
        return i > 0 and toks[i - 1].line == t.line

    def _before_credential(self, text: str, toks: list[Tok], i: int, mark) -> None:
        k = i - 1
        g = gap(text, toks[k], toks[i]).strip()
        if g not in ("", ",", "/", "-"):
            return
        taken = 0
        while k >= 0 and taken < 4 and toks[k].line == toks[i].line:
            t = toks[k]
            if t.kind not in _NAME_LIKE and not (t.low in self.d.medical and self.d.is_name(t.low)):
                break
            if t.kind is Kind.INITIAL and text[t.end : t.end + 1] != ".":
                break
            mark(k, CONTEXT_SCORE)
            taken += 1
            if k == 0 or gap(text, toks[k - 1], t).strip(" .") != "":
                break
            k -= 1


def build(dictionaries: Dictionaries) -> list[SpanRecognizer]:
    """Factory for the ``names`` family."""
    return [ClinicalNameRecognizer(dictionaries)]


register_family("names", build, builtin=True)
