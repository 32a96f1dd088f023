"""Records as the run trained on them: token ids, and labels that say which tokens are scored.

Evaluation must score exactly the tokens training scored (its loss mask), or the adapter is
compared with the base model on a different quantity from the one it was fitted to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from securetune.train.data import IGNORE_INDEX, tokenize


@dataclass(frozen=True)
class Encoded:
    """One record: ``labels[t]`` is ``ids[t]`` where the token is scored, else IGNORE_INDEX."""

    ids: list[int]
    labels: list[int]

    def __repr__(self) -> str:  # token ids of a record are record text in another alphabet
        return f"Encoded({len(self.ids)} tokens)"

    @property
    def scored(self) -> int:
        """Tokens whose prediction is scored (the first token is never predicted)."""
        return sum(1 for x in self.labels[1:] if x != IGNORE_INDEX)

    @property
    def prompt_length(self) -> int:
        """Tokens before the last run of scored tokens: what a generation starts from.

        For a prompt-completion record the last run is the completion (and its end token);
        for a chat, the last assistant turn, with the earlier turns as its prompt; for a text
        record it starts at the first token, leaving no prompt.
        """
        t = len(self.labels)
        while t > 0 and self.labels[t - 1] == IGNORE_INDEX:
            t -= 1
        while t > 0 and self.labels[t - 1] != IGNORE_INDEX:
            t -= 1
        return t


def run_format(config: Any) -> str:
    """The record format a run trained with (``text`` for runs made before formats existed)."""
    return str(getattr(config, "format", None) or "text")


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[Encoded]:
    """Whole-text records: every token is scored, as ``train`` scores a text record."""
    return [Encoded(ids=ids, labels=list(ids)) for ids in tokenize(tokenizer, texts, max_length)]


def encode_corpus(tokenizer: Any, corpus: Any, config: Any) -> list[Encoded]:
    """Every record of ``corpus`` encoded the way the run with ``config`` encoded it."""
    return encode_texts(tokenizer, corpus.texts, config.max_length)
