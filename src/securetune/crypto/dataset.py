"""Encrypted datasets: a directory of encrypted shards plus an authenticated manifest.

```
datasets/<name>/
  manifest.json          {"manifest": {...}, "mac": hex}
  shard-00000.stc        container (docs/FORMAT.md); plaintext is JSON Lines, one record a line
  shard-00001.stc
```

Each dataset has its own random 256-bit data key (DEK), kept wrapped in the workspace
keyring. Shards are bound to their dataset and position through the container's context,
so a shard copied into another dataset or renumbered fails authentication. The manifest
is authenticated with an HMAC keyed from the DEK, and lists every shard's plaintext and
ciphertext hashes, so a shard replaced, dropped or added is detected even before it is read.

Writers build the dataset in a hidden temporary directory and rename it into place at the
end, so a crash leaves no partial dataset visible; readers never write plaintext to disk.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from securetune import __version__
from securetune.crypto.stream import StreamReader, StreamWriter
from securetune.errors import DatasetError, DecryptionError
from securetune.fsutil import atomic_write_bytes

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
SHARD_SUFFIX = ".stc"
DEFAULT_SHARD_BYTES = 64 * 1024 * 1024
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):  # fullmatch: `$` would accept a trailing newline
        raise DatasetError(
            f"invalid dataset name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def shard_context(dataset_id: str, index: int) -> bytes:
    return f"securetune/dataset/{dataset_id}/shard/{index}".encode()


def _manifest_mac_key(dek: bytes, dataset_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=f"securetune/dataset/{dataset_id}/manifest-mac/v1".encode(),
    ).derive(dek)


def encode_record(record: Mapping[str, Any]) -> bytes:
    """One record as one JSON line; UTF-8, keys kept in input order."""
    return (
        json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        + b"\n"
    )


def _unstorable(exc: BaseException) -> str:
    """Why a record has no JSON form, without quoting any of it."""
    if isinstance(exc, UnicodeEncodeError):
        return "it holds a lone surrogate (invalid Unicode)"
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    if isinstance(exc, TypeError):
        return "it holds a value of a type JSON has no form for (bytes, dates, decimals)"
    return "it holds NaN or infinity, which JSON has no form for"


@dataclass(frozen=True)
class ShardInfo:
    file: str
    records: int
    plaintext_bytes: int
    plaintext_sha256: str
    ciphertext_bytes: int
    ciphertext_sha256: str


@dataclass(frozen=True)
class Manifest:
    dataset_id: str
    name: str
    created: str
    record_count: int
    schema: dict[str, list[str]]
    content_sha256: str
    shards: list[ShardInfo]
    provenance: dict[str, Any]
    securetune_version: str = __version__
    version: int = MANIFEST_VERSION

    @property
    def scrubbed(self) -> bool:
        return bool(self.provenance.get("scrubbed"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "dataset_id": self.dataset_id,
            "name": self.name,
            "created": self.created,
            "record_count": self.record_count,
            "schema": self.schema,
            "content_sha256": self.content_sha256,
            "shards": [s.__dict__ for s in self.shards],
            "provenance": self.provenance,
            "securetune_version": self.securetune_version,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Manifest:
        return cls(
            version=int(doc["version"]),
            dataset_id=str(doc["dataset_id"]),
            name=str(doc["name"]),
            created=str(doc["created"]),
            record_count=int(doc["record_count"]),
            schema={str(k): list(v) for k, v in doc["schema"].items()},
            content_sha256=str(doc["content_sha256"]),
            shards=[ShardInfo(**s) for s in doc["shards"]],
            provenance=dict(doc["provenance"]),
            securetune_version=str(doc["securetune_version"]),
        )

    @property
    def ciphertext_sha256(self) -> str:
        """One hash naming the whole encrypted dataset, for ledger events."""
        h = hashlib.sha256()
        for shard in self.shards:
            h.update(bytes.fromhex(shard.ciphertext_sha256))
        return h.hexdigest()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass
class DatasetWriter:
    """Streams records into encrypted shards under ``directory`` (a fresh temp dir)."""

    directory: Path
    dataset_id: str
    dek: bytes
    shard_bytes: int = DEFAULT_SHARD_BYTES
    _shards: list[ShardInfo] = field(default_factory=list)
    _schema: dict[str, set[str]] = field(default_factory=dict)
    _content: Any = field(default_factory=hashlib.sha256)
    _writer: StreamWriter | None = None
    _file: Any = None
    _shard_records: int = 0
    _shard_plain: int = 0
    _count: int = 0

    def write(self, record: Mapping[str, Any]) -> None:
        try:
            line = encode_record(record)
        except (ValueError, TypeError, RecursionError) as exc:  # UnicodeEncodeError too
            raise DatasetError(
                f"record {self._count + 1} cannot be stored: {_unstorable(exc)}"
            ) from None
        for key, value in record.items():
            self._schema.setdefault(key, set()).add(_json_type(value))
        if self._writer is None:
            self._open_shard()
        assert self._writer is not None
        self._writer.write(line)
        self._content.update(line)
        self._shard_records += 1
        self._shard_plain += len(line)
        self._count += 1
        if self._shard_plain >= self.shard_bytes:
            self._close_shard()

    def _open_shard(self) -> None:
        index = len(self._shards)
        path = self.directory / f"shard-{index:05d}{SHARD_SUFFIX}"
        self._file = path.open("xb")
        self._writer = StreamWriter(
            self._file, self.dek, context=shard_context(self.dataset_id, index)
        )
        self._shard_records = self._shard_plain = 0

    def _close_shard(self) -> None:
        assert self._writer is not None
        info = self._writer.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._shards.append(
            ShardInfo(
                file=Path(self._file.name).name,
                records=self._shard_records,
                plaintext_bytes=info.plaintext_bytes,
                plaintext_sha256=info.plaintext_sha256,
                ciphertext_bytes=info.ciphertext_bytes,
                ciphertext_sha256=info.ciphertext_sha256,
            )
        )
        self._writer = None

    def finish(self, *, name: str, created: str, provenance: Mapping[str, Any]) -> Manifest:
        if self._writer is not None:
            self._close_shard()
        if not self._shards:
            # An empty dataset still gets one (empty) shard, so "no shards" always means damage.
            self._open_shard()
            self._close_shard()
        manifest = Manifest(
            dataset_id=self.dataset_id,
            name=name,
            created=created,
            record_count=self._count,
            schema={k: sorted(v) for k, v in sorted(self._schema.items())},
            content_sha256=self._content.hexdigest(),
            shards=self._shards,
            provenance=dict(provenance),
        )
        write_manifest(self.directory, manifest, self.dek)
        return manifest

    def abort(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()


def write_manifest(directory: Path, manifest: Manifest, dek: bytes) -> None:
    body = manifest.to_dict()
    mac = hmac.new(_manifest_mac_key(dek, manifest.dataset_id), rfc8785.dumps(body), hashlib.sha256)
    doc = {"manifest": body, "mac": mac.hexdigest()}
    atomic_write_bytes(directory / MANIFEST_FILE, (json.dumps(doc, indent=2) + "\n").encode())


@dataclass(frozen=True)
class ManifestFile:
    """One read of ``manifest.json``: the parsed manifest and the exact JSON it came from.

    Reading the file once and authenticating *that* copy matters: a manifest read again
    after its MAC was checked could be a different file (a swapped file, a FIFO).
    """

    manifest: Manifest
    body: dict[str, Any]
    mac: Any


def read_manifest_file(directory: Path) -> ManifestFile:
    """Read and parse the manifest once, refusing anything but a regular file."""
    path = directory / MANIFEST_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise DatasetError(f"dataset {directory.name}: manifest is missing") from None
    except OSError:
        raise DatasetError(f"dataset {directory.name}: manifest is not a regular file") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory opens read-only too
        os.close(fd)
        raise DatasetError(f"dataset {directory.name}: manifest is not a regular file")
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read()
    try:
        doc = json.loads(raw)
        return ManifestFile(Manifest.from_dict(doc["manifest"]), doc["manifest"], doc.get("mac"))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DatasetError(
            f"dataset {directory.name}: manifest is malformed or was modified"
        ) from None


def read_manifest_unverified(directory: Path) -> Manifest:
    """Parse the manifest without checking its MAC (only to learn which key to fetch)."""
    return read_manifest_file(directory).manifest


def authenticate_manifest(directory: Path, found: ManifestFile, dek: bytes) -> Manifest:
    """Check the MAC over exactly the copy that was parsed; any change reads as tampering."""
    try:
        body = rfc8785.dumps(found.body)
    except (rfc8785.CanonicalizationError, ValueError, TypeError):
        body = None
    mac = found.mac
    valid = (
        body is not None
        and isinstance(mac, str)
        and mac.isascii()
        and hmac.compare_digest(
            hmac.new(
                _manifest_mac_key(dek, found.manifest.dataset_id), body, hashlib.sha256
            ).hexdigest(),
            mac,
        )
    )
    if not valid:
        raise DecryptionError(
            f"dataset {directory.name}: manifest failed authentication (modified, or wrong key)"
        )
    return found.manifest


def iter_records(directory: Path, manifest: Manifest, dek: bytes) -> Iterator[dict[str, Any]]:
    """Decrypt and yield every record, in memory only, checking every shard against the manifest."""
    for index, shard in enumerate(manifest.shards):
        yield from _iter_shard(directory, manifest, index, shard, dek)


def _iter_shard(
    directory: Path, manifest: Manifest, index: int, shard: ShardInfo, dek: bytes
) -> Iterator[dict[str, Any]]:
    where = f"dataset {manifest.name}: shard {shard.file}"
    path = directory / shard.file
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise DatasetError(f"{where} is missing") from None
    count = 0
    with fh:
        pending = b""
        try:
            reader = StreamReader(fh, dek, context=shard_context(manifest.dataset_id, index))
            for chunk in reader:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    count += 1
                    yield json.loads(line)
        except DecryptionError:
            raise DecryptionError(
                f"{where} failed authentication (tampered, truncated, or wrong key)"
            ) from None
        info = reader.info
    if (
        pending
        or count != shard.records
        or info.ciphertext_sha256 != shard.ciphertext_sha256
        or (info.plaintext_sha256 != shard.plaintext_sha256)
    ):
        raise DecryptionError(f"{where} does not match the manifest (replaced or modified)")
