"""train.start is the commit point of a run: once it is signed, a failure that follows (the
witness cannot be updated) leaves a run the workspace agrees with, which `train --abandon`
ends, and never a ledgered run whose keys and directory were deleted."""

from __future__ import annotations

from typing import Any

import pytest

from securetune.audit.witness import WitnessError
from securetune.train.loop import abandon_run, train_run
from securetune.workspace import Workspace
from tests.train.conftest import fast, train_events


def test_a_witness_failure_after_train_start_leaves_an_abandonable_run(
    ws: Workspace, make_dataset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dataset()
    original = Workspace._update_witness

    def failing(self: Workspace, checkpoint: Any) -> None:
        if train_events(self) and train_events(self)[-1].event == "train.start":
            raise WitnessError("the witness directory is full")
        original(self, checkpoint)

    monkeypatch.setattr(Workspace, "_update_witness", failing)
    with pytest.raises(WitnessError, match=r"train.start was ledgered and signed"):
        train_run(ws, fast())
    monkeypatch.setattr(Workspace, "_update_witness", original)
    (start,) = train_events(ws, "train.start")
    run_id = start.payload["run_id"]
    assert (ws.runs_dir / run_id).is_dir()
    with ws.locked():
        assert not ws.disagreements().blocking
    ended = abandon_run(ws, run_id)
    assert ended["final"] is True and ended["steps"] == 0
    train_run(ws, fast())  # the workspace takes writes again
