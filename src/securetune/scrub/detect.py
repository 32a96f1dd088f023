"""Public entry point of the scrubber's detection core.

``Detector(config)`` builds the Presidio engine once (the slow part: dictionaries and
pipeline); ``detect(text)`` returns merged, non-overlapping, sorted :class:`Finding` spans.
A ``DetectorConfig`` is small and picklable, so a worker pool ships the config and builds
its own ``Detector`` in each worker. Findings carry offsets, types and scores only, never
the text they point at, and no error message quotes record text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata, resources

from securetune.scrub.engine import DEFAULT_FAMILIES, build_analyzer
from securetune.scrub.errors import DetectorError

#: What HIPAA Safe Harbor asks the built-in recognizers to find.
SAFE_HARBOR_ENTITIES: tuple[str, ...] = (
    "PERSON",
    "LOCATION",
    "FACILITY",
    "DATE_TIME",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "URL",
    "IP_ADDRESS",
    "US_SSN",
    "AGE_OVER_89",
    "ZIP_CODE",
    "MEDICAL_RECORD_NUMBER",
    "ACCOUNT_NUMBER",
    "HEALTH_PLAN_ID",
    "LICENSE_NUMBER",
    "DEVICE_ID",
    "VEHICLE_ID",
    # general PII (Safe Harbor categories 10 and 18: account and other numbers)
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_BANK_NUMBER",
    "US_PASSPORT",
    "US_ITIN",
    "NATIONAL_ID",
)

#: What the built-in recognizers find by default: Safe Harbor plus employers, which the
#: PhysioNet deid annotators also count as PHI (a small-town employer names a patient).
DEFAULT_ENTITIES: tuple[str, ...] = (*SAFE_HARBOR_ENTITIES, "ORGANIZATION")


@dataclass(frozen=True)
class DetectorConfig:
    """What to detect and how sure to be.

    entities: entity types to find; each must have a recognizer or ``Detector`` raises.
    language: only ``"en"``.
    score_threshold: findings scored below this are dropped (0 < t <= 1).
    ner_backend: ``None`` (dictionaries and rules only), ``"spacy:<package or path>"``
        for a locally installed spaCy NER pipeline, or ``"hf:<path>"`` for a local Hugging
        Face token-classification model (:mod:`securetune.scrub.hf_ner`).
    ner_labels: (model label, entity type) pairs for an ``hf:`` model; empty means the
        usual label names (``hf_ner.DEFAULT_LABELS``).
    families: recognizer families to assemble (see ``securetune.scrub.recognizers``).
    """

    entities: tuple[str, ...] = DEFAULT_ENTITIES
    language: str = "en"
    score_threshold: float = 0.5
    ner_backend: str | None = None
    families: tuple[str, ...] = field(default=DEFAULT_FAMILIES)
    ner_labels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.entities, str) or not self.entities:
            raise DetectorError("DetectorConfig.entities must be a non-empty tuple of names.")
        object.__setattr__(self, "entities", tuple(self.entities))
        object.__setattr__(self, "families", tuple(self.families))
        object.__setattr__(self, "ner_labels", tuple(tuple(p) for p in self.ner_labels))
        for e in self.entities:
            if not isinstance(e, str) or not e.isupper():
                raise DetectorError(
                    "DetectorConfig.entities must hold upper-case entity names such as 'PERSON'."
                )
        if len(set(self.entities)) != len(self.entities):
            raise DetectorError("DetectorConfig.entities lists an entity twice.")
        if not 0.0 < float(self.score_threshold) <= 1.0:
            raise DetectorError("DetectorConfig.score_threshold must be in (0, 1].")
        if self.ner_backend is not None and not isinstance(self.ner_backend, str):
            raise DetectorError("DetectorConfig.ner_backend must be a string or None.")


@dataclass(frozen=True)
class Finding:
    """One detected span: offsets into the text, never the text itself."""

    start: int
    end: int
    entity_type: str
    score: float
    recognizer: str


#: Characters the rules read as their plain form, one for one so that no offset moves:
#: no-break, thin and other Unicode spaces; the hyphens, dashes and minus that word
#: processors and PDFs put between digit groups; full-width digits and punctuation; and
#: typographic apostrophes. A card number pasted from a PDF as "4111 1111 1111 1111" with
#: no-break spaces is then the card number the rules know.
_PLAIN = str.maketrans(
    {
        **dict.fromkeys(
            "\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "
        ),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d", "-"),
        **dict.fromkeys("\u2018\u2019\u02bc\uff07", "'"),
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        **dict(zip("\uff1a\uff0b\uff08\uff09\uff0e\uff0f\uff03\uff0c", ":+()./#,", strict=True)),
    }
)


def plain(text: str) -> str:
    """``text`` with the characters of :data:`_PLAIN` replaced; same length, same offsets."""
    return text.translate(_PLAIN)


class Detector:
    """Detects PHI spans in clinical text with an offline Presidio engine."""

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self._assembly = build_analyzer(
            config.entities,
            language=config.language,
            ner_backend=config.ner_backend,
            families=config.families,
            ner_labels=config.ner_labels,
        )

    def prepare(self, texts: list[str]) -> None:
        """Let a learned backend run on several texts in one batch before ``detect`` is
        called on each (rules need no preparation)."""
        for r in self._assembly.analyzer.registry.recognizers:
            prepare = getattr(r, "prepare", None)
            if prepare is not None:
                prepare([plain(t) for t in texts])  # the texts ``detect`` will hand it

    def detect(self, text: str) -> list[Finding]:
        """Findings for ``text``: merged where they overlap, sorted by offset."""
        if not isinstance(text, str):
            raise DetectorError("Detector.detect expects a str.")
        if not text.strip():
            return []
        text = plain(text)
        results = self._assembly.analyzer.analyze(
            text=text,
            language=self.config.language,
            entities=list(self.config.entities),
            score_threshold=self.config.score_threshold,
        )
        spans = []
        for r in results:
            start, end = r.start, r.end
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if start < end:
                name = (r.recognition_metadata or {}).get("recognizer_name", "?")
                spans.append((start, end, r.entity_type, float(r.score), name))
        return merge(spans)

    def versions(self) -> dict[str, str]:
        """Library and rule versions for the ledger (no record content)."""
        a = self._assembly
        rules = hashlib.sha256("\n".join(sorted(a.recognizers)).encode())
        rules.update(_rules_source_digest().encode())
        out = {
            "presidio-analyzer": metadata.version("presidio-analyzer"),
            "spacy": metadata.version("spacy"),
            "tldextract": metadata.version("tldextract"),
            "recognizers": ",".join(a.recognizers),
            "recognizer_set": rules.hexdigest()[:16],
            "dictionaries": a.dictionaries.digest,
            "ner_backend": self.config.ner_backend or "none",
        }
        if a.ner_model:
            out["ner_model"] = a.ner_model
        for source, version in a.dictionaries.sources.items():
            out[f"dictionary:{source}"] = version
        return out


@lru_cache(maxsize=1)
def _rules_source_digest() -> str:
    """Hash of the rule sources, so an edited rule changes the ledger's recognizer_set
    even when nobody remembered to bump a recognizer's VERSION."""
    root = resources.files("securetune.scrub")
    h = hashlib.sha256()
    files = [root.joinpath(n) for n in ("dictionaries.py", "nlp.py", "engine.py", "detect.py")]
    files += sorted(
        (f for f in root.joinpath("recognizers").iterdir() if f.name.endswith(".py")),
        key=lambda f: f.name,
    )
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def merge(spans: list[tuple[int, int, str, float, str]]) -> list[Finding]:
    """Union overlapping spans; the merged span takes the type of its best-scored part."""
    out: list[Finding] = []
    best: tuple[int, int, str, float, str] | None = None
    cur_start = cur_end = -1
    for start, end, entity, score, name in sorted(spans, key=lambda s: (s[0], -s[1])):
        if best is not None and start < cur_end:
            cur_end = max(cur_end, end)
            if score > best[3] or (score == best[3] and end - start > best[1] - best[0]):
                best = (start, end, entity, score, name)
            continue
        if best is not None:
            out.append(Finding(cur_start, cur_end, best[2], best[3], best[4]))
        best = (start, end, entity, score, name)
        cur_start, cur_end = start, end
    if best is not None:
        out.append(Finding(cur_start, cur_end, best[2], best[3], best[4]))
    return out
