"""The compliance report: read the verified ledger and run directories, render HTML/PDF/JSON.

The report reads; it never runs a stage. Facade: :func:`build` gathers one document,
:func:`render` turns it into bytes in the chosen format.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml

from securetune.errors import SecuretuneError
from securetune.evidence import Evidence, gather
from securetune.report.facts import failed_report, run_report, workspace_report
from securetune.workspace import Workspace

Format = Literal["html", "pdf", "json"]
PROCESSING_FILE = "processing.yaml"


class ReportInputError(SecuretuneError):
    """A workspace file the report reads is malformed."""


@dataclass(frozen=True)
class Report:
    doc: dict[str, Any]

    @property
    def verified(self) -> bool:
        return bool(self.doc["ledger"]["verified"])

    @property
    def controls(self) -> dict[str, int]:
        return dict(self.doc.get("verdict", {}).get("controls") or {})


def build(ws: Workspace, run_id: str | None = None, *, now: datetime | None = None) -> Report:
    """Verify the ledger, then gather the report on one run (or on the workspace)."""
    now = now or datetime.now(timezone.utc)
    from securetune.train.budget import lifetime_reader

    evidence = gather(ws, lifetime=lifetime_reader(ws))
    if not evidence.ok:
        return Report(failed_report(evidence, now))
    if run_id is None:
        return Report(workspace_report(evidence, now=now))
    metrics = _signed_metrics(ws, evidence, run_id)
    return Report(
        run_report(evidence, run_id, now=now, processing=_processing(ws.root), metrics=metrics)
    )


def _signed_metrics(ws: Workspace, evidence: Evidence, run_id: str) -> list[dict[str, Any]] | None:
    """The run's per-step metrics, only if the file is the one `train.finish` hashed.

    The file is encrypted when the run is; the hash is over the stored bytes, which are
    checked before they are opened, so the plots show exactly what the ledger vouches for.
    """
    from securetune.train.checkpoint import ENC_SUFFIX, RunStore, run_key_name

    finish = next((e for e in evidence.run_events(run_id) if e.event == "train.finish"), None)
    expected = finish.payload.get("metrics_sha256") if finish else None
    run_dir = ws.runs_dir / run_id
    sealed = run_dir / ("metrics.jsonl" + ENC_SUFFIX)
    path = sealed if sealed.is_file() else run_dir / "metrics.jsonl"
    if expected is None or not path.is_file():
        return None
    stored = path.read_bytes()
    if hashlib.sha256(stored).hexdigest() != expected:
        return None
    if path is sealed:
        key = ws.keyring().get(ws.kek(), run_key_name(run_id))
        stored = RunStore(run_dir, run_id, key).decrypt("metrics.jsonl", stored)
    rows = []
    for line in stored.splitlines():
        row = json.loads(line)
        if isinstance(row, dict):
            rows.append(row)
    return rows


def render(report: Report, fmt: Format) -> bytes:
    from securetune.report import output as r

    if fmt == "json":
        return r.to_json(report.doc)
    html = r.to_html(report.doc)
    return html.encode() if fmt == "html" else r.to_pdf(html)


def _processing(root: Path) -> dict[str, Any] | None:
    path = root / PROCESSING_FILE
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ReportInputError(f"{PROCESSING_FILE} is not valid YAML") from None
    if doc is None:
        return None
    if not isinstance(doc, dict) or not all(isinstance(v, str | list) for v in doc.values()):
        raise ReportInputError(f"{PROCESSING_FILE} must map field names to text")
    return {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in doc.items()}
