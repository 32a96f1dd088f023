"""The append-only, hash-chained, Merkle-checkpointed audit ledger (spec: docs/LEDGER.md).

A ledger directory holds two files, kept apart so that each protects the other:

* ``log.jsonl``: one entry per line, each the RFC 8785 canonical JSON of
  ``{v, seq, ts, actor, event, payload, prev, hash}``. ``hash`` is the hex SHA-256 of the
  canonical JSON of the entry without ``hash``; ``prev`` is the previous entry's hash.
* ``checkpoint``: a C2SP signed note over a tlog-checkpoint of the RFC 6962 Merkle root of
  all entry hashes, signed with the workspace's Ed25519 key after every command.

The chain lets :func:`verify_ledger` name the first entry that was modified, removed,
inserted or moved; the signed checkpoint catches what a chain alone cannot (a rewritten
or truncated tail, unsigned additions); a checkpoint the user keeps *outside* the
workspace (``trusted``) catches rollback of both files to an older, validly signed state.

Writers: one process at a time. The caller holds the workspace lock; the ledger checks
the file length before every append and refuses to write if someone else has.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from securetune.audit.canonical import (
    CanonicalJSONError,
    canonical_json,
    canonicalize_text,
    parse_json,
    sha256_hex,
)
from securetune.audit.checkpoint import (
    Checkpoint,
    open_signed_checkpoint,
    peek_origin,
    sign_checkpoint,
)
from securetune.audit.merkle import root_from_leaf_hashes
from securetune.errors import LedgerError
from securetune.fsutil import atomic_write_bytes, fsync_dir

#: Entry format version written in every entry's ``v``.
FORMAT_VERSION = 1
#: ``prev`` of the genesis entry (seq 0).
GENESIS_PREV = "0" * 64
#: The event of the genesis entry; no other entry may use it.
GENESIS_EVENT = "init"
LOG_FILE = "log.jsonl"
CHECKPOINT_FILE = "checkpoint"
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


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify_ledger` established about a ledger that verified."""

    entries: int
    root: str
    checkpoint_size: int
    first_ts: str
    last_ts: str
    events: dict[str, int]


def _where(line_no: int, seq: int | None = None) -> str:
    """Name an entry in an error by its sequence number and/or 1-based line number."""
    if seq is None:
        return f"ledger line {line_no}" if line_no else "ledger entry"
    return f"ledger entry {seq} (line {line_no})" if line_no else f"ledger entry {seq}"


def _parse_line(line: bytes, line_no: int) -> Entry:
    """Parse one line (without its newline) strictly into an :class:`Entry`."""
    obj, view_has_floats = _check_line(line, line_no)
    if view_has_floats:  # the view holds float placeholders; the payload needs real floats
        obj = {**obj, "payload": parse_json(line)["payload"]}
    return Entry(**obj)


def _check_line(line: bytes, line_no: int) -> tuple[dict[str, Any], bool]:
    """Check one line in isolation (chain checks are separate); return its parsed view.

    Order: JSON, schema, hash, canonical bytes. The hash comes before the byte-for-byte
    check so that a modified entry is reported as modified, not merely as oddly formatted.
    """
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
    if type(v) is not int or v != FORMAT_VERSION:
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


def _read_tail_line(path: Path) -> tuple[bytes, int]:
    """Return the last complete line of ``path`` (without newline) and the file length.

    Reads backwards in blocks so opening a large log stays cheap.
    """
    with path.open("rb") as f:
        length = f.seek(0, os.SEEK_END)
        if length == 0:
            raise LedgerError("ledger log is empty: the genesis entry is missing")
        f.seek(length - 1)
        if f.read(1) != b"\n":
            raise LedgerError("ledger log ends with an incomplete line — a write was torn")
        block, pos, tail = 4096, length - 1, b""
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            tail = f.read(pos - start) + tail
            pos = start
            cut = tail.rfind(b"\n")
            if cut >= 0:
                return tail[cut + 1 :], length
        return tail, length


