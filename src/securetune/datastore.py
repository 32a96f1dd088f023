"""The workspace's encrypted datasets: create, list, show, verify, export, remove.

Every function that changes the workspace must be called under ``Workspace.locked()`` and
appends a ledger event; ledger payloads carry names, ids, counts and hashes, never records.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from securetune import reconcile
from securetune.crypto.dataset import (
    DEFAULT_SHARD_BYTES,
    DatasetWriter,
    Manifest,
    authenticate_manifest,
    check_name,
    encode_record,
    iter_records,
    read_manifest_file,
)
from securetune.crypto.envelope import new_data_key
from securetune.errors import DatasetError, DecryptionError, InputError, KeyProviderError
from securetune.fsutil import (
    atomic_writer,
    check_output_path,
    fsync_dir,
    make_private_dir,
    sha256_fd,
)
from securetune.lineage import RecordFingerprint, find_source
from securetune.records import Format, OnError, RecordReader, file_sha256
from securetune.workspace import Workspace

OnRecord = Callable[[int], None]
"""Progress callback: called with the number of records written so far."""


def key_name(dataset_id: str) -> str:
    return f"dataset:{dataset_id}"


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    dataset_id: str
    records: int
    scrubbed: bool
    created: str
    shards: int
    ciphertext_bytes: int
    content_sha256: str
    ciphertext_sha256: str
    schema: dict[str, list[str]]
    provenance: dict[str, Any]

    @classmethod
    def of(cls, manifest: Manifest) -> DatasetSummary:
        return cls(
            name=manifest.name,
            dataset_id=manifest.dataset_id,
            records=manifest.record_count,
            scrubbed=manifest.scrubbed,
            created=manifest.created,
            shards=len(manifest.shards),
            ciphertext_bytes=sum(s.ciphertext_bytes for s in manifest.shards),
            content_sha256=manifest.content_sha256,
            ciphertext_sha256=manifest.ciphertext_sha256,
            schema=manifest.schema,
            provenance=manifest.provenance,
        )


@dataclass(frozen=True)
class AddResult:
    dataset: DatasetSummary
    skipped: int
    input_sha256: str


@dataclass(frozen=True)
class ExportResult:
    name: str
    records: int
    out: str
    sha256: str


def dataset_dir(ws: Workspace, name: str) -> Path:
    return ws.datasets_dir / check_name(name)


def require_absent(ws: Workspace, name: str) -> Path:
    target = dataset_dir(ws, name)
    if target.exists():
        raise DatasetError(
            f"dataset {name} already exists; choose another --name or remove it first"
        )
    return target


def _require_present(ws: Workspace, name: str) -> Path:
    target = dataset_dir(ws, name)
    if target.is_symlink():  # rm would move the link, shred the key, then fail to delete
        raise DatasetError(
            f"dataset {name} is a symbolic link, not a directory in the workspace; refusing to use it"
        )
    if not (target / "manifest.json").exists():
        raise DatasetError(f"no dataset named {name} (see: securetune data ls)")
    return target


EventPayload = Callable[[Manifest], Mapping[str, Any]]


def _default_payload(manifest: Manifest) -> Mapping[str, Any]:
    return {
        "dataset": manifest.name,
        "dataset_id": manifest.dataset_id,
        "records": manifest.record_count,
        "content_sha256": manifest.content_sha256,
        "ciphertext_sha256": manifest.ciphertext_sha256,
        "scrubbed": manifest.scrubbed,
    }


def create_dataset(
    ws: Workspace,
    name: str,
    records: Iterable[Mapping[str, Any]],
    *,
    provenance: Mapping[str, Any],
    event: str = "data.create",
    payload: EventPayload | None = None,
    on_record: OnRecord | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> Manifest:
    """Encrypt ``records`` into a new dataset; nothing is visible unless it all succeeds.

    The ledger event (``event`` with ``payload(manifest)``) is appended *before* the
    dataset is renamed into place: a dataset never exists without its ledger entry. Once
    the event is in the ledger the dataset is committed: a failure after it (a witness
    that cannot be written) or a kill finishes the rename (here, or in the next command's
    ``Workspace.recover``), never deletes the data the ledger says exists.
    """
    staged = stage_dataset(
        ws,
        name,
        records,
        provenance=provenance,
        event=event,
        payload=payload,
        on_record=on_record,
        shard_bytes=shard_bytes,
    )
    commit_datasets(ws, [staged])
    return staged.manifest


@dataclass(frozen=True)
class StagedDataset:
    """A dataset fully written under ``datasets/.tmp-<id>``, its key in the keyring, not yet
    ledgered; :func:`commit_datasets` makes it (and the others staged with it) appear."""

    target: Path
    tmp: Path
    manifest: Manifest
    event: str
    payload: dict[str, Any]


def stage_dataset(
    ws: Workspace,
    name: str,
    records: Iterable[Mapping[str, Any]],
    *,
    provenance: Mapping[str, Any],
    event: str,
    payload: EventPayload | None = None,
    on_record: OnRecord | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> StagedDataset:
    """Write and key a dataset that no one can see yet. Hold the lock until it is committed."""
    target = require_absent(ws, name)
    ws.ledger_ready()
    kek = ws.kek()
    fingerprint = RecordFingerprint(
        _lineage_key(ws, kek), unit_field=provenance.get("subject_field")
    )
    dataset_id = str(uuid.uuid4())
    dek = new_data_key()
    tmp = ws.datasets_dir / f".tmp-{dataset_id}"
    make_private_dir(tmp)
    writer = DatasetWriter(tmp, dataset_id, dek, shard_bytes=shard_bytes)
    keyed = False
    try:
        for count, record in enumerate(records, start=1):
            writer.write(record)
            fingerprint.add(record)
            if on_record is not None:
                on_record(count)
        # From the ledger as it verified under this lock (Workspace.ledger_view): a line
        # edited before this command and restored after it must not decide the lineage.
        lineage = find_source(
            ws.ledger_view().state,
            input_sha256=provenance.get("input_sha256"),
            fingerprint=fingerprint.hexdigest(),
            source_dataset_id=provenance.get("source_dataset_id"),
            units_fingerprint=fingerprint.units_hexdigest(),
        )
        traced = {
            "records_fingerprint": fingerprint.hexdigest(),
            "units_fingerprint": fingerprint.units_hexdigest(),
            **lineage.fields(),
        }
        origin = {**provenance, **traced}
        if not origin.get("policy") and lineage.policy:  # derived from capped data: same caps
            origin.update(policy=lineage.policy, policy_sha256=lineage.policy_sha256)
        manifest = writer.finish(
            name=name, created=ws.clock().isoformat(timespec="seconds"), provenance=origin
        )
        keyring = ws.keyring()
        keyring.add(kek, key_name(dataset_id), dek)
        keyed = True
        keyring.save(ws.keyring_path)
        event_payload = {**(payload or _default_payload)(manifest), **traced}
        if provenance.get("input_sha256"):
            event_payload.setdefault("input_sha256", provenance["input_sha256"])
    except BaseException:
        writer.abort()
        _discard(ws, [dataset_id] if keyed else [], [tmp])
        raise
    return StagedDataset(target, tmp, manifest, event, event_payload)


def commit_datasets(ws: Workspace, staged: list[StagedDataset]) -> None:
    """Ledger and reveal staged datasets: all of them, or (until the first event) none.

    One dataset commits at its event. Several (a scrub and its re-identification mapping)
    go through a commit journal (``Workspace.open_commit_journal``): a kill after the first
    event is rolled forward by the next command, so they never appear one without the other.
    """
    journal = (
        ws.open_commit_journal(
            [
                {
                    "dataset_id": s.manifest.dataset_id,
                    "name": s.target.name,
                    "event": s.event,
                    "payload": s.payload,
                }
                for s in staged
            ]
        )
        if len(staged) > 1
        else None
    )
    try:
        for item in staged:
            ws.record(item.event, item.payload)
    except BaseException:
        ids = [s.manifest.dataset_id for s in staged]
        ledgered = set(reconcile.ledger_state(ws.ledger_dir).datasets) & set(ids)
        if not ledgered:  # nothing committed: nothing may remain
            discard_staged(ws, staged)
            if journal is not None:
                ws.close_commit_journal(journal)
        elif journal is None:  # committed; a kill here would be finished by the next command
            with contextlib.suppress(OSError):
                _reveal(ws, staged)
        raise  # several, partly ledgered: the journal is finished by the next command
    _reveal(ws, staged)
    if journal is not None:
        ws.close_commit_journal(journal)


def discard_staged(ws: Workspace, staged: list[StagedDataset]) -> None:
    """Give up staged datasets that were never committed (keys, then ciphertext)."""
    _discard(ws, [s.manifest.dataset_id for s in staged], [s.tmp for s in staged])


def _reveal(ws: Workspace, staged: list[StagedDataset]) -> None:
    for item in staged:
        os.rename(item.tmp, item.target)
    fsync_dir(ws.datasets_dir)


def _discard(ws: Workspace, dataset_ids: list[str], tmps: list[Path]) -> None:
    """Undo staging: data keys out of the keyring first, then the ciphertext."""
    if dataset_ids:
        keyring = ws.keyring()
        for dataset_id in dataset_ids:
            if key_name(dataset_id) in keyring.wrapped:
                keyring.remove(key_name(dataset_id))
        keyring.save(ws.keyring_path)
    for tmp in tmps:
        shutil.rmtree(tmp, ignore_errors=True)


LINEAGE_KEY_NAME = "lineage-key"


def _lineage_key(ws: Workspace, kek: bytes) -> bytes:
    """The key of record fingerprints (securetune.lineage), made on first use."""
    keyring = ws.keyring()
    try:
        return keyring.get(kek, LINEAGE_KEY_NAME)
    except KeyProviderError:
        if LINEAGE_KEY_NAME in keyring.wrapped:
            raise  # present but unreadable: never silently replace it
    key = new_data_key()
    keyring.add(kek, LINEAGE_KEY_NAME, key)
    keyring.save(ws.keyring_path)
    return key


def add_dataset(
    ws: Workspace,
    path: Path,
    name: str,
    *,
    fmt: Format = "auto",
    on_error: OnError = "fail",
    on_record: OnRecord | None = None,
) -> AddResult:
    """``securetune data add``: encrypt records as they are, marked *unscrubbed*."""
    require_absent(ws, name)
    reader = RecordReader(Path(path), fmt=fmt, on_error=on_error)
    input_sha256 = file_sha256(Path(path)) if Path(path).exists() else ""
    manifest = create_dataset(
        ws,
        name,
        reader,
        provenance={
            "command": "data add",
            "input_sha256": input_sha256,
            "input_format": reader.fmt
            if reader.fmt != "auto"
            else Path(path).suffix.lstrip(".") or "txt",
            "scrubbed": False,
            "policy": None,
        },
        event="data.add",
        payload=lambda m: {
            "dataset": name,
            "dataset_id": m.dataset_id,
            "records": m.record_count,
            "skipped": reader.skipped,
            "input_sha256": input_sha256,
            "content_sha256": m.content_sha256,
            "ciphertext_sha256": m.ciphertext_sha256,
            "scrubbed": False,
        },
        on_record=on_record,
    )
    summary = DatasetSummary.of(manifest)
    return AddResult(dataset=summary, skipped=reader.skipped, input_sha256=input_sha256)


def open_dataset(ws: Workspace, name: str) -> tuple[Path, Manifest, bytes]:
    """Locate, unlock and authenticate a dataset's manifest (read exactly once)."""
    directory = _require_present(ws, name)
    found = read_manifest_file(directory)
    kek = ws.kek()
    try:
        dek = ws.keyring().get(kek, key_name(found.manifest.dataset_id))
    except KeyProviderError:
        raise DecryptionError(
            f"dataset {name}: no data key for this manifest (manifest modified, or dataset removed)"
        ) from None
    manifest = authenticate_manifest(directory, found, dek)
    if manifest.name != name:
        raise DecryptionError(
            f"dataset {name}: manifest belongs to dataset {manifest.name} (directory renamed)"
        )
    return directory, manifest, dek


