"""Base class and strict registry for our recognizer families.

Each family (names, locations, dates, ...) is a Presidio ``EntityRecognizer`` subclass with
fast internals: one regex or token-set pass over the note, never a regex per dictionary
entry. The registry maps a family name to a factory; unknown or duplicate names are errors
(fail closed), and ``reset_for_tests`` restores the built-in set.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterable

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from securetune.scrub.dictionaries import Dictionaries
from securetune.scrub.errors import DetectorError

Span = tuple[int, int, str, float]  # start, end, entity type, score


class SpanRecognizer(EntityRecognizer, metaclass=ABCMeta):
    """A recognizer whose work is a pure ``find(text) -> spans`` function."""

    #: Bumped whenever the rules change, so the ledger records which rules ran.
    VERSION = "1"

    def __init__(self, entities: Iterable[str], name: str) -> None:
        super().__init__(
            supported_entities=list(entities),
            name=name,
            supported_language="en",
            version=self.VERSION,
        )

    def load(self) -> None:
        return None

    @abstractmethod
    def find(self, text: str) -> list[Span]:
        """Every span this family sees in ``text``; a family without it cannot be built."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Presidio entry point: wrap :meth:`find` spans as ``RecognizerResult``."""
        wanted = set(entities) if entities else set(self.supported_entities)
        results = []
        for start, end, entity, score in self.find(text):
            if entity not in wanted:
                continue
            explanation = AnalysisExplanation(
                recognizer=self.name, original_score=score, textual_explanation=None
            )
            results.append(
                RecognizerResult(
                    entity_type=entity,
                    start=start,
                    end=end,
                    score=score,
                    analysis_explanation=explanation,
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                )
            )
        return results


Factory = Callable[[Dictionaries], list[EntityRecognizer]]

_BUILTIN: dict[str, Factory] = {}
_REGISTRY: dict[str, Factory] = {}


def register_family(name: str, factory: Factory, *, builtin: bool = False) -> None:
    """Register a recognizer family; a duplicate name is an error."""
    if name in _REGISTRY:
        raise DetectorError(f"Recognizer family {name!r} is already registered.")
    _REGISTRY[name] = factory
    if builtin:
        _BUILTIN[name] = factory


def family(name: str) -> Factory:
    """Look a family up; an unknown name is an error."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise DetectorError(
            f"Unknown recognizer family {name!r}; known families: {known}."
        ) from None


def families() -> tuple[str, ...]:
    """Registered family names, sorted."""
    return tuple(sorted(_REGISTRY))


def reset_for_tests() -> None:
    """Forget families registered after import; keep the built-in ones."""
    _REGISTRY.clear()
    _REGISTRY.update(_BUILTIN)
