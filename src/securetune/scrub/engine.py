"""Assemble Presidio's ``AnalyzerEngine`` explicitly and offline.

Nothing here calls ``load_predefined_recognizers`` or lets Presidio pick a model: the NLP
engine is our blank pipeline (:mod:`securetune.scrub.nlp`), and the registry holds exactly
the recognizer families that cover the requested entities, plus the optional NER backend.
A requested entity no recognizer supports is an error, not Presidio's warning.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer.predefined_recognizers import SpacyRecognizer, UsSsnRecognizer

from securetune.scrub import recognizers as _families
from securetune.scrub.dictionaries import Dictionaries, load_dictionaries
from securetune.scrub.errors import DetectorError
from securetune.scrub.nlp import OfflineSpacyNlpEngine, blank_pipeline

#: Families built by default, in order.
DEFAULT_FAMILIES = (
    "names",
    "locations",
    "dates",
    "phones",
    "ages",
    "ids",
    "contact",
    "general",
)


@dataclass(frozen=True)
class Assembly:
    """The built engine plus what went into it (for ``Detector.versions``)."""

    analyzer: AnalyzerEngine
    families: tuple[str, ...]
    recognizers: tuple[str, ...]
    dictionaries: Dictionaries
    ner_model: str | None


def _ner_pipeline(backend: str, language: str):
    """Load a local spaCy NER pipeline by package name or path; never download."""
    import spacy

    kind, _, target = backend.partition(":")
    if kind not in ("spacy", "hf") or not target:
        raise DetectorError(
            f"Unknown NER backend {backend!r}; use 'spacy:<installed package or path>' "
            "or 'hf:<path of a local token-classification model>'."
        )
    is_path = "/" in target or target.startswith(".")
    if not is_path and importlib.util.find_spec(target) is None:
        raise DetectorError(
            f"The spaCy model {target!r} is not installed; install its package (for "
            f"example 'pip install {target}' from a local wheel) or give a path."
        )
    try:
        nlp = spacy.load(target)
    except OSError as exc:
        raise DetectorError(f"The spaCy model {target!r} could not be loaded.") from exc
    if "ner" not in nlp.pipe_names:
        raise DetectorError(f"The spaCy model {target!r} has no 'ner' component.")
    if nlp.lang != language:
        raise DetectorError(f"The spaCy model {target!r} is for language {nlp.lang!r}.")
    return nlp


def build_analyzer(
    entities: tuple[str, ...],
    *,
    language: str = "en",
    ner_backend: str | None = None,
    families: tuple[str, ...] = DEFAULT_FAMILIES,
    ner_labels: tuple[tuple[str, str], ...] = (),
) -> Assembly:
    """Build the engine for ``entities``; raise :class:`DetectorError` if one is uncovered."""
    if language != "en":
        raise DetectorError(f"Language {language!r} is not supported; only 'en' is.")
    dictionaries = load_dictionaries()
    wanted = set(entities)
    chosen: list[EntityRecognizer] = []
    used: list[str] = []
    for name in families:
        built = _families.family(name)(dictionaries)
        keep = [r for r in built if wanted & set(r.supported_entities)]
        if keep:
            chosen.extend(keep)
            used.append(name)
    covered = {e for r in chosen for e in r.supported_entities}
    if "US_SSN" in wanted:
        chosen.append(UsSsnRecognizer())
    ner_model = None
    pipelines = {language: blank_pipeline(language)}
    if ner_backend and ner_backend.startswith("hf:"):
        from securetune.scrub.hf_ner import HfNerRecognizer

        hf = HfNerRecognizer(ner_backend[3:], dict(ner_labels), tuple(entities))
        ner_model = hf.model_id
        chosen.append(hf)
        covered |= set(hf.supported_entities)
    elif ner_backend:
        nlp = _ner_pipeline(ner_backend, language)
        ner_model = f"{nlp.meta.get('name', '?')}-{nlp.meta.get('version', '?')}"
        pipelines = {language: nlp}
        ner = SpacyRecognizer(supported_entities=["PERSON", "LOCATION", "DATE_TIME"])
        chosen.append(ner)
        covered |= set(ner.supported_entities)
    missing = sorted(wanted - covered - {"US_SSN"})
    if missing:
        raise DetectorError(
            "No recognizer supports the requested entities: " + ", ".join(missing) + "."
        )
    registry = RecognizerRegistry(recognizers=chosen, supported_languages=[language])
    analyzer = AnalyzerEngine(
        registry=registry,
        nlp_engine=OfflineSpacyNlpEngine(pipelines),
        supported_languages=[language],
    )
    return Assembly(
        analyzer=analyzer,
        families=tuple(used),
        recognizers=tuple(f"{r.name}@{r.version}" for r in chosen),
        dictionaries=dictionaries,
        ner_model=ner_model,
    )


def supported_entities(families: tuple[str, ...] = DEFAULT_FAMILIES) -> tuple[str, ...]:
    """Every entity the built-in families can detect (plus US_SSN)."""
    d = load_dictionaries()
    out = {"US_SSN"}
    for name in families:
        for r in _families.family(name)(d):
            out.update(r.supported_entities)
    return tuple(sorted(out))
