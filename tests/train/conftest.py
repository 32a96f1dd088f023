"""Small encrypted datasets for training tests. Every record carries the conftest MARKER so a
scan can prove no record text reached a run directory, the ledger or any output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from securetune import datastore
from securetune.policy import load_policy
from securetune.train.config import TrainConfig
from securetune.workspace import Workspace
from tests.conftest import MARKER

SYMPTOMS = ["fever", "cough", "headache", "nausea", "rash", "fatigue"]


def records(n: int = 24, subjects: int = 8) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "patient_id": f"p{i % subjects}",
            "text": f"{MARKER} reports {SYMPTOMS[i % 6]} and {SYMPTOMS[(i * 5) % 6]} for {i % 4 + 1} days.",
        }
        for i in range(n)
    ]


@pytest.fixture
def make_dataset(ws: Workspace) -> Callable[..., str]:
    """Create a dataset; ``scrubbed`` and ``subject`` shape its provenance like `scrub` would."""

    def make(
        name: str = "notes",
        *,
        n: int | None = None,
        scrubbed: bool = True,
        subject: bool | None = None,
        policy: str | None = None,
        subjects: int | None = None,
    ) -> str:
        # Under a policy (the built-ins require the subject unit) a dataset is what `scrub`
        # gives for patient notes: 48 notes naming 24 patients. Otherwise 24 notes.
        subject = bool(policy) if subject is None else subject
        n = n if n is not None else 48 if policy else 24
        subjects = subjects if subjects is not None else 24 if policy else 8
        provenance: dict[str, Any] = {
            "command": "test",
            "scrubbed": scrubbed,
            "policy": policy,
            "policy_sha256": load_policy(policy).sha256 if policy else None,
        }
        if scrubbed:
            provenance.update(
                {"text_fields": ["text"], "subject_field": "patient_id" if subject else None}
            )
        with ws.locked():
            datastore.create_dataset(ws, name, records(n, subjects), provenance=provenance)
        return name

    return make


@pytest.fixture
def fixed_noise(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], None]:
    """Make the (normally os.urandom-seeded) noise and sampling generators replayable.

    Call it with an iterable of seeds; each generator the code asks for takes the next one.
    """
    from securetune.train import privacy

    box: list[Any] = [None]

    def secret(device: Any = "cpu") -> torch.Generator:
        return torch.Generator(device=device).manual_seed(next(box[0]))

    monkeypatch.setattr(privacy, "secret_generator", secret)

    def use(seeds: Any) -> None:
        box[0] = iter(seeds)

    return use


def fast(**overrides: Any) -> TrainConfig:
    """A config that trains the tiny preset in a few seconds on a CPU."""
    base: dict[str, Any] = dict(
        data="notes",
        model="tiny",
        epsilon=8.0,
        epochs=1,
        batch_size=8,
        max_physical_batch=4,
        accountant="rdp",
        max_length=32,
        lora_r=4,
        lora_alpha=8,
        validation_fraction=0.2,
        # records() fills one template: every note is a near-copy of others, which would merge
        # the units these tests count. Grouping is tests/train/test_dedup_units.py's subject.
        dedup="off",
    )
    base.update(overrides)
    return TrainConfig(**base)


#: `securetune train` flags that train the tiny preset in seconds (the CLI twin of :func:`fast`).
FAST_ARGS = ["--model", "tiny", "--batch-size", "8", "--max-physical-batch", "4",
             "--max-length", "32", "--lora-r", "4", "--lora-alpha", "8",
             "--dedup", "off"]  # fmt: skip


def train_events(ws: Workspace, prefix: str = "train.") -> list:
    """The ledger's entries whose event starts with ``prefix``, in order."""
    from securetune.audit.ledger import Ledger

    return [e for e in Ledger.open(ws.ledger_dir).entries() if e.event.startswith(prefix)]
