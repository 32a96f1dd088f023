"""C2SP tlog-checkpoint bodies and signed notes: round trips, vectors, and refusals."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from securetune.audit.checkpoint import (
    Checkpoint,
    NoteSignature,
    SignedNote,
    key_hash,
    open_signed_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    verifier_key,
)
from securetune.errors import LedgerError

FIXTURES = Path(__file__).parent / "fixtures"
DOCS = Path(__file__).parents[2] / "docs" / "LEDGER.md"

# The worked example of docs/LEDGER.md: the released fixture's final checkpoint, signed
# with the fixture key (seed = bytes 0x00..0x1f).
ORIGIN = "hospital.example/securetune/ws-fixture"
SEED = bytes(range(32))
ROOT_HEX = "f28a7ca188adafc2e46b962a376a973c6898216a6930b2a447ed87632e0418db"
EXAMPLE_NOTE = (
    "hospital.example/securetune/ws-fixture\n"
    "8\n"
    "8op8oYitr8Lka5YqN2qXPGiYIWppMLKkR+2HYy4EGNs=\n"
    "\n"
    "— hospital.example/securetune/ws-fixture "
    "Q5vDOap8RCWludq7B0htDStmG9LV5GP7J1AsctXcI7UXdv/6vtfU8sAK1mz/ZHidJNdIRB7mBi5Rh4WXMd3vRNw2IwI=\n"
).encode()
EXAMPLE_VKEY = (
    "hospital.example/securetune/ws-fixture+439bc339+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
)

# golang.org/x/mod/sumdb/note's documented example: an interoperability vector.
GO_PRIVATE = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
).encode()


def fixture_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(SEED)


def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"someone else").digest())


def example_checkpoint() -> Checkpoint:
    return Checkpoint(ORIGIN, 8, bytes.fromhex(ROOT_HEX))


def test_worked_example_is_pinned() -> None:
    assert sign_checkpoint(example_checkpoint(), fixture_key(), ORIGIN) == EXAMPLE_NOTE
    assert verifier_key(ORIGIN, fixture_key().public_key()) == EXAMPLE_VKEY


def test_worked_example_matches_the_spec_and_the_fixture() -> None:
    doc = DOCS.read_text(encoding="utf-8")
    assert EXAMPLE_NOTE.decode() in doc
    assert EXAMPLE_VKEY in doc
    assert (FIXTURES / "ledger-v1" / "checkpoint").read_bytes() == EXAMPLE_NOTE
    assert (FIXTURES / "ledger-v1.pub").read_text().strip() == EXAMPLE_VKEY


def test_key_hash_is_sha256_of_name_newline_type_and_key() -> None:
    public = fixture_key().public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    expected = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4]
    assert key_hash(ORIGIN, public) == expected


def test_go_sumdb_note_vector_signs_and_verifies_identically() -> None:
    """Our signed notes are byte-identical to golang.org/x/mod/sumdb/note's."""
    seed = base64.b64decode(GO_PRIVATE.split("+", 4)[4])[1:]
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert verifier_key("PeterNeumann", key.public_key()) == GO_VKEY
    name, public = parse_verifier_key(GO_VKEY)
    note = SignedNote.from_bytes(GO_NOTE)
    assert note.to_bytes() == GO_NOTE
    (sig,) = note.signatures
    public.verify(sig.signature, note.text)  # raises if not
    assert name == sig.name == "PeterNeumann"
    resigned = NoteSignature(name, key_hash(name, public), key.sign(note.text))
    assert SignedNote(note.text, (resigned,)).to_bytes() == GO_NOTE


def test_parse_then_serialise_gives_back_the_same_bytes() -> None:
    for path in (FIXTURES / "ledger-v1" / "checkpoint", FIXTURES / "ledger-v1.trusted"):
        raw = path.read_bytes()
        note = SignedNote.from_bytes(raw)
        assert note.to_bytes() == raw
        assert Checkpoint.from_body(note.text).to_body() == note.text


def test_open_returns_the_signed_checkpoint() -> None:
    cp = open_signed_checkpoint(EXAMPLE_NOTE, fixture_key().public_key(), ORIGIN)
    assert cp == example_checkpoint()


def test_extension_lines_round_trip_and_are_signed() -> None:
    cp = Checkpoint(ORIGIN, 3, bytes(32), ("ts 2025-03-01T09:00:00Z",))
    note = sign_checkpoint(cp, fixture_key(), ORIGIN)
    assert open_signed_checkpoint(note, fixture_key().public_key(), ORIGIN) == cp
    dropped = note.replace(b"ts 2025-03-01T09:00:00Z\n", b"")
    with pytest.raises(LedgerError, match="signature does not verify"):
        open_signed_checkpoint(dropped, fixture_key().public_key(), ORIGIN)


