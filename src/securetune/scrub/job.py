"""``securetune scrub`` as a library call: input file → encrypted, scrubbed dataset.

Appends one ``scrub`` ledger event naming the input by hash, the policy by name and hash,
the engine and recognizer versions, counts per entity type and the scrubber's measured
residual risk (recall per type): never a detected value.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from securetune import datastore
from securetune.crypto.dataset import Manifest
from securetune.errors import InputError, KeyProviderError
from securetune.fsutil import atomic_writer
from securetune.policy import Policy, load_policy
from securetune.records import Format, RecordReader, file_sha256
from securetune.scrub.pipeline import Pipeline, RecordResult, ScrubOptions, ScrubStats
from securetune.scrub.risk import residual_risk
from securetune.workspace import Workspace

SECRET_NAME = "scrub-secret"
REID_SUFFIX = ".reid"


@dataclass(frozen=True)
class ScrubSummary:
    dataset: str
    dataset_id: str
    policy: str
    policy_sha256: str
    records: int
    records_changed: int
    skipped: int
    spans_per_type: dict[str, int]
    dropped_fields: list[str]
    seconds: float
    records_per_s: float
    reid_dataset: str | None
    findings: str | None
    #: The scrubber's measured recall per type (``securetune.scrub.risk``): what it misses.
    residual_risk: dict[str, Any]


def scrub_secret(ws: Workspace) -> bytes:
    """The workspace's pseudonym / date-shift / subject-token key, made on first use."""
    keyring = ws.keyring()
    try:
        return keyring.get(ws.kek(), SECRET_NAME)
    except KeyProviderError:
        if SECRET_NAME in keyring.wrapped:
            raise
    secret = os.urandom(32)
    keyring.add(ws.kek(), SECRET_NAME, secret)
    keyring.save(ws.keyring_path)
    return secret


def scrub_file(
    ws: Workspace,
    path: Path,
    *,
    name: str,
    policy: str | Policy,
    options: ScrubOptions,
    fmt: Format = "auto",
    findings_path: Path | None = None,
    on_record: Callable[[int], None] | None = None,
    ner_backend: str | None = None,
) -> ScrubSummary:
    """Scrub ``path`` under ``policy`` into the new encrypted dataset ``name``. Needs the lock."""
    datastore.require_absent(ws, name)
    pol = (
        policy if isinstance(policy, Policy) else load_policy(policy, search=[ws.root / "policies"])
    )
    if ner_backend is not None:
        # the override is part of what ran: the policy hash in the ledger covers it
        backend = None if ner_backend == "none" else ner_backend
        pol = pol.model_copy(
            update={"detection": pol.detection.model_copy(update={"ner_backend": backend})}
        )
    if pol.reidentification.keep_mapping:  # both datasets, or neither: check both names now
        datastore.require_absent(ws, f"{name}{REID_SUFFIX}")
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    input_sha256 = file_sha256(path)
    reader = RecordReader(path, fmt=fmt, on_error=options.on_error)
    secret = scrub_secret(ws)
    stats = ScrubStats()
    mapping: set[tuple[str, str, str]] = set()
    with contextlib.ExitStack() as stack:
        findings_file = _open_findings(stack, findings_path)
        pipeline = stack.enter_context(Pipeline(pol, secret, options))
        versions = pipeline.versions()
        risk = residual_risk(versions.get("recognizer_set", ""))
        started = time.perf_counter()  # throughput excludes the one-off engine build

        def scrubbed() -> Iterator[dict[str, Any]]:
            for result in pipeline.run(reader):
                stats.add(result)
                if result.record is None:
                    continue
                _write_findings(findings_file, result)
                mapping.update(result.mapping)
                if on_record is not None:
                    on_record(stats.records)
                yield result.record

        def event_payload(m: Manifest) -> dict[str, Any]:
            return {
                "dataset": name,
                "dataset_id": m.dataset_id,
                "input_sha256": input_sha256,
                "policy": pol.name,
                "policy_sha256": pol.sha256,
                "engine": versions,
                "records": stats.records,
                "records_changed": stats.changed,
                "skipped": stats.skipped + reader.skipped,
                "spans_per_type": dict(sorted(stats.spans.items())),
                "text_fields": list(options.text_fields),
                "subject_field": options.subject_field,
                "dropped_fields": keyed_field_names(secret, stats.dropped_fields),
                "content_sha256": m.content_sha256,
                "ciphertext_sha256": m.ciphertext_sha256,
                "reidentification_mapping": pol.reidentification.keep_mapping,
                "residual_risk": risk,
            }

        staged = datastore.stage_dataset(
            ws,
            name,
            scrubbed(),
            provenance={
                "command": "scrub",
                "input_sha256": input_sha256,
                "scrubbed": True,
                "policy": pol.name,
                "policy_sha256": pol.sha256,
                "text_fields": list(options.text_fields),
                "id_field": options.id_field,
                "subject_field": options.subject_field,
            },
            event="scrub",
            payload=event_payload,
        )
    seconds = time.perf_counter() - started
    manifest = staged.manifest
    # The mapping and the dataset commit together (datastore.commit_datasets): even under
    # kill -9 neither appears without the other.
    group = [staged]
    if pol.reidentification.keep_mapping:
        try:
            group.append(_stage_reid(ws, name, manifest.dataset_id, mapping))
        except BaseException:
            datastore.discard_staged(ws, group)
            raise
    datastore.commit_datasets(ws, group)
    reid = group[1].target.name if len(group) > 1 else None
    return ScrubSummary(
        dataset=name,
        dataset_id=manifest.dataset_id,
        policy=pol.name,
        policy_sha256=pol.sha256,
        records=stats.records,
        records_changed=stats.changed,
        skipped=stats.skipped + reader.skipped,
        spans_per_type=dict(sorted(stats.spans.items())),
        dropped_fields=sorted(stats.dropped_fields),
        seconds=round(seconds, 3),
        records_per_s=round(stats.records / seconds, 2) if seconds > 0 else 0.0,
        reid_dataset=reid,
        findings=str(findings_path) if findings_path else None,
        residual_risk=risk,
    )


