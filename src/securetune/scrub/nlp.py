"""The spaCy pipeline Presidio runs before the recognizers, built offline.

Presidio's default ``AnalyzerEngine`` downloads ``en_core_web_lg``. We give it a blank
English pipeline instead (tokenizer only, no model, no download) plus a lookup lemmatizer
fed by a small table of our own, so Presidio's ``LemmaContextAwareEnhancer`` still sees
lemmas ("numbers" -> "number") when it looks for context words. The table only needs the
inflections of context words; any other token lemmatizes to its lower-case form.

The lemmatizer works on whole arrays (``Doc.to_array`` / ``Doc.from_array``) instead of
token by token, and so does our engine's ``process_text``: Presidio's own walk over spaCy
``Token`` objects costs as much as several of our recognizers.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import numpy
import spacy
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.attrs import IDX, LEMMA, LOWER
from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

_CONTEXT_WORDS = [
    "account",
    "address",
    "card",
    "code",
    "credential",
    "date",
    "email",
    "extension",
    "fax",
    "license",
    "medicare",
    "medicaid",
    "member",
    "message",
    "name",
    "number",
    "pager",
    "phone",
    "plan",
    "plate",
    "policy",
    "record",
    "serial",
    "social",
    "security",
    "site",
    "subscriber",
    "telephone",
    "url",
    "vehicle",
    "website",
    "zip",
]

_IRREGULAR = {
    "called": "call",
    "calls": "call",
    "calling": "call",
    "paged": "page",
    "pages": "page",
    "paging": "page",
    "dated": "date",
    "born": "bear",
    "was": "be",
    "were": "be",
    "is": "be",
    "are": "be",
    "has": "have",
    "had": "have",
    "children": "child",
    "men": "man",
    "women": "woman",
}


def lemma_table() -> dict[str, str]:
    """Inflected form -> lemma for the context words Presidio's recognizers use."""
    table = dict(_IRREGULAR)
    for word in _CONTEXT_WORDS:
        plural = word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")
        table[plural] = word
    return table


class TableLemmatizer:
    """Sets ``token.lemma_`` from a lookup table (inflection -> lemma), else lower case."""

    def __init__(self, vocab: Vocab, table: dict[str, str]) -> None:
        strings = vocab.strings
        self._map = {strings.add(k): strings.add(v) for k, v in table.items()}

    def __call__(self, doc: Doc) -> Doc:
        lowers = doc.to_array(LOWER).tolist()
        get = self._map.get
        lemmas = numpy.fromiter((get(h, h) for h in lowers), dtype=numpy.uint64, count=len(lowers))
        doc.from_array([LEMMA], lemmas.reshape(-1, 1))
        return doc


@Language.factory("securetune_lemmatizer")
def _make_lemmatizer(nlp: Language, name: str) -> TableLemmatizer:
    return TableLemmatizer(nlp.vocab, lemma_table())


def blank_pipeline(language: str = "en") -> Language:
    """A tokenizer plus lookup lemmatizer; loads no model and reaches no network."""
    nlp = spacy.blank(language)
    nlp.add_pipe("securetune_lemmatizer")
    return nlp


class OfflineSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine around a pipeline we built (never ``spacy.load`` by name)."""

    def __init__(self, pipelines: dict[str, Language]) -> None:
        super().__init__(
            models=[
                {"lang_code": lang, "model_name": nlp.meta.get("name", "blank")}
                for lang, nlp in pipelines.items()
            ]
        )
        self.nlp = dict(pipelines)
        self._stop_cache: dict[tuple[str, str], bool] = {}
        self._punct_cache: dict[str, bool] = {}

    def load(self) -> None:
        """Already loaded in the constructor; never download."""
        return None

    # Presidio builds NlpArtifacts by walking the Doc twice and asking the vocab, token by
    # token, whether each lemma is a stop word or punctuation. The same answers from
    # plain sets and one walk make the per-note overhead a fraction of the stock engine's.

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """Presidio ``NlpArtifacts`` of ``text``, built only if something reads them."""
        return LazyNlpArtifacts(lambda: self.artifacts(text, language))

    def artifacts(self, text: str, language: str) -> NlpArtifacts:
        """Tokenize, lemmatize and wrap the result as Presidio ``NlpArtifacts``."""
        doc = self.nlp[language](text)
        columns = doc.to_array([IDX, LEMMA])
        strings = doc.vocab.strings
        lemmas = [strings[h] for h in columns[:, 1].tolist()]
        starts = columns[:, 0].tolist()
        entities, scores = self._get_updated_entities(
            self._get_entities(doc), self._get_scores_for_entities(doc)
        )
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=starts,
            lemmas=lemmas,
            nlp_engine=self,
            language=language,
            scores=scores,
        )

    def is_stopword(self, word: str, language: str) -> bool:
        key = (language, word)
        hit = self._stop_cache.get(key)
        if hit is None:
            stops = self.nlp[language].Defaults.stop_words
            hit = word in stops or word.lower() in stops
            if len(self._stop_cache) < 100_000:
                self._stop_cache[key] = hit
        return hit

    def is_punct(self, word: str, language: str) -> bool:
        # spaCy's lexical attribute: every character in a Unicode punctuation category
        hit = self._punct_cache.get(word)
        if hit is None:
            hit = all(unicodedata.category(c).startswith("P") for c in word)
            if len(self._punct_cache) < 100_000:
                self._punct_cache[word] = hit
        return hit


class LazyNlpArtifacts(NlpArtifacts):
    """``NlpArtifacts`` that tokenize on first read.

    Presidio reads the artifacts only to look for context words around a finding of a
    recognizer that has context words (cards, IBANs, SSNs, bank numbers); our recognizers
    tokenize for themselves. Most notes have no such finding, and spaCy's tokenizer plus the
    keyword list were a fifth of detection time.
    """

    def __init__(self, build: Callable[[], NlpArtifacts]) -> None:
        # NlpArtifacts.__init__ is not called: it would tokenize now
        self._build = build
        self._real: NlpArtifacts | None = None

    def _artifacts(self) -> NlpArtifacts:
        if self._real is None:
            self._real = self._build()
        return self._real

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes this object does not hold: the artifacts' own
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._artifacts(), name)

    def to_json(self) -> str:
        return self._artifacts().to_json()