class Ledger:
    """An open ledger: append entries, then sign a checkpoint once per command.

    Build one with :meth:`create` or :meth:`open`. Appends are durable (``fsync``) unless
    ``durable=False``, which exists for benchmarks and must not be used for real ledgers.
    """

    def __init__(
        self,
        directory: Path,
        *,
        origin: str,
        size: int,
        last_hash: str,
        log_length: int,
        clock: Callable[[], datetime],
        durable: bool,
    ) -> None:
        """Internal: use :meth:`create` or :meth:`open`."""
        self.directory = Path(directory)
        self.origin = origin
        self._size = size
        self._last_hash = last_hash
        self._log_length = log_length
        self._opened_size = size
        self._appended: list[str] = []
        self._clock = clock
        self._durable = durable

    @property
    def log_path(self) -> Path:
        return self.directory / LOG_FILE

    @property
    def checkpoint_path(self) -> Path:
        return self.directory / CHECKPOINT_FILE

    @property
    def size(self) -> int:
        """Number of entries in the log, including the genesis entry."""
        return self._size

    @classmethod
    def create(
        cls,
        directory: Path,
        *,
        signing_key: Ed25519PrivateKey,
        origin: str,
        actor: str,
        payload: Mapping[str, Any],
        clock: Callable[[], datetime] = utc_now,
        durable: bool = True,
    ) -> Ledger:
        """Start a ledger: the genesis ``init`` entry and the first signed checkpoint.

        ``origin`` names the log in its checkpoints and is the signing key's name; it must
        be a signed-note key name (no whitespace, no ``+``), e.g. ``hospital.example/ws-1``.
        Refuses a directory that already holds a ledger.
        """
        directory = Path(directory)
        Checkpoint(origin, 0, bytes(32))  # validates the origin before touching the disk
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / CHECKPOINT_FILE).exists():
            raise LedgerError(f"a ledger already exists in {directory}; refusing to overwrite it")
        try:
            fd = os.open(directory / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise LedgerError(
                f"a ledger already exists in {directory}; refusing to overwrite it"
            ) from None
        os.close(fd)
        fsync_dir(directory)
        ledger = cls(
            directory,
            origin=origin,
            size=0,
            last_hash=GENESIS_PREV,
            log_length=0,
            clock=clock,
            durable=durable,
        )
        ledger._append(GENESIS_EVENT, payload, actor=actor)
        ledger.write_checkpoint(signing_key)
        return ledger

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        durable: bool = True,
    ) -> Ledger:
        """Open an existing ledger for appending; cheap (reads the last line only).

        This does not verify the ledger (use :func:`verify_ledger`), but it refuses a log
        whose last line is torn or does not match its hash, and :meth:`write_checkpoint`
        will refuse to sign a log that no longer extends the last signed checkpoint.
        """
        directory = Path(directory)
        log_path, cp_path = directory / LOG_FILE, directory / CHECKPOINT_FILE
        if not log_path.is_file() or not cp_path.is_file():
            raise LedgerError(
                f"no ledger in {directory} (expected {LOG_FILE} and {CHECKPOINT_FILE})"
            )
        origin = peek_origin(cp_path.read_bytes())
        line, length = _read_tail_line(log_path)
        last = _parse_line(line, 0)
        return cls(
            directory,
            origin=origin,
            size=last.seq + 1,
            last_hash=last.hash,
            log_length=length,
            clock=clock,
            durable=durable,
        )

    def append(self, event: str, payload: Mapping[str, Any], *, actor: str) -> Entry:
        """Append one entry durably and return it. Remember to :meth:`write_checkpoint`.

        ``payload`` must hold hashes, counts, parameters and versions only: JSON types,
        finite numbers, strings of at most :data:`MAX_PAYLOAD_STRING` characters.
        """
        if event == GENESIS_EVENT:
            raise LedgerError(f"ledger event '{GENESIS_EVENT}' is reserved for the genesis entry")
        return self._append(event, payload, actor=actor)

    def _append(self, event: str, payload: Mapping[str, Any], *, actor: str) -> Entry:
        if not _EVENT_RE.fullmatch(event):
            raise LedgerError(
                "ledger event names are dotted lowercase words, e.g. 'dataset.encrypt'"
            )
        if not _ACTOR_RE.fullmatch(actor) or len(actor) > MAX_ACTOR_LENGTH:
            raise LedgerError(
                f"ledger actor must be 1..{MAX_ACTOR_LENGTH} characters without control characters"
            )
        if not isinstance(payload, Mapping):
            raise LedgerError("ledger payload must be a mapping")
        clean = _normalise_payload(payload, "payload")
        draft = Entry(
            v=FORMAT_VERSION,
            seq=self._size,
            ts=format_ts(self._clock()),
            actor=actor,
            event=event,
            payload=clean,
            prev=self._last_hash,
            hash="",
        )
        try:
            entry = Entry(**{**draft.body(), "hash": draft.compute_hash()})
            line = entry.to_json_line()
        except CanonicalJSONError as err:
            raise LedgerError(f"ledger payload holds {err}") from None
        if len(line) > MAX_ENTRY_BYTES:
            raise LedgerError(f"ledger entry would exceed {MAX_ENTRY_BYTES} bytes")
        self._write_line(line)
        self._size += 1
        self._last_hash = entry.hash
        self._appended.append(entry.hash)
        return entry

    def _write_line(self, line: bytes) -> None:
        """Append one whole line with a single write, after checking nobody else wrote."""
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND)
        try:
            if os.fstat(fd).st_size != self._log_length:
                raise LedgerError(
                    "ledger log changed since it was opened — another writer or tampering;"
                    " run `securetune audit verify`"
                )
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise LedgerError("ledger append was cut short (disk full?)")
                if self._durable:
                    os.fsync(fd)
            except BaseException:
                # Never leave a torn line behind: it would block every later command.
                os.ftruncate(fd, self._log_length)
                raise
        finally:
            os.close(fd)
        self._log_length += len(line)

    def write_checkpoint(self, signing_key: Ed25519PrivateKey) -> Checkpoint:
        """Sign the current tree and atomically replace the checkpoint file.

        Refuses to sign (LedgerError) unless the log still extends the last signed
        checkpoint and every entry beyond it was appended by this object: signing must
        never bless entries that someone slipped in between commands.
        """
        leaves = self._read_leaves()
        if len(leaves) != self._size:
            raise LedgerError(
                f"refusing to sign: the log has {len(leaves)} entries, expected {self._size}"
            )
        if self._opened_size > 0:
            previous = self._read_own_checkpoint(signing_key)
            if previous.size != self._opened_size:
                raise LedgerError(
                    f"refusing to sign: the log had {self._opened_size - previous.size} unsigned"
                    f" entries (from seq {previous.size}) when it was opened;"
                    " run `securetune audit verify`"
                )
            if root_from_leaf_hashes(leaves[: previous.size]) != previous.root:
                raise LedgerError(
                    "refusing to sign: the log no longer matches its last signed checkpoint;"
                    " run `securetune audit verify`"
                )
        if [leaf.hex() for leaf in leaves[self._opened_size :]] != self._appended:
            raise LedgerError("refusing to sign: entries appended by this command were changed")
        cp = Checkpoint(self.origin, len(leaves), root_from_leaf_hashes(leaves))
        # Checkpoints are public (signed, no secrets): world-readable like the log.
        atomic_write_bytes(
            self.checkpoint_path, sign_checkpoint(cp, signing_key, self.origin), mode=0o644
        )
        return cp

    def seal_unsigned_tail(self, signing_key: Ed25519PrivateKey) -> int:
        """Explicit recovery after a crash between an append and its checkpoint.

        Verifies the whole chain (every hash and link), checks that the signed prefix still
        has the signed root, then signs the entries beyond it and returns how many there
        were. Never automatic: ``securetune audit recover`` runs it on a person's decision
        and ledgers that it did.
        """
        previous = self._read_own_checkpoint(signing_key)
        leaves, _events, _first, _last = _verify_chain(self.log_path)
        if (
            len(leaves) < previous.size
            or root_from_leaf_hashes(leaves[: previous.size]) != previous.root
        ):
            raise LedgerError(
                "refusing to seal: the log no longer matches its last signed checkpoint;"
                " run `securetune audit verify`"
            )
        self._opened_size = previous.size
        self._size = len(leaves)
        self._appended = [leaf.hex() for leaf in leaves[previous.size :]]
        self.write_checkpoint(signing_key)
        return len(self._appended)

    def _read_own_checkpoint(self, signing_key: Ed25519PrivateKey) -> Checkpoint:
        try:
            note = self.checkpoint_path.read_bytes()
        except FileNotFoundError:
            raise LedgerError("refusing to sign: the checkpoint file is missing") from None
        return open_signed_checkpoint(note, signing_key.public_key(), self.origin)

    def _read_leaves(self) -> list[bytes]:
        """Read every entry's ``hash`` field (not re-hashed: the signed root covers them)."""
        leaves = []
        with self.log_path.open("rb") as f:
            for line_no, line in enumerate(f, start=1):
                try:
                    leaves.append(bytes.fromhex(parse_json(line)["hash"]))
                except (ValueError, TypeError, KeyError):
                    raise LedgerError(
                        f"refusing to sign: {_where(line_no)} is malformed;"
                        " run `securetune audit verify`"
                    ) from None
        return leaves

    def entries(self) -> Iterator[Entry]:
        """Yield every entry, each parsed strictly; use :func:`verify_ledger` for the chain."""
        with self.log_path.open("rb") as f:
            for line_no, line in enumerate(f, start=1):
                yield Entry.from_json_line(line, line_no=line_no)


