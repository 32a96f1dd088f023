"""A learned backend: any local Hugging Face token-classification model, offline.

``--ner hf:PATH`` (or ``detection.ner_backend: hf:PATH`` in a policy) loads the model and
its fast tokenizer from ``PATH`` with ``local_files_only`` (never the hub), runs it in
batches of overlapping windows (a note longer than the model's context is covered whole),
turns BIO/IO label runs into character spans through the tokenizer's offsets, and maps the
model's labels to our entity types with ``detection.ner_entities`` (defaults cover the
usual CoNLL / i2b2 label names). The rules still run: the detector keeps the union.

Why our own wrapper rather than Presidio's ``TransformersRecognizer``: that one goes
through a spaCy pipeline package (``spacy-huggingface-pipelines``) and the ``pipeline``
API, which may resolve model names on the hub; here the path is the only input and a
missing file is an error, not a download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from securetune.scrub.errors import DetectorError
from securetune.scrub.recognizers.base import Span, SpanRecognizer

#: Model label (without B-/I- prefix, upper-cased) -> entity type, when the policy gives none.
DEFAULT_LABELS: dict[str, str] = {
    "PER": "PERSON",
    "PERSON": "PERSON",
    "NAME": "PERSON",
    "PATIENT": "PERSON",
    "DOCTOR": "PERSON",
    "STAFF": "PERSON",
    "HCP": "PERSON",
    "USERNAME": "PERSON",
    "LOC": "LOCATION",
    "LOCATION": "LOCATION",
    "GPE": "LOCATION",
    "CITY": "LOCATION",
    "STATE": "LOCATION",
    "COUNTRY": "LOCATION",
    "STREET": "LOCATION",
    "HOSPITAL": "FACILITY",
    "FACILITY": "FACILITY",
    "ORG": "ORGANIZATION",
    "ORGANIZATION": "ORGANIZATION",
    "DATE": "DATE_TIME",
    "AGE": "AGE_OVER_89",
    "PHONE": "PHONE_NUMBER",
    "FAX": "PHONE_NUMBER",
    "EMAIL": "EMAIL_ADDRESS",
    "ZIP": "ZIP_CODE",
    "IDNUM": "MEDICAL_RECORD_NUMBER",
    "MEDICALRECORD": "MEDICAL_RECORD_NUMBER",
    "URL": "URL",
}

WINDOW_TOKENS = 256
STRIDE_TOKENS = 32
BATCH_SIZE = 16


def _label(raw: str) -> tuple[str, str]:
    """("B", "PER") from "B-PER"; ("I", "PER") from "PER" (IO schemes); ("O", "") from "O"."""
    if raw == "O":
        return ("O", "")
    prefix, sep, rest = raw.partition("-")
    if sep and prefix in ("B", "I", "E", "S", "L", "U"):
        return ("B" if prefix in ("B", "S", "U") else "I", rest.upper())
    return ("I", raw.upper())


class HfNerRecognizer(SpanRecognizer):
    """Spans from a local token-classification model, labels mapped to entity types."""

    VERSION = "1"

    def __init__(self, path: str, labels: dict[str, str], entities: tuple[str, ...]) -> None:
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        root = Path(path)
        if not (root / "config.json").is_file():
            raise DetectorError(
                f"The Hugging Face NER model {path!r} is not a local model directory "
                "(no config.json); give the path of a saved token-classification model."
            )
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(root, local_files_only=True)
            self.model = AutoModelForTokenClassification.from_pretrained(
                root, local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise DetectorError(
                f"The Hugging Face NER model {path!r} could not be loaded."
            ) from exc
        if not getattr(self.tokenizer, "is_fast", False):
            raise DetectorError(
                f"The model {path!r} has no fast tokenizer; character offsets need one."
            )
        self.model.eval()
        self.torch = torch
        mapping = {k.upper(): v for k, v in (labels or DEFAULT_LABELS).items()}
        self.id2label = {int(i): _label(str(n)) for i, n in self.model.config.id2label.items()}
        # a label that is itself a detected entity type (a model trained by
        # ``securetune.scrub.ner_train``: PERSON, DATE_TIME...) reports that type
        self.mapping = {
            name: mapping.get(name, name)
            for _, name in self.id2label.values()
            if name and mapping.get(name, name) in entities
        }
        if not self.mapping:
            raise DetectorError(
                f"None of the model's labels maps to a detected entity; map them with "
                f"detection.ner_entities (model labels: "
                f"{', '.join(sorted({n for _, n in self.id2label.values() if n}))})."
            )
        self.model_id = f"{self.model.config.model_type}:{root.name}"
        super().__init__(sorted(set(self.mapping.values())), name="HfNerRecognizer")
        self._cache: dict[str, list[Span]] = {}

    def prepare(self, texts: list[str]) -> None:
        """Run the model on several texts in one batched pass; ``find`` then reads the cache."""
        # only the current batch is kept: a text prepared but never detected (a record that
        # failed its checks) must not pin memory for the rest of the run
        todo = [t for t in dict.fromkeys(texts) if t.strip()]
        self._cache = dict(zip(todo, self._predict(todo), strict=True)) if todo else {}

    def find(self, text: str) -> list[Span]:
        spans = self._cache.pop(text, None)
        if spans is None:
            spans = self._predict([text])[0] if text.strip() else []
        return spans

    def _predict(self, texts: list[str]) -> list[list[Span]]:
        enc = self.tokenizer(
            texts,
            truncation=True,
            max_length=min(WINDOW_TOKENS, self.tokenizer.model_max_length),
            stride=STRIDE_TOKENS,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="pt",
        )
        owner = enc.pop("overflow_to_sample_mapping").tolist()
        offsets = enc.pop("offset_mapping").tolist()
        probs = []
        with self.torch.inference_mode():
            for i in range(0, len(owner), BATCH_SIZE):
                batch = {k: v[i : i + BATCH_SIZE] for k, v in enc.items()}
                probs.append(self.torch.softmax(self.model(**batch).logits, dim=-1))
        prob = self.torch.cat(probs).tolist()
        # best label per character offset, over all windows that saw the token
        per_text: list[dict[tuple[int, int], tuple[float, int]]] = [{} for _ in texts]
        for w, text_i in enumerate(owner):
            for (start, end), p in zip(offsets[w], prob[w], strict=True):
                if start == end:
                    continue  # special or padding token
                score, label = self._decide(p)
                seen = per_text[text_i].get((start, end))
                if seen is None or score > seen[0]:
                    per_text[text_i][(start, end)] = (score, label)
        return [self._spans(text, toks) for text, toks in zip(texts, per_text, strict=True)]

    def _decide(self, p: list[float]) -> tuple[float, int]:
        """(score, label id) of one token: PHI when the labels of mapped entities together
        outweigh the rest, scored by that joint probability, labelled by the best entity.

        Why not the plain argmax: with several entities and B-/I- halves, a token the model
        thinks is PHI with probability 0.7 can still have "O" as its single most probable
        label (0.3 against 0.25 + 0.15 + ...); recall is what a scrubber is for.
        """
        by_entity: dict[str, float] = {}
        for i, q in enumerate(p):
            name = self.id2label.get(i, ("O", ""))[1]
            if name in self.mapping:
                by_entity[name] = by_entity.get(name, 0.0) + q
        if by_entity:
            name = max(by_entity, key=by_entity.__getitem__)
            phi = sum(by_entity.values())
            if phi > 0.5:
                best = max(
                    (i for i in range(len(p)) if self.id2label.get(i, ("O", ""))[1] == name),
                    key=p.__getitem__,
                )
                return phi, best
        label = max(range(len(p)), key=p.__getitem__)
        return p[label], label

    def _spans(self, text: str, toks: dict[tuple[int, int], tuple[float, int]]) -> list[Span]:
        out: list[Span] = []
        cur: list[Any] | None = None  # [start, end, entity, scores]
        for (start, end), (score, label) in sorted(toks.items()):
            tag, name = self.id2label.get(label, ("O", ""))
            entity = self.mapping.get(name)
            joined = cur is not None and text[cur[1] : start].strip() == ""
            if entity and cur and cur[2] == entity and joined and (tag == "I" or start == cur[1]):
                cur[1] = end  # continue the span (a word piece glued on, or an I- tag)
                cur[3].append(score)
                continue
            if cur:
                out.append((cur[0], cur[1], cur[2], sum(cur[3]) / len(cur[3])))
                cur = None
            if entity:
                cur = [start, end, entity, [score]]
        if cur:
            out.append((cur[0], cur[1], cur[2], sum(cur[3]) / len(cur[3])))
        return out