def read_dataset(ws: Workspace, name: str) -> Iterator[dict[str, Any]]:
    """Decrypt a dataset's records in memory; plaintext never touches the disk."""
    directory, manifest, dek = open_dataset(ws, name)
    return iter_records(directory, manifest, dek)


@dataclass(frozen=True)
class DatasetListing:
    datasets: list[DatasetSummary]
    damaged: dict[str, str]  # name -> the one-line reason it could not be read


def list_datasets(ws: Workspace) -> DatasetListing:
    """Every dataset, authenticated; a damaged one is reported, not allowed to hide the rest."""
    if not ws.datasets_dir.is_dir():
        return DatasetListing([], {})
    names = sorted(p.name for p in ws.datasets_dir.iterdir() if not p.name.startswith("."))
    if names:
        ws.kek()  # a wrong key is one error, not one per dataset
    found: list[DatasetSummary] = []
    damaged: dict[str, str] = {}
    for name in names:
        try:
            found.append(DatasetSummary.of(open_dataset(ws, name)[1]))
        except (DatasetError, DecryptionError) as exc:
            damaged[name] = str(exc)
    return DatasetListing(found, damaged)


def show_dataset(ws: Workspace, name: str) -> DatasetSummary:
    return DatasetSummary.of(open_dataset(ws, name)[1])


