"""Pooled loss and perplexity, a cluster bootstrap for differences, ROUGE-L and exact match."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def pooled(nll: np.ndarray) -> dict[str, Any]:
    """Token-weighted mean NLL over every scored token (nats), and its exponential.

    ``nll`` has one row per record or unit: (summed NLL, scored tokens). Pooling tokens is
    the usual definition of perplexity; training's ``validation_loss`` instead averages each
    record's own mean, so the two differ when records differ in length.
    """
    tokens = int(nll[:, 1].sum()) if len(nll) else 0
    if tokens == 0:
        return {"loss": None, "perplexity": None, "tokens": 0}
    loss = float(nll[:, 0].sum() / tokens)
    return {"loss": loss, "perplexity": _exp(loss), "tokens": tokens}


def _exp(x: float) -> float:
    return math.inf if x > 700 else math.exp(x)


def by_unit(nll: np.ndarray, units: Sequence[Sequence[int]]) -> np.ndarray:
    """Record rows summed into one row per unit (units list row indices of ``nll``)."""
    return np.array([nll[list(u)].sum(axis=0) for u in units]).reshape(len(units), 2)


def difference(
    a: np.ndarray,
    b: np.ndarray,
    *,
    rounds: int,
    confidence: float,
    seed: int,
) -> dict[str, Any]:
    """Pooled loss of ``a`` minus pooled loss of ``b`` on the same units, with a percentile
    bootstrap interval that resamples whole units (a unit's records and tokens move
    together, so records of one patient are not treated as independent)."""
    n = len(a)
    tokens = a[:, 1].sum()
    if n == 0 or tokens == 0:
        return {"loss": None, "ci": None}
    point = float((a[:, 0].sum() - b[:, 0].sum()) / tokens)
    if n < 2:
        return {"loss": point, "ci": None}
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(rounds, n))
    delta = a[:, 0] - b[:, 0]
    num = delta[picks].sum(axis=1)
    den = a[:, 1][picks].sum(axis=1)
    ok = den > 0
    reps = num[ok] / den[ok]
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(reps, [tail, 1 - tail])
    return {"loss": point, "ci": [float(lo), float(hi)]}


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> float | None:
    """Mean ROUGE-L F1 (the ``rouge-score`` package, no stemming)."""
    if not references:
        return None
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    scores = [
        scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references, strict=True)
    ]
    return float(sum(scores) / len(scores))


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float | None:
    """Fraction of predictions equal to their reference, ignoring case and spacing."""
    if not references:
        return None
    hits = sum(normalise(p) == normalise(r) for p, r in zip(predictions, references, strict=True))
    return hits / len(references)
