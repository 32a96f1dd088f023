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


def detect_format(path: Path, fmt: Format = "auto") -> Format:
    if fmt != "auto":
        return fmt
    if path.is_dir():
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
                try:
                    record = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    self._bad(f"{self.path}: line {number}: not valid UTF-8")
                    continue
                except json.JSONDecodeError as exc:
                    self._bad(
                        f"{self.path}: line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
                    )
                    continue
                if not isinstance(record, dict):
                    self._bad(f"{self.path}: line {number}: a record must be a JSON object")
                    continue
                yield record

    def _csv(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            reader = csv.DictReader(text)
            try:
                for row in reader:
                    if None in row or any(v is None for v in row.values()):
                        self._bad(f"{self.path}: line {reader.line_num}: wrong number of fields")
                        continue
                    yield dict(row)
            except UnicodeDecodeError:
                raise InputError(
                    f"{self.path}: line {reader.line_num + 1}: not valid UTF-8"
                ) from None
            except csv.Error as exc:
                raise InputError(
                    f"{self.path}: line {reader.line_num}: malformed CSV ({exc})"
                ) from None

    def _parquet(self) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq  # heavy; only imported when a Parquet file is read

        try:
            parquet = pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise InputError(
                f"{self.path}: not a readable Parquet file ({exc.__class__.__name__})"
            ) from None
        for batch in parquet.iter_batches(batch_size=1024):
            yield from batch.to_pylist()

    def _txt(self) -> Iterator[dict[str, Any]]:
        files = sorted(self.path.glob("*.txt"))
        for path in files:
            try:
                text = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                self._bad(f"{path}: not valid UTF-8")
                continue
            yield {"id": path.stem, "text": text}