def read_checkpoint(directory: Path, public_key: Ed25519PublicKey) -> Checkpoint:
    """Read and verify the signed checkpoint in a ledger directory."""
    path = Path(directory) / CHECKPOINT_FILE
    try:
        note = path.read_bytes()
    except FileNotFoundError:
        raise LedgerError(f"ledger checkpoint {path} is missing") from None
    return open_signed_checkpoint(note, public_key, peek_origin(note))


def verify_ledger(
    directory: Path, public_key: Ed25519PublicKey, *, trusted: Checkpoint | None = None
) -> VerifyResult:
    """Verify a ledger directory end to end; raise one-line LedgerError at the first fault.

    Order (docs/LEDGER.md, "Verification"): 1. the checkpoint's signature by
    ``public_key``; 2. against ``trusted``: same origin, not smaller (rollback); 3. every
    line in order: JSON, schema, hash, canonical bytes, seq, prev; 4. not shorter than the
    checkpoint (truncation); 5. the Merkle root of the first ``size`` entries equals the
    signed root (rewriting); 6. no entries beyond it (unsigned additions); 7. the first
    ``trusted.size`` entries still have ``trusted.root`` (consistency, so no fork).
    """
    directory = Path(directory)
    cp = read_checkpoint(directory, public_key)
    if trusted is not None:
        _check_not_rolled_back(cp, trusted)
    log_path = directory / LOG_FILE
    if not log_path.is_file():
        raise LedgerError(f"ledger log {log_path} is missing")
    leaves, events, first_ts, last_ts = _verify_chain(log_path)
    _check_against_checkpoint(leaves, cp)
    if trusted is not None and root_from_leaf_hashes(leaves[: trusted.size]) != trusted.root:
        raise LedgerError(
            f"ledger is not consistent with the trusted checkpoint: its first {trusted.size}"
            " entries differ from the ones that checkpoint signed — history was rewritten"
        )
    return VerifyResult(
        entries=len(leaves),
        root=cp.root.hex(),
        checkpoint_size=cp.size,
        first_ts=first_ts,
        last_ts=last_ts,
        events=dict(events),
    )


