"""The streaming AEAD container: how scrubbed data is kept at rest.

The construction follows age's STREAM (C2SP ``age.md``, "Payload") and Tink's streaming AEAD,
and is specified byte by byte in ``docs/FORMAT.md`` (format version 1). In two lines:

- HKDF-SHA256(key, salt = a random 32-byte file nonce, info = label || context) gives a fresh
  payload key and header-MAC key per file; an HMAC-SHA256 over the header commits to both.
- The plaintext is cut into fixed-size chunks, each sealed with AES-256-GCM under the nonce
  ``11-byte big-endian counter || last-chunk flag``, so every chunk knows its place and the end.

The reader checks the header MAC (the key commitment) before it decrypts any chunk, and every
failure raises :class:`~securetune.errors.DecryptionError`. Memory is bounded by the chunk
size: writers buffer at most one chunk and readers hold one encrypted chunk at a time.

A reader yields each chunk as soon as it authenticates, before it knows the stream is
complete: a truncated stream raises only at the end. Callers must treat the plaintext as
untrusted until iteration finishes without error (:func:`decrypt_file` does this for files by
writing to a temporary file that it renames only on success).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from securetune.errors import DecryptionError, KeyProviderError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "StreamInfo",
    "StreamReader",
    "StreamWriter",
    "decrypt_bytes",
    "decrypt_file",
    "encrypt_bytes",
    "encrypt_file",
]

KEY_SIZE = 32
MAGIC = b"STSTREAM"
VERSION = 1
SALT_SIZE = 32
MAC_SIZE = 32
TAG_SIZE = 16
# magic (8) | version (u8) | chunk size (u32, big-endian) | salt (32); the MAC follows.
_HEADER_FIELDS = struct.Struct(">8sBI32s")
HEADER_SIZE = _HEADER_FIELDS.size + MAC_SIZE  # 77 bytes
# The label names the format and its version; the caller's context follows it unframed, which
# is unambiguous because the label has a fixed length.
KDF_LABEL = b"securetune/stream/v1\x00"

MIN_CHUNK_SIZE = 1 << 10  # 1 KiB: caps the tag overhead at 1.6% of the plaintext
MAX_CHUNK_SIZE = 1 << 24  # 16 MiB: caps what a hostile header can make a reader allocate
# Chosen with bench/crypto.py: per-chunk AES-GCM throughput plateaus at 256 KiB, and larger
# chunks only cost memory per open stream (see docs/FORMAT.md, "Why these choices").
DEFAULT_CHUNK_SIZE = 1 << 18

_COUNTER_SIZE = 11
_MAX_COUNTER = (1 << (8 * _COUNTER_SIZE)) - 1
_LAST = b"\x01"
_NOT_LAST = b"\x00"


@dataclass(frozen=True)
class StreamInfo:
    """Sizes and SHA-256 digests of both sides of a stream, for manifests and the ledger."""

    plaintext_bytes: int
    plaintext_sha256: str
    ciphertext_bytes: int
    ciphertext_sha256: str


@dataclass(frozen=True)
class _FileKeys:
    payload: AESGCM
    header_mac_key: bytes


def _check_key(key: bytes) -> bytes:
    """Refuse anything but 32 bytes, without ever echoing the key."""
    if not isinstance(key, (bytes, bytearray)):
        raise KeyProviderError(f"a stream key must be bytes, got {type(key).__name__}")
    if len(key) != KEY_SIZE:
        raise KeyProviderError(f"a stream key must be {KEY_SIZE} bytes, got {len(key)}")
    return bytes(key)


def _check_context(context: bytes) -> bytes:
    if not isinstance(context, (bytes, bytearray)):
        raise TypeError(f"context must be bytes, got {type(context).__name__}")
    return bytes(context)


def _check_chunk_size(chunk_size: int) -> int:
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(
            f"chunk_size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} bytes, "
            f"got {chunk_size}"
        )
    return chunk_size


def _derive_keys(key: bytes, salt: bytes, context: bytes) -> _FileKeys:
    """One HKDF call gives the per-file payload key and header-MAC key (32 bytes each).

    The random salt makes the payload key unique per file, so the chunk counter alone is a
    safe GCM nonce; the context in ``info`` ties the file to its dataset and position.
    """
    okm = HKDF(
        algorithm=hashes.SHA256(), length=2 * KEY_SIZE, salt=salt, info=KDF_LABEL + context
    ).derive(key)
    return _FileKeys(payload=AESGCM(okm[:KEY_SIZE]), header_mac_key=okm[KEY_SIZE:])


def _header_mac(header_mac_key: bytes, fields: bytes) -> bytes:
    return hmac.new(header_mac_key, fields, hashlib.sha256).digest()


def _header(keys: _FileKeys, chunk_size: int, salt: bytes) -> bytes:
    """The 77-byte header: fields, then the HMAC that authenticates them and commits the key."""
    fields = _HEADER_FIELDS.pack(MAGIC, VERSION, chunk_size, salt)
    return fields + _header_mac(keys.header_mac_key, fields)


def _chunk_nonce(counter: int, last: bool) -> bytes:
    """``counter`` (11 bytes, big-endian) followed by the last-chunk flag, as in age STREAM."""
    if not 0 <= counter <= _MAX_COUNTER:
        raise OverflowError("stream chunk counter exhausted (2**88 chunks)")
    return counter.to_bytes(_COUNTER_SIZE, "big") + (_LAST if last else _NOT_LAST)


class StreamWriter:
    """Encrypts a stream into ``dst`` chunk by chunk, buffering at most one chunk.

    A full chunk is held back until more data arrives, because only :meth:`close` knows
    which chunk is the last one and the last-chunk flag is part of its nonce. Leaving a
    ``with`` block by an exception does not close the stream, so an aborted write never
    produces a file that decrypts.
    """

    def __init__(
        self,
        dst: BinaryIO,
        key: bytes,
        *,
        context: bytes = b"",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        _salt: bytes | None = None,
        _digests: bool = True,
    ) -> None:
        # ``_salt`` is the seam for deterministic test vectors; real callers never pass it.
        # ``_digests=False`` skips the two SHA-256 passes (each slower than AES-GCM itself)
        # for encrypt_bytes, which returns no StreamInfo.
        salt = secrets.token_bytes(SALT_SIZE) if _salt is None else _salt
        if len(salt) != SALT_SIZE:
            raise ValueError(f"_salt must be {SALT_SIZE} bytes")
        self._dst = dst
        self._chunk_size = _check_chunk_size(chunk_size)
        self._keys = _derive_keys(_check_key(key), salt, _check_context(context))
        self._buf = bytearray()
        self._counter = 0
        self._digests = _Digests() if _digests else None
        self._closed = False
        self._out(_header(self._keys, self._chunk_size, salt))

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()

    @property
    def info(self) -> StreamInfo:
        if not self._closed:
            raise RuntimeError("StreamWriter.info is available only after close()")
        return _info(self._digests)

    def write(self, data: bytes) -> None:
        """Add plaintext; any split of the same bytes gives the same ciphertext."""
        if self._closed:
            raise ValueError("write to a closed StreamWriter")
        view = memoryview(data).cast("B")
        size = self._chunk_size
        while view:
            if len(self._buf) == size:  # a full chunk, and more data follows: not the last
                self._seal(self._buf, last=False)
                self._buf.clear()
            if not self._buf and len(view) > size:  # fast path: seal straight from the caller
                self._seal(view[:size], last=False)
                view = view[size:]
                continue
            take = min(size - len(self._buf), len(view))
            self._buf += view[:take]
            view = view[take:]

    def close(self) -> StreamInfo:
        """Seal the buffered bytes as the final chunk (empty only for an empty stream)."""
        if not self._closed:
            self._seal(self._buf, last=True)
            self._buf = bytearray()
            self._closed = True
        return self.info if self._digests else _NO_INFO

    def _seal(self, chunk: bytes | bytearray | memoryview, *, last: bool) -> None:
        nonce = _chunk_nonce(self._counter, last)
        if self._digests:
            self._digests.plain(chunk)
        self._out(self._keys.payload.encrypt(nonce, chunk, None))
        self._counter += 1

    def _out(self, data: bytes) -> None:
        if self._digests:
            self._digests.cipher(data)
        self._dst.write(data)


class StreamReader:
    """Decrypts a stream from ``src``, yielding one plaintext chunk at a time.

    The header is read and its MAC checked in the constructor, so a wrong key or context
    fails before any chunk is touched. Iterate once, to the end: truncation is only
    detectable there, and :attr:`info` is available only after it.
    """

    def __init__(
        self, src: BinaryIO, key: bytes, *, context: bytes = b"", _digests: bool = True
    ) -> None:
        key = _check_key(key)
        context = _check_context(context)
        self._src = src
        header = _read_exact(src, HEADER_SIZE)
        if len(header) < HEADER_SIZE:
            raise DecryptionError(
                f"stream header is truncated ({len(header)} of {HEADER_SIZE} bytes)"
            )
        self._chunk_size, salt = _parse_header_fields(header[: _HEADER_FIELDS.size])
        self._keys = _derive_keys(key, salt, context)
        expected = _header_mac(self._keys.header_mac_key, header[: _HEADER_FIELDS.size])
        if not hmac.compare_digest(expected, header[_HEADER_FIELDS.size :]):
            raise DecryptionError(
                "stream header authentication failed: wrong key, wrong context, "
                "or the header was modified"
            )
        self._digests = _Digests() if _digests else None
        if self._digests:
            self._digests.cipher(header)
        self._started = False
        self._finished = False

    @property
    def chunk_size(self) -> int:
        return self._chunk_size

    @property
    def info(self) -> StreamInfo:
        if not self._finished:
            raise RuntimeError("StreamReader.info is available only after reading to the end")
        return _info(self._digests)

    def __iter__(self) -> Iterator[bytes]:
        if self._started:
            raise RuntimeError("a StreamReader can be iterated only once")
        self._started = True
        return self._chunks()

    def _chunks(self) -> Iterator[bytes]:
        sealed_size = self._chunk_size + TAG_SIZE
        buf = bytearray(sealed_size)
        view = memoryview(buf)
        filled = _readinto_exact(self._src, view)
        counter = 0
        while True:
            # A full sealed chunk is the last one only if nothing follows it; peek one byte.
            peek = self._src.read(1) if filled == sealed_size else b""
            last = not peek
            plaintext = self._open(view[:filled], counter, last=last)
            yield plaintext
            if last:
                break
            counter += 1
            buf[0:1] = peek
            filled = 1 + _readinto_exact(self._src, view[1:])
        self._finished = True

    def _open(self, sealed: memoryview, counter: int, *, last: bool) -> bytes:
        """Authenticate and decrypt one chunk, enforcing the structural rules first."""
        if len(sealed) < TAG_SIZE:
            raise DecryptionError(
                f"chunk {counter} is truncated ({len(sealed)} bytes, "
                f"shorter than the {TAG_SIZE}-byte tag)"
            )
        if last and counter > 0 and len(sealed) == TAG_SIZE:
            raise DecryptionError(
                f"final chunk {counter} is empty; only an empty stream may end in an empty chunk"
            )
        try:
            nonce = _chunk_nonce(counter, last)
        except OverflowError:
            raise DecryptionError("stream has more chunks than the counter allows") from None
        try:
            plaintext = self._keys.payload.decrypt(nonce, sealed, None)
        except InvalidTag:
            raise DecryptionError(
                f"chunk {counter} failed authentication: the stream was modified, truncated, "
                "reordered, or spliced from another file"
            ) from None
        if self._digests:
            self._digests.cipher(sealed)
            self._digests.plain(plaintext)
        return plaintext


class _Digests:
    """Running sizes and SHA-256 of both sides, for StreamInfo."""

    def __init__(self) -> None:
        self.plain_bytes = 0
        self.plain_hash = hashlib.sha256()
        self.cipher_bytes = 0
        self.cipher_hash = hashlib.sha256()

    def plain(self, data: bytes | bytearray | memoryview) -> None:
        self.plain_bytes += len(data)
        self.plain_hash.update(data)

    def cipher(self, data: bytes | bytearray | memoryview) -> None:
        self.cipher_bytes += len(data)
        self.cipher_hash.update(data)


_NO_INFO = StreamInfo(0, "", 0, "")  # returned by close() only on the internal no-digest path


def _info(digests: _Digests | None) -> StreamInfo:
    if digests is None:
        raise RuntimeError("this stream was opened without digests; it has no StreamInfo")
    return StreamInfo(
        plaintext_bytes=digests.plain_bytes,
        plaintext_sha256=digests.plain_hash.hexdigest(),
        ciphertext_bytes=digests.cipher_bytes,
        ciphertext_sha256=digests.cipher_hash.hexdigest(),
    )


def _parse_header_fields(fields: bytes) -> tuple[int, bytes]:
    """Check magic, version and chunk size; return (chunk size, salt). MAC is checked later."""
    magic, version, chunk_size, salt = _HEADER_FIELDS.unpack(fields)
    if magic != MAGIC:
        raise DecryptionError("not a securetune encrypted stream (bad magic bytes)")
    if version != VERSION:
        raise DecryptionError(
            f"unsupported stream format version {version} (this build reads version {VERSION})"
        )
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise DecryptionError(
            f"invalid chunk size {chunk_size} in stream header "
            f"(allowed {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE})"
        )
    return chunk_size, salt


def _read_exact(src: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes, fewer only at end of stream (``read`` may return short)."""
    buf = bytearray(size)
    return bytes(buf[: _readinto_exact(src, memoryview(buf))])


