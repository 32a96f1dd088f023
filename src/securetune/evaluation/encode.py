"""Records as the run trained on them: token ids, and labels that say which tokens are scored.

Evaluation must score exactly the tokens training scored (its loss mask), or the adapter is
compared with the base model on a different quantity from the one it was fitted to; so it
encodes records with training's own :func:`securetune.train.formats.corpus_tokens`.
"""

from __future__ import annotations

from typing import Any

from securetune.train.data import IGNORE_INDEX


def encode_corpus(tokenizer: Any, corpus: Any, max_length: int) -> list[Any]:
    """Every record of ``corpus`` as a :class:`~securetune.train.formats.Tokenized`, encoded
    in the corpus's format at the run's ``max_length`` (truncated on the same side)."""
    from securetune.train.formats import corpus_tokens

    return corpus_tokens(corpus, tokenizer, max_length)


def prompt_length(labels: list[int]) -> int:
    """Tokens before the last run of scored tokens: what a generation starts from.

    For a prompt-completion record the last run is the completion (and its end token); for
    a chat, the last assistant turn, with the earlier turns as its prompt; for a text record
    it starts at the first token, leaving no prompt.
    """
    t = len(labels)
    while t > 0 and labels[t - 1] == IGNORE_INDEX:
        t -= 1
    while t > 0 and labels[t - 1] != IGNORE_INDEX:
        t -= 1
    return t


def completion(labels: list[int]) -> list[int]:
    """The last run of scored tokens: what a generation should produce."""
    return [x for x in labels[prompt_length(labels) :] if x != IGNORE_INDEX]
