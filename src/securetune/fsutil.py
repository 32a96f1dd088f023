"""Crash-safe file writes.

Every file securetune writes that matters (keys, manifests, checkpoints, exports) goes through
:func:`atomic_write_bytes`: a crash or kill leaves either the old content or the new one,
never a torn file, and the file never exists with looser permissions than asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path, *, mode: int = PRIVATE_FILE) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` only if the block completes.

    The temporary file lives in the same directory (so the rename is atomic) and is created
    with ``mode`` from the start, so secrets are never briefly world-readable.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = PRIVATE_FILE) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    with atomic_writer(path, mode=mode) as fh:
        fh.write(data)


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)


def sha256_fd(fd: int) -> str:
    """SHA-256 of everything in an open file, read with pread (the file offset is untouched)."""
    digest = hashlib.sha256()
    offset = 0
    while block := os.pread(fd, 1 << 20, offset):
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


class UnsafeOutputError(OSError):
    """An output path that must not be written (see :func:`check_output_path`)."""


def check_output_path(path: Path, *, force: bool, forbidden: tuple[Path, ...]) -> Path:
    """Where a user-chosen output may go: never onto the workspace's own files.

    The path must be a regular file or not exist, must not be a symlink (nor resolve inside
    any of ``forbidden``, e.g. the workspace and the witness directory), and an existing
    file is replaced only with ``force``. Returns the resolved path to write.
    """
    path = Path(path)
    if path.is_symlink():
        raise UnsafeOutputError(f"{path} is a symbolic link; give the real path")
    resolved = path.resolve()
    for root in forbidden:
        if resolved.is_relative_to(root.resolve()):
            raise UnsafeOutputError(f"{path} is inside {root}; write outputs outside it")
    if resolved.exists():
        if not resolved.is_file():
            raise UnsafeOutputError(f"{path} exists and is not a regular file")
        if not force:
            raise UnsafeOutputError(f"{path} already exists; pass --force to replace it")
    if not resolved.parent.is_dir():
        raise UnsafeOutputError(f"{resolved.parent} is not a directory")
    return resolved
