"""Signed ledger checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes (Ed25519).

A checkpoint commits to a log of ``size`` entries by its RFC 6962 Merkle root. We use the
formats the transparency-log ecosystem already uses (Go's sumdb, Sigstore's Rekor,
Trillian, ``golang.org/x/mod/sumdb/note``), so an auditor can check our checkpoints with
their tools, and we do not invent a signature envelope. Specifications:

* https://c2sp.org/tlog-checkpoint : the body is ``origin\\n``, the decimal tree size
  ``\\n`` (no leading zeros), the base64 (standard, padded) root hash ``\\n``, then zero or
  more non-empty extension lines.
* https://c2sp.org/signed-note : the note is the text, one empty line, and one line per
  signature: ``"— " name " " base64(key_hash[4] || signature) "\\n"``. For Ed25519 the key
  hash is the first 4 bytes of ``SHA-256(name || "\\n" || 0x01 || public_key)`` and the
  signature covers exactly the text (including its final newline).
* The verifier key, printed by ``securetune audit pubkey``, is
  ``name "+" hex(key_hash) "+" base64(0x01 || public_key)``.

Parsing is strict and round-trips: :meth:`Checkpoint.from_body` and
:meth:`SignedNote.from_bytes` accept only what the matching serialiser emits, so the
signed bytes have exactly one meaning.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from securetune.errors import LedgerError

#: C2SP signed-note signature type byte for Ed25519.
SIGNATURE_TYPE_ED25519 = 0x01
#: Signature lines start with an em dash (U+2014) and a space.
SIGNATURE_LINE_PREFIX = "\u2014 ".encode()
#: golang.org/x/mod/sumdb/note refuses notes with more signatures than this.
MAX_SIGNATURES = 100
#: The root hash is a SHA-256 digest (RFC 6962).
ROOT_SIZE = 32
_KEY_HASH_SIZE = 4
_ED25519_SIGNATURE_SIZE = 64
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log ``origin`` has ``size`` entries whose Merkle root is ``root``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_origin(self.origin)
        if self.size < 0:
            raise LedgerError("checkpoint: tree size must not be negative")
        if len(self.root) != ROOT_SIZE:
            raise LedgerError(f"checkpoint: root hash must be {ROOT_SIZE} bytes")
        for line in self.extensions:
            if not line or not _is_printable_line(line):
                raise LedgerError("checkpoint: extension lines must be non-empty printable text")

    def to_body(self) -> bytes:
        """Serialise as a C2SP tlog-checkpoint body (the signed note's text)."""
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return "".join(line + "\n" for line in lines).encode()

    @classmethod
    def from_body(cls, body: bytes) -> Checkpoint:
        """Parse a tlog-checkpoint body; LedgerError unless it round-trips byte for byte."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise LedgerError("checkpoint: body is not UTF-8") from None
        if not text.endswith("\n"):
            raise LedgerError("checkpoint: body must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise LedgerError("checkpoint: body needs origin, size and root lines")
        origin, size_text, root_text, *extensions = lines
        if not _SIZE_RE.fullmatch(size_text):
            raise LedgerError("checkpoint: tree size is not a decimal without leading zeros")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error:
            raise LedgerError("checkpoint: root hash is not valid base64") from None
        checkpoint = cls(origin, int(size_text), root, tuple(extensions))
        if checkpoint.to_body() != body:
            raise LedgerError("checkpoint: body is not in canonical form")
        return checkpoint


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a signed note."""

    name: str
    key_hash: bytes
    signature: bytes

    def to_line(self) -> bytes:
        blob = base64.b64encode(self.key_hash + self.signature).decode()
        return SIGNATURE_LINE_PREFIX + f"{self.name} {blob}\n".encode()


@dataclass(frozen=True)
class SignedNote:
    """A C2SP signed note: ``text`` (ending in a newline) and its signatures."""

    text: bytes
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        return self.text + b"\n" + b"".join(sig.to_line() for sig in self.signatures)

    @classmethod
    def from_bytes(cls, note: bytes) -> SignedNote:
        """Split a note into text and signature lines; LedgerError if malformed."""
        try:
            decoded = note.decode("utf-8")
        except UnicodeDecodeError:
            raise LedgerError("signed note is not UTF-8") from None
        if any(ch < " " and ch != "\n" for ch in decoded):
            raise LedgerError("signed note contains control characters")
        split = note.rfind(b"\n\n")
        if split < 0 or not note.endswith(b"\n"):
            raise LedgerError("signed note has no signature block")
        text, block = note[: split + 1], note[split + 2 :]
        signatures = tuple(_parse_signature_line(line) for line in block[:-1].split(b"\n"))
        if len(signatures) > MAX_SIGNATURES:
            raise LedgerError(f"signed note has more than {MAX_SIGNATURES} signatures")
        parsed = cls(text, signatures)
        if parsed.to_bytes() != note:
            raise LedgerError("signed note is not in canonical form")
        return parsed


def _parse_signature_line(line: bytes) -> NoteSignature:
    if not line.startswith(SIGNATURE_LINE_PREFIX):
        raise LedgerError("signed note: a signature line does not start with an em dash")
    name, sep, blob = line[len(SIGNATURE_LINE_PREFIX) :].decode().partition(" ")
    if not sep or not _is_valid_key_name(name):
        raise LedgerError("signed note: a signature line has an invalid key name")
    try:
        raw = base64.b64decode(blob, validate=True)
    except binascii.Error:
        raise LedgerError("signed note: a signature is not valid base64") from None
    if len(raw) <= _KEY_HASH_SIZE:
        raise LedgerError("signed note: a signature is too short")
    return NoteSignature(name, raw[:_KEY_HASH_SIZE], raw[_KEY_HASH_SIZE:])


def _is_valid_key_name(name: str) -> bool:
    """signed-note key names are non-empty, without Unicode whitespace or ``+``."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def _is_printable_line(line: str) -> bool:
    return "\n" not in line and not any(ch < " " or ch == "\x7f" for ch in line)


def _check_origin(origin: str) -> None:
    """The origin doubles as the signing key name, so it must be a valid key name."""
    if not _is_valid_key_name(origin) or not _is_printable_line(origin):
        raise LedgerError(
            "checkpoint: origin must be non-empty, without whitespace, '+' or control characters"
        )


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_hash(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """Return the 4-byte signed-note key hash that binds ``key_name`` to ``public_key``."""
    if not _is_valid_key_name(key_name):
        raise LedgerError("signed note: invalid key name")
    material = key_name.encode() + b"\n" + bytes([SIGNATURE_TYPE_ED25519])
    return hashlib.sha256(material + _raw_public_key(public_key)).digest()[:_KEY_HASH_SIZE]


def verifier_key(key_name: str, public_key: Ed25519PublicKey) -> str:
    """Return the signed-note verifier key ``name+hexkeyhash+base64(0x01||pubkey)``."""
    blob = base64.b64encode(bytes([SIGNATURE_TYPE_ED25519]) + _raw_public_key(public_key))
    return f"{key_name}+{key_hash(key_name, public_key).hex()}+{blob.decode()}"


def parse_verifier_key(vkey: str) -> tuple[str, Ed25519PublicKey]:
    """Parse a verifier key string; LedgerError unless it is a consistent Ed25519 key."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise LedgerError("verifier key must look like name+keyhash+base64key")
    name, hash_hex, blob = parts
    try:
        raw = base64.b64decode(blob, validate=True)
    except binascii.Error:
        raise LedgerError("verifier key: key is not valid base64") from None
    if len(raw) != 33 or raw[0] != SIGNATURE_TYPE_ED25519:
        raise LedgerError("verifier key: not an Ed25519 key")
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if hash_hex != key_hash(name, public_key).hex():
        raise LedgerError("verifier key: key hash does not match the name and key")
    return name, public_key


def sign_checkpoint(cp: Checkpoint, signing_key: Ed25519PrivateKey, key_name: str) -> bytes:
    """Return the signed note carrying ``cp``, signed by ``signing_key`` as ``key_name``."""
    text = cp.to_body()
    signature = NoteSignature(
        key_name, key_hash(key_name, signing_key.public_key()), signing_key.sign(text)
    )
    return SignedNote(text, (signature,)).to_bytes()


def open_signed_checkpoint(note: bytes, public_key: Ed25519PublicKey, key_name: str) -> Checkpoint:
    """Verify the signature of ``key_name``/``public_key`` on ``note``; return its checkpoint.

    Signatures by other keys are ignored, as signed-note requires; the note is accepted
    only if it carries a valid signature by the expected key. Raises LedgerError naming the
    problem: malformed note, no signature by this key, or a signature that fails.
    """
    parsed = SignedNote.from_bytes(note)
    expected = key_hash(key_name, public_key)
    ours = [s for s in parsed.signatures if s.name == key_name and s.key_hash == expected]
    if not ours:
        found = ", ".join(f"{s.name}+{s.key_hash.hex()}" for s in parsed.signatures)
        raise LedgerError(
            f"checkpoint is not signed by the expected key {key_name}+{expected.hex()} "
            f"(signed by: {found}) — it was replaced or signed with another key"
        )
    for sig in ours:
        if len(sig.signature) != _ED25519_SIGNATURE_SIZE:
            raise LedgerError("checkpoint signature has the wrong length — it was modified")
        try:
            public_key.verify(sig.signature, parsed.text)
        except InvalidSignature:
            raise LedgerError(
                "checkpoint signature does not verify — the checkpoint was modified"
            ) from None
    return Checkpoint.from_body(parsed.text)


def peek_origin(note: bytes) -> str:
    """Return the origin line of a signed checkpoint *without* verifying it.

    Used to learn the key name (the origin) before verification, and by ``Ledger.open``,
    which must not need the public key. Never trust anything else read this way.
    """
    first, sep, _ = note.partition(b"\n")
    if not sep:
        raise LedgerError("checkpoint is malformed: no origin line")
    try:
        origin = first.decode("utf-8")
    except UnicodeDecodeError:
        raise LedgerError("checkpoint is malformed: origin is not UTF-8") from None
    _check_origin(origin)
    return origin
