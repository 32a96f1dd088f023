"""Crash-safe file writes, and the checks on paths a user chooses for output.

Every file securetune writes that matters (keys, manifests, checkpoints, exports) goes through
:func:`atomic_writer`: a crash or kill leaves either the old content or the new one,
never a torn file, and the file never exists with looser permissions than asked for. It
never writes through a symbolic link and never replaces anything but a regular file.

Paths the user names for plaintext or findings (``data export -o``, ``scrub --findings``)
are checked first by :func:`check_output_path`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from securetune.errors import InputError

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _existing_kind(path: Path) -> str | None:
    """What is at ``path`` without following a final symlink: None if nothing."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise InputError(f"cannot write {path}: a parent of it is not a directory") from None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "a symbolic link (outputs are never written through links)"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file (a device, pipe or socket)"


def check_output_path(path: Path, *, protected: Iterable[Path | None], force: bool) -> Path:
    """Check a path the user chose for plaintext or findings; return the path to write.

    The path must be a regular file or not exist (never a link, device, pipe or
    directory), must not be replaced unless ``force``, and must not resolve inside any of
    ``protected`` (the workspace, the witness directory): an export written over the
    keyring would destroy every data key, and one written inside the store would leave
    plaintext where only ciphertext belongs. The parent directory is resolved (links and
    ``..`` included) before the comparison, and the returned path is the resolved one.
    """
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise InputError(f"refusing to write {path}: it is a directory")
    try:
        parent = path.parent.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"cannot write {path}: the directory does not exist") from None
    if not parent.is_dir():
        raise InputError(f"cannot write {path}: a parent of it is not a directory")
    target = parent / path.name
    for area in protected:
        if area is None:
            continue
        inside = Path(area).resolve()
        if target == inside or inside in target.parents:
            raise InputError(
                f"refusing to write {path}: it is inside {inside}, which securetune protects"
                " (the workspace or its witness); choose a path outside it"
            )
    kind = _existing_kind(target)
    if kind is not None and kind != "file":
        raise InputError(f"refusing to write {path}: it is {kind}")
    if kind == "file" and not force:
        raise InputError(
            f"refusing to replace the existing file {path}; pass --force to replace it"
        )
    return target


@contextlib.contextmanager
def atomic_writer(
    path: Path, *, mode: int = PRIVATE_FILE, replace: bool = True
) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes ``path`` only if the block completes.

    The temporary file lives in the same directory (so the rename is atomic) and is created
    with ``mode`` from the start, so secrets are never briefly world-readable. Only a
    regular file is ever replaced, and the rename replaces the directory entry, so a link
    planted at ``path`` is never followed. With ``replace=False`` an existing ``path`` is
    an error, checked atomically (``link``), so a file created meanwhile is not clobbered.
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
        kind = _existing_kind(path)
        if kind is not None and kind != "file":
            raise InputError(f"refusing to write {path}: it is {kind}")
        if replace:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _link_no_clobber(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` unless that name exists (atomically, where possible)."""
    try:
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:
        raise InputError(
            f"refusing to replace the existing file {path}; pass --force to replace it"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
        if os.path.lexists(path):  # a filesystem without hard links: check, then rename
            raise InputError(
                f"refusing to replace the existing file {path}; pass --force to replace it"
            ) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def atomic_write_bytes(
    path: Path, data: bytes, *, mode: int = PRIVATE_FILE, replace: bool = True
) -> None:
    """Replace ``path`` with ``data`` atomically and durably (see :func:`atomic_writer`)."""
    with atomic_writer(path, mode=mode, replace=replace) as fh:
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
