"""The checks measure what training fitted: for prompt-completion and chat records, the
completion's tokens, never the prompt the model only reads. Text-format records (and
canaries) are fitted on every token and are measured exactly as before.

A scripted scorer stands in for the model so each feature can be checked by hand."""

from __future__ import annotations

import contextlib
import math
import zlib
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from securetune.checks.measures import _extract, _record_features, trained_targets
from securetune.checks.runner import CheckError, CheckOptions, RunUnderCheck

CLS, SEP, IGNORE = 2, 3, -100
PROMPT = [40, 41, 42, 43, 44]  # 5 prompt tokens
COMPLETION = list(range(60, 80))  # 20 completion tokens


class Scripted:
    """Log-probs looked up per sequence (adapted and base); generation returns set outputs."""

    def __init__(self, adapted: dict[tuple[int, ...], np.ndarray]) -> None:
        self.adapted = adapted
        self.mode = "adapted"
        self.prompts: list[list[int]] = []
        self.new_tokens: int | None = None

    def token_logprobs(self, ids: list[list[int]]) -> list[np.ndarray]:
        # the base model's log-probs are the adapted ones halved: a different, known reference
        scale = 1.0 if self.mode == "adapted" else 0.5
        return [self.adapted[tuple(s)] * scale for s in ids]

    @contextlib.contextmanager
    def base(self):  # type: ignore[no-untyped-def]
        self.mode = "base"
        try:
            yield
        finally:
            self.mode = "adapted"

    def generate(self, prompts: list[list[int]], new: int) -> list[list[int]]:
        self.prompts, self.new_tokens = [list(p) for p in prompts], new
        return [[0] * new for _ in prompts]


def _run(
    fmt: str,
    tokens: list[list[int]],
    labels: list[list[int]],
    texts: list[str],
    scorer: Scripted,
    dataset_records: int | None = None,
    **options: Any,
) -> RunUnderCheck:
    return RunUnderCheck(
        ws=None,  # type: ignore[arg-type]
        run_id="r",
        start={},
        finish={},
        config=None,
        corpus=None,
        texts=texts,
        tokens=tokens,
        labels=labels,
        scored_texts=texts,
        format=fmt,
        dataset_records=len(tokens) if dataset_records is None else dataset_records,
        split=None,
        canaries=None,
        scorer=scorer,
        tokenizer=SimpleNamespace(sep_token_id=SEP, eos_token_id=None),
        options=CheckOptions(**options),
        store=None,
        policy=None,
    )


def _pc_record() -> tuple[list[int], list[int]]:
    ids = [CLS, *PROMPT, *COMPLETION, SEP]
    labels = [IGNORE] * (1 + len(PROMPT)) + COMPLETION + [SEP]
    return ids, labels


def _logprobs(n: int) -> np.ndarray:
    return -np.linspace(0.5, 4.0, n)  # distinct values, so a min-k pick is unambiguous


def test_a_target_is_scored_when_its_label_is_trained_as_training_shifts_it() -> None:
    ids, labels = _pc_record()
    scored = trained_targets(labels)
    # target t sits at index t-1: the prompt's 5 tokens are targets 1..5, unscored
    assert scored.tolist() == [False] * 5 + [True] * 21
    assert len(scored) == len(ids) - 1


def test_prompt_completion_features_are_computed_over_completion_targets_only() -> None:
    ids, labels = _pc_record()
    lp = _logprobs(len(ids) - 1)
    completion = "the completion text"
    run = _run("prompt-completion", [ids], [labels], [completion], Scripted({tuple(ids): lp}))
    f = _record_features(run, [0])[0]
    trained = lp[5:]  # targets 6..26: the 20 completion tokens and the closing [SEP]
    k = math.ceil(0.2 * 21)  # 5 lowest of 21
    zbits = 8 * len(zlib.compress(completion.encode()))
    assert f == {
        "loss": pytest.approx(trained.mean()),
        "reference": pytest.approx(-0.5 * trained.mean() + trained.mean()),
        "zlib": pytest.approx(trained.sum() / math.log(2) / zbits),
        "min_k": pytest.approx(np.sort(trained)[:k].mean()),
    }


