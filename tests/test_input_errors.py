"""Bad input is one line naming the file and line, never a traceback, never record text;
strict CSV; names; all-or-nothing GDPR scrubs; dropped field names kept out of the ledger."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from securetune import datastore
from securetune.audit.ledger import Ledger
from securetune.crypto.dataset import check_name
from securetune.errors import (
    DatasetError,
    InputError,
    KeyProviderError,
    SecuretuneError,
    WorkspaceError,
)
from securetune.records import RecordReader
from securetune.scrub.job import keyed_field_names, scrub_file
from securetune.scrub.pipeline import ScrubOptions
from securetune.workspace import Secrets, Workspace

from .conftest import MARKER, write_jsonl


def read_all(path: Path, **kw) -> list[dict]:
    return list(RecordReader(path, **kw))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"text":"a","x":NaN}', "line 2: NaN or infinity is not valid JSON"),
        (b'{"text":"a","x":-Infinity}', "line 2: NaN or infinity is not valid JSON"),
        (b'{"text":"a","x":1e999}', "line 2: NaN or infinity is not valid JSON"),
        (b'{"text":"a","x":1' + b"0" * 5000 + b"}", "line 2: a number too long to read"),
        (b'{"text":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "line 2: nested too deeply"),
        (
            b'{"text":"a\\ud800 ' + MARKER.encode() + b'"}',
            "line 2: a lone UTF-16 surrogate escape (invalid Unicode)",
        ),
    ],
)
def test_jsonl_values_json_cannot_store_are_one_line_errors(
    tmp_path: Path, line: bytes, message: str
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"text":"fine"}\n' + line + b"\n" + b'{"text":"\\ud83d\\ude00 pair"}\n')
    with pytest.raises(InputError) as err:
        read_all(path)
    assert str(err.value) == f"{path}: {message}"
    reader = RecordReader(path, on_error="skip")
    assert [r["text"] for r in reader] == ["fine", "\U0001f600 pair"] and reader.skipped == 1


def test_csv_unterminated_quote_names_the_line_it_opened_on(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,text\n1,"two\nlines"\n2,"never closed\n3,more\n4,rows\n')
    with pytest.raises(InputError) as err:
        read_all(path)
    assert str(err.value) == f"{path}: line 4: a quoted field opened here never closes"


def test_csv_duplicate_header_is_refused_without_echoing_names(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(f"id,{MARKER},{MARKER}\n1,a,b\n")
    with pytest.raises(InputError) as err:
        read_all(path)
    assert str(err.value) == (
        f"{path}: line 1: the header names column 3 the same as column 2;"
        " column names must be unique"
    )


def test_csv_still_reads_quoted_multiline_fields_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,text\n1,"two\nlines, one ""quote"""\n\n2,plain\n')
    assert read_all(path) == [
        {"id": "1", "text": 'two\nlines, one "quote"'},
        {"id": "2", "text": "plain"},
    ]


@pytest.mark.parametrize(
    ("fmt", "make", "message"),
    [
        ("auto", "dir:in.jsonl", "is a directory, not a .jsonl file"),
        ("jsonl", "dir:in", "is a directory, but --format jsonl reads a file"),
        ("txt", "file:in.txt", "--format txt reads a directory of .txt files"),
    ],
)
def test_a_directory_where_a_file_is_expected_and_back(tmp_path: Path, fmt, make, message):
    kind, name = make.split(":")
    path = tmp_path / name
    path.mkdir() if kind == "dir" else path.write_text("x")
    with pytest.raises(InputError) as err:
        read_all(path, fmt=fmt)
    assert str(err.value) == f"{path}: {message}"


def test_parquet_values_json_cannot_store_are_one_line_errors(ws: Workspace, tmp_path: Path):
    import datetime

    cases = {
        "dates": pa.table({"text": ["a"], "t": [datetime.datetime(2020, 1, 1)]}),
        "nan": pa.table({"text": ["a"], "x": [float("nan")]}),
    }
    messages = {
        "dates": "record 1 cannot be stored: it holds a value of a type JSON has no form for (bytes, dates, decimals)",
        "nan": "record 1 cannot be stored: it holds NaN or infinity, which JSON has no form for",
    }
    for name, table in cases.items():
        pq.write_table(table, tmp_path / f"{name}.parquet")
        with ws.locked(), pytest.raises(DatasetError) as err:
            datastore.add_dataset(ws, tmp_path / f"{name}.parquet", name)
        assert str(err.value) == messages[name]
    assert datastore.list_datasets(ws).datasets == []


def test_a_corrupt_parquet_row_group_is_one_line(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"text": [str(i) * 50 for i in range(5000)]}),
        tmp_path / "ok.parquet",
        compression="none",
    )
    data = (tmp_path / "ok.parquet").read_bytes()
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(data[:4] + bytes(range(256)) * 200 + data[4 + 51200 :])
    with pytest.raises(InputError, match=r"bad\.parquet: a row group cannot be read \(\w+\)$"):
        read_all(bad)


