"""Ledger format v2: signed roots are RFC 6962 roots, checked against an independent
implementation; v1 ledgers verify and upgrade; a checkpoint costs O(log n)."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from securetune.audit import writer
from securetune.audit.checkpoint import open_signed_checkpoint
from securetune.audit.entry import Entry
from securetune.audit.ledger import TREE_FILE, Ledger, verify_ledger
from securetune.errors import LedgerError

FIXTURES = Path(__file__).parent / "fixtures"
ORIGIN = "hospital.example/securetune/ws-fixture"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key()


# --- an independent RFC 6962 §2.1 Merkle Tree Hash, written from the RFC text ----------
def rfc6962_mth(data: list[bytes]) -> bytes:
    """MTH({}) = SHA-256(); MTH({d0}) = SHA-256(0x00 || d0); otherwise split at the
    largest power of two k < n: SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_mth(data[:k]) + rfc6962_mth(data[k:])).digest()


def entry_hashes(directory: Path) -> list[bytes]:
    lines = (directory / "log.jsonl").read_bytes().splitlines()
    return [bytes.fromhex(json.loads(line)["hash"]) for line in lines]


def signed(directory: Path):
    return open_signed_checkpoint((directory / "checkpoint").read_bytes(), PUBLIC, ORIGIN)


def clock():
    moment = [datetime(2025, 6, 1, tzinfo=timezone.utc)]

    def tick() -> datetime:
        moment[0] += timedelta(seconds=1)
        return moment[0]

    return tick


def new_ledger(directory: Path) -> Ledger:
    return Ledger.create(
        directory, signing_key=KEY, origin=ORIGIN, actor="t", payload={}, clock=clock()
    )


