"""A DP run and a non-private run of the same tiny-model data, shared by the eval tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from securetune import datastore
from securetune.workspace import Secrets, Workspace
from tests.conftest import MARKER
from tests.train.conftest import SYMPTOMS, fast, records


def pairs(n: int = 32, subjects: int = 16) -> list[dict]:
    """Prompt/completion records: a note (with the marker) and a short summary of it."""
    return [
        {
            "id": i,
            "patient_id": f"p{i % subjects}",
            "prompt": f"Summarize: {MARKER} reports {SYMPTOMS[i % 6]} for {i % 4 + 1} days.",
            "completion": f"{SYMPTOMS[i % 6]}, {i % 4 + 1} days",
        }
        for i in range(n)
    ]


@dataclass
class Runs:
    ws: Workspace
    dp: str
    nodp: str
    pairs: str  # a DP run on prompt/completion records


@pytest.fixture(scope="package")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    from securetune.train.loop import train_run

    tmp = tmp_path_factory.mktemp("eval")
    ws = Workspace.init(
        tmp / "ws", secrets=Secrets(environ={}), witness_dir=tmp / "witness", actor="t@t"
    )
    provenance = {
        "command": "test",
        "scrubbed": True,
        "policy": None,
        "policy_sha256": None,
        "text_fields": ["text"],
        "subject_field": "patient_id",
    }
    with ws.locked():
        datastore.create_dataset(ws, "notes", records(32, 16), provenance=provenance)
        datastore.create_dataset(ws, "other", records(6, 3), provenance=provenance)
        datastore.create_dataset(ws, "raw", records(6, 3), provenance={"command": "test"})
        datastore.create_dataset(
            ws, "pairs", pairs(), provenance={**provenance, "text_fields": None}
        )
    nodp = train_run(ws, fast(no_dp=True, lr=1e-2, validation_fraction=0.25))
    dp = train_run(ws, fast(validation_fraction=0.25))
    task = train_run(ws, fast(data="pairs", validation_fraction=0.25))
    yield Runs(ws=ws, dp=dp.run_id, nodp=nodp.run_id, pairs=task.run_id)