def verify_dataset(
    ws: Workspace, name: str, *, on_record: OnRecord | None = None
) -> DatasetSummary:
    """Decrypt every shard and check counts and hashes against the authenticated manifest."""
    directory, manifest, dek = open_dataset(ws, name)
    content = hashlib.sha256()
    count = 0
    for record in iter_records(directory, manifest, dek):
        content.update(encode_record(record))
        count += 1
        if on_record is not None:
            on_record(count)
    if count != manifest.record_count or content.hexdigest() != manifest.content_sha256:
        raise DecryptionError(f"dataset {name}: content does not match the manifest")
    return DatasetSummary.of(manifest)


#: Export formats by output suffix; any other suffix is refused, never guessed.
EXPORT_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def export_format(out: Path) -> str:
    """The format an export to ``out`` is written in, from its suffix (one-line error if none)."""
    fmt = EXPORT_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise InputError(
            f"cannot tell the export format of {out.name}: name the file .jsonl (JSON Lines),"
            " .csv or .parquet"
        )
    return fmt


def export_dataset(ws: Workspace, name: str, out: Path, *, force: bool = False) -> ExportResult:
    """``securetune data export``: the one place plaintext is written, at the user's request.

    ``out`` must be a regular file or not exist, outside the workspace and the witness
    directory, never a link; an existing file is replaced only with ``force``
    (:func:`securetune.fsutil.check_output_path`). The format follows the suffix:
    ``.jsonl``/``.ndjson``, ``.csv``, ``.parquet``/``.pq``; any other is refused. The plaintext goes to a temporary file beside
    ``out``; the ledger event is appended before that file is renamed to ``out``, so an
    export that cannot be ledgered never appears (a kill in between leaves a 0600
    temporary file, already ledgered).
    """
    target = check_output_path(Path(out), protected=ws.protected_dirs(), force=force)
    fmt = export_format(target)
    ws.ledger_ready()
    directory, manifest, dek = open_dataset(ws, name)
    records = iter_records(directory, manifest, dek)
    try:
        with atomic_writer(target, replace=force) as fh:
            count = _EXPORTERS[fmt](fh, records, manifest.schema)
            fh.flush()
            out_sha256 = sha256_fd(fh.fileno())
            ws.record(
                "data.export",
                {
                    "dataset": name,
                    "dataset_id": manifest.dataset_id,
                    "records": count,
                    "format": fmt,
                    "out_sha256": out_sha256,
                },
            )
    except PermissionError:
        raise InputError(f"cannot write {out}: permission denied") from None
    except FileNotFoundError:
        raise InputError(f"cannot write {out}: the directory does not exist") from None
    return ExportResult(name=name, records=count, out=str(target), sha256=out_sha256)


