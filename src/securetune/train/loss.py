"""Per-example language-model loss, the quantity DP-SGD clips.

Each example's loss is the mean of its own next-token losses; the batch loss is the mean of
those. A model's built-in ``labels=`` loss instead averages over every token of the batch,
so one example's weight in the gradient depends on how many tokens the *other* examples
have. That couples examples: the per-example gradient Opacus clips is no longer a function
of that example alone, which breaks the sensitivity bound the accountant assumes.
``tests/train/test_loss.py`` shows both behaviours.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from securetune.train.data import IGNORE_INDEX


def shift(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Align position t's logits with token t+1."""
    return logits[:, :-1, :], labels[:, 1:]


def per_example_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Shape (batch,): each example's mean next-token loss over its non-padding targets."""
    logits, targets = shift(logits, labels)
    b, t, v = logits.shape
    token = F.cross_entropy(
        logits.reshape(b * t, v).float(),
        targets.reshape(b * t),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    ).view(b, t)
    valid = (targets != IGNORE_INDEX).to(token.dtype)
    return (token * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1.0)


def batch_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean of per-example losses (what hooks-mode DP-SGD differentiates)."""
    return per_example_loss(logits, labels).mean()


def ghost_criterion() -> nn.CrossEntropyLoss:
    """The criterion handed to Opacus for ghost clipping.

    Opacus wraps it; called as ``crit(flat_logits, flat_targets, shape=(B, T, V))`` it
    computes token losses with ``reduction='none'``, reshapes them to (B, T), and divides
    each row by its count of targets that are not ``ignore_index``: the same per-example
    mean as :func:`per_example_loss`.
    """
    return nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX, reduction="mean")


def ghost_loss(criterion, logits: torch.Tensor, labels: torch.Tensor):  # type: ignore[no-untyped-def]
    logits, targets = shift(logits, labels)
    b, t, v = logits.shape
    return criterion(logits.reshape(b * t, v).float(), targets.reshape(b * t), shape=(b, t, v))
