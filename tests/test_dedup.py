"""Duplicates before the split: exact and near-duplicate records are found by MinHash over
word shingles, counted (never shown), and either removed or kept in one privacy unit."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from securetune import datastore
from securetune.dedup import DEFAULT_PARAMS, find_clusters, shingles
from securetune.errors import DatasetError
from securetune.workspace import Secrets, Workspace
from tests.conftest import MARKER, write_jsonl

VOCAB = [f"w{i}" for i in range(400)]


def note(seed: int, words: int = 60) -> str:
    """A note of ``words`` words from its own generator: two seeds share almost no 3-word run."""
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) for _ in range(words))


def copy_forward(text: str, edits: int, seed: int = 99) -> str:
    """``text`` with ``edits`` words replaced, spread out (yesterday's note, lightly updated)."""
    words = text.split()
    step = len(words) // (edits + 1)
    for k in range(1, edits + 1):
        words[k * step] = f"new{seed}x{k}"
    return " ".join(words)


# -- the method --------------------------------------------------------------------------------


def test_shingles_are_three_lowercased_words_ignoring_punctuation() -> None:
    assert shingles("BP 120/80, stable. Plan: same", 3) == {
        "bp 120 80",
        "120 80 stable",
        "80 stable plan",
        "stable plan same",
    }
    assert shingles("Stable overnight.", 3) == {"stable overnight"}  # short: one shingle
    assert shingles(" -- ", 3) == set()


def test_identical_texts_form_one_exact_group() -> None:
    a, b, c = note(1), note(2), note(3)
    found = find_clusters([a, b, a, c, a])
    assert found.groups == [[0, 2, 4]]
    assert found.summary() == {
        "parameters": {
            "method": "minhash-lsh-word-shingles-v1",
            "shingle_words": 3,
            "num_perm": 128,
            "threshold": 0.5,
            "seed": 1,
            "scheme": "affine32",
            "lsh_bands": 25,
            "lsh_rows": 5,
        },
        "records": 5,
        "clusters": 1,
        "exact_clusters": 1,
        "near_clusters": 0,
        "records_in_clusters": 3,
        "records_removable": 2,
        "largest_cluster": 3,
    }
    assert found.representatives() == [0, 1, 3]


def test_a_copied_forward_note_is_grouped_with_its_source() -> None:
    base = note(7)
    texts = [base, note(8), copy_forward(base, edits=3), note(9)]
    found = find_clusters(texts)
    assert found.groups == [[0, 2]]
    assert (found.exact, found.summary()["near_clusters"]) == (0, 1)


def test_chains_of_copies_join_one_group() -> None:
    day1 = note(11)
    day2 = copy_forward(day1, edits=3, seed=1)
    day3 = copy_forward(day2, edits=3, seed=2)
    found = find_clusters([day3, note(12), day1, day2])
    assert found.groups == [[0, 2, 3]]


def test_notes_edited_past_the_threshold_and_distinct_notes_stay_apart() -> None:
    base = note(21)
    rewritten = copy_forward(base, edits=20)  # every third word changed: most shingles differ
    texts = [base, rewritten, *(note(s) for s in range(100, 130))]
    assert find_clusters(texts).groups == []


def test_empty_texts_are_nobodys_copy() -> None:
    assert find_clusters(["", "", note(1)]).groups == []


@pytest.mark.parametrize("seed", range(5))
def test_groups_do_not_depend_on_record_order(seed: int) -> None:
    base, other = note(31), note(32)
    texts = [
        base,
        copy_forward(base, 2),
        other,
        other,
        copy_forward(other, 3),
        *(note(s) for s in range(200, 215)),
    ]
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    shuffled = find_clusters([texts[i] for i in order])
    back = sorted(sorted(order[i] for i in g) for g in shuffled.groups)
    assert back == find_clusters(texts).groups == [[0, 1], [2, 3, 4]]


def test_the_clusters_repr_shows_no_positions() -> None:
    found = find_clusters([note(1), note(1)])
    assert repr(found) == "Clusters(1 groups over 2 records)"


# -- datasets ----------------------------------------------------------------------------------


def clinic_records() -> list[dict]:
    """Eight notes of four patients: p0's first note was copied forward into p1's chart, and
    p3 has two identical notes."""
    shared = f"{MARKER} " + note(41)
    return [
        {"id": 0, "patient_id": "p0", "text": shared},
        {"id": 1, "patient_id": "p0", "text": note(42)},
        {"id": 2, "patient_id": "p1", "text": copy_forward(shared, 3)},
        {"id": 3, "patient_id": "p1", "text": note(43)},
        {"id": 4, "patient_id": "p2", "text": note(44)},
        {"id": 5, "patient_id": "p3", "text": note(45)},
        {"id": 6, "patient_id": "p3", "text": note(45)},
        {"id": 7, "patient_id": "p2", "text": note(46)},
    ]


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "clinic.jsonl", clinic_records())


def opened(tmp_path: Path) -> Workspace:
    """The CLI tests' workspace (the default file key provider needs no secret)."""
    return Workspace.open(
        tmp_path / "ws", secrets=Secrets(environ={}), witness_dir=tmp_path / "witness"
    )


def ledger_events(ws: Workspace, event: str) -> list[dict]:
    from securetune.audit.ledger import Ledger

    return [e.payload for e in Ledger.open(ws.ledger_dir).entries() if e.event == event]


