"""A dataset is scrubbed only in the fields scrub scanned: a run that reads another field
(the id scrub kept as-is, or a format's fixed field) trains on raw text and is treated as
unscrubbed: refused where the rules require scrubbed data, flagged where they allow it."""

from __future__ import annotations

import pytest

from securetune import datastore
from securetune.errors import TrainingError
from securetune.train.plan import prepare
from securetune.workspace import Workspace
from tests.conftest import MARKER
from tests.train.conftest import fast


def pairs(ws: Workspace, scanned: list[str]) -> None:
    records = [
        {"prompt": f"Summarise visit {i}.", "completion": f"{MARKER} seen for cough {i}."}
        for i in range(24)
    ]
    provenance = {"command": "test", "scrubbed": True, "text_fields": scanned}
    with ws.locked():
        datastore.create_dataset(ws, "notes", records, provenance=provenance)


def test_a_run_reading_a_field_scrub_did_not_scan_is_refused(ws: Workspace) -> None:
    pairs(ws, ["prompt"])  # completion was, say, the --id-field: kept as it came
    with pytest.raises(TrainingError, match=r"trains on completion, which scrub did not scan"):
        prepare(ws, fast(format="prompt-completion"))


def test_with_allow_unscrubbed_it_trains_as_unscrubbed_data(ws: Workspace) -> None:
    from securetune.train.formats import scrubbed_for_training

    pairs(ws, ["prompt"])
    prepared = prepare(ws, fast(format="prompt-completion", allow_unscrubbed=True))
    assert scrubbed_for_training(prepared.corpus) is False


def test_scrubbed_in_every_field_it_reads_it_trains_as_scrubbed(ws: Workspace) -> None:
    from securetune.train.formats import scrubbed_for_training

    pairs(ws, ["prompt", "completion"])
    assert scrubbed_for_training(prepare(ws, fast(format="prompt-completion")).corpus) is True
