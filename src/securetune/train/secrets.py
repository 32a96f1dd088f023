"""Run secrets: what a training run must keep from everyone, and for how long.

Two kinds, each under a data key of its own in the workspace keyring (never the adapter's
key ``run:<run_id>``, so handing out an encrypted adapter with its key reveals neither):

``RESUME`` (key ``run-resume:<run_id>``)
    Needed only to continue the run exactly: the noise and sampling generator states and
    the key that picks a subject's record. Whoever holds them after the run can rebuild the
    noise of every step (torch's mt19937 runs backwards from any state) and subtract it
    from the released updates. They are destroyed when the run finishes or fails for good:
    the key is removed from the keyring (crypto-shred: backups and copies of the files
    become unreadable) and every file is overwritten with random bytes, synced and unlinked.
    The destruction is ledgered in the same lock hold as the event that ends the run.

``AUDIT`` (key ``run-audit:<run_id>``)
    Must outlive the run, encrypted: what a later ``check`` needs to measure the model,
    e.g. the canaries planted in its training data. Never destroyed with the run.

Files: a secret ``name`` lives at ``secrets/<name>.<kind>.stc`` in the run directory
(:meth:`RunSecrets.put` / :meth:`RunSecrets.get`); a secret that must live elsewhere (the
checkpoint's generator states, which are swapped in with the checkpoint and covered by its
ledgered hash) is sealed with :meth:`RunSecrets.seal` and written by its owner under the
name :meth:`RunSecrets.file_name` gives it. Either way the stream container's context names
the run, the kind and the path, so no file can be swapped for another. Keys are created under
the workspace lock (:meth:`RunSecrets.create`); :meth:`RunSecrets.destroy` needs it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from securetune.crypto.envelope import new_data_key
from securetune.crypto.stream import decrypt_bytes, encrypt_bytes
from securetune.errors import DecryptionError, TrainingError
from securetune.fsutil import atomic_write_bytes, fsync_dir, make_private_dir
from securetune.workspace import Workspace

Kind = Literal["resume", "audit"]
RESUME: Kind = "resume"
AUDIT: Kind = "audit"
KINDS: tuple[Kind, ...] = (RESUME, AUDIT)
SECRETS_DIR = "secrets"


def key_name(run_id: str, kind: Kind) -> str:
    return f"run-{kind}:{run_id}"


@dataclass
class RunSecrets:
    """The secrets of one run; ``keys`` holds the kinds whose key still exists."""

    run_id: str
    root: Path  # the run directory
    keys: dict[str, bytes]

    @classmethod
    def create(cls, ws: Workspace, run_id: str, root: Path) -> RunSecrets:
        """New keys for both kinds, saved to the keyring. Hold the workspace lock."""
        keyring = ws.keyring()
        keys = {kind: new_data_key() for kind in KINDS}
        for kind, key in keys.items():
            keyring.add(ws.kek(), key_name(run_id, kind), key)
        keyring.save(ws.keyring_path)
        return cls(run_id, root, keys)

    @classmethod
    def open(cls, ws: Workspace, run_id: str, root: Path) -> RunSecrets:
        """The run's secrets with whichever keys remain (a destroyed kind has none)."""
        keyring = ws.keyring()
        keys = {
            kind: keyring.get(ws.kek(), key_name(run_id, kind))
            for kind in KINDS
            if key_name(run_id, kind) in keyring.wrapped
        }
        return cls(run_id, root, keys)

    # -- sealing ----------------------------------------------------------------------------
    @staticmethod
    def file_name(rel: str, kind: Kind) -> str:
        return f"{rel}.{kind}.stc"

    def _context(self, rel: str, kind: Kind) -> bytes:
        return f"securetune/run/{self.run_id}/secret/{kind}/{rel}".encode()

    def _key(self, kind: Kind) -> bytes:
        try:
            return self.keys[kind]
        except KeyError:
            raise TrainingError(
                f"run {self.run_id}: its {kind} secrets were destroyed (the run ended); they cannot be read"
            ) from None

    def seal(self, rel: str, data: bytes, *, kind: Kind) -> bytes:
        """Ciphertext of ``data`` for the file :meth:`file_name` names at ``rel`` (run-relative)."""
        return encrypt_bytes(data, self._key(kind), context=self._context(rel, kind))

    def unseal(self, rel: str, blob: bytes, *, kind: Kind) -> bytes:
        try:
            return decrypt_bytes(blob, self._key(kind), context=self._context(rel, kind))
        except DecryptionError:
            raise TrainingError(
                f"run {self.run_id}: secret {rel} failed authentication (modified or swapped)"
            ) from None

    # -- files under secrets/ -----------------------------------------------------------------
    def put(self, name: str, data: bytes, *, kind: Kind) -> Path:
        rel = f"{SECRETS_DIR}/{name}"
        path = self.root / self.file_name(rel, kind)
        make_private_dir(path.parent)
        atomic_write_bytes(path, self.seal(rel, data, kind=kind))
        return path

    def get(self, name: str, *, kind: Kind) -> bytes:
        rel = f"{SECRETS_DIR}/{name}"
        path = self.root / self.file_name(rel, kind)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise TrainingError(f"run {self.run_id}: secret {name} is missing") from None
        return self.unseal(rel, blob, kind=kind)

    # -- the end -----------------------------------------------------------------------------
    def destroy(self, ws: Workspace, *, kind: Kind = RESUME) -> dict[str, object]:
        """Crypto-shred ``kind``: overwrite and unlink its files, remove its key. Hold the lock.

        Returns what was done, for the ledger event that ends the run.
        """
        files = sorted(self.root.rglob(f"*.{kind}.stc")) if self.root.is_dir() else []
        for path in files:
            overwrite_and_unlink(path)
        keyring = ws.keyring()
        name = key_name(self.run_id, kind)
        had_key = name in keyring.wrapped
        keyring.remove(name)
        keyring.save(ws.keyring_path)
        self.keys.pop(kind, None)
        return {
            "kind": kind,
            "key": name,
            "key_destroyed": had_key,
            "files_overwritten": len(files),
            "method": "crypto-shred (key removed from the keyring) + overwrite-and-unlink",
        }


def overwrite_and_unlink(path: Path) -> None:
    """Replace a file's bytes in place with random ones, sync, then unlink it.

    On copy-on-write or journaling file systems and SSDs the old blocks may survive; that
    is why every secret file is also encrypted under a key that is destroyed with it.
    """
    try:
        size = path.stat().st_size
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        noise = memoryview(os.urandom(size))
        while noise:
            noise = noise[os.write(fd, noise) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    fsync_dir(path.parent)