def test_changing_a_prompt_tokens_log_prob_changes_no_feature_but_a_completion_token_does() -> None:
    ids, labels = _pc_record()
    lp = _logprobs(len(ids) - 1)
    before = _record_features(
        _run("prompt-completion", [ids], [labels], ["c"], Scripted({tuple(ids): lp})), [0]
    )[0]
    prompt_changed = lp.copy()
    prompt_changed[:5] = -30.0  # every prompt target made very unlikely
    after = _record_features(
        _run("prompt-completion", [ids], [labels], ["c"], Scripted({tuple(ids): prompt_changed})),
        [0],
    )[0]
    assert after == before
    completion_changed = lp.copy()
    completion_changed[5] = -30.0  # the first completion target
    changed = _record_features(
        _run(
            "prompt-completion", [ids], [labels], ["c"], Scripted({tuple(ids): completion_changed})
        ),
        [0],
    )[0]
    assert all(changed[a] != before[a] for a in ("loss", "reference", "zlib", "min_k"))


def test_text_records_are_scored_on_every_target_exactly_as_before() -> None:
    ids = [CLS, *PROMPT, *COMPLETION, SEP]
    lp = _logprobs(len(ids) - 1)
    text = "a text record"
    run = _run("text", [ids], [list(ids)], [text], Scripted({tuple(ids): lp}))
    f = _record_features(run, [0])[0]
    k = max(1, math.ceil(0.2 * lp.size))
    zbits = 8 * len(zlib.compress(text.encode()))
    # the formulas of securetune before labels were carried, over all of the record's targets
    assert f == {
        "loss": -float(-lp.mean()),
        "reference": float(-(0.5 * lp).mean()) - float(-lp.mean()),
        "zlib": -float(-lp.sum() / math.log(2)) / zbits,
        "min_k": float(np.sort(lp)[:k].mean()),
    }


def test_text_labels_are_the_input_ids_so_text_runs_score_every_token() -> None:
    from securetune.train.formats import corpus_tokens
    from securetune.train.model import load_base_model, quiet

    with quiet():
        tokenizer = load_base_model("tiny").tokenizer
    corpus = SimpleNamespace(
        records=None, texts=["reports fever and cough for 3 days .", "x", "a b c d e f g h i j"]
    )
    tokenized = corpus_tokens(corpus, tokenizer, 8)  # type: ignore[arg-type]
    assert [t.labels for t in tokenized] == [t.input_ids for t in tokenized]
    assert all(trained_targets(t.labels).all() for t in tokenized)


def test_a_record_without_a_trained_token_is_refused_not_scored_as_nan() -> None:
    ids = [CLS, 40, 41]
    run = _run(
        "prompt-completion", [ids], [[IGNORE] * 3], ["c"], Scripted({tuple(ids): -np.ones(2)})
    )
    with pytest.raises(CheckError, match="record 0 has no trained token to score"):
        _record_features(run, [0])


def test_extraction_of_a_completion_starts_from_the_prompt_and_reads_its_truth_inside_it() -> None:
    ids, labels = _pc_record()
    scorer = Scripted({})
    run = _run(
        "prompt-completion",
        [ids],
        [labels],
        ["c"],
        scorer,
        extraction_prefix=32,
        extraction_suffix=6,
    )
    out = _extract(run, [0])
    # k = min(32, 20 // 2) = 10 completion tokens follow the prompt; the truth is the next 6
    assert scorer.prompts == [[CLS, *PROMPT, *COMPLETION[:10]]]
    assert scorer.new_tokens == 6
    assert out == {"records": 1, "too_short": 0, "exact_rate": 0.0, "near_exact_rate": 0.0}


