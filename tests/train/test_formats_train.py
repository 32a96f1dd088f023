"""Prompt-completion data end to end: plan, train and check agree on the format, report how
many records --max-length cut (as a non-private output, never in the ledger), and a saved
config names the format so resume and check rebuild the same examples."""

from __future__ import annotations

import json

from securetune import datastore
from securetune.train.config import TrainConfig
from tests.conftest import MARKER
from tests.train.conftest import FAST_ARGS, train_events
from tests.train.test_train import _no_marker_under

LONG = 6  # records whose prompt is longer than --max-length 32


def pairs(n: int = 24) -> list[dict]:
    return [
        {
            "id": i,
            "patient_id": f"p{i % 12}",
            "prompt": f"Summarize: {MARKER} reports fever on day {i}."
            + (" Then more history follows." * 8 if i < LONG else ""),
            "completion": f"Fever, day {i}.",
        }
        for i in range(n)
    ]


def _dataset(ws, records: list[dict], fields: list[str]) -> None:
    provenance = {
        "command": "test",
        "scrubbed": True,
        "policy": None,
        "text_fields": fields,
        "subject_field": "patient_id",
    }
    with ws.locked():
        datastore.create_dataset(ws, "qa", records, provenance=provenance)


def test_prompt_completion_data_trains_checks_and_reports_what_was_cut(run, ws) -> None:
    _dataset(ws, pairs(), ["prompt", "completion"])
    args = ["--data", "qa", "--epsilon", "8", *FAST_ARGS, "--json"]
    plan = run("plan", *args)
    assert plan.exit_code == 0, plan.stderr
    planned = json.loads(plan.stdout)
    assert (planned["format"], planned["truncated_examples"]) == ("prompt-completion", LONG)
    assert "truncated_examples" in planned["non_private_outputs"]

    trained = run("train", *args, "--canaries", "4")
    assert trained.exit_code == 0, trained.stderr
    out = json.loads(trained.stdout)
    # canaries are short text examples: only the long prompts were cut
    assert (out["format"], out["truncated_examples"]) == ("prompt-completion", LONG)
    assert "truncated_examples" in out["non_private_outputs"]
    saved = json.loads((ws.runs_dir / out["run_id"] / "config.json").read_text())
    assert saved["format"] == "prompt-completion"  # detected, then saved with the run
    (start,) = train_events(ws, "train.start")
    assert "truncated_examples" not in start.payload  # only named among non-private outputs
    assert "truncated_examples" in start.payload["non_private_outputs"]
    _no_marker_under(ws.root)  # no prompt or completion text outside the encrypted store

    assert MARKER not in trained.stdout + trained.stderr

    # `check` rebuilds the run (config, split with its canaries, tokens) from the workspace
    from securetune.checks.runner import CheckOptions, open_run
    from securetune.train.data import load_corpus
    from securetune.train.formats import corpus_tokens

    checked = open_run(ws, out["run_id"], CheckOptions(device="cpu"))
    corpus = load_corpus(ws, "qa", fmt="prompt-completion")
    dataset_ids = [t.input_ids for t in corpus_tokens(corpus, checked.tokenizer, 32)]
    assert checked.tokens[: len(dataset_ids)] == dataset_ids  # prompt + completion, as trained
    canaries = checked.canaries  # then the included canaries, as text examples
    assert len(checked.tokens) == len(dataset_ids) + len(canaries.included) * canaries.repetitions


def test_fields_that_fit_two_formats_stop_before_anything_is_ledgered(run, ws) -> None:
    _dataset(ws, [{**r, "text": "x"} for r in pairs()], ["text"])
    result = run("train", "--data", "qa", "--epsilon", "8", *FAST_ARGS)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: dataset qa: the dataset's fields fit more than one format "
        "(text, prompt-completion); pass --format\n"
    )
    assert train_events(ws) == []


def test_a_config_from_before_formats_keeps_its_hash_and_a_new_one_names_its_format() -> None:
    old = TrainConfig(data="notes", epsilon=8.0)
    assert "format" not in json.loads(old.to_json())  # so a ledgered config hash still matches
    new = TrainConfig(data="notes", epsilon=8.0, format="chat")
    again = TrainConfig.from_json(new.to_json())
    assert again.format == "chat" and again.sha256 == new.sha256
