"""Key providers: where the workspace key-encryption key (KEK) comes from.

The KEK never encrypts data directly. It wraps the per-dataset data keys and the ledger
signing key (envelope encryption, see ``docs/FORMAT.md``), so rotating it re-wraps a few
hundred bytes instead of re-encrypting every dataset.

Three providers, chosen at ``securetune init`` and recorded in the workspace config:

- ``file``: a random 256-bit key in ``keys/kek.key`` (mode 0600), the default;
- ``passphrase``: scrypt over a passphrase, with salt and cost parameters stored in the
  keyring so they can be raised later without a format change;
- ``env``: a base64 key in an environment variable, for CI systems and secret managers
  that inject secrets as variables.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from securetune.errors import KeyProviderError

KEY_BYTES = 32
KEK_FILE = "kek.key"

# scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB and ~0.1 s per unlock on a small machine; the
# parameters are stored beside the salt, so a later release can raise them per workspace.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAXMEM = 256 * 1024 * 1024

PassphrasePurpose = Literal["unlock", "init", "rotate"]
PassphrasePrompt = Callable[[PassphrasePurpose], str]
"""Asked for the current passphrase ("unlock"), the first one ("init") or a new one ("rotate")."""


def encode_key(key: bytes) -> str:
    """Base64 text form used in key files and environment variables."""
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, *, source: str) -> bytes:
    """Parse a base64 256-bit key; ``source`` names where it came from for the error."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyProviderError(f"{source} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise KeyProviderError(
            f"{source} must hold a {KEY_BYTES * 8}-bit key, got {len(key) * 8} bits"
        )
    return key


def new_random_key() -> bytes:
    return os.urandom(KEY_BYTES)


@dataclass(frozen=True)
class NewKey:
    """A freshly made KEK, the public parameters to store, and files to write beside it."""

    key: bytes
    params: dict[str, Any]
    files: dict[str, bytes]


class KeyProvider(ABC):
    """Produces the KEK. ``params`` are non-secret values kept in the keyring (salts...)."""

    kind: ClassVar[str]

    @abstractmethod
    def new_key(self, *, rotating: bool = False) -> NewKey:
        """Make a new KEK (at init, and on rotation with ``rotating=True``)."""

    @abstractmethod
    def load_key(self, params: Mapping[str, Any]) -> bytes:
        """Return the current KEK; raise KeyProviderError if it cannot be had."""


class FileKeyProvider(KeyProvider):
    kind = "file"

    def __init__(self, keys_dir: Path) -> None:
        self.path = keys_dir / KEK_FILE

    def new_key(self, *, rotating: bool = False) -> NewKey:
        key = new_random_key()
        return NewKey(key=key, params={}, files={KEK_FILE: (encode_key(key) + "\n").encode()})

    def load_key(self, params: Mapping[str, Any]) -> bytes:
        try:
            st = self.path.stat()
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise KeyProviderError(f"key file {self.path} is missing") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyProviderError(
                f"cannot read key file {self.path}: {exc.__class__.__name__}"
            ) from None
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise KeyProviderError(
                f"key file {self.path} is readable by other users; run: chmod 600 {self.path}"
            )
        return decode_key(text, source=f"key file {self.path}")


class PassphraseKeyProvider(KeyProvider):
    kind = "passphrase"

    def __init__(
        self, prompt: PassphrasePrompt, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P
    ) -> None:
        self.prompt = prompt
        self.n, self.r, self.p = n, r, p
        self._unlocked_with: str | None = None

    def new_key(self, *, rotating: bool = False) -> NewKey:
        passphrase = self.prompt("rotate" if rotating else "init")
        if len(passphrase) < 8:
            raise KeyProviderError("the passphrase must be at least 8 characters long")
        if rotating and passphrase == self._unlocked_with:
            raise KeyProviderError("the new passphrase is the same as the current one")
        salt = os.urandom(16)
        params = {"kdf": "scrypt", "salt": encode_key(salt), "n": self.n, "r": self.r, "p": self.p}
        return NewKey(key=derive_scrypt(passphrase, params), params=params, files={})

    def load_key(self, params: Mapping[str, Any]) -> bytes:
        passphrase = self.prompt("unlock")
        self._unlocked_with = passphrase  # only to refuse "rotating" to the same passphrase
        return derive_scrypt(passphrase, params)


def derive_scrypt(passphrase: str, params: Mapping[str, Any]) -> bytes:
    try:
        salt = base64.b64decode(params["salt"], validate=True)
        n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise KeyProviderError("the keyring's scrypt parameters are malformed") from None
    if params.get("kdf") != "scrypt" or n < 2**14 or n & (n - 1):
        raise KeyProviderError("the keyring's scrypt parameters are malformed or too weak")
    # A tampered keyring must not make an unlock allocate or compute without bound.
    out_of_range = "the keyring's scrypt parameters are out of range (the keyring was modified)"
    if not (1 <= r <= 64 and 1 <= p <= 64) or 128 * n * r > SCRYPT_MAXMEM // 2:
        raise KeyProviderError(out_of_range)
    try:
        return hashlib.scrypt(
            passphrase.encode(), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=KEY_BYTES
        )
    except (ValueError, MemoryError):
        raise KeyProviderError(out_of_range) from None


class EnvKeyProvider(KeyProvider):
    """Reads the KEK from ``variable``; on rotation the new key comes from ``variable_NEW``."""

    kind = "env"

    def __init__(self, variable: str, environ: Mapping[str, str]) -> None:
        self.variable = variable
        self.environ = environ

    def _read(self, name: str) -> bytes:
        value = self.environ.get(name)
        if not value:
            raise KeyProviderError(
                f"environment variable {name} is not set; it must hold a base64 256-bit key "
                "(make one with: securetune keys generate)"
            )
        return decode_key(value, source=f"environment variable {name}")

    def new_key(self, *, rotating: bool = False) -> NewKey:
        # At init the key is the one already in the variable; on rotation the caller passes
        # the new key in VARIABLE_NEW so that both exist while the keyring is re-wrapped.
        name = f"{self.variable}_NEW" if rotating else self.variable
        return NewKey(key=self._read(name), params={"variable": self.variable}, files={})

    def load_key(self, params: Mapping[str, Any]) -> bytes:
        return self._read(self.variable)
