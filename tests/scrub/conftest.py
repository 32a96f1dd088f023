"""Fixtures for the detection-core tests: one Detector per session (building it is slow)."""

from __future__ import annotations

import pytest

from securetune.scrub import Detector, DetectorConfig


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector(DetectorConfig())


def spans(detector: Detector, text: str) -> list[tuple[int, int, str]]:
    """(start, end, entity_type) of every finding."""
    return [(f.start, f.end, f.entity_type) for f in detector.detect(text)]


def at(text: str, value: str, entity: str, nth: int = 0) -> tuple[int, int, str]:
    """The expected span of the ``nth`` occurrence of ``value`` in ``text``."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(value, start + 1)
    return (start, start + len(value), entity)


def tiny_tokenizer(words: list[str], max_length: int = 64):
    """A fast lower-casing word-level BERT-style tokenizer over ``words`` (for tiny models)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.normalizer = normalizers.Lowercase()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=max_length,
    )