def test_cosignatures_by_other_keys_are_ignored() -> None:
    note = SignedNote.from_bytes(EXAMPLE_NOTE)
    witness = other_key()
    extra = NoteSignature(
        "witness", key_hash("witness", witness.public_key()), witness.sign(note.text)
    )
    cosigned = SignedNote(note.text, (extra, *note.signatures)).to_bytes()
    assert (
        open_signed_checkpoint(cosigned, fixture_key().public_key(), ORIGIN) == example_checkpoint()
    )


def test_another_key_is_named_in_the_error() -> None:
    forged = sign_checkpoint(example_checkpoint(), other_key(), ORIGIN)
    theirs = key_hash(ORIGIN, other_key().public_key()).hex()
    with pytest.raises(LedgerError) as err:
        open_signed_checkpoint(forged, fixture_key().public_key(), ORIGIN)
    assert str(err.value) == (
        f"checkpoint is not signed by the expected key {ORIGIN}+439bc339 (signed by: "
        f"{ORIGIN}+{theirs}) — it was replaced or signed with another key"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"\n8\n", b"\n9\n"),  # size
        (b"8op8", b"9op8"),  # root
        (b"ws-fixture\n8", b"ws-fixturf\n8"),  # origin (key name no longer matches)
    ],
)
def test_a_modified_body_fails(old: bytes, new: bytes) -> None:
    tampered = EXAMPLE_NOTE.replace(old, new, 1)
    with pytest.raises(LedgerError):
        open_signed_checkpoint(tampered, fixture_key().public_key(), ORIGIN)


def test_a_modified_signature_fails() -> None:
    note = SignedNote.from_bytes(EXAMPLE_NOTE)
    (sig,) = note.signatures
    flipped = bytes([sig.signature[0] ^ 1]) + sig.signature[1:]
    bad = SignedNote(note.text, (NoteSignature(sig.name, sig.key_hash, flipped),)).to_bytes()
    with pytest.raises(LedgerError, match="signature does not verify"):
        open_signed_checkpoint(bad, fixture_key().public_key(), ORIGIN)


def test_non_canonical_base64_in_a_signature_is_refused() -> None:
    """Padding bits that decoders ignore must not give the same signature a second form."""
    assert EXAMPLE_NOTE.endswith(b"IwI=\n")
    other_form = EXAMPLE_NOTE[: -len(b"IwI=\n")] + b"IwJ=\n"
    with pytest.raises(LedgerError, match="not in canonical form"):
        open_signed_checkpoint(other_form, fixture_key().public_key(), ORIGIN)


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (b"", "no signature block"),
        (EXAMPLE_NOTE.replace(b"=\n\n", b"=\n"), "no signature block"),
        (EXAMPLE_NOTE.replace(b"\xe2\x80\x94 ", b"-- "), "em dash"),
        (EXAMPLE_NOTE.replace(b"\n", b"\r\n"), "control characters"),
        (EXAMPLE_NOTE[:-1], "no signature block"),
        (EXAMPLE_NOTE + b"\n", "em dash"),
        (b"\xff" + EXAMPLE_NOTE, "not UTF-8"),
    ],
)
def test_malformed_notes_are_refused(note: bytes, message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        open_signed_checkpoint(note, fixture_key().public_key(), ORIGIN)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"o\n08\n" + base64.b64encode(bytes(32)) + b"\n", "leading zeros"),
        (b"o\n-1\n" + base64.b64encode(bytes(32)) + b"\n", "leading zeros"),
        (b"o\n8\n" + base64.b64encode(bytes(31)) + b"\n", "32 bytes"),
        (b"o\n8\nAA*A\n", "base64"),
        (b"o\n8\n", "origin, size and root"),
        (b"o\n8\n" + base64.b64encode(bytes(32)), "end with a newline"),
        (b"o\n8\n" + base64.b64encode(bytes(32)) + b"\n\n", "extension lines"),
        (b"o o\n8\n" + base64.b64encode(bytes(32)) + b"\n", "origin"),
        (b"o+x\n8\n" + base64.b64encode(bytes(32)) + b"\n", "origin"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        Checkpoint.from_body(body)


def test_verifier_key_round_trips_and_rejects_a_wrong_key_hash() -> None:
    name, public = parse_verifier_key(EXAMPLE_VKEY)
    assert verifier_key(name, public) == EXAMPLE_VKEY
    with pytest.raises(LedgerError, match="key hash does not match"):
        parse_verifier_key(EXAMPLE_VKEY.replace("+439bc339+", "+439bc33a+"))
    with pytest.raises(LedgerError, match="name\\+keyhash\\+base64key"):
        parse_verifier_key("just-a-name")
