"""`securetune plan`, subject-level privacy, and the config's save/load contract."""

from __future__ import annotations

import json

import pytest

from securetune.errors import TrainingError
from securetune.train.config import TrainConfig
from securetune.train.loop import train_run
from securetune.train.plan import prepare
from tests.train.conftest import fast


def test_plan_prints_what_train_then_uses(run, ws, make_dataset) -> None:
    make_dataset()
    args = [
        "--data",
        "notes",
        "--epsilon",
        "8",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--accountant",
        "rdp",
        "--max-length",
        "32",
        "--dedup",
        "off",  # the fixture's notes fill one template (see conftest.fast)
    ]
    planned = run("plan", *args, "--json")
    assert planned.exit_code == 0, planned.stderr
    p = json.loads(planned.stdout)
    assert (p["train_units"], p["steps_per_epoch"], p["steps"]) == (22, 3, 9)
    assert p["sample_rate"] == pytest.approx(1 / 3)
    assert p["estimated_seconds"] > 0 and p["estimated_peak_memory_mb"] > 0
    assert not (ws.runs_dir.exists() and any(ws.runs_dir.iterdir()))  # nothing trained
    human = run("plan", *args)
    assert "noise:    multiplier" in human.stdout and "estimate: ~" in human.stdout
    result = train_run(
        ws,
        fast(
            epochs=3,
            batch_size=8,
            max_length=32,
            validation_fraction=0.1,
            early_stopping_patience=0,
        ),
    )
    assert result.noise_multiplier == p["noise_multiplier"] and result.steps == p["steps"]


def test_subject_unit_is_the_default_when_the_dataset_names_subjects(ws, make_dataset) -> None:
    make_dataset(subject=True)  # 24 notes from 8 patients
    prepared = prepare(ws, fast(batch_size=4))
    assert prepared.unit == "subject"
    held_out = {prepared.corpus.subjects[i] for i in prepared.split.validation_records}
    trained = {prepared.corpus.subjects[i] for i in prepared.split.train_records}
    assert held_out and not held_out & trained  # a patient is wholly in or wholly out
    assert prepared.train_units == len(trained) and prepared.sample_rate == pytest.approx(1 / 2)
    result = train_run(ws, fast(batch_size=4))
    assert (
        result.privacy_unit == "subject"
        and result.protects == "each subject (patient_id), one added or removed"
    )
    record_level = prepare(ws, fast(batch_size=4, privacy_unit="record"))
    assert record_level.unit == "record" and record_level.train_units > prepared.train_units


def test_config_round_trips_and_names_the_bad_field() -> None:
    cfg = fast(
        lora_targets=("q_proj", "k_proj"), text_fields=("text", "summary"), subject_field="pid"
    )
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    doc = json.loads(cfg.to_json())
    assert list(doc) == sorted(doc) and doc["config_version"] == 1
    with pytest.raises(TrainingError, match="unknown key epsilonn"):
        TrainConfig.from_dict({**cfg.to_dict(), "epsilonn": 1})
    for field, value, why in [
        ("epsilon", 0.0, "epsilon: must be a finite number > 0"),
        ("delta", 1.0, "delta: must lie strictly between 0 and 1"),
        ("accountant", "gdp", "accountant: must be one of prv, rdp"),
        ("max_physical_batch", 0, "max_physical_batch: must be at least 1"),
        ("validation_fraction", 1.0, "validation_fraction: must lie strictly between 0 and 1"),
    ]:
        with pytest.raises(TrainingError, match=f"invalid training option {why}"):
            TrainConfig(**{**cfg.to_dict(), field: value})
    with pytest.raises(TrainingError, match="epsilon: a target epsilon is required unless --no-dp"):
        fast(epsilon=None)