def _check_not_rolled_back(cp: Checkpoint, trusted: Checkpoint) -> None:
    if cp.origin != trusted.origin:
        raise LedgerError(
            f"ledger checkpoint is for log '{cp.origin}', but the trusted checkpoint is for"
            f" '{trusted.origin}'"
        )
    if cp.size < trusted.size:
        raise LedgerError(
            f"ledger was rolled back: its checkpoint covers {cp.size} entries but the trusted"
            f" checkpoint covers {trusted.size} (entries {cp.size}..{trusted.size - 1} are gone)"
        )


def _check_against_checkpoint(leaves: list[bytes], cp: Checkpoint) -> None:
    """Check that the signed checkpoint covers exactly the log: no fewer, other or more.

    The signed prefix is compared before extra entries are reported, so that a log rewritten
    and re-chained from some entry on is reported as rewritten, not as merely extended.
    """
    count = len(leaves)
    if count < cp.size:
        raise LedgerError(
            f"ledger log ends after entry {count - 1} (line {count}) but the signed checkpoint"
            f" covers {cp.size} entries — the tail was truncated"
        )
    if root_from_leaf_hashes(leaves[: cp.size]) != cp.root:
        raise LedgerError(
            f"ledger Merkle root of entries 0..{cp.size - 1} does not match the signed"
            " checkpoint — entries were rewritten and re-chained"
        )
    if count > cp.size:
        extra = count - cp.size
        raise LedgerError(
            f"{_where(cp.size + 1, cp.size)}: not covered by the signed checkpoint"
            f" (size {cp.size}) — {extra} unsigned {'entry was' if extra == 1 else 'entries were'}"
            " appended"
        )


