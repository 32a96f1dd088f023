"""The ledger writer: append entries, sign a checkpoint once per command (docs/LEDGER.md §6).

Writers: one process at a time. The caller holds the workspace lock; the ledger checks
the file length before every append and refuses to write if someone else has.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from securetune.audit.canonical import CanonicalJSONError, parse_json
from securetune.audit.checkpoint import (
    Checkpoint,
    open_signed_checkpoint,
    peek_origin,
    sign_checkpoint,
)
from securetune.audit.entry import (
    _ACTOR_RE,
    _EVENT_RE,
    CHECKPOINT_FILE,
    FORMAT_VERSION,
    GENESIS_EVENT,
    GENESIS_PREV,
    LOG_FILE,
    MAX_ACTOR_LENGTH,
    MAX_ENTRY_BYTES,
    TREE_FILE,
    UPGRADE_EVENT,
    Entry,
    _normalise_payload,
    _parse_line,
    _where,
    format_ts,
    tree_leaves,
    tree_root,
    utc_now,
)
from securetune.audit.merkle import CompactRange, hash_leaf
from securetune.audit.verify import verify_chain
from securetune.errors import LedgerError
from securetune.fsutil import atomic_write_bytes, fsync_dir


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
    Entries are written in the format of the ledger's last entry: a v1 ledger stays v1
    until :meth:`upgrade` appends the ``ledger.upgrade`` event, the first v2 entry.
    """

    def __init__(
        self,
        directory: Path,
        *,
        origin: str,
        size: int,
        last_hash: str,
        log_length: int,
        version: int,
        clock: Callable[[], datetime],
        durable: bool,
    ) -> None:
        """Internal: use :meth:`create` or :meth:`open`."""
        self.directory = Path(directory)
        self.origin = origin
        self.version = version
        self._opened_version = version
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
    def tree_path(self) -> Path:
        return self.directory / TREE_FILE

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
        version: int = FORMAT_VERSION,
    ) -> Ledger:
        """Start a ledger: the genesis ``init`` entry and the first signed checkpoint.

        ``origin`` names the log in its checkpoints and is the signing key's name; it must
        be a signed-note key name (no whitespace, no ``+``), e.g. ``hospital.example/ws-1``.
        Refuses a directory that already holds a ledger. ``version=1`` exists only to
        reproduce released v1 fixtures and to test upgrades.
        """
        directory = Path(directory)
        Checkpoint(origin, 0, bytes(32))  # validates the origin before touching the disk
        if version not in (1, FORMAT_VERSION):
            raise LedgerError(f"cannot create a ledger in format v{version}")
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
            version=version,
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
        for path in (log_path, cp_path):
            if path.exists() and not path.is_file():
                raise LedgerError(f"ledger file {path} is not a regular file (a directory?)")
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
            version=last.v,
            clock=clock,
            durable=durable,
        )

    def last_entry(self) -> Entry:
        """The log's last entry, parsed strictly (cheap: read backwards)."""
        return _parse_line(_read_tail_line(self.log_path)[0], 0)

    def append(self, event: str, payload: Mapping[str, Any], *, actor: str) -> Entry:
        """Append one entry durably and return it. Remember to :meth:`write_checkpoint`.

        ``payload`` must hold hashes, counts, parameters and versions only: JSON types,
        finite numbers, strings of at most :data:`MAX_PAYLOAD_STRING` characters.
        """
        if event == GENESIS_EVENT:
            raise LedgerError(f"ledger event '{GENESIS_EVENT}' is reserved for the genesis entry")
        if event == UPGRADE_EVENT:
            raise LedgerError(f"ledger event '{UPGRADE_EVENT}' is reserved for Ledger.upgrade")
        return self._append(event, payload, actor=actor)

    def upgrade(self, signing_key: Ed25519PrivateKey, *, actor: str) -> Entry:
        """Move a v1 ledger to v2: append ``ledger.upgrade`` (the first v2 entry), then sign.

        From that entry on, every checkpoint signs the RFC 6962 root over *all* entries
        (the v1 ones included), so standard inclusion proofs work for the whole history.
        Checkpoints signed before it keep verifying under v1's rule. Refuses a v2 ledger
        and a ledger with unsigned entries (run recovery first).
        """
        if self.version != 1:
            raise LedgerError(f"the ledger is already format v{self.version}; nothing to upgrade")
        previous = self._read_own_checkpoint(signing_key)
        if previous.size != self._size:
            raise LedgerError(
                "refusing to upgrade: the ledger holds unsigned entries;"
                " run `securetune audit recover` first"
            )
        self.version = FORMAT_VERSION
        try:
            entry = self._append(
                UPGRADE_EVENT,
                {"from_version": 1, "to_version": FORMAT_VERSION, "entries_before": self._size},
                actor=actor,
            )
        except BaseException:
            self.version = 1
            raise
        self.write_checkpoint(signing_key)
        return entry

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
            v=self.version,
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

        Cost: O(log n) when ``tree.json`` holds the compact range of the last signed tree
        (its root must equal the signed root, so the file needs no trust of its own);
        otherwise (a v1 ledger, the upgrade, a missing or stale file) a re-read of the log.
        """
        previous = self._read_own_checkpoint(signing_key) if self._opened_size > 0 else None
        if previous is not None and previous.size != self._opened_size:
            raise LedgerError(
                f"refusing to sign: the log had {self._opened_size - previous.size} unsigned"
                f" entries (from seq {previous.size}) when it was opened;"
                " run `securetune audit verify`"
            )
        tree = self._extend_stored_range(previous)
        if tree is None:
            tree = self._range_from_log(previous)
        cp = Checkpoint(self.origin, tree.size, tree.root())
        # Checkpoints are public (signed, no secrets): world-readable like the log.
        atomic_write_bytes(
            self.checkpoint_path, sign_checkpoint(cp, signing_key, self.origin), mode=0o644
        )
        if self.version >= 2:
            doc = {"size": tree.size, "range": [node.hex() for node in tree.nodes]}
            atomic_write_bytes(self.tree_path, json.dumps(doc).encode() + b"\n", mode=0o644)
        return cp

    def _extend_stored_range(self, previous: Checkpoint | None) -> CompactRange | None:
        """The signed tree's compact range extended by our appends, or None to fall back."""
        if self._opened_version < 2 or self.version < 2:
            return None
        if previous is None:  # a ledger this object created: every entry is ours
            tree = CompactRange()
        else:
            try:
                doc = json.loads(self.tree_path.read_bytes())
                tree = CompactRange(doc["size"], [bytes.fromhex(node) for node in doc["range"]])
            except (OSError, ValueError, KeyError, TypeError, LedgerError):
                return None  # missing or damaged: rebuild from the log (and rewrite it)
            if tree.size != previous.size or tree.root() != previous.root:
                return None  # stale (e.g. a crash between checkpoint and tree writes)
        if os.stat(self.log_path).st_size != self._log_length:
            raise LedgerError(
                "refusing to sign: the log changed since this command appended to it;"
                " run `securetune audit verify`"
            )
        for digest in self._appended:
            tree.append(hash_leaf(bytes.fromhex(digest)))
        return tree

    def _range_from_log(self, previous: Checkpoint | None) -> CompactRange:
        """Re-read every entry hash, check the signed prefix, and build the range."""
        hashes, upgrade_at = self._read_leaves()
        if len(hashes) != self._size:
            raise LedgerError(
                f"refusing to sign: the log has {len(hashes)} entries, expected {self._size}"
            )
        if previous is not None and tree_root(hashes[: previous.size], upgrade_at) != previous.root:
            raise LedgerError(
                "refusing to sign: the log no longer matches its last signed checkpoint;"
                " run `securetune audit verify`"
            )
        if [h.hex() for h in hashes[self._opened_size :]] != self._appended:
            raise LedgerError("refusing to sign: entries appended by this command were changed")
        tree = CompactRange()
        for leaf in tree_leaves(hashes, upgrade_at):
            tree.append(leaf)
        return tree

    def seal_unsigned_tail(self, signing_key: Ed25519PrivateKey) -> int:
        """Explicit recovery after a crash between an append and its checkpoint.

        Verifies the whole chain (every hash and link), checks that the signed prefix still
        has the signed root, then signs the entries beyond it and returns how many there
        were. Never automatic: ``securetune audit recover`` runs it on a person's decision
        and ledgers that it did.
        """
        previous = self._read_own_checkpoint(signing_key)
        facts = verify_chain(self.log_path)
        if len(facts.hashes) < previous.size or facts.root(previous.size) != previous.root:
            raise LedgerError(
                "refusing to seal: the log no longer matches its last signed checkpoint;"
                " run `securetune audit verify`"
            )
        self._opened_size = previous.size
        self._opened_version = 0  # rebuild the range from the log: the tail is not ours
        self._size = len(facts.hashes)
        self._appended = [h.hex() for h in facts.hashes[previous.size :]]
        self.write_checkpoint(signing_key)
        return len(self._appended)

    def _read_own_checkpoint(self, signing_key: Ed25519PrivateKey) -> Checkpoint:
        try:
            note = self.checkpoint_path.read_bytes()
        except FileNotFoundError:
            raise LedgerError("refusing to sign: the checkpoint file is missing") from None
        return open_signed_checkpoint(note, signing_key.public_key(), self.origin)

    def _read_leaves(self) -> tuple[list[bytes], int | None]:
        """Every entry's ``hash`` (not re-hashed: the signed root covers them) and the
        seq of the first v2 entry."""
        hashes: list[bytes] = []
        upgrade_at: int | None = None
        with self.log_path.open("rb") as f:
            for line_no, line in enumerate(f, start=1):
                try:
                    obj = parse_json(line)
                    hashes.append(bytes.fromhex(obj["hash"]))
                    version = obj["v"]
                except (ValueError, TypeError, KeyError):
                    raise LedgerError(
                        f"refusing to sign: {_where(line_no)} is malformed;"
                        " run `securetune audit verify`"
                    ) from None
                if version == 2 and upgrade_at is None:
                    upgrade_at = line_no - 1
        return hashes, upgrade_at

    def entries(self) -> Iterator[Entry]:
        """Yield every entry, each parsed strictly; use :func:`verify_ledger` for the chain."""
        with self.log_path.open("rb") as f:
            for line_no, line in enumerate(f, start=1):
                yield Entry.from_json_line(line, line_no=line_no)
