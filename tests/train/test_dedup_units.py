"""Near-copies share one privacy unit and one side of the train/validation split."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from securetune import datastore
from securetune.audit.ledger import Ledger
from securetune.dedup import find_clusters
from securetune.train.config import TrainConfig
from securetune.train.data import Corpus, Fields, make_split, near_duplicates, units_of
from securetune.workspace import Workspace
from tests.conftest import MARKER
from tests.test_dedup import copy_forward, note
from tests.train.conftest import fast


def corpus(texts: list[str], subjects: list[str] | None = None) -> Corpus:
    fields = Fields(text_fields=("text",), subject_field="patient_id" if subjects else None)
    return Corpus(manifest=None, fields=fields, texts=texts, subjects=subjects)  # type: ignore[arg-type]


def test_at_the_record_unit_each_group_becomes_one_unit() -> None:
    a, b = note(1), note(2)
    c = corpus([a, note(3), copy_forward(a, 3), b, b, note(4)])
    assert units_of(c, "record", clusters=near_duplicates(c, "group")) == [
        [0, 2],
        [1],
        [3, 4],
        [5],
    ]
    assert units_of(c, "record", clusters=near_duplicates(c, "off")) == [[i] for i in range(6)]


def test_at_the_subject_unit_subjects_joined_by_a_copy_merge_transitively() -> None:
    # p0's note copied into p1's chart, and p1's other note into p2's: p0, p1, p2 are one unit
    x, y = note(11), note(12)
    texts = [x, note(13), copy_forward(x, 3), y, copy_forward(y, 2), note(14), note(15)]
    subjects = ["p0", "p0", "p1", "p1", "p2", "p3", "p4"]
    c = corpus(texts, subjects)
    assert units_of(c, "subject", clusters=near_duplicates(c, "group")) == [
        [0, 1, 2, 3, 4],
        [5],
        [6],
    ]
    assert units_of(c, "subject") == [[0, 1], [2, 3], [4], [5], [6]]


@pytest.mark.parametrize("seed", range(8))
def test_the_split_never_separates_two_members_of_a_group(seed: int) -> None:
    rng = random.Random(seed)
    texts: list[str] = []
    for k in range(30):  # 30 notes, a third of them copied forward once or twice
        base = note(1000 * seed + k)
        texts.append(base)
        for copy in range(rng.choice([0, 0, 1, 2])):
            texts.append(copy_forward(base, 3, seed=copy))
    rng.shuffle(texts)
    c = corpus(texts)
    clusters = near_duplicates(c, "group")
    assert clusters is not None and clusters.groups
    split = make_split(
        units_of(c, "record", clusters=clusters),
        unit="record",
        fraction=0.3,
        seed=seed,
        batch_size=2,
    )
    train, validation = set(split.train_records), set(split.validation_records)
    for group in clusters.groups:
        assert set(group) <= train or set(group) <= validation


def test_a_config_saved_before_dedup_reads_as_off_and_keeps_its_hash() -> None:
    assert TrainConfig(data="notes", epsilon=8.0).dedup == "group"  # the default
    new = fast(dedup="group")
    assert TrainConfig.from_json(new.to_json()) == new
    off = fast(dedup="off")
    doc = json.loads(off.to_json())
    assert "dedup" not in doc  # exactly the bytes a pre-dedup version wrote
    loaded = TrainConfig.from_json(off.to_json())
    assert loaded.dedup == "off" and loaded.sha256 == off.sha256
    with pytest.raises(Exception, match="invalid training option dedup: must be one of group, off"):
        fast(dedup="remove")


def copied_notes() -> list[dict[str, Any]]:
    """24 notes of 12 patients; four notes were copied forward into another patient's chart."""
    rows = [
        {"id": i, "patient_id": f"p{i % 12}", "text": f"{MARKER} " + note(500 + i)}
        for i in range(20)
    ]
    for k in range(4):
        source = rows[k]["text"]
        rows.append(
            {"id": 20 + k, "patient_id": f"p{(k + 5) % 12}", "text": copy_forward(source, 3)}
        )
    return rows


@pytest.fixture
def copied(ws: Workspace) -> str:
    with ws.locked():
        datastore.create_dataset(
            ws,
            "notes",
            copied_notes(),
            provenance={"scrubbed": True, "text_fields": ["text"], "subject_field": None},
        )
    return "notes"


def test_plan_merges_groups_and_lists_the_counts_as_not_private(ws: Workspace, copied) -> None:
    from securetune.train.plan import prepare

    grouped = prepare(ws, fast(privacy_unit="record", dedup="group"))
    plain = prepare(ws, fast(privacy_unit="record", dedup="off"))
    assert len(grouped.split.train) + len(grouped.split.validation) == 20
    assert len(plain.split.train) + len(plain.split.validation) == 24
    assert grouped.split.dedup is not None
    assert (grouped.split.dedup["clusters"], grouped.split.dedup["near_clusters"]) == (4, 4)
    assert "dedup" in grouped.non_private_outputs
    assert plain.split.dedup is None and "dedup" not in plain.non_private_outputs
    assert grouped.largest_unit == 2