def _verify_chain(log_path: Path) -> tuple[list[bytes], Counter[str], str, str]:
    """Check every line and every link; return leaf hashes, event counts, first/last ts."""
    leaves: list[bytes] = []
    events: Counter[str] = Counter()
    prev, first_ts, last_ts = GENESIS_PREV, "", ""
    with log_path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                raise LedgerError(
                    f"{_where(line_no)}: incomplete last line — a write was torn or the file"
                    " was cut mid-entry"
                )
            entry, _ = _check_line(raw[:-1], line_no)
            _check_link(entry, line_no, expected_seq=line_no - 1, prev=prev)
            prev = entry["hash"]
            leaves.append(bytes.fromhex(prev))
            events[entry["event"]] += 1
            first_ts = first_ts or entry["ts"]
            last_ts = entry["ts"]
    if not leaves:
        raise LedgerError("ledger log is empty: the genesis entry is missing")
    return leaves, events, first_ts, last_ts


def _check_link(entry: dict[str, Any], line_no: int, *, expected_seq: int, prev: str) -> None:
    """Check an entry's place in the chain: its seq, its prev, and the genesis rules."""
    seq = entry["seq"]
    where = _where(line_no, seq)
    if seq < expected_seq:
        raise LedgerError(
            f"{where}: seq goes back (expected {expected_seq}) — an entry was inserted or"
            " entries were reordered"
        )
    if seq > expected_seq:
        raise LedgerError(
            f"{where}: seq skips ahead (expected {expected_seq}) — an entry was deleted or"
            " entries were reordered"
        )
    if entry["prev"] != prev:
        raise LedgerError(
            f"{where}: prev does not match the hash of the entry before it — an entry was"
            " inserted, replaced or reordered"
        )
    if (seq == 0) != (entry["event"] == GENESIS_EVENT):
        raise LedgerError(f"{where}: only the first entry may be, and must be, '{GENESIS_EVENT}'")