def _readinto_exact(src: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``src``; return the bytes read, short only at end of stream."""
    filled = 0
    while filled < len(view):
        n = src.readinto(view[filled:])  # type: ignore[attr-defined]
        if not n:
            break
        filled += n
    return filled


def encrypt_bytes(
    plaintext: bytes,
    key: bytes,
    *,
    context: bytes = b"",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> bytes:
    """Encrypt a whole buffer into a container (same format as :class:`StreamWriter`)."""
    out = io.BytesIO()
    with StreamWriter(out, key, context=context, chunk_size=chunk_size, _digests=False) as writer:
        writer.write(plaintext)
    return out.getvalue()


def decrypt_bytes(ciphertext: bytes, key: bytes, *, context: bytes = b"") -> bytes:
    """Decrypt a whole container; raises :class:`DecryptionError` on any failure."""
    out = io.BytesIO()  # grows in place; joining a list of chunks would hold them all twice
    for chunk in StreamReader(io.BytesIO(ciphertext), key, context=context, _digests=False):
        out.write(chunk)
    return out.getvalue()


def encrypt_file(
    src: Path,
    dst: Path,
    key: bytes,
    *,
    context: bytes = b"",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> StreamInfo:
    """Encrypt ``src`` into ``dst`` with memory bounded by the chunk size.

    ``dst`` appears (atomically, mode 0600, fsynced) only when the whole file is sealed.
    """
    _check_chunk_size(chunk_size)
    with _atomic_output(Path(dst)) as out, Path(src).open("rb") as fin:
        writer = StreamWriter(out, key, context=context, chunk_size=chunk_size)
        while piece := fin.read(chunk_size):
            writer.write(piece)
        return writer.close()


def decrypt_file(src: Path, dst: Path, key: bytes, *, context: bytes = b"") -> StreamInfo:
    """Decrypt ``src`` into ``dst`` with memory bounded by the chunk size.

    Plaintext goes to a private temporary file beside ``dst`` that is renamed into place only
    after the last chunk authenticates, so a truncated or tampered container never leaves a
    plausible-looking partial ``dst`` behind.
    """
    with _atomic_output(Path(dst)) as out, Path(src).open("rb") as fin:
        reader = StreamReader(fin, key, context=context)
        for chunk in reader:
            out.write(chunk)
        return reader.info


@contextmanager
def _atomic_output(dst: Path) -> Iterator[BinaryIO]:
    """Write to a 0600 temporary file beside ``dst``; fsync and rename it on success only."""
    fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
