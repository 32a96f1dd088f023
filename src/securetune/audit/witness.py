"""The witness: a copy of the last signed checkpoint kept outside the workspace.

After every command and every successful ``audit verify`` the workspace copies the checkpoint
it just signed or verified, with the ledger public key and the workspace id, into a witness
directory outside the workspace (docs/WORKSPACE.md, "The witness"). The next command and
the next ``audit verify`` require the ledger to extend the largest checkpoint the witness
holds, so a rollback of the workspace to an older, validly signed state is caught. It is a
tripwire on the same machine, not a guarantee: see ``audit publish`` for one kept elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from securetune.audit.checkpoint import Checkpoint, open_signed_checkpoint
from securetune.errors import LedgerError
from securetune.fsutil import atomic_write_bytes

WITNESS_ENV = "SECURETUNE_WITNESS_DIR"


class WitnessError(LedgerError):
    """The witness directory cannot be read or written (a file in its place, no permission)."""


def default_witness_dir(environ: Mapping[str, str]) -> Path:
    """Outside the workspace on purpose: a rollback of the workspace cannot roll this back."""
    if environ.get(WITNESS_ENV):
        return Path(environ[WITNESS_ENV])
    state = environ.get("XDG_STATE_HOME") or str(
        Path(environ.get("HOME", "~")).expanduser() / ".local/state"
    )
    return Path(state) / "securetune" / "witness"


@dataclass(frozen=True)
class Witness:
    """One workspace's witness files in ``directory`` (None: no witness is kept)."""

    directory: Path | None
    workspace_root: Path
    workspace_id: str
    key_name: str
    public_key_b64: str

    def paths(self) -> list[Path]:
        """Where this workspace's witness lives: by workspace id, and by real path.

        Two indexes because the id is in an unauthenticated file: editing it must not make
        the witness disappear, and moving the directory must not either.
        """
        if self.directory is None:
            return []
        by_path = hashlib.sha256(str(self.workspace_root.resolve()).encode()).hexdigest()[:32]
        return [
            self.directory / f"{self.workspace_id}.json",
            self.directory / f"path-{by_path}.json",
        ]

    def trusted(self, key: Ed25519PublicKey) -> Checkpoint | None:
        """The largest checkpoint any witness file holds, after checking it names us."""
        current = base64.b64encode(key.public_bytes_raw()).decode()
        best: Checkpoint | None = None
        for path in self.paths():
            if not path.exists():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except IsADirectoryError:
                raise WitnessError(f"the witness file {path} is a directory, not a file") from None
            except UnicodeDecodeError:
                raise LedgerError(f"witness file {path} is malformed") from None
            try:
                doc = json.loads(text)
                seen_id = doc.get("workspace_id", self.workspace_id)
                seen_key, note = doc["ledger_public_key"], doc["checkpoint"].encode()
            except (ValueError, KeyError, TypeError, AttributeError):
                raise LedgerError(f"witness file {path} is malformed") from None
            if seen_id != self.workspace_id:
                raise LedgerError(
                    "this workspace's id differs from the one this machine saw before at this "
                    "path: the workspace config was edited or replaced"
                )
            if seen_key != current:
                raise LedgerError(
                    "the ledger public key differs from the one this machine saw before: "
                    "the workspace's signing key was replaced"
                )
            checkpoint = open_signed_checkpoint(note, key, self.key_name)
            if best is None or checkpoint.size > best.size:
                best = checkpoint
        return best

    def remember(self, note: bytes, checkpoint: Checkpoint, key: Ed25519PublicKey) -> None:
        """Keep ``note`` (the signed form of ``checkpoint``) as the newest state seen."""
        paths = self.paths()
        if not paths or self.directory is None:
            return
        if open_signed_checkpoint(note, key, self.key_name) != checkpoint:
            raise LedgerError("the checkpoint file changed while this command ran")
        doc = {
            "workspace_id": self.workspace_id,
            "ledger_public_key": self.public_key_b64,
            "checkpoint": note.decode(),
        }
        self.check_writable()
        try:
            for path in paths:
                atomic_write_bytes(path, json.dumps(doc, indent=2).encode())
        except OSError as exc:
            raise WitnessError(
                f"cannot write the witness in {self.directory}: {exc.strerror or exc}"
            ) from None

    def check_writable(self) -> None:
        """Fail before a command's effect, not after its commit, when the witness cannot be kept."""
        if self.directory is None:
            return
        if self.directory.exists() and not self.directory.is_dir():
            raise WitnessError(
                f"the witness directory {self.directory} is a file; remove it or set"
                f" {WITNESS_ENV} to a directory"
            )
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise WitnessError(
                f"cannot create the witness directory {self.directory}: {exc.strerror or exc}"
            ) from None
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise WitnessError(f"the witness directory {self.directory} is not writable")
        for path in self.paths():
            if path.is_dir():
                raise WitnessError(f"the witness file {path} is a directory, not a file")