Schema = Mapping[str, list[str]]


def _export_jsonl(fh: BinaryIO, records: Iterable[Mapping[str, Any]], schema: Schema) -> int:
    count = 0
    for record in records:
        fh.write(encode_record(record))
        count += 1
    return count


def _export_csv(fh: BinaryIO, records: Iterable[Mapping[str, Any]], schema: Schema) -> int:
    text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=True)
    writer = csv.DictWriter(text, fieldnames=list(schema))
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow({k: _csv_cell(v) for k, v in record.items()})
        count += 1
    text.flush()
    text.detach()
    return count


#: JSON types (as the manifest's schema names them) with a direct Parquet column type.
_PARQUET_TYPES = {"string": "string", "integer": "int64", "number": "float64", "boolean": "bool"}


def _parquet_column(types: list[str]) -> str:
    """One column type per field: its JSON type, a float for mixed numbers, else JSON text."""
    kinds = set(types) - {"null"}
    if kinds == {"integer", "number"}:
        return "float64"
    if len(kinds) == 1 and next(iter(kinds)) in _PARQUET_TYPES:
        return _PARQUET_TYPES[next(iter(kinds))]
    return "json"  # arrays, objects, mixed types: the value's JSON text, as CSV does


def _export_parquet(fh: BinaryIO, records: Iterable[Mapping[str, Any]], schema: Schema) -> int:
    import pyarrow as pa  # heavy; only imported for a Parquet export
    import pyarrow.parquet as pq

    columns = {field: _parquet_column(types) for field, types in schema.items()}
    arrow_schema = pa.schema(
        [(f, pa.string() if t == "json" else pa.type_for_alias(t)) for f, t in columns.items()]
    )

    def cell(field: str, value: Any) -> Any:
        if value is None or columns[field] != "json":
            return value
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    count = 0
    with pq.ParquetWriter(fh, arrow_schema) as writer:
        batch: list[dict[str, Any]] = []
        for record in records:
            batch.append({f: cell(f, record.get(f)) for f in columns})
            count += 1
            if len(batch) == 4096:
                writer.write_table(_arrow_table(pa, batch, arrow_schema))
                batch = []
        if batch or count == 0:
            writer.write_table(_arrow_table(pa, batch, arrow_schema))
    return count


