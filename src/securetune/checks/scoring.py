"""Turning a model into numbers: batched log-probabilities and decoding.

Everything runs under ``torch.no_grad`` in eval mode, on the GPU when there is one. Batches
are sized by a token budget (the logits of a batch, batch x length x vocabulary floats, are
what fills memory), and sequences are sorted by length first so little is padding.
Candidate secrets for exposure share their canary's prefix and are grouped by token length,
so they need no padding at all and only the positions that predict the secret go through
the output layer when the model can skip the rest (``logits_to_keep``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

TOKEN_BUDGET = 4096
"""Tokens per forward pass when logits for every position are needed."""
CANDIDATE_BATCH = 256


class Scorer:
    def __init__(self, model: Any, tokenizer: Any, device: torch.device) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = device
        self.pad_id = tokenizer.pad_token_id
        forward = inspect.signature(type(model.get_base_model()).forward).parameters
        self.keeps_logits = "logits_to_keep" in forward
        # Scoring the adapted model with the LoRA product merged into the base weights costs
        # one matmul per layer instead of three (the adapter on a 30k-row head is most of it).
        self.model.merge_adapter()

    @contextmanager
    def base(self) -> Iterator[None]:
        """The base model: the adapter unmerged and switched off (a free reference model)."""
        self.model.unmerge_adapter()
        try:
            with self.model.disable_adapter():
                yield
        finally:
            self.model.merge_adapter()

    def _autocast(self) -> Any:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    @torch.no_grad()
    def token_logprobs(self, ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """log p(token_t | tokens before t) for t = 1..len-1, per sequence."""
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[np.ndarray] = [np.empty(0)] * len(ids)
        start = 0
        while start < len(order):
            width = len(ids[order[min(len(order) - 1, start)]])
            n = max(1, TOKEN_BUDGET // max(width, 1))
            chunk = order[start : start + n]
            width = max(len(ids[i]) for i in chunk)
            batch = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros_like(batch)
            for row, i in enumerate(chunk):
                batch[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            batch, mask = batch.to(self.device), mask.to(self.device)
            with self._autocast():
                logits = self.model(input_ids=batch, attention_mask=mask).logits
            lp = _target_logprobs(logits[:, :-1, :], batch[:, 1:]).cpu().numpy()
            for row, i in enumerate(chunk):
                out[i] = lp[row, : len(ids[i]) - 1].astype(np.float64)
            start += n
        return out

    @torch.no_grad()
    def suffix_nll(self, prefix_len: int, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """Sum of -log p over the tokens after the first ``prefix_len`` (same prefix for all).

        The first of those tokens is predicted from the shared prefix alone, so that
        distribution is computed once; of the rest, only the positions that predict a
        suffix token go through the output layer.
        """
        out = np.empty(len(sequences))
        if not sequences:
            return out
        prefix = torch.tensor(
            [list(sequences[0][:prefix_len])], dtype=torch.long, device=self.device
        )
        with self._autocast():
            first = torch.log_softmax(self.model(input_ids=prefix).logits[0, -1].float(), dim=-1)
        by_length: dict[int, list[int]] = {}
        for i, seq in enumerate(sequences):
            by_length.setdefault(len(seq), []).append(i)
        for length, members in by_length.items():
            wanted = slice(prefix_len, length - 1)  # positions predicting tokens prefix_len+1..
            for s in range(0, len(members), CANDIDATE_BATCH):
                rows = members[s : s + CANDIDATE_BATCH]
                batch = torch.tensor(
                    [list(sequences[i]) for i in rows], dtype=torch.long, device=self.device
                )
                nll = -first[batch[:, prefix_len]]
                if length - 1 > prefix_len:
                    with self._autocast():
                        if self.keeps_logits:
                            logits = self.model(input_ids=batch, logits_to_keep=wanted).logits
                        else:
                            logits = self.model(input_ids=batch).logits[:, wanted, :]
                    nll = nll - _target_logprobs(logits, batch[:, prefix_len + 1 :]).sum(dim=1)
                out[rows] = nll.double().cpu().numpy()
        return out

    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        new_tokens: int,
        *,
        sample: bool = False,
        seed: int = 0,
    ) -> list[list[int]]:
        """Greedy (or sampled) continuations, prompts of one length batched together."""
        out: list[list[int]] = [[] for _ in prompts]
        by_length: dict[int, list[int]] = {}
        for i, p in enumerate(prompts):
            by_length.setdefault(len(p), []).append(i)
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            for length, members in sorted(by_length.items()):
                for s in range(0, len(members), 64):
                    rows = members[s : s + 64]
                    batch = torch.tensor(
                        [list(prompts[i]) for i in rows], dtype=torch.long, device=self.device
                    )
                    with self._autocast():
                        gen = self.model.generate(
                            input_ids=batch,
                            attention_mask=torch.ones_like(batch),
                            max_new_tokens=new_tokens,
                            min_new_tokens=new_tokens if not sample else 1,
                            do_sample=sample,
                            top_k=0 if sample else None,
                            temperature=1.0 if sample else None,
                            top_p=None,
                            pad_token_id=self.pad_id,
                            use_cache=True,
                        )
                    for row, i in enumerate(rows):
                        out[i] = gen[row, length:].tolist()
        return out


def _target_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[target] without materialising the full log-softmax."""
    logits = logits.float()
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)
