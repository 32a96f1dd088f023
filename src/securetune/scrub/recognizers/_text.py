"""Shared token scan for the dictionary recognizers.

Why not spaCy tokens: our rules need raw character neighbours (the "." after an initial,
the line a word sits on, whether that line carries case information), and one regex pass
over the note is cheaper than walking spaCy ``Token`` objects from Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from securetune.scrub.dictionaries import Dictionaries, words

#: Letters of the Latin alphabets, accented ones included (Latin-1 without "×" and "÷",
#: Latin Extended-A/B, and Latin Extended Additional for Vietnamese).
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
#: A word ("Grześków", "Åke", "O'Rahilly", "Hans-Uwe", "Nguyễn"): an ASCII-only class cut
#: "Velázquez" into "Vel" and "zquez", and neither half reads as a name. An explicit class
#: scans as fast as the ASCII one; ``[^\W\d_]`` (every script) was 1.7 times slower.
_WORD = re.compile(f"[{_LATIN}][{_LATIN}']*(?:-[{_LATIN}][{_LATIN}']*)*")

_IRREGULAR = words(
    """
    began begun brought bought caught thought taught sought went gone came done did felt
    kept left lost made meant met paid said sent slept spent stood told took understood
    woke woken wore worn wrote written gave given ate eaten fell fallen held heard knew
    known lay laid led ran saw seen sat spoke spoken
    """
)


class Kind(Enum):
    """How a token may take part in a name."""

    STOP = "stop"  # function word / clinical shorthand: never a name
    INITIAL = "initial"  # a single letter (with or without a following ".")
    NAME = "name"  # census name, not an ordinary word: a name on its own
    AMBIG = "ambig"  # census name that is also an ordinary word: needs context
    UNKNOWN = "unknown"  # in no list: a name with context (rare surnames)
    COMMON = "common"  # ordinary English or medical word, not a name


@dataclass(slots=True)
class Tok:
    """A word with its offsets and what the dictionaries say about it."""

    start: int
    end: int
    text: str
    low: str
    kind: Kind
    cap: bool  # starts with a capital letter
    cased: bool  # its line mixes upper and lower case, so ``cap`` means something
    line: int


def _is_ordinary(word: str, d: Dictionaries) -> bool:
    if d.is_common(word) or word in _IRREGULAR:
        return True
    if word in d.frequent_surnames:
        return False  # "morales", "peters": the inflection reading loses to the name
    candidates: list[str] = []
    if word.endswith("ies") or word.endswith("ied"):
        candidates.append(word[:-3] + "y")
    if word.endswith("es"):
        candidates.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss"):
        candidates.append(word[:-1])
    if word.endswith("ed"):
        candidates += [word[:-2], word[:-1]]
        if len(word) > 4 and word[-3] == word[-4]:
            candidates.append(word[:-3])
    if word.endswith("ing"):
        candidates += [word[:-3], word[:-3] + "e"]
        if len(word) > 5 and word[-4] == word[-5]:
            candidates.append(word[:-4])
    if word.endswith("er"):
        candidates.append(word[:-1])  # "larger"; not "tucker" -> "tuck"
    if word.endswith("ly"):
        candidates += [word[:-2], word[:-1]]
    if word.endswith("est"):
        candidates += [word[:-3], word[:-2]]
    return any(len(c) >= 2 and (c in d.english or c in d.medical) for c in candidates)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: Longer than any word of the English and medical lists a misspelling could come from.
_LONGEST_WORD = 48


def is_typo(word: str, d: Dictionaries) -> bool:
    """One edit (drop, add, swap or change a letter) away from a dictionary word.

    Notes are typed fast ("recieved", "notifed", "awating"); a long word in no list that is
    one edit from an English word is a misspelling, not a rare surname. Only words of seven
    or more letters are tested: short surnames are too often one edit from a word.
    """
    if len(word) < 7 or not word.isalpha() or not word.isascii():
        return False  # "förster" is no misspelt English word: typing an accent is deliberate
    if len(word) > _LONGEST_WORD + 1:
        # no dictionary word is one edit away; and the 27 x length candidates, each as long
        # as the word, would make one 100,000-letter token minutes of work
        return False
    seen: set[str] = set()

    def word_like(candidate: str) -> bool:
        if candidate in seen:
            return False
        seen.add(candidate)
        return candidate in d.english or _is_ordinary(candidate, d)

    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    for a, b in splits:
        if b and word_like(a + b[1:]):
            return True
        if len(b) > 1 and word_like(a + b[1] + b[0] + b[2:]):
            return True
        for c in _LETTERS:
            if word_like(a + c + b) or (b and word_like(a + c + b[1:])):
                return True
    return False


def classify(word: str, d: Dictionaries) -> Kind:
    """Classify one lower-cased word (no hyphen)."""
    if len(word) == 1:
        return Kind.INITIAL
    if word in d.stopwords:
        return Kind.STOP
    named = d.is_name(word)
    ordinary = _is_ordinary(word, d)
    if named and ordinary:
        return Kind.AMBIG
    if named:
        return Kind.NAME if len(word) >= 3 else Kind.AMBIG
    if ordinary or len(word) < 3 or (word not in d.places and is_typo(word, d)):
        return Kind.COMMON
    return Kind.UNKNOWN


_RANK = {Kind.NAME: 4, Kind.UNKNOWN: 3, Kind.AMBIG: 2, Kind.COMMON: 1, Kind.STOP: 0}


def classify_token(text: str, d: Dictionaries) -> Kind:
    """Classify a token; a hyphenated token takes its most name-like part."""
    low = text.lower()
    if low.endswith("'s"):
        low = low[:-2]
    low = low.strip("'")
    if not low:
        return Kind.STOP
    if "-" not in low:
        return classify(low, d)
    parts = [classify(p, d) for p in low.split("-") if p]
    if any(p in (Kind.STOP, Kind.INITIAL, Kind.COMMON) for p in parts):
        return Kind.COMMON
    return max(parts, key=lambda k: _RANK[k])


_LOWER = str.maketrans("", "", "abcdefghijklmnopqrstuvwxyz")
_UPPER = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def line_cased(text: str) -> list[bool]:
    """Per line: True when it has enough lower- and upper-case letters to trust case."""
    out = []
    for line in text.split("\n"):
        lower = len(line) - len(line.translate(_LOWER))
        upper = len(line) - len(line.translate(_UPPER))
        out.append(lower >= 3 and upper >= 1 and lower > upper)
    return out


class Tokenizer:
    """Tokenizes with a per-word classification memo and a one-note cache.

    The name and location recognizers both tokenize the same note, one after the other;
    the one-note cache makes the second call free, and the memo makes classifying a word
    seen before a dictionary lookup.
    """

    def __init__(self, d: Dictionaries) -> None:
        self.d = d
        self._kinds: dict[str, Kind] = {}
        self._words: dict[str, tuple[str, Kind, bool, int]] = {}
        self._last: tuple[str, list[Tok]] | None = None

    def kind(self, word: str) -> Kind:
        k = self._kinds.get(word)
        if k is None:
            k = classify_token(word, self.d)
            if len(self._kinds) < 200_000:
                self._kinds[word] = k
        return k

    def __call__(self, text: str) -> list[Tok]:
        last = self._last
        if last is not None and last[0] is text:
            return last[1]
        toks = self._tokenize(text)
        self._last = (text, toks)
        return toks

    def _word(self, word: str) -> tuple[str, Kind, bool, int]:
        """(lower-case form, kind, capitalised, length without a trailing quote), memoised."""
        info = self._words.get(word)
        if info is None:
            low = word.lower()
            if low.endswith("'s"):
                low = low[:-2]
            info = (low.strip("'"), self.kind(word), word[0].isupper(), len(word.rstrip("'")))
            if len(self._words) < 200_000:
                self._words[word] = info
        return info

    def _tokenize(self, text: str) -> list[Tok]:
        cased = line_cased(text)
        toks: list[Tok] = []
        append = toks.append
        line = 0
        pos = 0
        info = self._word
        count = text.count
        for m in _WORD.finditer(text):
            start = m.start()
            line += count("\n", pos, start)
            pos = start
            word = m.group()
            low, kind, cap, length = info(word)
            append(Tok(start, start + length, word, low, kind, cap, cased[line], line))
        return toks


_TOKENIZERS: dict[int, Tokenizer] = {}


def tokenize(text: str, d: Dictionaries) -> list[Tok]:
    """All words of ``text`` with their classification (cached per dictionaries)."""
    tok = _TOKENIZERS.get(id(d))
    if tok is None or tok.d is not d:
        tok = _TOKENIZERS[id(d)] = Tokenizer(d)
    return tok(text)


def gap(text: str, a: Tok, b: Tok) -> str:
    """The characters between two tokens."""
    return text[a.end : b.start]
