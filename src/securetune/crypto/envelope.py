"""Envelope encryption: a dataset's data key (DEK) wrapped under the workspace KEK.

The wrapped-key format (``docs/FORMAT.md``, "Wrapped keys") is 65 bytes::

    magic "STWK" (4) | version 0x01 (1) | nonce (12) | AES-256-GCM(DEK) (32) | tag (16)

The AES-GCM key is not the KEK itself but HKDF-SHA256(KEK, info = wrap label), so the KEK
stays usable for other purposes under other labels without two uses ever sharing a key. The
associated data binds the wrap label and the caller's ``context`` (workspace and key name),
so a wrapped key copied to another slot of the keyring does not unwrap there.
"""

from __future__ import annotations

import secrets
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from securetune.errors import DecryptionError, KeyProviderError

__all__ = ["WRAPPED_KEY_SIZE", "new_data_key", "unwrap_key", "wrap_key"]

KEY_SIZE = 32
WRAP_MAGIC = b"STWK"
WRAP_VERSION = 1
NONCE_SIZE = 12
TAG_SIZE = 16
_PREFIX = struct.Struct(">4sB12s")  # magic | version | nonce
WRAPPED_KEY_SIZE = _PREFIX.size + KEY_SIZE + TAG_SIZE  # 65 bytes
# Label for deriving the wrapping key from the KEK, and label heading the associated data.
# Both carry the version: a future format gets new labels, never a reinterpretation.
KDF_LABEL = b"securetune/wrapped-key/v1 wrapping key"
AAD_LABEL = b"securetune/wrapped-key/v1\x00"


def new_data_key() -> bytes:
    """A fresh 256-bit data key from the operating system's CSPRNG."""
    return secrets.token_bytes(KEY_SIZE)


def wrap_key(kek: bytes, dek: bytes, *, context: bytes, _nonce: bytes | None = None) -> bytes:
    """Encrypt ``dek`` under ``kek`` for the slot named by ``context``.

    ``_nonce`` is the seam for deterministic test vectors; real callers never pass it. A
    random 96-bit nonce per wrap is safe for far more wraps than a workspace will ever make
    (NIST SP 800-38D allows 2**32 per key).
    """
    dek = _check_key(dek, "data key")
    nonce = secrets.token_bytes(NONCE_SIZE) if _nonce is None else _nonce
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"_nonce must be {NONCE_SIZE} bytes")
    prefix = _PREFIX.pack(WRAP_MAGIC, WRAP_VERSION, nonce)
    sealed = _wrapping_aead(kek).encrypt(nonce, dek, _aad(context))
    return prefix + sealed


def unwrap_key(kek: bytes, wrapped: bytes, *, context: bytes) -> bytes:
    """Recover the data key; any malformed, tampered or misplaced input is a DecryptionError."""
    aead = _wrapping_aead(kek)
    aad = _aad(context)
    if not isinstance(wrapped, (bytes, bytearray)) or len(wrapped) != WRAPPED_KEY_SIZE:
        size = len(wrapped) if isinstance(wrapped, (bytes, bytearray)) else type(wrapped).__name__
        raise DecryptionError(
            f"wrapped key is malformed (expected {WRAPPED_KEY_SIZE} bytes, got {size})"
        )
    magic, version, nonce = _PREFIX.unpack_from(wrapped)
    if magic != WRAP_MAGIC:
        raise DecryptionError("not a securetune wrapped key (bad magic bytes)")
    if version != WRAP_VERSION:
        raise DecryptionError(
            f"unsupported wrapped-key version {version} (this build reads version {WRAP_VERSION})"
        )
    try:
        return aead.decrypt(nonce, bytes(wrapped[_PREFIX.size :]), aad)
    except InvalidTag:
        raise DecryptionError(
            "wrapped key failed authentication: wrong workspace key, wrong key slot, "
            "or the wrapped key was modified"
        ) from None


def _wrapping_aead(kek: bytes) -> AESGCM:
    kek = _check_key(kek, "key-encryption key")
    wrapping_key = HKDF(
        algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=KDF_LABEL
    ).derive(kek)
    return AESGCM(wrapping_key)


def _aad(context: bytes) -> bytes:
    """The fixed-length label, then the context: unambiguous without a length prefix."""
    if not isinstance(context, (bytes, bytearray)):
        raise TypeError(f"context must be bytes, got {type(context).__name__}")
    return AAD_LABEL + bytes(context)


def _check_key(key: bytes, what: str) -> bytes:
    """Refuse anything but 32 bytes, without ever echoing the key."""
    if not isinstance(key, (bytes, bytearray)):
        raise KeyProviderError(f"a {what} must be bytes, got {type(key).__name__}")
    if len(key) != KEY_SIZE:
        raise KeyProviderError(f"a {what} must be {KEY_SIZE} bytes, got {len(key)}")
    return bytes(key)