def test_extraction_truth_stops_at_the_completions_end_not_its_closing_token() -> None:
    ids, labels = _pc_record()
    scorer = Scripted({})
    truth = COMPLETION[10:]  # 10 tokens: up to extraction_suffix 32, the [SEP] left out
    scorer.generate = lambda prompts, new: [truth + [SEP] * (new - len(truth)) for _ in prompts]  # type: ignore[method-assign]
    run = _run("prompt-completion", [ids], [labels], ["c"], scorer, extraction_prefix=32)
    assert _extract(run, [0])["exact_rate"] == 1.0


def test_a_completion_too_short_for_a_truth_is_skipped_and_counted() -> None:
    ids, labels = _pc_record()
    short = [CLS, *PROMPT, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, SEP]
    short_labels = [IGNORE] * 6 + short[6:]  # 14 completion tokens: 7 left after k = 7
    scorer = Scripted({})
    run = _run("prompt-completion", [ids, short], [labels, short_labels], ["a", "b"], scorer)
    out = _extract(run, [0, 1])
    assert (out["records"], out["too_short"]) == (1, 1)
    assert len(scorer.prompts) == 1


def test_text_records_and_canaries_keep_the_first_tokens_as_prefix() -> None:
    ids, labels = _pc_record()
    text = [CLS, *range(100, 140), SEP]
    scorer = Scripted({})
    # position 1 lies past the dataset's records: a canary, a text example in any run
    run = _run(
        "prompt-completion",
        [ids, text],
        [labels, list(text)],
        ["a", "b"],
        scorer,
        dataset_records=1,
        extraction_prefix=4,
        extraction_suffix=8,
    )
    _extract(run, [1])
    assert scorer.prompts == [text[:5]]
    assert scorer.new_tokens == 8


def test_a_prompt_completion_run_is_checked_on_its_completions(ws) -> None:  # type: ignore[no-untyped-def]
    """End to end on the tiny model: `check` reopens the run with training's labels, and
    every extraction truth it builds lies inside a record's completion."""
    from securetune import datastore
    from securetune.checks.measures import _extraction_pair, mia_check
    from securetune.checks.runner import open_run
    from securetune.train.loop import train_run
    from tests.conftest import MARKER
    from tests.train.conftest import fast

    pairs = [
        {
            "id": i,
            "patient_id": f"p{i % 12}",
            "prompt": f"Summarize: {MARKER} reports fever and cough on day {i} of the stay.",
            "completion": f"Fever and cough, day {i}, treated with fluids and rest at home.",
        }
        for i in range(24)
    ]
    with ws.locked():
        datastore.create_dataset(
            ws,
            "qa",
            pairs,
            provenance={
                "command": "test",
                "scrubbed": True,
                "policy": None,
                "text_fields": ["prompt", "completion"],
                "subject_field": "patient_id",
            },
        )
    done = train_run(ws, fast(data="qa", max_length=48))
    run = open_run(ws, done.run_id, CheckOptions(device="cpu", bootstrap=50))
    assert run.format == "prompt-completion"
    tok = run.tokenizer
    for i, (ids, labels) in enumerate(zip(run.tokens, run.labels, strict=True)):
        trained = [t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE]
        # the trained tokens are the completion and the closing [SEP], nothing of the prompt
        completion = tok(pairs[i]["completion"], add_special_tokens=False)["input_ids"]
        assert trained == [*completion, tok.sep_token_id]
        assert run.scored_texts[i] == pairs[i]["completion"]
        pair = _extraction_pair(run, i)
        assert pair is not None
        prefix, truth = pair
        start = next(t for t, lab in enumerate(labels) if lab != IGNORE)  # the completion's
        assert len(prefix) > start  # the whole prompt, then some completion tokens
        assert (
            ids[len(prefix) : len(prefix) + len(truth)] == truth and tok.sep_token_id not in truth
        )
        assert all(labels[t] != IGNORE for t in range(len(prefix), len(prefix) + len(truth)))
    outcome = mia_check(run)
    assert outcome.skipped is None and 0 <= outcome.numbers["mia_auc"] <= 1
