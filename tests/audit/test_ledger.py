"""The audit ledger: the released fixture, each attack it must detect, and its API."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from securetune.audit.canonical import canonical_json, canonicalize_text, es_number
from securetune.audit.checkpoint import (
    Checkpoint,
    open_signed_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
)
from securetune.audit.ledger import (
    GENESIS_PREV,
    MAX_PAYLOAD_STRING,
    Entry,
    Ledger,
    VerifyResult,
    verify_ledger,
)
from securetune.errors import LedgerError

FIXTURES = Path(__file__).parent / "fixtures"
RELEASED = FIXTURES / "ledger-v1"
ORIGIN = "hospital.example/securetune/ws-fixture"


def _load_make_fixtures():
    spec = importlib.util.spec_from_file_location(
        "make_fixtures", FIXTURES.parent / "make_fixtures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_fixtures = _load_make_fixtures()
KEY = make_fixtures.signing_key()
PUBLIC = parse_verifier_key((FIXTURES / "ledger-v1.pub").read_text())[1]
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"someone else").digest())


def released_checkpoint() -> Checkpoint:
    return open_signed_checkpoint((RELEASED / "checkpoint").read_bytes(), PUBLIC, ORIGIN)


def older_checkpoint() -> Checkpoint:
    """The checkpoint after the fixture's second command (3 entries), kept 'outside'."""
    return open_signed_checkpoint((FIXTURES / "ledger-v1.trusted").read_bytes(), PUBLIC, ORIGIN)


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    """A writable copy of the released fixture ledger (8 entries, seq 0..7)."""
    target = tmp_path / "ledger"
    shutil.copytree(RELEASED, target)
    return target


def read_lines(directory: Path) -> list[bytes]:
    return (directory / "log.jsonl").read_bytes().splitlines(keepends=True)


def write_lines(directory: Path, lines: list[bytes]) -> None:
    (directory / "log.jsonl").write_bytes(b"".join(lines))


def verify_error(directory: Path, *, trusted: Checkpoint | None = None) -> str:
    with pytest.raises(LedgerError) as err:
        verify_ledger(directory, PUBLIC, trusted=trusted)
    message = str(err.value)
    assert "\n" not in message
    return message


def forge(seq: int, prev: str, **changes: object) -> bytes:
    """A validly hashed entry line, as an attacker without the signing key can make."""
    fields: dict[str, object] = {
        "v": 1,
        "seq": seq,
        "ts": "2025-03-01T09:03:30.000000Z",
        "actor": "mallory",
        "event": "train.epoch",
        "payload": {"epoch": 9, "steps": 1},
        "prev": prev,
        "hash": "",
    }
    fields.update(changes)
    draft = Entry(**fields)  # type: ignore[arg-type]
    return Entry(**{**draft.body(), "hash": draft.compute_hash()}).to_json_line()


def hash_of(line: bytes) -> str:
    return json.loads(line)["hash"]


def ticking_clock(start: datetime | None = None):
    moment = [start or datetime(2025, 6, 1, tzinfo=timezone.utc)]

    def clock() -> datetime:
        moment[0] += timedelta(seconds=1)
        return moment[0]

    return clock


# --- the released fixture ------------------------------------------------------------


def test_released_fixture_still_verifies() -> None:
    assert verify_ledger(RELEASED, PUBLIC) == VerifyResult(
        entries=8,
        root="f28a7ca188adafc2e46b962a376a973c6898216a6930b2a447ed87632e0418db",
        checkpoint_size=8,
        first_ts="2025-03-01T09:00:00.000000Z",
        last_ts="2025-03-01T09:07:08.750000Z",
        events={
            "init": 1,
            "scrub.run": 1,
            "dataset.encrypt": 1,
            "train.start": 1,
            "train.epoch": 2,
            "train.finish": 1,
            "check.run": 1,
        },
        version=1,
    )


def test_released_fixture_is_consistent_with_its_older_checkpoint() -> None:
    assert verify_ledger(RELEASED, PUBLIC, trusted=older_checkpoint()).entries == 8


def test_parsing_then_serialising_every_released_entry_gives_the_same_bytes() -> None:
    lines = read_lines(RELEASED)
    entries = list(Ledger.open(RELEASED).entries())
    assert [entry.to_json_line() for entry in entries] == lines
    assert [entry.compute_hash() for entry in entries] == [hash_of(line) for line in lines]
    assert entries[3].payload["dp"] == {
        "delta": 1e-05,
        "epsilon": 3,
        "max_grad_norm": 1,
        "noise": 1.1,
    }


