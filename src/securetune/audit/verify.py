"""The pure ledger verifier (docs/LEDGER.md §7): reads a ledger directory, never writes.

It needs only the public key: an auditor can run it on a copy of the ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from securetune.audit.checkpoint import Checkpoint, open_signed_checkpoint, peek_origin
from securetune.audit.entry import (
    CHECKPOINT_FILE,
    GENESIS_EVENT,
    GENESIS_PREV,
    LOG_FILE,
    UPGRADE_EVENT,
    _check_line,
    _where,
    tree_root,
)
from securetune.errors import LedgerError


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify_ledger` established about a ledger that verified."""

    entries: int
    root: str
    checkpoint_size: int
    first_ts: str
    last_ts: str
    events: dict[str, int]
    version: int = 2


def read_checkpoint(directory: Path, public_key: Ed25519PublicKey) -> Checkpoint:
    """Read and verify the signed checkpoint in a ledger directory."""
    path = Path(directory) / CHECKPOINT_FILE
    try:
        note = path.read_bytes()
    except FileNotFoundError:
        raise LedgerError(f"ledger checkpoint {path} is missing") from None
    except IsADirectoryError:
        raise LedgerError(f"ledger checkpoint {path} is a directory, not a file") from None
    return open_signed_checkpoint(note, public_key, peek_origin(note))


@dataclass(frozen=True)
class ChainFacts:
    """What reading every line established: entry hashes, versions, events, times."""

    hashes: list[bytes]
    #: seq of the first format-v2 entry (0 for a ledger created as v2), None for all-v1.
    upgrade_at: int | None
    events: Counter[str]
    first_ts: str
    last_ts: str

    @property
    def version(self) -> int:
        return 1 if self.upgrade_at is None else 2

    def root(self, size: int) -> bytes:
        """The root a checkpoint over the first ``size`` entries must sign."""
        return tree_root(self.hashes[:size], self.upgrade_at)


OnEntry = Callable[[dict[str, Any]], None]
"""Called with each entry (parsed, its line checked and linked) as verification reads it."""


def verify_ledger(
    directory: Path,
    public_key: Ed25519PublicKey,
    *,
    trusted: Checkpoint | None = None,
    on_entry: OnEntry | None = None,
) -> VerifyResult:
    """Verify a ledger directory end to end; raise one-line LedgerError at the first fault.

    Order (docs/LEDGER.md, "Verification"): 1. the checkpoint's signature by
    ``public_key``; 2. against ``trusted``: same origin, not smaller (rollback); 3. every
    line in order: JSON, schema, hash, canonical bytes, seq, prev, version; 4. not shorter
    than the checkpoint (truncation); 5. the Merkle root of the first ``size`` entries
    equals the signed root (rewriting); 6. no entries beyond it (unsigned additions);
    7. the first ``trusted.size`` entries still have ``trusted.root`` (consistency).

    ``on_entry`` sees every entry of the same read that is verified, so a caller that
    decides something from the ledger's content (lineage, budget, agreement) acts on
    exactly the bytes that verified, not on a second read an attacker could race. What it
    collected is trustworthy only once this function returns without raising.
    """
    directory = Path(directory)
    cp = read_checkpoint(directory, public_key)
    if trusted is not None:
        _check_not_rolled_back(cp, trusted)
    log_path = directory / LOG_FILE
    if log_path.is_dir():
        raise LedgerError(f"ledger log {log_path} is a directory, not a file")
    if not log_path.is_file():
        raise LedgerError(f"ledger log {log_path} is missing")
    facts = verify_chain(log_path, on_entry)
    _check_against_checkpoint(facts, cp)
    if trusted is not None and facts.root(trusted.size) != trusted.root:
        raise LedgerError(
            f"ledger is not consistent with the trusted checkpoint: its first {trusted.size}"
            " entries differ from the ones that checkpoint signed — history was rewritten"
        )
    return VerifyResult(
        entries=len(facts.hashes),
        root=cp.root.hex(),
        checkpoint_size=cp.size,
        first_ts=facts.first_ts,
        last_ts=facts.last_ts,
        events=dict(facts.events),
        version=facts.version,
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


def _check_against_checkpoint(facts: ChainFacts, cp: Checkpoint) -> None:
    """Check that the signed checkpoint covers exactly the log: no fewer, other or more.

    The signed prefix is compared before extra entries are reported, so that a log rewritten
    and re-chained from some entry on is reported as rewritten, not as merely extended.
    """
    count = len(facts.hashes)
    if count < cp.size:
        raise LedgerError(
            f"ledger log ends after entry {count - 1} (line {count}) but the signed checkpoint"
            f" covers {cp.size} entries — the tail was truncated"
        )
    if facts.root(cp.size) != cp.root:
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


def verify_chain(log_path: Path, on_entry: OnEntry | None = None) -> ChainFacts:
    """Check every line and every link; return what the checkpoint checks need."""
    hashes: list[bytes] = []
    events: Counter[str] = Counter()
    prev, first_ts, last_ts = GENESIS_PREV, "", ""
    upgrade_at: int | None = None
    with log_path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                raise LedgerError(
                    f"{_where(line_no)}: incomplete last line — a write was torn or the file"
                    " was cut mid-entry"
                )
            entry, _ = _check_line(raw[:-1], line_no, exact_numbers=False)
            _check_link(entry, line_no, expected_seq=line_no - 1, prev=prev)
            if entry["v"] == 2 and upgrade_at is None:
                if line_no > 1 and entry["event"] != UPGRADE_EVENT:
                    raise LedgerError(
                        f"{_where(line_no, entry['seq'])}: format v2 starts without a"
                        f" '{UPGRADE_EVENT}' event — the entry was modified"
                    )
                upgrade_at = line_no - 1
            elif entry["v"] == 1 and upgrade_at is not None:
                raise LedgerError(
                    f"{_where(line_no, entry['seq'])}: format v1 after v2 — a downgraded or"
                    " inserted entry"
                )
            prev = entry["hash"]
            if on_entry is not None:
                on_entry(entry)
            hashes.append(bytes.fromhex(prev))
            events[entry["event"]] += 1
            first_ts = first_ts or entry["ts"]
            last_ts = entry["ts"]
    if not hashes:
        raise LedgerError("ledger log is empty: the genesis entry is missing")
    return ChainFacts(hashes, upgrade_at, events, first_ts, last_ts)


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
