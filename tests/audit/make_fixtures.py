"""Regenerate the released ledger fixture in tests/audit/fixtures/ (deterministically).

    .venv/bin/python tests/audit/make_fixtures.py

Each fixture is a ledger as one entry format writes it (``ledger-v1``: securetune 0.1.0;
``ledger-v2``: RFC 6962 leaf hashes in the signed roots): four commands, each appending
events and signing a checkpoint, with a fixed Ed25519 seed and a fixed clock, so the
bytes never change. Once released, a fixture is never regenerated in place:
``test_ledger.py`` checks that it still verifies and that this script still reproduces it
byte for byte. A new format gets a new fixture directory beside the old ones.

Files written, per format version N:

* ``ledger-vN/log.jsonl`` and ``ledger-vN/checkpoint`` (v2 also ``tree.json``).
* ``ledger-vN.pub``: the verifier key (``name+keyhash+base64key``), as printed by
  ``securetune audit pubkey``.
* ``ledger-vN.trusted``: the signed checkpoint after the second command, as a user would
  have kept it outside the workspace; the rollback tests start from it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from securetune.audit.checkpoint import verifier_key
from securetune.audit.ledger import CHECKPOINT_FILE, Ledger

#: Test-only key: the bytes 0x00..0x1f. Never use a fixed seed outside fixtures.
SEED = bytes(range(32))
ORIGIN = "hospital.example/securetune/ws-fixture"
ACTOR = "dr.rivera"
VERSIONS = (1, 2)


def fixture_name(version: int) -> str:
    return f"ledger-v{version}"


def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(SEED)


def fixed_clock() -> Iterator[datetime]:
    """Start at 2025-03-01T09:00:00Z and advance 61.25 seconds per entry."""
    moment = datetime(2025, 3, 1, 9, 0, 0, tzinfo=timezone.utc)
    while True:
        yield moment
        moment += timedelta(seconds=61.25)


_DATASET = "2f0b6c3e5a9d81f4c7e2b0a16d3f8e95c4a7b21e0d9f6a3c8b5e1d4f7a2c9e06"
_ADAPTER = "9a41c0e7b3d2f58a6e1c4b7d0f3a92e85c6b1d4a7e0f3c9b2d5a8e1f4c7b0a3d"


def build(directory: Path, version: int = 1) -> None:
    """Write one format's fixture files into ``directory`` (which must not hold them yet)."""
    key = signing_key()
    ticks = fixed_clock()
    NAME = fixture_name(version)
    ledger_dir = directory / NAME

    def clock() -> datetime:
        return next(ticks)

    # Command 1: `securetune init`
    Ledger.create(
        ledger_dir,
        signing_key=key,
        origin=ORIGIN,
        actor=ACTOR,
        payload={"securetune": "0.1.0", "key_provider": "file", "policy": "hipaa-safe-harbor"},
        clock=clock,
        version=version,
    )
    # Command 2: `securetune scrub` then store, in one command.
    ledger = Ledger.open(ledger_dir, clock=clock)
    ledger.append(
        "scrub.run",
        {
            "input_sha256": "5d41402abc4b2a76b9719d911017c592" * 2,
            "records": 120,
            "findings": {"PERSON": 231, "DATE_TIME": 187, "PHONE_NUMBER": 12},
            "policy": "hipaa-safe-harbor",
            "presidio": "2.2.355",
            "site": "Hôpital Saint-Éloi",  # non-ASCII: exercises the reference canonicaliser
        },
        actor=ACTOR,
    )
    ledger.append(
        "dataset.encrypt",
        {"dataset": "notes-v1", "manifest_sha256": _DATASET, "shards": 3, "aead": "AES-256-GCM"},
        actor=ACTOR,
    )
    ledger.write_checkpoint(key)
    shutil.copyfile(ledger_dir / CHECKPOINT_FILE, directory / f"{NAME}.trusted")
    # Command 3: `securetune train`
    ledger = Ledger.open(ledger_dir, clock=clock)
    ledger.append(
        "train.start",
        {
            "dataset_sha256": _DATASET,
            "model": "tiny-llama",
            "lora": {"r": 8, "alpha": 16, "dropout": 0.05},
            "dp": {"epsilon": 3.0, "delta": 1e-05, "max_grad_norm": 1.0, "noise": 1.1},
        },
        actor=ACTOR,
    )
    for epoch in (1, 2):
        ledger.append(
            "train.epoch",
            {"epoch": epoch, "steps": 40, "epsilon_spent": 1.25 * epoch},
            actor=ACTOR,
        )
    ledger.append(
        "train.finish",
        {"adapter_sha256": _ADAPTER, "epsilon": 2.5, "delta": 1e-05, "accountant": "rdp"},
        actor=ACTOR,
    )
    ledger.write_checkpoint(key)
    # Command 4: `securetune check`
    ledger = Ledger.open(ledger_dir, clock=clock)
    ledger.append(
        "check.run",
        {"adapter_sha256": _ADAPTER, "canary_exposure": 1.8, "mia_auc": 0.51, "passed": True},
        actor=ACTOR,
    )
    ledger.write_checkpoint(key)
    (directory / f"{NAME}.pub").write_text(verifier_key(ORIGIN, key.public_key()) + "\n")


def main() -> int:
    target = Path(__file__).resolve().parent / "fixtures"
    target.mkdir(exist_ok=True)
    for version in VERSIONS:
        if (target / fixture_name(version)).exists():
            sys.stderr.write(f"{fixture_name(version)} exists: released fixtures are kept\n")
            continue
        build(target, version)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
