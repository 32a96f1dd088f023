"""The spaCy pipeline Presidio runs before the recognizers, built offline.

Presidio's default ``AnalyzerEngine`` downloads ``en_core_web_lg``. We give it a blank
English pipeline instead (tokenizer only, no model, no download) plus spaCy's lookup
lemmatizer fed by a small table of our own, so Presidio's ``LemmaContextAwareEnhancer``
still sees lemmas ("numbers" -> "number") when it looks for context words. The table only
needs the inflections of context words; any other token lemmatizes to itself.
"""

from __future__ import annotations

import spacy
from presidio_analyzer.nlp_engine import SpacyNlpEngine
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

    def load(self) -> None:
        """Already loaded in the constructor; never download."""
        return None
