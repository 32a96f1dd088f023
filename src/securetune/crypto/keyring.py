"""The keyring: every wrapped key of a workspace in one file, replaced atomically.

Keeping all wrapped keys (dataset data keys, the ledger signing key, and a check value
that tells a wrong KEK from a corrupt dataset) in one file makes rotation a single
atomic replace, and makes crypto-shredding a dataset a single atomic removal.
Format: ``docs/FORMAT.md``, section "Keyring".
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from securetune.crypto.envelope import unwrap_key, wrap_key
from securetune.errors import DecryptionError, KeyProviderError
from securetune.fsutil import atomic_write_bytes

KEYRING_VERSION = 1
CHECK_NAME = "kek-check"


def _context(workspace_id: str, name: str) -> bytes:
    return f"securetune/keyring/{workspace_id}/{name}".encode()


@dataclass
class Keyring:
    workspace_id: str
    provider: dict[str, Any]
    check: bytes
    wrapped: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def create(cls, workspace_id: str, kek: bytes, provider: dict[str, Any]) -> Keyring:
        check = wrap_key(kek, os.urandom(32), context=_context(workspace_id, CHECK_NAME))
        return cls(workspace_id=workspace_id, provider=dict(provider), check=check)

    @classmethod
    def load(cls, path: Path) -> Keyring:
        try:
            doc = json.loads(path.read_bytes())
            if doc["version"] != KEYRING_VERSION:
                raise KeyProviderError(f"keyring {path} has unsupported version {doc['version']}")
            return cls(
                workspace_id=str(doc["workspace_id"]),
                provider=dict(doc["provider"]),
                check=base64.b64decode(doc["check"], validate=True),
                wrapped={k: base64.b64decode(v, validate=True) for k, v in doc["keys"].items()},
            )
        except FileNotFoundError:
            raise KeyProviderError(f"keyring {path} is missing") from None
        except IsADirectoryError:
            raise KeyProviderError(f"keyring {path} is a directory, not a file") from None
        except OSError as exc:
            raise KeyProviderError(f"cannot read keyring {path}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise KeyProviderError(f"keyring {path} is malformed") from None

    def to_bytes(self) -> bytes:
        doc = {
            "version": KEYRING_VERSION,
            "workspace_id": self.workspace_id,
            "provider": self.provider,
            "check": base64.b64encode(self.check).decode(),
            "keys": {k: base64.b64encode(v).decode() for k, v in sorted(self.wrapped.items())},
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    def save(self, path: Path) -> None:
        atomic_write_bytes(path, self.to_bytes())

    def verify_kek(self, kek: bytes) -> None:
        """Fail with a clear message when the KEK is not this workspace's."""
        try:
            unwrap_key(kek, self.check, context=_context(self.workspace_id, CHECK_NAME))
        except DecryptionError:
            raise KeyProviderError(
                "the key does not unlock this workspace (wrong key, key file or passphrase)"
            ) from None

    def add(self, kek: bytes, name: str, key: bytes) -> None:
        if name in self.wrapped:
            raise KeyProviderError(f"the keyring already holds a key named {name}")
        self.wrapped[name] = wrap_key(kek, key, context=_context(self.workspace_id, name))

    def get(self, kek: bytes, name: str) -> bytes:
        try:
            wrapped = self.wrapped[name]
        except KeyError:
            raise KeyProviderError(f"the keyring holds no key named {name}") from None
        try:
            return unwrap_key(kek, wrapped, context=_context(self.workspace_id, name))
        except DecryptionError:
            raise KeyProviderError(
                f"the wrapped key {name} does not unwrap: wrong key or tampered keyring"
            ) from None

    def remove(self, name: str) -> None:
        self.wrapped.pop(name, None)

    def rewrapped(self, old_kek: bytes, new_kek: bytes, provider: dict[str, Any]) -> Keyring:
        """A copy with every key re-wrapped under ``new_kek``; data is not re-encrypted."""
        new = Keyring.create(self.workspace_id, new_kek, provider)
        for name in self.wrapped:
            new.add(new_kek, name, self.get(old_kek, name))
        return new