def test_every_checkpoint_root_is_the_rfc6962_root_of_the_entry_hashes(tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    new_ledger(directory)
    seen = [signed(directory)]
    # Commands of 1..6 appends take the tree through sizes that are and are not powers of 2.
    for appends in (1, 2, 3, 1, 5, 6, 4, 1, 2):
        ledger = Ledger.open(directory, clock=clock())
        for i in range(appends):
            ledger.append("train.epoch", {"epoch": i}, actor="t")
        ledger.write_checkpoint(KEY)
        seen.append(signed(directory))
    hashes = entry_hashes(directory)
    assert [cp.size for cp in seen] == [1, 2, 4, 7, 8, 13, 19, 23, 24, 26]
    for cp in seen:
        assert cp.root == rfc6962_mth(hashes[: cp.size]), cp.size
    assert verify_ledger(directory, PUBLIC, trusted=seen[3]).version == 2


def test_released_v2_fixture_signs_the_rfc6962_root() -> None:
    directory = FIXTURES / "ledger-v2"
    cp = signed(directory)
    assert cp.size == 8
    assert cp.root == rfc6962_mth(entry_hashes(directory))
    assert cp.root.hex() == "050e71b8cbc98c7aafcd89376b190e928cb32b85e5d6298dede56c887b954a50"
    older = open_signed_checkpoint((FIXTURES / "ledger-v2.trusted").read_bytes(), PUBLIC, ORIGIN)
    assert older.root == rfc6962_mth(entry_hashes(directory)[:3])
    assert verify_ledger(directory, PUBLIC, trusted=older).version == 2


def test_v1_ledger_still_verifies_and_upgrades_through_a_ledgered_event(tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    shutil.copytree(FIXTURES / "ledger-v1", directory)
    v1_trusted = open_signed_checkpoint(
        (FIXTURES / "ledger-v1.trusted").read_bytes(), PUBLIC, ORIGIN
    )
    v1_final = signed(directory)
    assert v1_final.root != rfc6962_mth(entry_hashes(directory))  # the v1 deviation
    assert verify_ledger(directory, PUBLIC, trusted=v1_trusted).version == 1

    entry = Ledger.open(directory, clock=clock()).upgrade(KEY, actor="officer")
    assert (entry.seq, entry.v, entry.event) == (8, 2, "ledger.upgrade")
    assert entry.payload == {"entries_before": 8, "from_version": 1, "to_version": 2}
    upgraded = signed(directory)
    assert upgraded.size == 9
    assert upgraded.root == rfc6962_mth(entry_hashes(directory))
    # Checkpoints kept from before the upgrade stay consistent with the upgraded ledger.
    for trusted in (v1_trusted, v1_final):
        assert verify_ledger(directory, PUBLIC, trusted=trusted).version == 2
    ledger = Ledger.open(directory, clock=clock())
    assert ledger.append("check.run", {"ok": True}, actor="t").v == 2
    ledger.write_checkpoint(KEY)
    assert signed(directory).root == rfc6962_mth(entry_hashes(directory))
    with pytest.raises(LedgerError, match="already format v2"):
        Ledger.open(directory).upgrade(KEY, actor="t")


def _forged_line(seq: int, prev: str, v: int, event: str = "train.epoch") -> bytes:
    draft = Entry(v, seq, "2025-06-01T00:00:00.000000Z", "m", event, {}, prev, "")
    return Entry(**{**draft.body(), "hash": draft.compute_hash()}).to_json_line()


def test_a_v1_entry_after_v2_is_refused_as_a_downgrade(tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    new_ledger(directory)
    last = entry_hashes(directory)[-1].hex()
    with (directory / "log.jsonl").open("ab") as f:
        f.write(_forged_line(1, last, v=1))
    with pytest.raises(LedgerError, match=r"entry 1 \(line 2\): format v1 after v2"):
        verify_ledger(directory, PUBLIC)


def test_v2_may_only_start_with_the_upgrade_event(tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    shutil.copytree(FIXTURES / "ledger-v1", directory)
    last = entry_hashes(directory)[-1].hex()
    with (directory / "log.jsonl").open("ab") as f:
        f.write(_forged_line(8, last, v=2))
    with pytest.raises(LedgerError, match=r"format v2 starts without a 'ledger\.upgrade' event"):
        verify_ledger(directory, PUBLIC)


def test_appending_the_upgrade_event_by_hand_is_refused(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "ledger")
    with pytest.raises(LedgerError, match=r"reserved for Ledger\.upgrade"):
        ledger.append("ledger.upgrade", {}, actor="t")


def test_a_checkpoint_reads_the_stored_compact_range_not_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "ledger"
    ledger = new_ledger(directory)
    for i in range(40):
        ledger.append("train.epoch", {"epoch": i}, actor="t")
    ledger.write_checkpoint(KEY)
    assert len(json.loads((directory / TREE_FILE).read_bytes())["range"]) == bin(41).count("1")

    def no_full_read(self: Ledger) -> None:
        raise AssertionError("write_checkpoint re-read the whole log")

    monkeypatch.setattr(writer.Ledger, "_read_leaves", no_full_read)
    ledger = Ledger.open(directory, clock=clock())
    ledger.append("check.run", {}, actor="t")
    ledger.write_checkpoint(KEY)
    assert signed(directory).root == rfc6962_mth(entry_hashes(directory))


@pytest.mark.parametrize("damage", ["missing", "forged", "stale"])
def test_a_missing_or_untrusted_compact_range_falls_back_to_the_log(
    tmp_path: Path, damage: str
) -> None:
    directory = tmp_path / "ledger"
    ledger = new_ledger(directory)
    ledger.append("train.epoch", {}, actor="t")
    ledger.write_checkpoint(KEY)
    tree = directory / TREE_FILE
    if damage == "missing":
        tree.unlink()
    elif damage == "forged":  # right shape, wrong nodes: its root is not the signed root
        tree.write_text(json.dumps({"size": 2, "range": ["ab" * 32]}))
    else:
        tree.write_text(json.dumps({"size": 1, "range": ["ab" * 32]}))
    ledger = Ledger.open(directory, clock=clock())
    ledger.append("check.run", {}, actor="t")
    ledger.write_checkpoint(KEY)
    assert signed(directory).root == rfc6962_mth(entry_hashes(directory))
    assert json.loads(tree.read_bytes())["size"] == 3
    assert verify_ledger(directory, PUBLIC).entries == 3
