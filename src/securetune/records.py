"""Reading raw records from the formats people already have, one record at a time.

JSON Lines, CSV, Parquet, or a directory of ``.txt`` files (one record each, with ``id``
the file name and ``text`` the content). Everything streams: memory use depends on the
largest record (or Parquet row group), not on the file size. Errors name the file and
line (or row), never the record's content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from securetune.errors import InputError

Format = Literal["auto", "jsonl", "csv", "parquet", "txt"]
OnError = Literal["fail", "skip"]

SUFFIXES: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Python's csv module refuses fields over 128 KiB by default; clinical notes can be longer.
csv.field_size_limit(1 << 30)
#: A JSON escape of a UTF-16 surrogate; a lone one has no UTF-8 form and cannot be stored.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class _NotFinite(ValueError):
    """NaN or infinity in JSON input: not JSON (RFC 8259), and not storable."""


def _refuse_constant(name: str) -> float:
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to infinity
        raise _NotFinite(text)
    return value


def _has_lone_surrogate(record: dict[str, Any]) -> bool:
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def detect_format(path: Path, fmt: Format = "auto") -> Format:
    is_dir = path.is_dir()
    if fmt not in ("auto", "txt") and is_dir:
        raise InputError(f"{path}: is a directory, but --format {fmt} reads a file")
    if fmt == "txt" and not is_dir:
        raise InputError(f"{path}: --format txt reads a directory of .txt files")
    if fmt != "auto":
        return fmt
    if is_dir:
        if path.suffix.lower() in SUFFIXES:
            raise InputError(f"{path}: is a directory, not a {path.suffix} file")
        return "txt"
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise InputError(
            f"{path}: cannot tell the format from the extension; use --format jsonl|csv|parquet|txt"
        ) from None


def file_sha256(path: Path) -> str:
    """Content hash of an input file, or of a directory's ``.txt`` files (names and contents)."""
    h = hashlib.sha256()
    if path.is_dir():
        for child in sorted(path.glob("*.txt")):
            h.update(child.name.encode() + b"\0" + hashlib.sha256(child.read_bytes()).digest())
        return h.hexdigest()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class RecordReader:
    """Iterates records from ``path``; ``skipped`` counts malformed records under on_error=skip."""

    path: Path
    fmt: Format = "auto"
    on_error: OnError = "fail"
    skipped: int = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file or directory")
        fmt = detect_format(self.path, self.fmt)
        readers = {
            "jsonl": self._jsonl,
            "csv": self._csv,
            "parquet": self._parquet,
            "txt": self._txt,
        }
        yield from readers[fmt]()

    def _bad(self, message: str) -> None:
        if self.on_error == "fail":
            raise InputError(message)
        self.skipped += 1

    def _jsonl(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                where = f"{self.path}: line {number}"
                try:
                    record = json.loads(
                        raw.decode("utf-8"),
                        parse_constant=_refuse_constant,
                        parse_float=_finite_float,
                    )
                except UnicodeDecodeError:
                    self._bad(f"{where}: not valid UTF-8")
                    continue
                except json.JSONDecodeError as exc:
                    self._bad(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
                    continue
                except _NotFinite:
                    self._bad(f"{where}: NaN or infinity is not valid JSON")
                    continue
                except ValueError:  # int() refuses integers of more than 4300 digits
                    self._bad(f"{where}: a number too long to read")
                    continue
                except RecursionError:
                    self._bad(f"{where}: nested too deeply")
                    continue
                if not isinstance(record, dict):
                    self._bad(f"{where}: a record must be a JSON object")
                    continue
                if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(record):
                    self._bad(f"{where}: a lone UTF-16 surrogate escape (invalid Unicode)")
                    continue
                yield record

    def _csv(self) -> Iterator[dict[str, Any]]:
        """RFC 4180 through the csv module in strict mode: a quote that never closes is an
        error naming the line it opened on (not rows silently merged), and so is a header
        that names a column twice (one of the two would silently disappear)."""
        with self.path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            rows = csv.reader(text, strict=True)
            started = 1
            try:
                header = next(rows, None)
                if header is None:
                    return
                seen: dict[str, int] = {}
                for column, name in enumerate(header, start=1):
                    if name in seen:  # names are schema, but never echo them into errors
                        raise InputError(
                            f"{self.path}: line 1: the header names column {column} the same as"
                            f" column {seen[name]}; column names must be unique"
                        )
                    seen[name] = column
                started = rows.line_num + 1
                for row in rows:
                    if row and len(row) != len(header):
                        self._bad(f"{self.path}: line {started}: wrong number of fields")
                    elif row:
                        yield dict(zip(header, row, strict=True))
                    started = rows.line_num + 1
            except UnicodeDecodeError:
                raise InputError(
                    f"{self.path}: line {rows.line_num + 1}: not valid UTF-8"
                ) from None
            except csv.Error as exc:
                if rows.line_num > started or "end of data" in str(exc):
                    raise InputError(
                        f"{self.path}: line {started}: a quoted field opened here never closes"
                    ) from None
                raise InputError(f"{self.path}: line {started}: malformed CSV ({exc})") from None

    def _parquet(self) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq  # heavy; only imported when a Parquet file is read

        try:
            parquet = pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise InputError(
                f"{self.path}: not a readable Parquet file ({exc.__class__.__name__})"
            ) from None
        batches = parquet.iter_batches(batch_size=1024)
        while True:
            try:
                batch = next(batches, None)
                rows = batch.to_pylist() if batch is not None else None
            except Exception as exc:  # a corrupt page or an unsupported type, many classes
                raise InputError(
                    f"{self.path}: a row group cannot be read ({exc.__class__.__name__})"
                ) from None
            if rows is None:
                return
            yield from rows

    def _txt(self) -> Iterator[dict[str, Any]]:
        files = sorted(self.path.glob("*.txt"))
        for path in files:
            try:
                text = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                self._bad(f"{path}: not valid UTF-8")
                continue
            yield {"id": path.stem, "text": text}