def test_a_dataset_name_with_a_trailing_newline_is_refused() -> None:
    assert check_name("notes-1") == "notes-1"
    with pytest.raises(DatasetError, match=r"^invalid dataset name 'notes\\n'"):
        check_name("notes\n")


def test_absurd_scrypt_parameters_in_a_tampered_keyring_are_one_line(tmp_path: Path) -> None:
    secrets = Secrets(environ={}, passphrase_prompt=lambda purpose: "correct horse battery")
    ws = Workspace.init(tmp_path / "ws", secrets=secrets, key_provider="passphrase")
    doc = json.loads(ws.keyring_path.read_text())
    for n, r in ((2**40, 8), (2**15, 10**9)):
        doc["provider"].update({"n": n, "r": r})
        ws.keyring_path.write_text(json.dumps(doc))
        with pytest.raises(KeyProviderError) as err:
            Workspace.open(ws.root, secrets=secrets).kek()
        assert str(err.value) == (
            "the keyring's scrypt parameters are out of range (the keyring was modified)"
        )


def test_a_missing_ledger_checkpoint_is_one_line(run, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    (tmp_path / "ws" / "ledger" / "checkpoint").unlink()
    result = run("audit", "verify")
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: ledger checkpoint {tmp_path / 'ws' / 'ledger' / 'checkpoint'} is missing\n",
    )


def test_rm_of_a_symlinked_dataset_is_refused_before_the_key_is_touched(
    ws: Workspace, notes: Path, tmp_path: Path
) -> None:
    with ws.locked():
        datastore.add_dataset(ws, notes, "notes")
    moved = tmp_path / "elsewhere"
    shutil.move(ws.datasets_dir / "notes", moved)
    (ws.datasets_dir / "notes").symlink_to(moved)
    keyring_before = ws.keyring_path.read_bytes()
    with pytest.raises(DatasetError) as err:
        datastore.show_dataset(ws, "notes")
    assert str(err.value) == (
        "dataset notes is a symbolic link, not a directory in the workspace; refusing to use it"
    )
    with ws.locked(), pytest.raises(WorkspaceError, match="dataset notes is not a directory"):
        datastore.remove_dataset(ws, "notes")
    assert ws.keyring_path.read_bytes() == keyring_before
    assert [e.event for e in Ledger.open(ws.ledger_dir).entries()] == ["init", "data.add"]


def _gdpr_scrub(ws: Workspace, path: Path, name: str) -> None:
    with ws.locked():
        scrub_file(
            ws,
            path,
            name=name,
            policy="gdpr-pseudonymisation",
            options=ScrubOptions(text_fields=("text",), id_field="id"),
        )


@pytest.mark.parametrize("reid_problem", ["exists", "too long"])
def test_a_gdpr_scrub_whose_mapping_cannot_be_kept_creates_neither_dataset(
    ws: Workspace, notes: Path, reid_problem: str
) -> None:
    name = "clean" if reid_problem == "exists" else "c" * 62
    if reid_problem == "exists":
        with ws.locked():
            datastore.add_dataset(ws, notes, "clean.reid")
    events_before = [e.event for e in Ledger.open(ws.ledger_dir).entries()]
    with pytest.raises(SecuretuneError):
        _gdpr_scrub(ws, notes, name)
    assert not (ws.datasets_dir / name).exists()
    assert [e.event for e in Ledger.open(ws.ledger_dir).entries()] == events_before


def test_dropped_field_names_reach_the_ledger_only_as_a_count_and_keyed_hashes() -> None:
    secret = bytes(range(32))
    got = keyed_field_names(secret, {MARKER, "ward"})
    expected = sorted(
        hmac.new(secret, b"securetune field name v1\0" + n.encode(), hashlib.sha256).hexdigest()[
            :32
        ]
        for n in (MARKER, "ward")
    )
    assert got == {"count": 2, "hmac_sha256": expected}
    assert MARKER not in json.dumps(got)


def test_a_scrub_ledgers_no_dropped_field_name(ws: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "n.jsonl", [{"id": "1", "text": "ok", MARKER: "x"}])
    with ws.locked():
        scrub_file(
            ws,
            path,
            name="clean",
            policy="hipaa-safe-harbor",
            options=ScrubOptions(text_fields=("text",), id_field="id"),
        )
    log = (ws.ledger_dir / "log.jsonl").read_text()
    assert MARKER not in log
    event = [e for e in Ledger.open(ws.ledger_dir).entries() if e.event == "scrub"][-1]
    assert event.payload["dropped_fields"]["count"] == 1


def one_line_error(result) -> str:
    """The CLI's stderr for a refusal: exactly one `error:` line, exit code 1."""
    assert result.exit_code == 1, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    return result.stderr.removeprefix("error: ").rstrip("\n")


def replace_with_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def test_a_manifest_that_is_a_directory_is_one_line(run, notes: Path, tmp_path: Path) -> None:
    assert run("init").exit_code == 0 and run("data", "add", str(notes), "-n", "raw").exit_code == 0
    replace_with_directory(tmp_path / "ws" / "datasets" / "raw" / "manifest.json")
    assert (
        one_line_error(run("data", "show", "raw")) == "dataset raw: manifest is not a regular file"
    )