def test_data_add_counts_duplicates_and_ledgers_counts_only(run, clinic, tmp_path) -> None:
    assert run("init").exit_code == 0
    result = run("data", "add", str(clinic), "--name", "clinic", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {k: out["dedup"][k] for k in ("clusters", "exact_clusters", "near_clusters")} == {
        "clusters": 2,
        "exact_clusters": 1,
        "near_clusters": 1,
    }
    ws = opened(tmp_path)
    [event] = ledger_events(ws, "data.dedup")
    assert event["trigger"] == "data add"
    assert event["text_fields"] == ["text"]
    assert event["records_in_clusters"] == 4
    assert event["parameters"] == DEFAULT_PARAMS.to_dict()
    assert "ciphertext_sha256" not in event  # not a dataset-creating event
    log = (tmp_path / "ws" / "ledger" / "log.jsonl").read_text()
    assert MARKER not in log
    assert note(45)[:20] not in log


def test_data_add_no_dedup_skips_the_count(run, clinic, tmp_path) -> None:
    run("init")
    result = run("data", "add", str(clinic), "--name", "clinic", "--no-dedup", "--json")
    assert json.loads(result.stdout)["dedup"] is None
    assert ledger_events(opened(tmp_path), "data.dedup") == []


def test_data_dedup_reports_counts_in_words(run, clinic) -> None:
    run("init")
    run("data", "add", str(clinic), "--name", "clinic", "--no-dedup")
    result = run("data", "dedup", "clinic")
    assert result.exit_code == 0
    assert result.stdout == (
        "Dataset clinic: 8 records compared on text.\n"
        "Duplicates: 2 group(s) (1 exact, 1 near) holding 4 records; largest 2. "
        "Training keeps each group in one privacy unit.\n"
    )
    assert MARKER not in result.output


def test_data_dedup_remove_writes_a_linked_encrypted_subset(run, clinic, tmp_path) -> None:
    run("init")
    run("data", "add", str(clinic), "--name", "clinic", "--no-dedup")
    result = run("data", "dedup", "clinic", "--remove", "--name", "clinic-dedup", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["removed_into"], out["records_kept"]) == ("clinic-dedup", 6)
    ws = opened(tmp_path)
    kept = [r["id"] for r in datastore.read_dataset(ws, "clinic-dedup")]
    assert kept == [0, 1, 3, 4, 5, 7]  # the first of each group, in dataset order
    [created] = ledger_events(ws, "data.dedup.create")
    source = datastore.show_dataset(ws, "clinic")
    assert created["derived_from"] == {
        "dataset_id": source.dataset_id,
        "dataset": "clinic",
        "how": "subset",
    }
    assert created["lineage_root"] == source.dataset_id  # one budget for both
    assert (created["records"], created["records_removed"]) == (6, 2)
    assert created["scrubbed"] is False
    # the copy has no duplicates left
    again = json.loads(run("data", "dedup", "clinic-dedup", "--json").stdout)
    assert again["summary"]["clusters"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--remove"], "error: --remove needs --name NEW for the deduplicated dataset\n"),
        (["--name", "x"], "error: --name names the dataset --remove writes; pass --remove too\n"),
        (
            ["--remove", "--name", "clinic"],
            "error: dataset clinic already exists; choose another --name or remove it first\n",
        ),
        (
            ["--text-field", "body"],
            "error: dataset clinic has no field 'body' (fields: id, patient_id, text)\n",
        ),
    ],
)
def test_data_dedup_refuses_bad_options_in_one_line(run, clinic, args, message) -> None:
    run("init")
    run("data", "add", str(clinic), "--name", "clinic", "--no-dedup")
    result = run("data", "dedup", "clinic", *args)
    assert result.exit_code != 0
    assert result.stderr == message


def test_fields_default_to_every_field_but_subject_and_id(ws: Workspace) -> None:
    from securetune.dedup import dataset_fields, record_text

    records = [
        {"pid": "a", "key": 1, "messages": [{"role": "user", "content": "hello there"}]},
    ]
    with ws.locked():
        m = datastore.create_dataset(
            ws, "chat", records, provenance={"subject_field": "pid", "id_field": "key"}
        )
    assert dataset_fields(m) == ("messages",)
    assert record_text(records[0], ("messages",)) == "hello there"  # content, not roles
    with pytest.raises(DatasetError, match="has no field 'body'"):
        dataset_fields(m, ["body"])


def test_scrub_counts_duplicates_in_the_scrubbed_text(run, clinic, tmp_path) -> None:
    run("init")
    result = run(
        "scrub", str(clinic), "--policy", "hipaa-safe-harbor", "--name", "clean",
        "--id-field", "id", "--subject-field", "patient_id", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["dedup"]["clusters"], out["dedup"]["records_in_clusters"]) == (2, 4)
    [event] = ledger_events(opened(tmp_path), "data.dedup")
    assert (event["trigger"], event["dataset"], event["text_fields"]) == (
        "scrub",
        "clean",
        ["text"],
    )
    assert MARKER not in result.output
    skipped = run(
        "scrub", str(clinic), "--policy", "hipaa-safe-harbor", "--name", "clean2", "--no-dedup",
        "--json",
    )  # fmt: skip
    assert json.loads(skipped.stdout)["dedup"] is None


def test_conversations_sharing_only_a_system_prompt_are_not_near_copies() -> None:
    from securetune.dedup import record_text

    system = {"role": "system", "content": " ".join(f"rule{i}" for i in range(80))}
    words = [f"w{i}" for i in range(400)]
    chats = [
        {
            "messages": [
                system,
                {"role": "user", "content": " ".join(words[k * 20 : k * 20 + 12])},
                {"role": "assistant", "content": " ".join(words[k * 20 + 12 : k * 20 + 20])},
            ]
        }
        for k in range(20)
    ]
    texts = [record_text(c, ("messages",)) for c in chats]
    assert "rule0" not in texts[0] and "system" not in texts[0] and "user" not in texts[0]
    assert find_clusters(texts).groups == []
