"""`securetune train` end to end on the tiny preset: outputs, ledger, adapter, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from securetune.errors import BudgetError, PolicyError
from securetune.train.loop import train_run
from tests.conftest import MARKER
from tests.train.conftest import FAST_ARGS, fast, train_events

# pytest-socket raises on any socket use, but libraries that swallow the error (peft's hub
# lookups) would hide it; its warning is turned into a failure here.
pytestmark = pytest.mark.filterwarnings("error:A test tried to use socket")

FAST = FAST_ARGS


_events = train_events


def _no_marker_under(path: Path) -> None:
    for f in path.rglob("*"):
        if f.is_file():
            assert MARKER.encode() not in f.read_bytes(), f"record text leaked into {f}"


def test_train_json_reports_the_budget_and_the_adapter_loads_with_peft(
    run, ws, make_dataset
) -> None:
    make_dataset()
    result = run("train", "--data", "notes", "--epsilon", "8", "--json", *FAST)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    for key in (
        "run_id",
        "epsilon_spent",
        "epsilon_target",
        "delta",
        "noise_multiplier",
        "sample_rate",
        "steps",
        "accountant",
        "privacy_unit",
        "adapter_dir",
        "train_loss",
        "validation_loss",
    ):
        assert out[key] is not None, key
    assert 7.5 < out["epsilon_spent"] <= 8.0
    assert out["accountant"] == "prv" and out["privacy_unit"] == "record"
    assert out["delta"] == 1e-5 and out["delta"] < 1 / out["train_units"]
    assert "delta defaulted to 1e-05 (< 1/N" in result.stderr
    assert "clipped per-sample gradients" in result.stderr

    run_dir = Path(out["run_dir"])
    assert {p.name for p in run_dir.iterdir()} >= {
        "adapter",
        "tokenizer",
        "config.json",
        "split.json",
        "metrics.jsonl",
        "checkpoint",
        "result.json",
    }
    from peft import PeftModel

    from securetune.train.model import load_base_model

    base = load_base_model("tiny").model
    peft_model = PeftModel.from_pretrained(base, out["adapter_dir"])
    saved = load_file(Path(out["adapter_dir"]) / "adapter_model.safetensors")
    lora_b = [k for k in saved if "lora_B" in k]
    assert lora_b and all(saved[k].abs().sum() > 0 for k in lora_b)  # LoRA B starts at zero
    loaded = dict(peft_model.named_parameters())
    assert any(
        torch.equal(saved[k], loaded[k.replace(".weight", ".default.weight")]) for k in lora_b
    )

    metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "loss" in m]
    assert [m["step"] for m in steps] == list(range(1, out["steps"] + 1))
    assert steps[-1]["epsilon"] == pytest.approx(out["epsilon_spent"])
    epoch = [m for m in metrics if m.get("event") == "epoch"]
    assert len(epoch) == 1 and 0 <= epoch[0]["clipped_fraction"] <= 1

    start, checkpoint, finish = _events(ws)
    assert (start.event, checkpoint.event, finish.event) == (
        "train.start",
        "train.checkpoint",
        "train.finish",
    )
    assert start.payload["model_id"] == "tiny" and len(start.payload["model_sha256"]) == 64
    assert start.payload["noise_multiplier"] == out["noise_multiplier"]
    assert start.payload["dataset_content_sha256"]
    assert finish.payload["adapter_sha256"] == out["adapter_sha256"]
    assert finish.payload["epsilon_spent"] == out["epsilon_spent"]
    # Losses are not private: the output carries them, the signed ledger only the metrics hash.
    assert not {"train_loss", "validation_loss", "clipped_fraction"} & set(finish.payload)
    assert len(finish.payload["metrics_sha256"]) == 64
    _no_marker_under(run_dir)
    _no_marker_under(ws.ledger_dir)
    assert MARKER not in result.stdout + result.stderr


def test_policy_encrypts_the_adapter_and_adds_a_run_key(run, ws, make_dataset) -> None:
    make_dataset(policy="hipaa-safe-harbor")
    result = run(
        "train",
        "--data",
        "notes",
        "--epsilon",
        "8",
        "--json",
        "--clipping",
        "ghost",
        "--accountant",
        "rdp",
        *FAST,
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    adapter = Path(out["adapter_dir"])
    assert out["adapter_encrypted"] and out["policy"] == "hipaa-safe-harbor"
    assert (adapter / "adapter_model.safetensors.stc").exists()
    assert not (adapter / "adapter_model.safetensors").exists()
    assert f"run:{out['run_id']}" in ws.keyring().wrapped
    _no_marker_under(Path(out["run_dir"]))


def test_unscrubbed_data_is_refused_unless_allowed_and_then_flagged(run, ws, make_dataset) -> None:
    make_dataset(scrubbed=False)
    refused = run("train", "--data", "notes", "--epsilon", "8", *FAST)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: dataset notes is unscrubbed; scrub it first")
    assert _events(ws) == []
    allowed = run(
        "train",
        "--data",
        "notes",
        "--epsilon",
        "8",
        "--allow-unscrubbed",
        "--accountant",
        "rdp",
        *FAST,
    )
    assert allowed.exit_code == 0, allowed.stderr
    assert "warning: --allow-unscrubbed" in allowed.stderr
    assert _events(ws)[0].payload["allow_unscrubbed"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--epsilon", "0"],
            "error: invalid training option epsilon: must be a finite number > 0 (got 0.0)",
        ),
        (
            ["--epsilon", "-1"],
            "error: invalid training option epsilon: must be a finite number > 0 (got -1.0)",
        ),
        (
            ["--epsilon", "8", "--delta", "0.05"],
            "error: --delta 0.05 is not below 1/N = 1/22 training records",
        ),
        (
            ["--epsilon", "8", "--batch-size", "64"],
            "error: the dataset has 22 training record(s) after the validation split, fewer than --batch-size 64",
        ),
        (
            ["--epsilon", "8", "--privacy-unit", "subject"],
            "error: --privacy-unit subject needs a subject field",
        ),
        (
            ["--epsilon", "8", "--lora-targets", "nope"],
            "error: --lora-targets names modules this model does not have: nope",
        ),
    ],
)
def test_bad_options_fail_in_one_line_before_anything_is_ledgered(
    run, ws, make_dataset, args, message
) -> None:
    make_dataset()
    fast_args = list(FAST)
    if "--batch-size" in args:
        i = fast_args.index("--batch-size")
        del fast_args[i : i + 2]
    result = run("train", "--data", "notes", *args, *fast_args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _events(ws) == []


def test_unknown_dataset_and_missing_models_fail_without_network(
    run, make_dataset, tmp_path
) -> None:
    make_dataset()
    unknown = run("train", "--data", "nope", "--epsilon", "8", *FAST)
    assert unknown.exit_code == 1 and unknown.stderr.startswith("error: no dataset named nope")
    # The socket guard (pytest-socket) would fail these tests on any network attempt.
    missing = run(
        "train", "--data", "notes", "--epsilon", "8", "--dedup", "off",
        "--model", str(tmp_path / "no-model"),
    )  # fmt: skip
    assert missing.exit_code == 1
    assert "does not exist (models are loaded from local files only)" in missing.stderr
    hub = run(
        "train", "--data", "notes", "--epsilon", "8", "--dedup", "off",
        "--model", "someorg/not-cached-model",
    )  # fmt: skip
    assert hub.exit_code == 1
    assert hub.stderr.startswith(
        "error: cannot load model someorg/not-cached-model from local files (no network is used"
    )


def test_a_local_model_directory_takes_the_same_path_as_tiny(ws, make_dataset, tmp_path) -> None:
    from securetune.train.model import materialise_tiny

    make_dataset()
    import shutil

    with materialise_tiny() as path:
        shutil.copytree(path, tmp_path / "mymodel")
    result = train_run(ws, fast(model=str(tmp_path / "mymodel")))
    tiny = train_run(ws, fast())
    assert result.model_sha256 == tiny.model_sha256  # same weights, whichever way they came


def test_policy_caps_refuse_before_training(ws, make_dataset) -> None:
    make_dataset(policy="hipaa-safe-harbor")
    with pytest.raises(BudgetError, match="exceeds the policy hipaa-safe-harbor cap of 10"):
        train_run(ws, fast(epsilon=12.0))
    with pytest.raises(PolicyError, match="forbids --no-dp"):
        train_run(ws, fast(epsilon=None, no_dp=True))
    with pytest.raises(BudgetError, match="--delta 2e-05 exceeds the policy hipaa-safe-harbor cap"):
        train_run(ws, fast(delta=2e-5))
    assert _events(ws) == []


def test_lifetime_budget_is_summed_from_the_ledger_and_refused_before_start(
    ws, make_dataset
) -> None:
    make_dataset(policy="hipaa-safe-harbor")  # lifetime_epsilon: 20
    first = train_run(ws, fast(epsilon=9.0))
    second = train_run(ws, fast(epsilon=9.0))
    assert first.epsilon_spent + second.epsilon_spent <= 18.0
    with pytest.raises(
        BudgetError,
        match=r"lifetime budget of 20 .* would be exceeded: 1\d\.\d+ already spent in 2 run\(s\), this run targets 9",
    ):
        train_run(ws, fast(epsilon=9.0))
    assert [e.event for e in _events(ws)].count("train.start") == 2
    assert len(list(ws.runs_dir.iterdir())) == 2  # the refused run left no directory
    third = train_run(ws, fast(epsilon=1.0))  # what is left still fits
    assert third.epsilon_spent <= 1.0


def test_no_dp_baseline_is_recorded_as_such(ws, make_dataset) -> None:
    make_dataset()
    result = train_run(ws, fast(epsilon=None, no_dp=True))
    assert not result.dp and result.epsilon_spent is None and result.protects.startswith("nothing")
    start = _events(ws)[0]
    assert start.payload["no_dp"] is True and start.payload["epsilon_target"] is None
