"""A GDPR scrub writes two datasets, the pseudonymised data and its re-identification
mapping: both appear or neither does, under kill -9 as under errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from securetune import datastore
from securetune.audit.ledger import Ledger
from securetune.workspace import Workspace

from ..conftest import write_jsonl
from ..test_commit_recovery import kill_during, next_command
from .test_scrub_job import NOTES

SETUP = (
    "from securetune.scrub.job import scrub_file; "
    "from securetune.scrub.pipeline import ScrubOptions"
)


def gdpr_scrub(path: Path) -> str:
    return (
        f"scrub_file(ws, Path({str(path)!r}), name='clean', policy='gdpr-pseudonymisation',"
        " options=ScrubOptions(text_fields=('text',), id_field='id', subject_field='patient_id'))"
    )


#: (module, attribute, when) in the child: the first event (`scrub`) is the first checkpoint.
POINTS = {
    "after the scrub event is signed": (
        "securetune.audit.writer",
        "Ledger.write_checkpoint",
        "after",
    ),
    "after the scrub event is appended, unsigned": (
        "securetune.audit.writer",
        "Ledger.write_checkpoint",
        "before",
    ),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_a_gdpr_scrub_killed_between_its_two_events_is_rolled_forward(
    ws: Workspace, tmp_path: Path, point: str
) -> None:
    notes = write_jsonl(tmp_path / "notes.jsonl", NOTES)
    kill_during(tmp_path, POINTS[point], gdpr_scrub(notes), setup=SETUP)
    ws = next_command(tmp_path, notes)
    events = [e.event for e in Ledger.open(ws.ledger_dir).entries()]
    assert events.count("scrub") == 1 and events.count("scrub.reid") == 1
    assert events.index("scrub") < events.index("scrub.reid")
    mapping = list(datastore.read_dataset(ws, "clean.reid"))
    assert any(m["original"] == "617-555-0142" for m in mapping)
    assert "Okafor" not in next(datastore.read_dataset(ws, "clean"))["text"]
    assert sorted(p.name for p in ws.datasets_dir.iterdir()) == ["clean", "clean.reid", "next"]