def keyed_field_names(secret: bytes, names: set[str]) -> dict[str, Any]:
    """Dropped field names for the ledger: a count and keyed hashes, never the names.

    Field names are schema, but a careless export can carry PHI in a key; the keyed hash
    (HMAC-SHA-256 under the workspace's scrub secret) lets an auditor who knows a name
    check it was dropped, without the ledger disclosing names to anyone else.
    """
    digests = sorted(
        hmac.new(secret, b"securetune field name v1\0" + n.encode(), "sha256").hexdigest()[:32]
        for n in names
    )
    return {"count": len(names), "hmac_sha256": digests}


def _open_findings(stack: contextlib.ExitStack, path: Path | None) -> IO[bytes] | None:
    if path is None:
        return None
    try:
        return stack.enter_context(atomic_writer(Path(path)))
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
        raise InputError(f"cannot write findings file {path}") from None


def _write_findings(fh: IO[bytes] | None, result: RecordResult) -> None:
    if fh is None:
        return
    for finding in result.findings:
        fh.write(json.dumps(finding.to_json(), separators=(",", ":")).encode() + b"\n")


def _stage_reid(
    ws: Workspace, name: str, dataset_id: str, mapping: set[tuple[str, str, str]]
) -> datastore.StagedDataset:
    """The re-identification mapping, only ever as its own encrypted, unscrubbed dataset."""
    reid_name = f"{name}{REID_SUFFIX}"
    records = ({"entity_type": e, "surrogate": s, "original": o} for e, s, o in sorted(mapping))
    return datastore.stage_dataset(
        ws,
        reid_name,
        records,
        provenance={
            "command": "scrub",
            "kind": "reidentification-mapping",
            "of_dataset": dataset_id,
            "scrubbed": False,
            "policy": None,
        },
        event="scrub.reid",
        payload=lambda m: {
            "dataset": reid_name,
            "dataset_id": m.dataset_id,
            "of_dataset": dataset_id,
            "entries": m.record_count,
            "ciphertext_sha256": m.ciphertext_sha256,
        },
    )
