"""A run trained on a deduplicated subset (``data dedup --remove``) of scrubbed data is
reported as trained on scrubbed text: the subset's creation leads back to the scrub."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from securetune.evidence import Evidence, run_evidence
from securetune.report.facts import _deid


def entry(seq: int, event: str, **payload: Any) -> Any:
    return SimpleNamespace(seq=seq, event=event, payload=payload, ts="2026-11-29T00:00:00Z")


def test_a_subset_of_scrubbed_data_reports_the_scrub_and_the_subset() -> None:
    evidence = Evidence(
        ok=True,
        error=None,
        entries=(
            entry(1, "scrub", dataset="notes", dataset_id="d1", policy="hipaa-safe-harbor"),
            entry(
                2,
                "data.dedup.create",
                dataset="notes-dedup",
                dataset_id="d2",
                source_dataset_id="d1",
                scrubbed=True,
            ),
            entry(3, "train.start", run_id="r1", dataset_id="d2"),
        ),
        lifetime=lambda start: (0.0, 0.0, frozenset({"r1"})),
    )
    run = run_evidence(evidence, "r1")
    assert run.dataset_origin is not None and run.dataset_origin.seq == 1
    assert [e.seq for e in run.dataset_subsets] == [2]
    deid = _deid(run)
    assert deid["scrubbed"] is True
    assert deid["subset_of_scrubbed"] == [{"seq": 2, "dataset": "notes-dedup"}]


def test_a_subset_of_raw_data_is_reported_as_added_as_is() -> None:
    evidence = Evidence(
        ok=True,
        error=None,
        entries=(
            entry(1, "data.add", dataset="raw", dataset_id="d1"),
            entry(
                2, "data.dedup.create", dataset="raw-dedup", dataset_id="d2", source_dataset_id="d1"
            ),
            entry(3, "train.start", run_id="r1", dataset_id="d2"),
        ),
        lifetime=lambda start: (0.0, 0.0, frozenset({"r1"})),
    )
    assert _deid(run_evidence(evidence, "r1"))["scrubbed"] is False