def test_the_fixture_generator_still_reproduces_the_released_bytes(tmp_path: Path) -> None:
    for version in make_fixtures.VERSIONS:
        make_fixtures.build(tmp_path, version)
    for path in sorted(p for p in FIXTURES.rglob("*") if p.is_file()):
        relative = path.relative_to(FIXTURES)
        assert (tmp_path / relative).read_bytes() == path.read_bytes(), relative


# --- attacks: each must be detected, naming the entry --------------------------------


def test_flipped_byte_in_payload_is_named(ledger_dir: Path) -> None:
    lines = read_lines(ledger_dir)
    lines[4] = lines[4].replace(b'"steps":40', b'"steps":41')
    write_lines(ledger_dir, lines)
    assert verify_error(ledger_dir) == (
        "ledger entry 4 (line 5): hash mismatch — the entry was modified"
    )


def test_flipped_byte_in_timestamp_is_named(ledger_dir: Path) -> None:
    lines = read_lines(ledger_dir)
    lines[2] = lines[2].replace(b"T09:02:02", b"T09:02:03")
    write_lines(ledger_dir, lines)
    assert verify_error(ledger_dir) == (
        "ledger entry 2 (line 3): hash mismatch — the entry was modified"
    )


def test_flipped_byte_in_hash_field_is_named(ledger_dir: Path) -> None:
    lines = read_lines(ledger_dir)
    digest = hash_of(lines[6]).encode()
    lines[6] = lines[6].replace(digest, digest[:-1] + (b"0" if digest[-1:] != b"0" else b"1"))
    write_lines(ledger_dir, lines)
    assert verify_error(ledger_dir) == (
        "ledger entry 6 (line 7): hash mismatch — the entry was modified"
    )


def test_flipped_byte_that_breaks_json_is_named(ledger_dir: Path) -> None:
    lines = read_lines(ledger_dir)
    lines[5] = lines[5].replace(b'"epoch":2,', b'"epoch":2;')
    write_lines(ledger_dir, lines)
    assert verify_error(ledger_dir) == (
        "ledger line 6: not valid JSON — the entry was modified or torn"
    )


def test_a_meaning_preserving_edit_is_still_detected(ledger_dir: Path) -> None:
    """1e-05 written as 0.00001 is the same number but not the signed bytes."""
    lines = read_lines(ledger_dir)
    lines[6] = lines[6].replace(b'"delta":0.00001', b'"delta":1e-5')
    write_lines(ledger_dir, lines)
    assert verify_error(ledger_dir) == (
        "ledger entry 6 (line 7): not in RFC 8785 canonical form — the line was modified"
    )


def flips(line: bytes, bits: tuple[int, ...], step: int = 1):
    for offset in range(0, len(line), step):
        for bit in bits:
            yield offset, line[:offset] + bytes([line[offset] ^ bit]) + line[offset + 1 :]


@pytest.mark.parametrize("line_index", [1, 3])  # non-ASCII payload; float-bearing payload
def test_every_single_bit_flip_in_an_entry_is_refused(line_index: int) -> None:
    line = read_lines(RELEASED)[line_index]
    for _offset, flipped in flips(line, (1, 2, 4, 8, 16, 32, 64, 128)):
        with pytest.raises(
            LedgerError, match=f"^ledger (line|entry [0-9]+ \\(line) {line_index + 1}"
        ):
            Entry.from_json_line(flipped, line_no=line_index + 1)


def test_bit_flips_are_named_by_verify_end_to_end(ledger_dir: Path) -> None:
    original = read_lines(ledger_dir)
    for offset, flipped in flips(original[3], (0x01, 0x20), step=5):
        write_lines(ledger_dir, [*original[:3], flipped, *original[4:]])
        message = verify_error(ledger_dir)
        assert "line 4" in message, (offset, message)


def test_deleted_entry_is_named(ledger_dir: Path) -> None:
    lines = read_lines(ledger_dir)
    del lines[3]
    write_lines(ledger_dir, lines)
    assert verify_error(ledger_dir) == (
        "ledger entry 4 (line 4): seq skips ahead (expected 3) — an entry was deleted or"
        " entries were reordered"
    )


def test_inserted_entry_is_named(ledger_dir: Path) -> None:
    """A forged entry with a valid hash and the right prev, slipped in after entry 2."""
    lines = read_lines(ledger_dir)
    lines.insert(3, forge(3, hash_of(lines[2])))
    write_lines(ledger_dir, lines)
    assert verify_error(ledger_dir) == (
        "ledger entry 3 (line 5): seq goes back (expected 4) — an entry was inserted or"
        " entries were reordered"
    )


