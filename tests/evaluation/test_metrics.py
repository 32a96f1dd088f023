"""The numbers `eval` reports, on inputs small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from securetune.evaluation.encode import completion, prompt_length
from securetune.evaluation.metrics import difference, exact_match, pooled, rouge_l

X = -100  # IGNORE_INDEX


def test_loss_is_pooled_over_tokens_not_averaged_over_records() -> None:
    # records with losses 1, 3 and 0.25 a token: pooled 9 / 8, not their mean 1.4167
    p = pooled(np.array([[2.0, 2], [6.0, 2], [1.0, 4]]))
    assert p == {"loss": 9.0 / 8, "perplexity": math.exp(9.0 / 8), "tokens": 8}
    assert pooled(np.zeros((0, 2))) == {"loss": None, "perplexity": None, "tokens": 0}


def test_the_bootstrap_resamples_units_and_brackets_the_difference() -> None:
    a = np.array([[3.0, 2], [7.0, 2]])
    b = np.array([[2.0, 2], [4.0, 2]])
    d = difference(a, b, rounds=500, confidence=0.95, seed=0)
    assert d["loss"] == pytest.approx((10 - 6) / 4)
    # a resample holds each unit 0, 1 or 2 times: (1+1)/4 = 0.5 up to (3+3)/4 = 1.5
    assert 0.5 <= d["ci"][0] < d["loss"] < d["ci"][1] <= 1.5
    same = difference(
        np.array([[2.0, 1], [4.0, 2]]),
        np.array([[1.0, 1], [2.0, 2]]),
        rounds=50,
        confidence=0.95,
        seed=0,
    )
    assert same == {"loss": 1.0, "ci": [1.0, 1.0]}  # every unit differs by 1 nat a token
    assert difference(a[:1], b[:1], rounds=50, confidence=0.95, seed=0) == {"loss": 0.5, "ci": None}


def test_rouge_l_and_exact_match() -> None:
    # LCS "fever two days" = 3 tokens: precision 3/4, recall 3/3
    assert rouge_l(["fever for two days"], ["fever two days"]) == pytest.approx(6 / 7)
    assert rouge_l(["a b", "c"], ["a b", "d"]) == pytest.approx(0.5)
    assert exact_match(["Fever  2 days ", "cough"], ["fever 2 days", "rash"]) == 0.5
    assert rouge_l([], []) is None and exact_match([], []) is None


def test_the_prompt_is_everything_before_the_last_scored_run() -> None:
    assert prompt_length([11, 12, 13]) == 0  # text: every token scored, nothing to prompt with
    pc = [X, X, X, 21, 22, 3]  # [CLS] prompt prompt | completion completion [SEP]
    assert (prompt_length(pc), completion(pc)) == (3, [21, 22, 3])
    chat = [X, X, 31, 32, X, X, 41, 3]  # user, assistant, user, assistant (+ end)
    assert (prompt_length(chat), completion(chat)) == (6, [41, 3])