def test_a_run_ledgers_its_groups_and_check_reproduces_its_split(ws: Workspace, copied) -> None:
    from securetune.checks.runner import CheckOptions, open_run
    from securetune.train.checkpoint import RunStore
    from securetune.train.loop import train_run

    result = train_run(ws, fast(privacy_unit="record", dedup="group", early_stopping_patience=0))
    assert result.protects == "each record together with its near-copies, one added or removed"
    entries = list(Ledger.open(ws.ledger_dir).entries())
    events = [e.event for e in entries]
    at = events.index("train.start")
    assert events[at - 1] == "data.dedup"
    dedup = entries[at - 1].payload
    assert (dedup["trigger"], dedup["run_id"], dedup["clusters"]) == ("train", result.run_id, 4)
    assert MARKER not in (ws.ledger_dir / "log.jsonl").read_text()
    split = json.loads(
        RunStore(ws.runs_dir / result.run_id, result.run_id, None).read("split.json")
    )
    assert split["dedup"]["records_in_clusters"] == 8
    train, validation = set(split["train_records"]), set(split["validation_records"])
    for k in range(4):  # note k and its copy (position 20 + k) are on one side
        assert {k, 20 + k} <= train or {k, 20 + k} <= validation
    start = entries[at].payload
    assert (start["dedup"], start["split_commitment"]) == ("group", "hmac-sha256")
    assert start["protects"] == result.protects
    reopened = open_run(ws, result.run_id, CheckOptions())  # re-derives and verifies the split
    assert sorted(reopened.split.train_records) == split["train_records"]
    assert start["split_sha256"] != reopened.split.commitment(None)  # salted, not the plain hash


def test_the_report_says_merged_units_are_protected_as_a_whole(ws: Workspace, copied) -> None:
    from securetune import report as reporting
    from securetune.report.output import to_html
    from securetune.train.loop import train_run

    result = train_run(ws, fast(privacy_unit="record", dedup="group", early_stopping_patience=0))
    doc = reporting.build(ws, result.run_id).doc
    g = doc["guarantee"]
    html = to_html(doc)
    assert "<th>Merged units</th><td>4 near-duplicate group(s) merged privacy units" in html
    assert "one member of it alone (one copy of a note) is protected at (1 + m)·ε" in html
    assert g["protects"] == "each record together with its near-copies, one added or removed"
    assert (g["dedup"], g["merged_groups"], g["max_records_per_unit"]) == ("group", 4, 2)
    eps = result.epsilon_spent
    assert g["merged_units"] == (
        "4 near-duplicate group(s) merged privacy units: a merged unit is protected as a whole "
        "at the run's ε; one member of it alone (one copy of a note) is protected at (1 + m)·ε "
        "by group privacy, where m is the number of units the rest of its unit splits into "
        f"without it: usually 2ε = {2 * eps:.2f}, more for a record that was the only bridge "
        "between copies (docs/DEDUP.md)."
    )
    assert g["plain_language"].endswith(
        "Near-copies merged some records into larger units: for those, the bound is about the "
        "merged unit as a whole, not one member of it alone (see below)."
    )


def test_the_groups_ignore_the_marker_shared_by_every_note() -> None:
    # every note starts with the same marker: a shared prefix alone never makes a group
    texts = [r["text"] for r in copied_notes()]
    assert len(find_clusters(texts).groups) == 4


def test_when_grouping_leaves_too_few_units_the_error_names_it(ws: Workspace, make_dataset) -> None:
    from securetune.errors import TrainingError
    from securetune.train.plan import prepare

    make_dataset(subject=False)  # 24 notes filled from one template: 6 groups of 4
    with pytest.raises(TrainingError) as caught:
        prepare(ws, fast(dedup="group"))
    assert str(caught.value) == (
        "the dataset has 5 training record(s) after the validation split, fewer than "
        "--batch-size 8; lower --batch-size or add data (24 near-duplicate records were "
        "grouped into 6 unit(s); --dedup off keeps them apart, without the protection of "
        "docs/DEDUP.md)"
    )


def test_replace_one_neighbours_refuse_near_duplicate_grouping(ws, make_dataset) -> None:  # type: ignore[no-untyped-def]
    from securetune.errors import TrainingError
    from securetune.train.plan import prepare
    from tests.train.conftest import fast

    make_dataset()
    cfg = fast(neighbours="replace-one", accountant="pld", dedup="group")
    with pytest.raises(TrainingError, match="replace-one cannot be combined with near-duplicate"):
        prepare(ws, cfg)
    prepare(ws, cfg.model_copy(update={"dedup": "off"}))  # without grouping the count is fixed
