"""The forgetting probe: general English prose shipped with the package (``probe_en.txt``).

Fine-tuning on clinical notes can make a model worse at ordinary English. The probe text
was written for this package (plain descriptive prose about a river town, letters, cooking,
the night sky: no clinical content, no names of people) and is public, so the adapter's
numbers on it are a function of the adapter alone, and for a DP run they are covered by
its guarantee (post-processing). Its hash goes into the result, so two evaluations are
known to have used the same text.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

PROBE_FILE = "probe_en.txt"


def probe_bytes() -> bytes:
    return resources.files("securetune.evaluation").joinpath(PROBE_FILE).read_bytes()


def probe_sha256() -> str:
    return hashlib.sha256(probe_bytes()).hexdigest()


def probe_records(tokenizer: Any, max_length: int) -> list[Any]:
    """The probe as consecutive chunks of whole words, each at most ``max_length`` tokens
    (the run's own limit, special tokens included), every token scored: text-format
    examples, as :class:`~securetune.train.formats.Tokenized`.

    Words are packed by their token counts in isolation; a tokenizer that merges across
    spaces can make a chunk a little longer, and truncation at ``max_length`` then drops
    its last tokens, as it would for a training record.
    """
    words = probe_bytes().decode("utf-8").split()
    lengths = [len(x) for x in tokenizer(words, add_special_tokens=False)["input_ids"]]
    budget = max(1, max_length - tokenizer.num_special_tokens_to_add())
    chunks: list[list[str]] = [[]]
    used = 0
    for word, n in zip(words, lengths, strict=True):
        if chunks[-1] and used + n > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(word)
        used += n
    from securetune.train.formats import Example, tokenize_examples

    return tokenize_examples(tokenizer, [Example.plain(" ".join(c)) for c in chunks], max_length)
