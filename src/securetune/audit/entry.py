"""The ledger's entry format (docs/LEDGER.md §2-§4): fields, strict parsing, payload rules,
and which Merkle leaf each format version signs.

Shared by the writer (:mod:`securetune.audit.writer`) and the pure verifier
(:mod:`securetune.audit.verify`); neither reaches into the other.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from securetune.audit.canonical import (
    CanonicalJSONError,
    canonical_json,
    canonicalize_text,
    parse_json,
    sha256_hex,
)
from securetune.audit.merkle import hash_leaf, root_from_leaf_hashes
from securetune.errors import LedgerError

#: Entry format version written in every entry's ``v`` of a new ledger. v2 signs RFC 6962
#: roots (leaf hash ``SHA-256(0x00 || entry hash)``); v1 signed the entry hashes themselves
#: as the tree's leaves, which standard inclusion proofs cannot check (docs/LEDGER.md §9).
FORMAT_VERSION = 2
#: Versions a reader accepts. A v1 ledger verifies; writers upgrade it with ``upgrade()``.
SUPPORTED_VERSIONS = (1, 2)
#: The event that starts v2 in a ledger that began as v1.
UPGRADE_EVENT = "ledger.upgrade"
#: ``prev`` of the genesis entry (seq 0).
GENESIS_PREV = "0" * 64
#: The event of the genesis entry; no other entry may use it.
GENESIS_EVENT = "init"
LOG_FILE = "log.jsonl"
CHECKPOINT_FILE = "checkpoint"
#: The compact range of the signed tree (public, like the log): lets a writer sign the next
#: checkpoint in O(log n). Trusted only when its root equals the signed checkpoint's root.
TREE_FILE = "tree.json"
#: Payload strings longer than this are refused: ledger payloads hold hashes, counts,
#: parameters and versions, and a long string is most likely record text by mistake.
MAX_PAYLOAD_STRING = 1024
#: Maximum nesting of payload objects and arrays.
MAX_PAYLOAD_DEPTH = 8
#: Maximum size of one entry's canonical JSON.
MAX_ENTRY_BYTES = 64 * 1024
MAX_ACTOR_LENGTH = 256

_FIELDS = ("v", "seq", "ts", "actor", "event", "payload", "prev", "hash")
_FIELD_SET = frozenset(_FIELDS)
_HASH_RE = re.compile(r"[0-9a-f]{64}")
_EVENT_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_ACTOR_RE = re.compile(r"[^\x00-\x1f\x7f]+")
_STRING_FIELDS = (
    ("ts", _TS_RE),
    ("actor", _ACTOR_RE),
    ("event", _EVENT_RE),
    ("prev", _HASH_RE),
    ("hash", _HASH_RE),
)


def utc_now() -> datetime:
    """The default clock: the current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def format_ts(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with microseconds (``...T12:00:00.000000Z``).

    A fixed width keeps entries comparable as strings; naive datetimes are refused because
    their meaning depends on the machine that wrote them.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the ledger clock must return a timezone-aware datetime")
    return moment.astimezone(timezone.utc).strftime(_TS_FORMAT)


@dataclass(frozen=True)
class Entry:
    """One ledger entry, as stored on one line of ``log.jsonl``."""

    v: int
    seq: int
    ts: str
    actor: str
    event: str
    payload: dict
    prev: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The hashed content: every field except ``hash``."""
        return {
            "v": self.v,
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "event": self.event,
            "payload": self.payload,
            "prev": self.prev,
        }

    def compute_hash(self) -> str:
        """Hex SHA-256 of the RFC 8785 canonical JSON of :meth:`body`."""
        return sha256_hex(canonical_json(self.body()))

    def to_json_line(self) -> bytes:
        """The canonical JSON of the whole entry followed by ``\\n``, as written to the log."""
        return canonical_json({**self.body(), "hash": self.hash}) + b"\n"

    @classmethod
    def from_json_line(cls, line: bytes, *, line_no: int | None = None) -> Entry:
        """Parse one log line strictly: valid schema, canonical bytes and a matching hash.

        ``line_no`` (1-based) is only used to name the line in the LedgerError.
        """
        return _parse_line(line.removesuffix(b"\n"), line_no or 0)


def _where(line_no: int, seq: int | None = None) -> str:
    """Name an entry in an error by its sequence number and/or 1-based line number."""
    if seq is None:
        return f"ledger line {line_no}" if line_no else "ledger entry"
    return f"ledger entry {seq} (line {line_no})" if line_no else f"ledger entry {seq}"


def _parse_line(line: bytes, line_no: int) -> Entry:
    """Parse one line (without its newline) strictly into an :class:`Entry`."""
    obj, view_has_floats = _check_line(line, line_no)
    if view_has_floats:  # the view holds stand-ins for floats; the payload needs the real values
        obj = {**obj, "payload": parse_json(line)["payload"]}
    return Entry(**obj)


def _written_by_a_writer(line: bytes, *, exact_numbers: bool) -> dict[str, Any] | None:
    """Parse ``line`` if it is byte for byte what a writer wrote, else None (no error).

    A writer hashes the canonical bytes of the entry without ``hash`` and inserts the hash
    member at its sorted place, right before ``,"payload":`` (only the actor and event
    strings come before it, and inside them every quote is escaped). So if cutting the
    member out of the line gives bytes whose SHA-256 is the claimed hash, and the member
    sat exactly there, the line is those canonical bytes plus the member: canonical. This
    spares re-encoding every entry, which is most of verification's cost; any line that
    fails it takes the full path, which names what is wrong.
    """
    try:
        # parse_json reads integers past 2**53 as doubles (RFC 8785's number model), which
        # only the payload's values need; the chain checks read fields that are never such.
        obj = parse_json(line) if exact_numbers else json.loads(line.decode())
    except ValueError:  # UnicodeDecodeError included
        return None
    digest = obj.get("hash") if type(obj) is dict else None
    if type(digest) is not str or not _HASH_RE.fullmatch(digest):
        return None
    member = b',"hash":"' + digest.encode() + b'"'
    at = line.find(member)
    if at < 0 or line.find(b',"payload":') != at + len(member):
        return None
    hashed = hashlib.sha256(memoryview(line)[:at])
    hashed.update(memoryview(line)[at + len(member) :])
    if hashed.hexdigest() != digest:
        return None
    return obj


def _check_line(
    line: bytes, line_no: int, *, exact_numbers: bool = True
) -> tuple[dict[str, Any], bool]:
    """Check one line in isolation (chain checks are separate); return its parsed view.

    Order: JSON, schema, hash, canonical bytes. The hash comes before the byte-for-byte
    check so that a modified entry is reported as modified, not merely as oddly formatted.
    """
    written = _written_by_a_writer(line, exact_numbers=exact_numbers)
    if written is not None:
        _check_schema(written, line_no)
        return written, False
    try:
        parsed = canonicalize_text(line)
    except CanonicalJSONError as err:
        raise LedgerError(f"{_where(line_no)}: holds {err} — the entry was modified") from None
    except ValueError:
        raise LedgerError(
            f"{_where(line_no)}: not valid JSON — the entry was modified or torn"
        ) from None
    obj = parsed.view
    if type(obj) is not dict:
        raise LedgerError(f"{_where(line_no)}: not a JSON object — the entry was modified")
    _check_schema(obj, line_no)
    if sha256_hex(_without_hash_member(parsed.canonical, obj["hash"])) != obj["hash"]:
        raise LedgerError(f"{_where(line_no, obj['seq'])}: hash mismatch — the entry was modified")
    if parsed.canonical != line:
        raise LedgerError(
            f"{_where(line_no, obj['seq'])}: not in RFC 8785 canonical form — the line was modified"
        )
    return obj, parsed.view_has_floats


def _without_hash_member(canonical: bytes, digest: str) -> bytes:
    """Cut the ``hash`` member out of an entry's canonical bytes: the bytes that are hashed.

    This saves canonicalising every entry twice during verification. RFC 8785 writes the
    members in key order ``actor, event, hash, payload, ...``, so the member is exactly
    ``,"hash":"<digest>"`` and its first occurrence is the member itself: only the actor
    and event strings come before it, and inside a JSON string every quote is escaped.
    """
    member = b',"hash":"' + digest.encode() + b'"'
    cut = canonical.find(member)
    return canonical[:cut] + canonical[cut + len(member) :]


def _check_schema(obj: dict[str, Any], line_no: int) -> None:
    """Check the fields of a parsed entry. Messages name fields, never their values."""
    if obj.keys() != _FIELD_SET:
        missing = sorted(_FIELD_SET - obj.keys())
        extra = len(obj.keys() - _FIELD_SET)
        raise LedgerError(
            f"{_where(line_no)}: wrong fields (missing {missing or 'none'}, {extra} unknown)"
            " — the entry was modified"
        )
    v, seq = obj["v"], obj["seq"]
    if type(v) is not int or v not in SUPPORTED_VERSIONS:
        raise LedgerError(f"{_where(line_no)}: unsupported format version (field 'v')")
    if type(seq) is not int or seq < 0:
        raise LedgerError(f"{_where(line_no)}: field 'seq' must be a non-negative integer")
    for field, pattern in _STRING_FIELDS:
        value = obj[field]
        if type(value) is not str or not pattern.fullmatch(value):
            raise LedgerError(
                f"{_where(line_no, seq)}: field '{field}' is malformed — the entry was modified"
            )
    if type(obj["payload"]) is not dict:
        raise LedgerError(f"{_where(line_no, seq)}: field 'payload' must be an object")


def _normalise_payload(value: Any, path: str, depth: int = 0) -> Any:
    """Copy a payload into plain JSON types, refusing what the ledger must not hold.

    Errors name the field path (``payload.metrics.loss``), never the value.
    """
    if depth > MAX_PAYLOAD_DEPTH:
        raise LedgerError(f"ledger {path}: nested deeper than {MAX_PAYLOAD_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > 2**53 - 1:
            raise LedgerError(f"ledger {path}: integer outside RFC 8785's exact range")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LedgerError(f"ledger {path}: NaN and infinity have no RFC 8785 form")
        return float(value)
    if isinstance(value, str):
        if len(value) > MAX_PAYLOAD_STRING:
            raise LedgerError(
                f"ledger {path}: string longer than {MAX_PAYLOAD_STRING} characters; "
                "ledger payloads hold hashes, counts, parameters and versions, not text"
            )
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise LedgerError(f"ledger {path}: object keys must be strings")
            out[key] = _normalise_payload(item, f"{path}.{key}", depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_normalise_payload(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise LedgerError(f"ledger {path}: type {type(value).__name__} is not JSON")


def tree_leaves(entry_hashes: Sequence[bytes], upgrade_at: int | None) -> list[bytes]:
    """The Merkle leaf hashes a checkpoint over these entries signs.

    From format v2 on, a leaf is RFC 6962's ``SHA-256(0x00 || entry hash)`` for *every*
    entry, including the v1 entries before the upgrade. A checkpoint whose entries are all
    v1 (``upgrade_at`` is None, or not within them) signed the entry hashes themselves.
    The scheme is thus fixed by the signed entries, which nobody can change without the key.
    """
    if upgrade_at is None or len(entry_hashes) <= upgrade_at:
        return list(entry_hashes)
    return [hash_leaf(h) for h in entry_hashes]


def tree_root(entry_hashes: Sequence[bytes], upgrade_at: int | None) -> bytes:
    """The root a checkpoint over exactly ``entry_hashes`` signs (see :func:`tree_leaves`)."""
    return root_from_leaf_hashes(tree_leaves(entry_hashes, upgrade_at))
