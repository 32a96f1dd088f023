"""The batched scorer's shortcuts give the numbers a plain forward pass gives."""

from __future__ import annotations

import pytest
import torch

from securetune.checks.scoring import Scorer
from securetune.train.model import add_lora, load_base_model, quiet


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    with quiet():
        loaded = load_base_model("tiny")
    model = add_lora(loaded.model, r=4, alpha=8, targets=("q_proj", "v_proj", "lm_head"), seed=0)
    with torch.no_grad():  # a non-trivial adapter, so merged and unmerged scoring differ from base
        gen = torch.Generator().manual_seed(0)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return Scorer(model, loaded.tokenizer, torch.device("cpu"))


def _plain(scorer: Scorer, seq: list[int]) -> torch.Tensor:
    """log p(token_t | before t) from one unbatched forward of the unmerged peft model."""
    scorer.model.unmerge_adapter()
    try:
        with torch.no_grad():
            ids = torch.tensor([seq])
            logits = scorer.model(input_ids=ids).logits[0, :-1].float()
            return torch.log_softmax(logits, dim=-1).gather(-1, ids[0, 1:, None])[:, 0]
    finally:
        scorer.model.merge_adapter()


def test_suffix_nll_equals_the_plain_sum_over_the_suffix(scorer: Scorer) -> None:
    tok = scorer.tokenizer
    prefix = tok("leona marsh's mrn is")["input_ids"][:-1]
    seqs = [
        prefix + tok(s, add_special_tokens=False)["input_ids"]
        for s in ("482913075", "000000001", "999")
    ]
    got = scorer.suffix_nll(len(prefix), seqs)
    for value, seq in zip(got, seqs, strict=True):
        want = -_plain(scorer, seq)[len(prefix) - 1 :].sum().item()
        assert value == pytest.approx(want, rel=1e-4)


def test_token_logprobs_batched_and_padded_equal_one_at_a_time(scorer: Scorer) -> None:
    tok = scorer.tokenizer
    seqs = [
        tok(t)["input_ids"]
        for t in ("a short note .", "a much longer note about the patient and the ward .")
    ]
    batched = scorer.token_logprobs(seqs)
    for got, seq in zip(batched, seqs, strict=True):
        assert got == pytest.approx(_plain(scorer, seq).numpy(), rel=1e-4, abs=1e-5)


def test_the_base_context_switches_the_adapter_off_and_back_on(scorer: Scorer) -> None:
    seq = scorer.tokenizer("the patient was admitted .")["input_ids"]
    adapted = scorer.token_logprobs([seq])[0]
    with scorer.base():
        base = scorer.token_logprobs([seq])[0]
    with quiet():
        plain_base = load_base_model("tiny").model
    ids = torch.tensor([seq])
    with torch.no_grad():
        want = torch.log_softmax(plain_base(input_ids=ids).logits[0, :-1].float(), -1).gather(
            -1, ids[0, 1:, None]
        )[:, 0]
    assert base == pytest.approx(want.numpy(), rel=1e-4, abs=1e-5)
    assert abs(adapted - base).max() > 0.1
    assert scorer.token_logprobs([seq])[0] == pytest.approx(adapted)
