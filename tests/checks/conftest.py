"""Two trained runs of the same data, shared by the end-to-end check tests.

The tiny preset's frozen random head cannot learn (docs/CHECKS.md), so these runs put LoRA on
the head as well (``lm_head``) with a high learning rate: a non-private run then memorises its
canaries and records within seconds, which is what shows that the checks can fail.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from securetune import datastore
from securetune.train.canaries import CanaryOptions
from securetune.train.config import TrainConfig
from securetune.workspace import Secrets, Workspace
from tests.conftest import MARKER

SYMPTOMS = ["fever", "cough", "headache", "nausea", "rash", "fatigue"]
TARGETS = ("q_proj", "v_proj", "gate_proj", "up_proj", "down_proj", "lm_head")


def records(n: int = 32) -> list[dict[str, Any]]:
    rng = random.Random(5)
    return [
        {
            "id": i,
            "text": f"{MARKER} reports {SYMPTOMS[i % 6]} , code {rng.randrange(10**6):06d} ward {rng.randrange(100)} .",
        }
        for i in range(n)
    ]


def memorising(**overrides: Any) -> TrainConfig:
    base: dict[str, Any] = dict(
        data="notes",
        model="tiny",
        epochs=12,
        batch_size=8,
        max_physical_batch=8,
        accountant="rdp",
        max_length=24,
        lora_r=8,
        lora_alpha=16,
        lr=1e-2,
        validation_fraction=0.5,
        early_stopping_patience=0,
        lora_targets=TARGETS,
    )
    base.update(overrides)
    return TrainConfig(**base)


@dataclass
class Trained:
    ws: Workspace
    root: Path
    witness: Path
    nodp: str
    dp: str
    dp_epsilon: float
    plain: str  # trained without canaries


@pytest.fixture(scope="package")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    from securetune.train.loop import train_run

    tmp = tmp_path_factory.mktemp("checks")
    ws = Workspace.init(
        tmp / "ws", secrets=Secrets(environ={}), witness_dir=tmp / "witness", actor="t@t"
    )
    with ws.locked():
        datastore.create_dataset(
            ws,
            "notes",
            records(),
            provenance={
                "command": "test",
                "scrubbed": True,
                "policy": None,
                "policy_sha256": None,
                "text_fields": ["text"],
                "subject_field": None,
            },
        )
    canaries = CanaryOptions(count=16, repetitions=3)
    # Canaries, sampling and noise normally come from the OS; pinned here so the runs (and
    # what the tests assert about them) are the same on every machine.
    from securetune.train import canaries as canaries_module
    from securetune.train import privacy

    seeds = iter(range(100, 200))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            privacy,
            "secret_generator",
            lambda device="cpu": torch.Generator(device=device).manual_seed(next(seeds)),
        )
        mp.setattr(canaries_module.secrets, "SystemRandom", lambda: random.Random(next(seeds)))
        nodp = train_run(ws, memorising(no_dp=True), canaries=canaries)
        dp = train_run(ws, memorising(epsilon=1.0, epochs=2), canaries=canaries)
        plain = train_run(ws, memorising(no_dp=True, epochs=1))
    yield Trained(
        ws=ws,
        root=tmp / "ws",
        witness=tmp / "witness",
        nodp=nodp.run_id,
        dp=dp.run_id,
        dp_epsilon=dp.epsilon_spent or 0.0,
        plain=plain.run_id,
    )