def test_inserted_entry_with_the_rest_rechained_is_caught_by_the_signature(
    ledger_dir: Path,
) -> None:
    """Renumber and re-hash everything after the insertion: only the checkpoint catches it."""
    lines = read_lines(ledger_dir)
    rebuilt = [*lines[:3], forge(3, hash_of(lines[2]))]
    for line in lines[3:]:
        fields = json.loads(line)
        fields.update(seq=fields["seq"] + 1, prev=hash_of(rebuilt[-1]))
        rebuilt.append(forge(**fields))
    write_lines(ledger_dir, rebuilt)
    assert verify_error(ledger_dir) == (
        "ledger Merkle root of entries 0..7 does not match the signed checkpoint — entries"
        " were rewritten and re-chained"
    )


def test_reordered_entries_are_named(ledger_dir: Path) -> None:
    lines = read_lines(ledger_dir)
    lines[4], lines[5] = lines[5], lines[4]
    write_lines(ledger_dir, lines)
    assert verify_error(ledger_dir) == (
        "ledger entry 5 (line 5): seq skips ahead (expected 4) — an entry was deleted or"
        " entries were reordered"
    )


def test_truncated_tail_is_named(ledger_dir: Path) -> None:
    write_lines(ledger_dir, read_lines(ledger_dir)[:6])
    assert verify_error(ledger_dir) == (
        "ledger log ends after entry 5 (line 6) but the signed checkpoint covers 8 entries"
        " — the tail was truncated"
    )


def test_torn_last_line_is_named(ledger_dir: Path) -> None:
    lines = read_lines(ledger_dir)
    lines[-1] = lines[-1][:40]
    write_lines(ledger_dir, lines)
    assert verify_error(ledger_dir) == (
        "ledger line 8: incomplete last line — a write was torn or the file was cut mid-entry"
    )


def test_appended_unsigned_entry_is_named(ledger_dir: Path) -> None:
    ledger = Ledger.open(ledger_dir, clock=ticking_clock())
    ledger.append("check.run", {"passed": True}, actor="mallory")
    assert verify_error(ledger_dir) == (
        "ledger entry 8 (line 9): not covered by the signed checkpoint (size 8) — 1 unsigned"
        " entry was appended"
    )


def test_rollback_to_an_older_checkpoint_passes_without_a_trusted_checkpoint(
    ledger_dir: Path,
) -> None:
    """Documented limit: an old, validly signed state verifies on its own."""
    shutil.copyfile(FIXTURES / "ledger-v1.trusted", ledger_dir / "checkpoint")
    write_lines(ledger_dir, read_lines(ledger_dir)[:3])
    assert verify_ledger(ledger_dir, PUBLIC).entries == 3


def test_rollback_to_an_older_checkpoint_is_caught_with_a_trusted_checkpoint(
    ledger_dir: Path,
) -> None:
    trusted = released_checkpoint()  # what the officer kept outside the workspace
    shutil.copyfile(FIXTURES / "ledger-v1.trusted", ledger_dir / "checkpoint")
    write_lines(ledger_dir, read_lines(ledger_dir)[:3])
    assert verify_error(ledger_dir, trusted=trusted) == (
        "ledger was rolled back: its checkpoint covers 3 entries but the trusted checkpoint"
        " covers 8 (entries 3..7 are gone)"
    )


def test_history_rewritten_with_the_real_key_is_caught_with_a_trusted_checkpoint(
    tmp_path: Path,
) -> None:
    """An insider with the workspace key re-creates the log: a fork of the trusted history."""
    forked = tmp_path / "forked"
    ledger = Ledger.create(
        forked, signing_key=KEY, origin=ORIGIN, actor="mallory", payload={}, clock=ticking_clock()
    )
    for i in range(9):
        ledger.append("train.epoch", {"epoch": i}, actor="mallory")
    ledger.write_checkpoint(KEY)
    assert verify_ledger(forked, PUBLIC).entries == 10
    assert verify_error(forked, trusted=older_checkpoint()) == (
        "ledger is not consistent with the trusted checkpoint: its first 3 entries differ from"
        " the ones that checkpoint signed — history was rewritten"
    )


