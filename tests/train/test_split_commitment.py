"""The split commitment in ``train.start`` is salted per run, and every run still verifies.

An unsalted hash of the unit lists, next to the public seed, fraction, batch size and
near-duplicate counts, lets a ledger reader enumerate the partitions and learn which records
were merged and which record belongs to which subject; an HMAC under a secret salt does not.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from securetune.audit.ledger import Ledger
from securetune.errors import TrainingError
from securetune.train.data import SPLIT_SALT_SECRET, Split, split_matches
from securetune.train.secrets import AUDIT, RunSecrets
from securetune.workspace import Workspace
from tests.train.conftest import fast

SPLIT = Split(unit="record", train=[[0], [2]], validation=[[1]], seed=0)
BODY = b'{"train": [[0], [2]], "unit": "record", "validation": [[1]]}'


def _start(ws: Workspace, run_id: str) -> dict[str, Any]:
    return next(
        e.payload
        for e in Ledger.open(ws.ledger_dir).entries()
        if e.event == "train.start" and e.payload["run_id"] == run_id
    )


def test_the_commitment_is_an_hmac_under_the_salt_and_none_is_the_old_plain_hash() -> None:
    salt = bytes(range(32))
    assert SPLIT.commitment(salt) == hmac.new(salt, BODY, hashlib.sha256).hexdigest()
    assert SPLIT.commitment(bytes(32)) != SPLIT.commitment(salt)
    assert SPLIT.commitment(None) == hashlib.sha256(BODY).hexdigest()


def test_an_unknown_commitment_scheme_is_refused() -> None:
    start = {"run_id": "r1", "split_sha256": "00", "split_commitment": "sha3"}
    with pytest.raises(
        TrainingError, match=r"^run r1: unknown split commitment 'sha3' in train\.start$"
    ):
        split_matches(start, SPLIT, secrets=None)


def test_two_runs_of_the_same_data_commit_differently_yet_resume_and_check_verify(
    ws: Workspace, make_dataset
) -> None:
    from securetune.checks.runner import CheckOptions, open_run
    from securetune.train.loop import train_run
    from securetune.train.plan import prepare
    from securetune.train.reopen import ReopenError, reopen_run

    make_dataset()
    cfg = fast(epochs=2, early_stopping_patience=0)
    plain = prepare(ws, cfg).split.commitment(None)
    a = train_run(ws, cfg, stop_after_epochs=1)
    b = train_run(ws, cfg)
    sa, sb = _start(ws, a.run_id), _start(ws, b.run_id)
    assert sa["split_commitment"] == sb["split_commitment"] == "hmac-sha256"
    assert len({sa["split_sha256"], sb["split_sha256"], plain}) == 3
    assert sa["protects"] == "each record, one added or removed" and sa["dedup"] == "off"

    resumed = train_run(ws, resume=a.run_id)  # the resume check uses the run's own salt
    assert resumed.steps == resumed.planned_steps
    assert open_run(ws, a.run_id, CheckOptions()).split.train == prepare(ws, cfg).split.train
    assert reopen_run(ws, b.run_id, purpose="evaluated").run_id == b.run_id

    # the salt is what binds the commitment: another run's salt does not verify it
    salt_b = RunSecrets.open(ws, b.run_id, ws.runs_dir / b.run_id).get(
        SPLIT_SALT_SECRET, kind=AUDIT
    )
    RunSecrets.open(ws, a.run_id, ws.runs_dir / a.run_id).put(SPLIT_SALT_SECRET, salt_b, kind=AUDIT)
    with pytest.raises(ReopenError, match="the train/validation split cannot be reproduced"):
        reopen_run(ws, a.run_id)


def test_a_run_recorded_before_the_salt_still_resumes_and_checks(
    ws: Workspace, make_dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from securetune.checks.runner import CheckOptions, open_run
    from securetune.train.loop import train_run
    from securetune.train.plan import prepare

    make_dataset()
    cfg = fast(epochs=2, early_stopping_patience=0)
    plain = prepare(ws, cfg).split.commitment(None)
    record = Workspace.record

    def old_style(self: Workspace, event: str, payload: Any) -> Any:
        if event == "train.start":  # what a version before the salt wrote
            payload = {
                k: v
                for k, v in payload.items()
                if k not in ("split_commitment", "protects", "dedup")
            }
            payload["split_sha256"] = plain
        return record(self, event, payload)

    with monkeypatch.context() as patch:
        patch.setattr(Workspace, "record", old_style)
        paused = train_run(ws, cfg, stop_after_epochs=1)
    start = _start(ws, paused.run_id)
    assert "split_commitment" not in start and start["split_sha256"] == plain
    assert train_run(ws, resume=paused.run_id).steps == paused.planned_steps
    assert open_run(ws, paused.run_id, CheckOptions()).split.commitment(None) == plain
