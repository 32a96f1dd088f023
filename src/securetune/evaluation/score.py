"""Batched scoring and greedy decoding, on the GPU when there is one.

Sequences are sorted by length and packed under a token budget (the logits of a batch,
batch x length x vocabulary floats, are what fills memory), so little of a batch is
padding. Everything runs in float32 under ``torch.no_grad`` in eval mode: the losses being
compared differ in the second decimal, and bf16 rounding is of that order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from securetune.train.data import IGNORE_INDEX, pad_batch
from securetune.train.loss import per_example_loss, shift

TOKEN_BUDGET = 4096
"""Tokens per forward pass (with a 30k vocabulary, its float32 logits are 0.5 GB)."""
GENERATION_BATCH = 32

Progress = Callable[[int], None]
"""Called with the number of items finished so far."""

BASE = "base"


@contextmanager
def using(model: Any, which: str) -> Iterator[None]:
    """Score with the base model (every adapter off) or with one named adapter."""
    model.eval()
    if which == BASE:
        with model.disable_adapter():
            yield
        return
    model.set_adapter(which)
    yield


def _batches(lengths: Sequence[int], budget: int) -> Iterator[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    start = 0
    while start < len(order):
        # sorted ascending: the last member of a batch is its widest
        end = start + 1
        while end < len(order) and (end + 1 - start) * lengths[order[end]] <= budget:
            end += 1
        yield order[start:end]
        start = end


@torch.no_grad()
def masked_nll(
    model: Any,
    records: Sequence[Any],
    *,
    pad_id: int,
    device: torch.device,
    progress: Progress | None = None,
) -> np.ndarray:
    """``records`` are :class:`~securetune.train.formats.Tokenized` (ids and labels).

    Shape (n, 2): each record's summed next-token NLL (nats) over its scored tokens, and
    the number of those tokens: the loss training minimises, unaveraged, so callers can
    pool tokens across records and units."""
    out = np.zeros((len(records), 2))
    done = 0
    for chunk in _batches([len(r.input_ids) for r in records], TOKEN_BUDGET):
        ids, mask, labels = pad_batch(
            [records[i].input_ids for i in chunk],
            pad_id,
            labels=[records[i].labels for i in chunk],
        )
        ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits
        # training's own per-example loss (a mean over scored targets), times the count
        counts = (shift(logits, labels)[1] != IGNORE_INDEX).sum(dim=1)
        sums = (per_example_loss(logits, labels).double() * counts).cpu().numpy()
        counts = counts.cpu().numpy()
        out[chunk, 0] = sums
        out[chunk, 1] = counts
        done += len(chunk)
        if progress is not None:
            progress(done)
    return out


@torch.no_grad()
def greedy(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    eos_id: int | None,
    pad_id: int,
    device: torch.device,
    progress: Progress | None = None,
) -> list[list[int]]:
    """Greedy continuations, cut at the first end-of-sequence token.

    Prompts of one length are batched together, so no prompt is padded: left padding is not
    something every model (BERT's absolute positions, for one) handles the same way.
    """
    out: list[list[int]] = [[] for _ in prompts]
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    done = 0
    for length, members in sorted(by_length.items()):
        for s in range(0, len(members), GENERATION_BATCH):
            rows = members[s : s + GENERATION_BATCH]
            batch = torch.tensor([list(prompts[i]) for i in rows], dtype=torch.long, device=device)
            generated = model.generate(
                input_ids=batch,
                attention_mask=torch.ones_like(batch),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                eos_token_id=eos_id,
                pad_token_id=pad_id,
                use_cache=True,
            )
            for row, i in enumerate(rows):
                tokens = generated[row, length:].tolist()
                if eos_id is not None and eos_id in tokens:
                    tokens = tokens[: tokens.index(eos_id)]
                out[i] = tokens
            done += len(rows)
            if progress is not None:
                progress(done)
    return out
