"""The privacy budget follows the data, not its name: order-independent keyed fingerprints,
derived datasets linked to their source, inherited policy caps, and a lock that waits."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

from securetune import datastore
from securetune.errors import LedgerError
from securetune.lineage import RecordFingerprint
from securetune.policy import load_policy
from securetune.train.budget import DataIdentity, dataset_spend
from securetune.workspace import Secrets, Workspace

from .conftest import write_jsonl


def add(ws: Workspace, path: Path, name: str) -> datastore.DatasetSummary:
    with ws.locked():
        return datastore.add_dataset(ws, path, name).dataset


def export(ws: Workspace, name: str, out: Path) -> Path:
    with ws.locked():
        datastore.export_dataset(ws, name, out)
    return out


def spend_on(ws: Workspace, d: datastore.DatasetSummary) -> float:
    return dataset_spend(ws, identity=DataIdentity(d.dataset_id, d.content_sha256)).epsilon


def a_run_on(ws: Workspace, d: datastore.DatasetSummary, epsilon: float = 3.0) -> None:
    """What `train` ledgers when a run starts (enough for the budget; it never finished)."""
    with ws.locked():
        ws.record(
            "train.start",
            {
                "run_id": f"run-{d.name}",
                "dataset_id": d.dataset_id,
                "dataset_content_sha256": d.content_sha256,
                "no_dp": False,
                "epsilon_target": epsilon,
                "delta": 1e-6,
            },
        )


def test_the_fingerprint_ignores_order_and_format_but_counts_duplicates() -> None:
    def fp(records: list[dict]) -> str:
        f = RecordFingerprint(b"k" * 32)
        for r in records:
            f.add(r)
        return f.hexdigest()

    rows = [{"id": 1, "text": "a", "tags": ["x"]}, {"id": 2, "text": "b", "tags": None}]
    as_csv = [{"id": "1", "text": "a", "tags": '["x"]'}, {"id": "2", "text": "b", "tags": ""}]
    assert fp(rows) == fp(list(reversed(rows))) == fp(as_csv)
    assert fp(rows) != fp([*rows, rows[0]])  # a sum, not an XOR: duplicates count
    assert fp(rows).startswith("2:")
    other_key = RecordFingerprint(b"j" * 32)
    for r in rows:
        other_key.add(r)
    assert other_key.hexdigest() != fp(rows)  # keyed: a guess cannot be confirmed without it


def test_a_re_added_csv_export_shares_its_sources_budget(
    ws: Workspace, notes: Path, tmp_path: Path
) -> None:
    source = add(ws, notes, "notes")
    a_run_on(ws, source)
    again = add(ws, export(ws, "notes", tmp_path / "out.csv"), "notes-again")
    assert again.content_sha256 != source.content_sha256  # CSV turned numbers into text
    assert again.provenance["derived_from"] == {
        "dataset_id": source.dataset_id,
        "dataset": "notes",
        "how": "export",
    }
    assert again.provenance["lineage_root"] == source.dataset_id
    assert spend_on(ws, again) == 3.0


def test_shuffled_records_share_the_budget(ws: Workspace, notes: Path, tmp_path: Path) -> None:
    source = add(ws, notes, "notes")
    a_run_on(ws, source, epsilon=2.0)
    lines = notes.read_text().splitlines()
    random.Random(7).shuffle(lines)
    (tmp_path / "shuffled.jsonl").write_text("\n".join(lines) + "\n")
    shuffled = add(ws, tmp_path / "shuffled.jsonl", "shuffled")
    assert shuffled.provenance["derived_from"]["how"] == "same records"
    assert spend_on(ws, shuffled) == 2.0
    a_run_on(ws, shuffled, epsilon=1.0)
    assert spend_on(ws, source) == 3.0  # both ways: one lineage, one budget


def test_a_derived_dataset_inherits_the_policy_caps_of_capped_data(
    ws: Workspace, notes: Path, tmp_path: Path
) -> None:
    policy = load_policy("hipaa-safe-harbor")
    records = [json.loads(line) for line in notes.read_text().splitlines()]
    with ws.locked():
        datastore.create_dataset(
            ws,
            "clean",
            records,
            provenance={
                "command": "scrub",
                "input_sha256": "ab" * 32,
                "scrubbed": True,
                "policy": policy.name,
                "policy_sha256": policy.sha256,
            },
            event="scrub",
            payload=lambda m: {
                "dataset": "clean",
                "dataset_id": m.dataset_id,
                "ciphertext_sha256": m.ciphertext_sha256,
                "policy": policy.name,
                "policy_sha256": policy.sha256,
            },
        )
    again = add(ws, export(ws, "clean", tmp_path / "clean.parquet"), "clean-again")
    assert not again.scrubbed
    assert (again.provenance["policy"], again.provenance["policy_sha256"]) == (
        policy.name,
        policy.sha256,
    )
    # And a third generation still carries it (through the lineage_policy of the second).
    third = add(ws, export(ws, "clean-again", tmp_path / "third.jsonl"), "third")
    assert third.provenance["policy"] == policy.name


def test_a_scrub_of_a_file_added_raw_is_linked_to_the_raw_dataset(
    ws: Workspace, notes: Path
) -> None:
    raw = add(ws, notes, "raw")
    with ws.locked():  # what `scrub` does: other records, the same input file
        datastore.create_dataset(
            ws,
            "scrubbed",
            [{"id": 1, "text": "[REDACTED]"}],
            provenance={"command": "scrub", "input_sha256": raw.provenance["input_sha256"]},
        )
    scrubbed = datastore.show_dataset(ws, "scrubbed")
    assert scrubbed.provenance["derived_from"]["how"] == "same input file"
    a_run_on(ws, raw, epsilon=4.0)
    assert spend_on(ws, scrubbed) == 4.0


def test_unrelated_data_keeps_its_own_budget(ws: Workspace, notes: Path, tmp_path: Path) -> None:
    add(ws, notes, "notes")
    other = add(ws, write_jsonl(tmp_path / "o.jsonl", [{"text": "unrelated"}]), "other")
    assert "derived_from" not in other.provenance
    assert spend_on(ws, other) == 0.0
    empty = [add(ws, write_jsonl(tmp_path / f"e{i}.jsonl", []), f"empty-{i}") for i in (1, 2)]
    assert "derived_from" not in empty[1].provenance  # two empty files are not one lineage


def test_a_writer_that_waits_gets_the_lock_when_a_long_command_releases_it(
    ws: Workspace,
) -> None:
    held, released = threading.Event(), threading.Event()

    def long_scrub() -> None:
        other = Workspace.open(ws.root, secrets=Secrets(environ={}), witness_dir=ws.witness_dir)
        with other.locked():
            held.set()
            time.sleep(0.5)
            released.set()

    thread = threading.Thread(target=long_scrub)
    thread.start()
    held.wait(5)
    trainer = Workspace.open(ws.root, secrets=Secrets(environ={}), witness_dir=ws.witness_dir)
    with pytest.raises(Exception, match="locked by another securetune process"), trainer.locked():
        pass
    with trainer.locked(wait=True):
        assert released.is_set()
    thread.join()


def units_fingerprint(records: list[dict], unit_field: str | None = "patient_id") -> str:
    f = RecordFingerprint(b"k" * 32, unit_field=unit_field)
    for r in records:
        f.add(r)
    return f.units_hexdigest()


def test_the_units_fingerprint_ignores_subject_ids_and_order_but_not_grouping() -> None:
    rows = [
        {"patient_id": "p1", "text": "a"},
        {"patient_id": "p1", "text": "b"},
        {"patient_id": "p2", "text": "c"},
    ]
    renamed = [{**r, "patient_id": {"p1": "x9", "p2": "x3"}[r["patient_id"]]} for r in rows]
    regrouped = [{**r, "patient_id": "p2" if r["text"] == "b" else r["patient_id"]} for r in rows]
    assert units_fingerprint(rows) == units_fingerprint(list(reversed(rows)))
    assert units_fingerprint(rows) == units_fingerprint(renamed)  # re-pseudonymised ids
    assert units_fingerprint(rows).startswith("2:")  # two subjects
    assert units_fingerprint(regrouped) != units_fingerprint(rows)  # b moved to another subject
    assert units_fingerprint(rows, unit_field=None).startswith("3:")  # no subject: each record


def create(ws: Workspace, name: str, records: list[dict]) -> datastore.DatasetSummary:
    with ws.locked():
        manifest = datastore.create_dataset(
            ws, name, records, provenance={"subject_field": "patient_id"}, event="data.create"
        )
    return datastore.DatasetSummary.of(manifest)


def test_data_whose_subject_ids_were_re_pseudonymised_shares_the_budget(ws: Workspace) -> None:
    rows = [{"patient_id": f"p{i % 3}", "text": f"note {i}"} for i in range(9)]
    source = create(ws, "notes", rows)
    a_run_on(ws, source, epsilon=2.5)
    renamed = create(
        ws, "renamed", [{**r, "patient_id": "s-" + r["patient_id"]} for r in rows[::-1]]
    )
    assert renamed.provenance["derived_from"] == {
        "dataset_id": source.dataset_id,
        "dataset": "notes",
        "how": "same units",
    }
    assert spend_on(ws, renamed) == 2.5


def test_a_write_refuses_a_ledger_edited_before_it_instead_of_linking_from_the_edit(
    ws: Workspace, notes: Path
) -> None:
    # The attack: edit the source's fingerprint out of an old line, add the same data under
    # a new name (a fresh, unlinked budget), then put the line back so the ledger verifies.
    source = add(ws, notes, "notes")
    add(ws, write_jsonl(notes.parent / "other.jsonl", [{"text": "unrelated"}]), "other")
    log = ws.ledger_dir / "log.jsonl"
    genuine = log.read_bytes()
    lines = genuine.splitlines(keepends=True)
    entry = json.loads(lines[1])
    for field in ("records_fingerprint", "units_fingerprint", "input_sha256"):
        entry["payload"][field] = "0" * 64
    lines[1] = json.dumps(entry, separators=(",", ":"), sort_keys=True).encode() + b"\n"
    log.write_bytes(b"".join(lines))
    with ws.locked(), pytest.raises(LedgerError, match="entry 1"):
        datastore.add_dataset(ws, notes, "fresh")
    assert not (ws.datasets_dir / "fresh").exists()
    log.write_bytes(genuine)
    fresh = add(ws, notes, "fresh")
    assert fresh.provenance["lineage_root"] == source.dataset_id


def test_the_caps_of_the_source_come_from_the_verified_ledger_event(ws: Workspace) -> None:
    from securetune.errors import PolicyError
    from securetune.train.plan import _lineage_policy

    rows = [{"patient_id": "p1", "text": "a"}]
    with ws.locked():  # a manifest claiming a source policy its ledger event does not name
        manifest = datastore.create_dataset(
            ws,
            "claimed",
            rows,
            provenance={"lineage_policy": "hipaa-safe-harbor", "lineage_policy_sha256": "0" * 64},
        )
    with pytest.raises(PolicyError) as err:
        _lineage_policy(ws, manifest, None, [])
    assert str(err.value) == (
        "dataset claimed: its manifest and its ledger event name different policies for the"
        " data it derives from; see `securetune audit verify`"
    )