def test_a_keyring_that_is_a_directory_is_one_line(run, notes: Path, tmp_path: Path) -> None:
    assert run("init").exit_code == 0 and run("data", "add", str(notes), "-n", "raw").exit_code == 0
    keyring = tmp_path / "ws" / "keys" / "keyring.json"
    replace_with_directory(keyring)
    expected = f"keyring {keyring} is a directory, not a file"
    assert one_line_error(run("data", "ls")) == expected
    assert one_line_error(run("audit", "verify")) == expected


def test_a_ledger_checkpoint_that_is_a_directory_is_one_line(
    run, notes: Path, tmp_path: Path
) -> None:
    assert run("init").exit_code == 0
    checkpoint = tmp_path / "ws" / "ledger" / "checkpoint"
    replace_with_directory(checkpoint)
    assert one_line_error(run("audit", "verify")) == (
        f"ledger checkpoint {checkpoint} is a directory, not a file"
    )
    assert one_line_error(run("data", "add", str(notes), "-n", "raw")) == (
        f"ledger file {checkpoint} is not a regular file (a directory?)"
    )


def test_a_witness_directory_that_is_a_file_is_one_line(run, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    shutil.rmtree(tmp_path / "witness")
    (tmp_path / "witness").write_text("not a directory")
    assert one_line_error(run("audit", "verify")) == (
        f"the witness directory {tmp_path / 'witness'} is a file; remove it or set"
        " SECURETUNE_WITNESS_DIR to a directory"
    )


def test_a_directory_named_like_a_policy_in_the_cwd_does_not_stand_in_for_it(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("init").exit_code == 0
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hipaa-safe-harbor").mkdir()
    (tmp_path / "gdpr-pseudonymisation").write_text("name: not-a-policy\n")
    for name in ("hipaa-safe-harbor", "gdpr-pseudonymisation"):
        shown = run("policy", "show", name)
        assert shown.exit_code == 0, shown.stderr
        assert json.loads(shown.stdout)["name"] == name  # the built-in, not the cwd entry
    assert one_line_error(run("policy", "show", "./hipaa-safe-harbor")) == (
        "policy file hipaa-safe-harbor is a directory, not a file"
    )


@pytest.mark.parametrize("file_name", ["hipaa-safe-harbor", "ward-7"])
def test_a_workspace_policy_may_not_take_a_built_in_name_with_other_rules(
    run, tmp_path: Path, file_name: str
) -> None:
    # Else "hipaa-safe-harbor" in the ledger and the report would mean rules nobody reviewed.
    assert run("init").exit_code == 0
    policies = tmp_path / "ws" / "policies"
    policies.mkdir()
    (policies / f"{file_name}.yaml").write_text(
        "version: 1\nname: hipaa-safe-harbor\ndetection: {entities: [PERSON]}\n"
    )
    assert one_line_error(run("policy", "show", str(policies / f"{file_name}.yaml"))) == (
        f"policy file {policies / f'{file_name}.yaml'} takes the name of the built-in policy"
        " hipaa-safe-harbor with other rules; rename it (name: and file name) so that the name"
        " keeps one meaning"
    )
    if file_name == "hipaa-safe-harbor":  # found first by name in the workspace: refused too
        assert "takes the name of the built-in" in one_line_error(
            run("policy", "show", "hipaa-safe-harbor")
        )


def test_audit_publish_replaces_an_existing_file_only_with_force(run, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    out = tmp_path / "published.txt"
    out.write_text("last quarter's checkpoint")
    assert one_line_error(run("audit", "publish", str(out))) == (
        f"refusing to replace the existing file {out}; pass --force to replace it"
    )
    assert out.read_text() == "last quarter's checkpoint"
    assert run("audit", "publish", str(out), "--force").exit_code == 0
    assert out.read_bytes() == (tmp_path / "ws" / "ledger" / "checkpoint").read_bytes()


@pytest.mark.parametrize("name", ["out.xlsx", "out.json", "out"])
def test_an_export_to_a_format_securetune_does_not_write_is_refused(
    run, notes: Path, tmp_path: Path, name: str
) -> None:
    assert run("init").exit_code == 0 and run("data", "add", str(notes), "-n", "raw").exit_code == 0
    assert one_line_error(run("data", "export", "raw", "-o", str(tmp_path / name))) == (
        f"cannot tell the export format of {name}: name the file .jsonl (JSON Lines), .csv"
        " or .parquet"
    )
    assert not (tmp_path / name).exists()
    log = (tmp_path / "ws" / "ledger" / "log.jsonl").read_text()
    assert '"data.export"' not in log


def test_init_with_a_witness_directory_that_is_a_file_creates_nothing(run, tmp_path: Path) -> None:
    (tmp_path / "witness").write_text("not a directory")
    assert one_line_error(run("init")) == (
        f"the witness directory {tmp_path / 'witness'} is a file; remove it or set"
        " SECURETUNE_WITNESS_DIR to a directory"
    )
    assert not (tmp_path / "ws" / "securetune.yaml").exists()
    assert not (tmp_path / "ws" / "keys").exists()
