"""The spaCy pipeline Presidio runs before the recognizers, built offline.

Presidio's default ``AnalyzerEngine`` downloads ``en_core_web_lg``. We give it a blank
English pipeline instead (tokenizer only, no model, no download) plus spaCy's lookup
lemmatizer fed by a small table of our own, so Presidio's ``LemmaContextAwareEnhancer``
still sees lemmas ("numbers" -> "number") when it looks for context words. The table only
needs the inflections of context words; any other token lemmatizes to itself.
"""

from __future__ import annotations

import unicodedata

import spacy
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.language import Language
from spacy.lookups import Lookups

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


def blank_pipeline(language: str = "en") -> Language:
    """A tokenizer plus lookup lemmatizer; loads no model and reaches no network."""
    nlp = spacy.blank(language)
    lemmatizer = nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    lookups = Lookups()
    lookups.add_table("lemma_lookup", lemma_table())
    lemmatizer.initialize(lookups=lookups)
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
        self._stops: dict[str, frozenset[str]] = {}

    def load(self) -> None:
        """Already loaded in the constructor; never download."""
        return None

    # Presidio builds NlpArtifacts by walking the Doc twice and asking the vocab, token by
    # token, whether each lemma is a stop word or punctuation. The same answers from
    # plain sets and one walk make the per-note overhead a fraction of the stock engine's.

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """Tokenize, lemmatize and wrap the result as Presidio ``NlpArtifacts``."""
        doc = self.nlp[language](text)
        lemmas: list[str] = []
        starts: list[int] = []
        for token in doc:
            lemmas.append(token.lemma_)
            starts.append(token.idx)
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
        stops = self._stops.get(language)
        if stops is None:
            stops = self._stops[language] = frozenset(self.nlp[language].Defaults.stop_words)
        return word in stops or word.lower() in stops

    def is_punct(self, word: str, language: str) -> bool:
        # spaCy's lexical attribute: every character in a Unicode punctuation category
        return all(unicodedata.category(c).startswith("P") for c in word)
