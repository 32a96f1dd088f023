"""The append-only, hash-chained, Merkle-checkpointed audit ledger (spec: docs/LEDGER.md).

A ledger directory holds:

* ``log.jsonl``: one entry per line, each the RFC 8785 canonical JSON of
  ``{v, seq, ts, actor, event, payload, prev, hash}``. ``hash`` is the hex SHA-256 of the
  canonical JSON of the entry without ``hash``; ``prev`` is the previous entry's hash.
* ``checkpoint``: a C2SP signed note over a tlog-checkpoint of the RFC 6962 Merkle root of
  all entries (leaf hash ``SHA-256(0x00 || entry hash)``, format v2), signed with the
  workspace's Ed25519 key after every command.
* ``tree.json``: the signed tree's compact range, so the next checkpoint costs O(log n).

The chain lets :func:`verify_ledger` name the first entry that was modified, removed,
inserted or moved; the signed checkpoint catches what a chain alone cannot (a rewritten
or truncated tail, unsigned additions); a checkpoint the user keeps *outside* the
workspace (``trusted``) catches rollback of both files to an older, validly signed state.

The code lives in three modules, re-exported here: :mod:`~securetune.audit.entry` (the
format), :mod:`~securetune.audit.writer` (appending and signing) and
:mod:`~securetune.audit.verify` (the pure verifier).
"""

from __future__ import annotations

from securetune.audit.entry import (
    CHECKPOINT_FILE,
    FORMAT_VERSION,
    GENESIS_EVENT,
    GENESIS_PREV,
    LOG_FILE,
    MAX_PAYLOAD_STRING,
    SUPPORTED_VERSIONS,
    TREE_FILE,
    UPGRADE_EVENT,
    Entry,
    format_ts,
    utc_now,
)
from securetune.audit.verify import VerifyResult, read_checkpoint, verify_ledger
from securetune.audit.writer import Ledger

__all__ = [
    "CHECKPOINT_FILE",
    "FORMAT_VERSION",
    "GENESIS_EVENT",
    "GENESIS_PREV",
    "LOG_FILE",
    "MAX_PAYLOAD_STRING",
    "SUPPORTED_VERSIONS",
    "TREE_FILE",
    "UPGRADE_EVENT",
    "Entry",
    "Ledger",
    "VerifyResult",
    "format_ts",
    "read_checkpoint",
    "utc_now",
    "verify_ledger",
]