def test_trusted_checkpoint_of_another_log_is_refused(ledger_dir: Path) -> None:
    other = Checkpoint("elsewhere.example/log", 1, bytes(32))
    assert verify_error(ledger_dir, trusted=other) == (
        f"ledger checkpoint is for log '{ORIGIN}', but the trusted checkpoint is for"
        " 'elsewhere.example/log'"
    )


def test_checkpoint_signed_by_another_key_is_refused(ledger_dir: Path) -> None:
    cp = released_checkpoint()
    (ledger_dir / "checkpoint").write_bytes(sign_checkpoint(cp, OTHER_KEY, ORIGIN))
    message = verify_error(ledger_dir)
    assert message.startswith(f"checkpoint is not signed by the expected key {ORIGIN}+439bc339")
    assert message.endswith("— it was replaced or signed with another key")


def test_tampered_checkpoint_file_is_refused(ledger_dir: Path) -> None:
    note = (ledger_dir / "checkpoint").read_bytes()
    (ledger_dir / "checkpoint").write_bytes(note.replace(b"\n8\n", b"\n7\n", 1))
    assert verify_error(ledger_dir) == (
        "checkpoint signature does not verify — the checkpoint was modified"
    )


def test_missing_checkpoint_is_refused(ledger_dir: Path) -> None:
    (ledger_dir / "checkpoint").unlink()
    assert verify_error(ledger_dir) == f"ledger checkpoint {ledger_dir / 'checkpoint'} is missing"


def test_errors_never_contain_payload_values(ledger_dir: Path) -> None:
    lines = read_lines(ledger_dir)
    lines[1] = lines[1].replace("Saint-Éloi".encode(), b"Saint-Eloi")
    write_lines(ledger_dir, lines)
    message = verify_error(ledger_dir)
    assert message == "ledger entry 1 (line 2): hash mismatch — the entry was modified"
    assert "Eloi" not in message


# --- writing ----------------------------------------------------------------------------


def new_ledger(directory: Path, **kwargs: object) -> Ledger:
    return Ledger.create(
        directory,
        signing_key=KEY,
        origin=ORIGIN,
        actor="tester",
        payload={"securetune": "0.1.0"},
        clock=kwargs.pop("clock", ticking_clock()),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def test_create_writes_genesis_and_a_signed_checkpoint(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "l")
    (genesis,) = ledger.entries()
    assert (genesis.seq, genesis.event, genesis.prev) == (0, "init", GENESIS_PREV)
    assert genesis.ts == "2025-06-01T00:00:01.000000Z"
    assert ledger.size == 1
    assert verify_ledger(tmp_path / "l", PUBLIC).checkpoint_size == 1


def test_create_refuses_an_existing_ledger(tmp_path: Path) -> None:
    new_ledger(tmp_path / "l")
    with pytest.raises(LedgerError, match="a ledger already exists in"):
        new_ledger(tmp_path / "l")


def test_open_refuses_a_missing_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no ledger in"):
        Ledger.open(tmp_path)


def test_append_then_checkpoint_verifies_and_is_one_line_per_entry(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "l")
    entry = ledger.append("dataset.encrypt", {"shards": 3, "epsilon": 0.5}, actor="tester")
    assert (entry.seq, entry.prev) == (1, next(iter(ledger.entries())).hash)
    assert len(read_lines(tmp_path / "l")) == 2
    cp = ledger.write_checkpoint(KEY)
    assert cp.size == 2
    assert verify_ledger(tmp_path / "l", PUBLIC, trusted=cp).events == {
        "init": 1,
        "dataset.encrypt": 1,
    }


def test_open_is_cheap_it_does_not_rehash_the_log(ledger_dir: Path) -> None:
    lines = read_lines(ledger_dir)
    lines[2] = lines[2].replace(b'"shards":3', b'"shards":4')
    write_lines(ledger_dir, lines)
    ledger = Ledger.open(ledger_dir)  # only the tail is read
    assert ledger.size == 8


def test_write_checkpoint_refuses_to_bless_a_tampered_history(ledger_dir: Path) -> None:
    lines = read_lines(ledger_dir)
    rebuilt = [*lines[:2], forge(2, hash_of(lines[1]))]
    for line in lines[3:]:
        fields = json.loads(line)
        fields["prev"] = hash_of(rebuilt[-1])
        rebuilt.append(forge(**fields))
    write_lines(ledger_dir, rebuilt)
    ledger = Ledger.open(ledger_dir, clock=ticking_clock())
    ledger.append("check.run", {"passed": True}, actor="tester")
    with pytest.raises(LedgerError, match="refusing to sign: the log no longer matches"):
        ledger.write_checkpoint(KEY)


def test_write_checkpoint_refuses_entries_someone_else_appended(ledger_dir: Path) -> None:
    Ledger.open(ledger_dir, clock=ticking_clock()).append("check.run", {}, actor="mallory")
    ledger = Ledger.open(ledger_dir, clock=ticking_clock())
    with pytest.raises(LedgerError, match="refusing to sign: the log had 1 unsigned entries"):
        ledger.write_checkpoint(KEY)


def test_append_refuses_when_another_writer_changed_the_log(ledger_dir: Path) -> None:
    first = Ledger.open(ledger_dir, clock=ticking_clock())
    Ledger.open(ledger_dir, clock=ticking_clock()).append("check.run", {}, actor="other")
    with pytest.raises(LedgerError, match="ledger log changed since it was opened"):
        first.append("check.run", {}, actor="tester")


def test_write_checkpoint_refuses_another_key(ledger_dir: Path) -> None:
    ledger = Ledger.open(ledger_dir, clock=ticking_clock())
    ledger.append("check.run", {}, actor="tester")
    with pytest.raises(LedgerError, match="not signed by the expected key"):
        ledger.write_checkpoint(OTHER_KEY)


def test_genesis_event_is_reserved(ledger_dir: Path) -> None:
    with pytest.raises(LedgerError, match="reserved for the genesis entry"):
        Ledger.open(ledger_dir).append("init", {}, actor="tester")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"loss": math.nan}, "ledger payload.loss: NaN and infinity have no RFC 8785 form"),
        ({"m": {"x": math.inf}}, "ledger payload.m.x: NaN and infinity"),
        ({"n": 2**60}, "ledger payload.n: integer outside RFC 8785's exact range"),
        ({"l": [1, {"k": object()}]}, "ledger payload.l\\[1\\].k: type object is not JSON"),
        ({1: "x"}, "ledger payload: object keys must be strings"),
        ({"note": "x" * (MAX_PAYLOAD_STRING + 1)}, "ledger payload.note: string longer than"),
    ],
)
def test_payloads_the_ledger_must_not_hold_are_refused(
    tmp_path: Path, payload: dict, message: str
) -> None:
    ledger = new_ledger(tmp_path / "l")
    with pytest.raises(LedgerError, match=message) as err:
        ledger.append("train.epoch", payload, actor="tester")
    assert "xxxx" not in str(err.value)
    assert ledger.size == 1 and len(read_lines(tmp_path / "l")) == 1


