"""The command line as users meet it: exit codes, one-line errors, --json, files on disk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from securetune.crypto.keys import encode_key

from ..conftest import MARKER, write_jsonl


def test_init_then_add_ls_show_verify_with_json(run, notes: Path, tmp_path: Path) -> None:
    init = run("init", "--json")
    assert init.exit_code == 0, init.stderr
    info = json.loads(init.stdout)
    assert info["key_provider"] == "file" and info["ledger_public_key"].startswith("securetune/")
    added = run("data", "add", str(notes), "--name", "raw", "--json")
    assert added.exit_code == 0
    assert json.loads(added.stdout)["dataset"]["records"] == 25
    listed = json.loads(run("data", "ls", "--json").stdout)
    assert [d["name"] for d in listed["datasets"]] == ["raw"]
    shown = run("data", "show", "raw")
    assert "records:    25" in shown.stdout and MARKER not in shown.stdout
    verified = json.loads(run("data", "verify", "raw", "--json").stdout)
    assert verified == {"dataset": "raw", "ok": True, "records": 25, "shards": 1}
    ledger = json.loads(run("audit", "verify", "--json").stdout)
    assert ledger["ok"] is True and ledger["events"] == {"data.add": 1, "data.dedup": 1, "init": 1}


def test_outside_a_workspace_every_command_says_so_in_one_line(run, tmp_path: Path) -> None:
    for args in (["data", "ls"], ["audit", "verify"], ["keys", "rotate"]):
        result = run(*args)
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1
        assert (
            result.stderr.startswith("error: ") and "is not a securetune workspace" in result.stderr
        )


def test_wrong_key_is_one_line_and_exit_1(run, notes: Path, tmp_path: Path) -> None:
    run("init")
    run("data", "add", str(notes), "--name", "raw")
    (tmp_path / "ws" / "keys" / "kek.key").write_text(encode_key(os.urandom(32)))
    result = run("data", "verify", "raw")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: the key does not unlock this workspace (wrong key, key file or passphrase)\n",
    )


def test_wrong_passphrase_is_refused(run, notes: Path) -> None:
    assert (
        run(
            "init",
            "--key-provider",
            "passphrase",
            env_extra={"SECURETUNE_PASSPHRASE": "a long passphrase"},
        ).exit_code
        == 0
    )
    ok = run(
        "data",
        "add",
        str(notes),
        "--name",
        "raw",
        env_extra={"SECURETUNE_PASSPHRASE": "a long passphrase"},
    )
    assert ok.exit_code == 0
    bad = run("data", "ls", env_extra={"SECURETUNE_PASSPHRASE": "another passphrase"})
    assert bad.exit_code == 1 and "does not unlock this workspace" in bad.stderr


def test_tampered_shard_error_names_dataset_and_shard(run, notes: Path, tmp_path: Path) -> None:
    run("init")
    run("data", "add", str(notes), "--name", "raw")
    shard = tmp_path / "ws" / "datasets" / "raw" / "shard-00000.stc"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0x80
    shard.write_bytes(bytes(data))
    result = run("data", "verify", "raw")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: dataset raw: shard shard-00000.stc failed authentication"
    )


def test_malformed_input_names_the_line_and_nothing_is_written(run, tmp_path: Path) -> None:
    run("init")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\nnot json\n')
    result = run("data", "add", str(bad), "--name", "x")
    assert result.exit_code == 1
    assert "bad.jsonl: line 2: not valid JSON" in result.stderr
    assert json.loads(run("data", "ls", "--json").stdout) == {"datasets": []}


def test_existing_dataset_name_is_refused(run, notes: Path) -> None:
    run("init")
    run("data", "add", str(notes), "--name", "raw")
    result = run("data", "add", str(notes), "--name", "raw")
    assert result.exit_code == 1 and "dataset raw already exists" in result.stderr


def test_export_needs_an_explicit_path_and_is_0600(run, notes: Path, tmp_path: Path) -> None:
    run("init")
    run("data", "add", str(notes), "--name", "raw")
    out = tmp_path / "plain.jsonl"
    result = run("data", "export", "raw", "--out", str(out), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["records"] == 25
    assert os.stat(out).st_mode & 0o777 == 0o600
    missing = run("data", "export", "raw", "--out", str(tmp_path / "nope" / "x.jsonl"))
    assert missing.exit_code == 1 and "the directory does not exist" in missing.stderr


def test_rm_asks_unless_yes_and_then_shreds(run, notes: Path) -> None:
    run("init")
    run("data", "add", str(notes), "--name", "raw")
    declined = run("data", "rm", "raw", input="n\n")
    assert declined.exit_code == 1
    assert json.loads(run("data", "ls", "--json").stdout)["datasets"]
    assert run("data", "rm", "raw", "--yes").exit_code == 0
    assert json.loads(run("data", "ls", "--json").stdout) == {"datasets": []}


def test_keys_rotate_then_everything_still_reads(run, notes: Path) -> None:
    run("init")
    run("data", "add", str(notes), "--name", "raw")
    rotated = json.loads(run("keys", "rotate", "--json").stdout)
    assert rotated["keys_rewrapped"] == 3  # data key, ledger signing key, lineage key
    assert run("data", "verify", "raw").exit_code == 0
    assert json.loads(run("audit", "verify", "--json").stdout)["events"]["keys.rotate"] == 1


def test_audit_verify_names_the_first_modified_entry(run, notes: Path, tmp_path: Path) -> None:
    run("init")
    run("data", "add", str(notes), "--name", "raw")
    log = tmp_path / "ws" / "ledger" / "log.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"records":25', '"records":26')
    log.write_text("".join(lines))
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert "entry 1" in result.stderr and result.stderr.count("\n") == 1


def test_audit_verify_detects_rollback_through_the_witness(
    run, notes: Path, tmp_path: Path
) -> None:
    run("init")
    ledger = tmp_path / "ws" / "ledger"
    snapshot = tmp_path / "ledger-snapshot"
    shutil.copytree(ledger, snapshot)
    run("data", "add", str(notes), "--name", "raw")
    shutil.rmtree(ledger)
    shutil.copytree(snapshot, ledger)  # the old, validly signed log and checkpoint
    result = run("audit", "verify")
    assert result.exit_code == 1 and "error: " in result.stderr


def test_audit_verify_with_an_out_of_band_pubkey(run, tmp_path: Path) -> None:
    run("init")
    pubkey = run("audit", "pubkey").stdout.strip()
    assert run("audit", "verify", "--pubkey", pubkey).exit_code == 0
    other_ws = tmp_path / "other"
    run("--workspace", str(other_ws), "init")
    other_key = run("--workspace", str(other_ws), "audit", "pubkey").stdout.strip()
    result = run("audit", "verify", "--pubkey", other_key)
    assert result.exit_code == 1 and "error:" in result.stderr


def test_a_killed_add_leaves_no_visible_dataset(run, tmp_path: Path) -> None:
    run("init")
    big = write_jsonl(
        tmp_path / "big.jsonl", [{"i": i, "text": MARKER * 20} for i in range(200_000)]
    )
    env = {**os.environ, "SECURETUNE_WORKSPACE": str(tmp_path / "ws")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "securetune", "data", "add", str(big), "--name", "big"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    datasets = tmp_path / "ws" / "datasets"
    deadline = time.monotonic() + 30
    while not any(p.name.startswith(".tmp-") for p in datasets.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None, (
            "writer finished before it could be killed"
        )
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads(run("data", "ls", "--json").stdout) == {"datasets": []}
    small = write_jsonl(tmp_path / "small.jsonl", [{"i": 1}])
    assert (
        run("data", "add", str(small), "--name", "small").exit_code == 0
    )  # the lock was freed by the kill
    assert sorted(p.name for p in datasets.iterdir()) == ["small"]  # and the leftovers cleaned
    assert run("audit", "verify").exit_code == 0


def test_passphrase_rotation_takes_only_the_new_passphrase_variable(run, notes: Path) -> None:
    old = {"SECURETUNE_PASSPHRASE": "old passphrase 1"}
    assert run("init", "--key-provider", "passphrase", env_extra=old).exit_code == 0
    assert run("data", "add", str(notes), "--name", "raw", env_extra=old).exit_code == 0
    # The current passphrase alone must not be taken as the "new" one.
    assert run("keys", "rotate", env_extra=old, input="").exit_code != 0
    same = run("keys", "rotate", env_extra={**old, "SECURETUNE_NEW_PASSPHRASE": "old passphrase 1"})
    assert same.exit_code == 1 and "same as the current one" in same.stderr
    new = {**old, "SECURETUNE_NEW_PASSPHRASE": "new passphrase 2"}
    assert run("keys", "rotate", env_extra=new).exit_code == 0
    assert run("data", "ls", env_extra=old).exit_code == 1
    assert run("data", "ls", env_extra={"SECURETUNE_PASSPHRASE": "new passphrase 2"}).exit_code == 0


def test_ls_lists_the_intact_datasets_and_names_the_damaged_one(
    run, notes: Path, tmp_path: Path
) -> None:
    run("init")
    run("data", "add", str(notes), "--name", "good")
    run("data", "add", str(notes), "--name", "bad")
    (tmp_path / "ws" / "datasets" / "bad" / "manifest.json").write_text("{}")
    result = run("data", "ls", "--json")
    assert result.exit_code == 1
    listing = json.loads(result.stdout)
    assert [d["name"] for d in listing["datasets"]] == ["good"]
    assert "manifest is malformed" in listing["damaged"]["bad"]
    assert "warning: dataset bad is damaged" in result.stderr
