"""`securetune eval`: base, adapter and non-private baseline on the run's held-out units,
numbers only in the ledger, and nothing the ledger does not vouch for."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from securetune.audit.ledger import Ledger
from securetune.cli.main import cli
from securetune.evaluation.runner import EVAL_EVENT, EvalError, EvalOptions, evaluate_run
from securetune.train.reopen import ReopenError
from tests.conftest import MARKER, tampered

QUICK = EvalOptions(bootstrap=200)


@pytest.fixture(scope="module")
def dp_result(runs):  # type: ignore[no-untyped-def]
    return evaluate_run(runs.ws, runs.dp, EvalOptions(bootstrap=200, data="other"))


def _cli(runs, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(
        cli,
        ["eval", *args],
        env={
            "SECURETUNE_WORKSPACE": str(runs.ws.root),
            "SECURETUNE_WITNESS_DIR": str(runs.ws.root.parent / "witness"),
        },
        catch_exceptions=False,
    )


def _finite(section: dict, names: tuple[str, ...]) -> None:
    for name in names:
        assert math.isfinite(section[name]["loss"]) and section[name]["loss"] > 0
        assert section[name]["perplexity"] == pytest.approx(math.exp(section[name]["loss"]))


def test_a_dp_run_is_compared_with_the_base_model_and_the_no_dp_run_of_the_same_data(
    dp_result, runs
) -> None:  # type: ignore[no-untyped-def]
    r = dp_result
    assert (r["run_id"], r["dp"], r["format"]) == (runs.dp, True, "text")
    assert (r["baseline_run_id"], r["baseline_found"]) == (runs.nodp, "ledger")
    h = r["heldout"]
    # 16 patients, a quarter held out: 4 patients with 2 notes each
    assert (h["units"], h["records"]) == (4, 8)
    _finite(h, ("base", "adapter", "baseline"))
    assert h["base"]["tokens"] == h["adapter"]["tokens"] == h["baseline"]["tokens"] > 0
    d = h["adapter_minus_base"]
    assert d["loss"] == pytest.approx(h["adapter"]["loss"] - h["base"]["loss"])
    assert d["ci"][0] <= d["loss"] <= d["ci"][1]
    # the non-private run (lr 1e-2, no noise) moved further from the base than the DP one
    assert abs(h["baseline_minus_base"]["loss"]) > abs(d["loss"])


def test_the_forgetting_probe_and_other_data_are_scored(dp_result) -> None:  # type: ignore[no-untyped-def]
    f = dp_result["forgetting"]
    assert len(f["probe_sha256"]) == 64 and f["sequences"] > 10
    _finite(f, ("base", "adapter", "baseline"))
    assert f["perplexity_ratio"] == pytest.approx(
        f["adapter"]["perplexity"] / f["base"]["perplexity"]
    )
    o = dp_result["other"]
    assert (o["dataset"], o["units"], o["records"], o["trained_on"]) == ("other", 3, 6, False)
    _finite(o, ("base", "adapter", "baseline"))
    # text records: nothing to generate
    assert dp_result["generation"] is None
    assert dp_result["generation_skipped"] == "text records have no prompt to complete"


def test_the_adapter_scores_the_same_with_or_without_a_baseline_loaded(dp_result, runs) -> None:  # type: ignore[no-untyped-def]
    alone = evaluate_run(runs.ws, runs.dp, EvalOptions(bootstrap=200, find_baseline=False))
    assert alone["baseline_run_id"] is None and alone["heldout"]["baseline"] is None
    for key in ("base", "adapter"):
        assert alone["heldout"][key]["loss"] == pytest.approx(dp_result["heldout"][key]["loss"])


def test_the_ledger_event_holds_aggregates_and_names_what_is_not_private(dp_result, runs) -> None:  # type: ignore[no-untyped-def]
    events = [e for e in Ledger.open(runs.ws.ledger_dir).entries() if e.event == EVAL_EVENT]
    event = next(e for e in events if e.payload["eval_id"] == dp_result["eval_id"])
    p = event.payload
    assert "details" not in p and len(p["result_sha256"]) == 64
    assert p["heldout"] == dp_result["heldout"]
    assert {"heldout", "other", "generation"} <= set(p["non_private_outputs"])
    assert "forgetting.adapter" not in p["non_private_outputs"]
    ledger_bytes = b"".join(f.read_bytes() for f in runs.ws.ledger_dir.rglob("*") if f.is_file())
    assert MARKER.encode() not in ledger_bytes
    assert MARKER.encode() not in json.dumps(dp_result).encode()
    # the full result (per-unit numbers) is in the run directory, under the hash the event names
    saved = runs.ws.runs_dir / runs.dp / "evals" / f"{dp_result['eval_id']}.json"
    import hashlib

    assert hashlib.sha256(saved.read_bytes()).hexdigest() == p["result_sha256"]
    assert len(json.loads(saved.read_bytes())["details"]["heldout_units"]["adapter"]) == 4


def test_a_no_dp_run_has_no_baseline_and_everything_is_non_private(runs) -> None:  # type: ignore[no-untyped-def]
    r = evaluate_run(runs.ws, runs.nodp, QUICK)
    assert r["dp"] is False and r["baseline_run_id"] is None
    assert r["non_private_outputs"] == [
        "everything (non-private run: the adapter carries no guarantee)"
    ]


def test_an_explicit_baseline_must_share_the_held_out_units(runs) -> None:  # type: ignore[no-untyped-def]
    r = evaluate_run(runs.ws, runs.nodp, EvalOptions(bootstrap=50, baseline=runs.dp))
    assert (r["baseline_run_id"], r["baseline_found"]) == (runs.dp, "option")
    with pytest.raises(EvalError, match="--baseline names the run being evaluated"):
        evaluate_run(runs.ws, runs.dp, EvalOptions(baseline=runs.dp))


def test_the_cli_prints_one_json_object(runs) -> None:  # type: ignore[no-untyped-def]
    result = _cli(runs, runs.dp, "--json", "--bootstrap", "50")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["baseline_run_id"] == runs.nodp and "details" not in doc
    _finite(doc["heldout"], ("base", "adapter", "baseline"))
    human = _cli(runs, runs.dp, "--no-baseline", "--bootstrap", "50")
    assert human.exit_code == 0
    assert human.stdout.startswith("Eval ")
    assert "held-out (4 units" in human.stdout and "baseline" not in human.stdout
    assert "note: no non-private baseline" in human.stderr


def test_a_tampered_adapter_is_refused(runs) -> None:  # type: ignore[no-untyped-def]
    weights = runs.ws.runs_dir / runs.dp / "adapter" / "adapter_model.safetensors"
    with tampered(weights):
        with pytest.raises(ReopenError, match="the adapter does not match the hash in the ledger"):
            evaluate_run(runs.ws, runs.dp, QUICK)
        result = _cli(runs, runs.dp)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: run {runs.dp}: the adapter does not match the hash in the ledger "
        "(modified or replaced)\n"
    )


def test_bad_options_and_unknown_runs_are_one_line_errors(runs) -> None:  # type: ignore[no-untyped-def]
    assert _cli(runs, "20990101-000000-deadbeef").stderr == (
        "error: no training run 20990101-000000-deadbeef in the ledger\n"
    )
    assert _cli(runs, runs.dp, "--samples", "-1").stderr == (
        "error: eval option samples must be at least 0\n"
    )
    assert _cli(runs, runs.dp, "--data", "raw").stderr == (
        f"error: --data raw is not scrubbed, and run {runs.dp} was trained under rules that "
        "require scrubbed data; scrub it first\n"
    )


def test_prompt_completion_runs_score_completions_only_and_generate(runs) -> None:  # type: ignore[no-untyped-def]
    from securetune.train.data import IGNORE_INDEX
    from securetune.train.formats import corpus_tokens
    from securetune.train.model import load_base_model
    from securetune.train.reopen import reopen_run

    r = evaluate_run(runs.ws, runs.pairs, EvalOptions(bootstrap=50, samples=3, max_new_tokens=8))
    assert r["format"] == "prompt-completion" and r["generation_skipped"] is None
    # the scored tokens are the held-out completions (and their end token), as in training
    run = reopen_run(runs.ws, runs.pairs)
    tokens = corpus_tokens(run.corpus, load_base_model("tiny").tokenizer, run.config.max_length)
    held = [tokens[i] for i in run.split.validation_records]
    completion = sum(sum(x != IGNORE_INDEX for x in t.labels[1:]) for t in held)
    assert r["heldout"]["adapter"]["tokens"] == completion
    assert completion < sum(len(t.input_ids) - 1 for t in held)  # the prompts are not scored
    g = r["generation"]
    assert (g["samples"], g["max_new_tokens"], g["baseline"]) == (3, 8, None)
    for name in ("base", "adapter"):
        assert 0 <= g[name]["rouge_l"] <= 1 and 0 <= g[name]["exact_match"] <= 1
    saved = (runs.ws.runs_dir / runs.pairs / "evals" / f"{r['eval_id']}.json").read_bytes()
    assert MARKER.encode() not in saved and b"days" not in saved  # no prompt, no generation