def _arrow_table(pa: Any, batch: list[dict[str, Any]], arrow_schema: Any) -> Any:
    try:
        return pa.Table.from_pylist(batch, schema=arrow_schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        raise InputError(
            "a value does not fit its Parquet column (e.g. an integer beyond 64 bits);"
            " export as .jsonl instead"
        ) from None


_EXPORTERS = {"jsonl": _export_jsonl, "csv": _export_csv, "parquet": _export_parquet}


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):  # as lineage's fingerprint and the Parquet export
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def remove_dataset(ws: Workspace, name: str) -> DatasetSummary:
    """Crypto-shred: destroy the data key, then delete the ciphertext.

    Once the wrapped key is gone from the keyring, copies of the ciphertext (backups,
    snapshots) are unreadable even with the workspace key. Which key to destroy is taken
    only from an *authenticated* manifest, so a forged manifest cannot redirect the shred.
    Order: move the directory aside, ledger, destroy the key, delete; a kill at any point
    is finished by the next locked command (``Workspace.recover``).
    """
    ws.ledger_ready()
    directory, manifest, _dek = open_dataset(ws, name)
    graveyard = ws.datasets_dir / f".tmp-rm-{manifest.dataset_id}"
    os.rename(directory, graveyard)
    fsync_dir(ws.datasets_dir)
    ws.record(
        "data.rm",
        {"dataset": name, "dataset_id": manifest.dataset_id, "crypto_shredded": True},
    )
    keyring = ws.keyring()
    keyring.remove(key_name(manifest.dataset_id))
    keyring.save(ws.keyring_path)
    shutil.rmtree(graveyard)
    return DatasetSummary.of(manifest)