def test_a_naive_clock_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        new_ledger(tmp_path / "l", clock=lambda: datetime(2025, 1, 1))


def test_timestamps_are_rfc3339_utc_whatever_the_clock_zone(tmp_path: Path) -> None:
    paris = timezone(timedelta(hours=2))
    ledger = new_ledger(tmp_path / "l", clock=lambda: datetime(2025, 6, 1, 14, 0, tzinfo=paris))
    assert next(iter(ledger.entries())).ts == "2025-06-01T12:00:00.000000Z"


# --- canonical JSON -----------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_fast_canonicalisation_equals_rfc8785(value: object) -> None:
    expected = rfc8785.dumps(value)
    loose = json.dumps(value, ensure_ascii=True, indent=1).encode()  # a non-canonical form
    for text in (expected, loose):
        assert canonicalize_text(text).canonical == expected


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_es_number_equals_rfc8785(value: float) -> None:
    assert es_number(value).encode() == rfc8785.dumps(value)


def test_canonical_json_orders_keys_by_utf16_code_units() -> None:
    """U+FB01 sorts after U+1F600 in UTF-16 (0xD83D < 0xFB01) but before it by code point."""
    value = {"\U0001f600": 1, "\ufb01": 2}
    assert canonical_json(value) == '{"\U0001f600":1,"\ufb01":2}'.encode()
    assert canonicalize_text(json.dumps(value).encode()).canonical == canonical_json(value)


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.text(max_size=6), JSON, max_size=4))
def test_any_payload_the_writer_accepts_verifies(tmp_path_factory, payload: dict) -> None:
    directory = tmp_path_factory.mktemp("l")
    ledger = new_ledger(directory / "l", durable=False)
    try:
        entry = ledger.append("train.epoch", payload, actor="tester")
    except LedgerError:
        return  # refused (e.g. nested too deep): nothing was written
    ledger.write_checkpoint(KEY)
    assert verify_ledger(directory / "l", PUBLIC).entries == 2
    assert list(ledger.entries())[1] == entry
