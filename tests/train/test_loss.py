"""The per-example loss: one example's padding and length never reach another's gradient."""

from __future__ import annotations

import pytest
import torch

from securetune.train.data import IGNORE_INDEX, pad_batch
from securetune.train.loss import ghost_criterion, per_example_loss
from securetune.train.model import add_lora, load_base_model

A = [101, 2000, 2001, 2002, 2003, 102]
B_SHORT = [101, 3000, 102]
B_LONG = [101, 3000, 3001, 3002, 3003, 3004, 3005, 3006, 102]


@pytest.fixture(scope="module")
def model():
    loaded = load_base_model("tiny")
    return add_lora(loaded.model, r=4, alpha=8, targets=("q_proj", "v_proj"), seed=0)


def _grad_of_a(model, b: list[int], *, width: int, hf_loss: bool) -> torch.Tensor:
    """Gradient, w.r.t. example A's logits, of the batch loss of [A, b]."""
    ids, mask, labels = pad_batch([A, b], pad_id=0, length=width)
    logits = model(input_ids=ids, attention_mask=mask).logits.detach().requires_grad_(True)
    if hf_loss:
        # The model's built-in loss: mean over every target token of the batch.
        loss = model.base_model.model.loss_function(logits, labels, vocab_size=logits.shape[-1])
    else:
        loss = per_example_loss(logits, labels).mean()
    loss.backward()
    return logits.grad[0].clone()


def test_other_examples_padding_and_length_do_not_change_this_examples_gradient(model) -> None:
    ours = [
        _grad_of_a(model, B_SHORT, width=len(B_LONG), hf_loss=False),
        _grad_of_a(model, B_SHORT, width=len(B_LONG) + 7, hf_loss=False),  # more padding
        _grad_of_a(model, B_LONG, width=len(B_LONG) + 7, hf_loss=False),  # more real tokens
    ]
    for g in ours[1:]:
        torch.testing.assert_close(g[: len(A)], ours[0][: len(A)], rtol=0, atol=1e-7)


def test_the_builtin_batch_loss_couples_examples(model) -> None:
    short = _grad_of_a(model, B_SHORT, width=len(B_LONG), hf_loss=True)
    long = _grad_of_a(model, B_LONG, width=len(B_LONG), hf_loss=True)
    # A's weight is 1/(tokens in the whole batch): B's length changes A's gradient.
    ratio = (short[: len(A)].norm() / long[: len(A)].norm()).item()
    assert ratio == pytest.approx(
        (len(A) - 1 + len(B_LONG) - 1) / (len(A) - 1 + len(B_SHORT) - 1), rel=1e-4
    )


def test_ghost_criterion_gives_the_same_per_example_means() -> None:
    """Opacus's wrapped criterion reduces flat token losses with shape= and ignore_index."""
    from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping

    class _Stub:
        loss_reduction = "mean"

    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11)
    labels = torch.tensor(
        [
            [1, 2, 3, 4, 5],
            [1, 2, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX],
            [6, 7, 8, 9, IGNORE_INDEX],
        ]
    )
    wrapped = DPLossFastGradientClipping(_Stub(), _Stub(), ghost_criterion(), "mean")
    shifted, targets = logits[:, :-1], labels[:, 1:]
    b, t, v = shifted.shape
    out = wrapped(shifted.reshape(b * t, v), targets.reshape(b * t), shape=(b, t, v))
    torch.testing.assert_close(out.loss_per_sample, per_example_loss(logits, labels))


def test_ghost_clipping_is_refused_when_opacus_averages_over_padding() -> None:
    from types import SimpleNamespace

    from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping

    from securetune.errors import TrainingError
    from securetune.train.privacy import check_ghost_reduction

    # The wrapper reads only the reduction of the module and optimizer it is given.
    model = optimizer = SimpleNamespace(loss_reduction="mean")
    good = DPLossFastGradientClipping(model, optimizer, ghost_criterion(), "mean")
    check_ghost_reduction(good)  # this Opacus: each example over its own targets

    class PaddedMean(DPLossFastGradientClipping):  # what Opacus 1.5 did
        def __call__(self, *args, shape=None, **kwargs):  # type: ignore[no-untyped-def]
            out = super().__call__(*args, shape=shape, **kwargs)
            token = torch.nn.functional.cross_entropy(args[0], args[1], reduction="none")
            out.loss_per_sample = token.view(shape[0], shape[1]).mean(dim=1)
            return out

    with pytest.raises(TrainingError, match="averages ghost-clipping losses over padding"):
        check_ghost_reduction(PaddedMean(model, optimizer, ghost_criterion(), "mean"))
