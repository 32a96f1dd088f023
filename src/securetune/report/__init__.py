"""The compliance report: read the verified ledger and run directories, render HTML/PDF/JSON.

The report reads; it never runs a stage. Facade: :func:`build` gathers one document,
:func:`render` turns it into bytes in the chosen format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml

from securetune.errors import SecuretuneError
from securetune.evidence import gather
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
    evidence = gather(ws)
    if not evidence.ok:
        return Report(failed_report(evidence, now))
    if run_id is None:
        return Report(workspace_report(evidence, now=now))
    return Report(run_report(evidence, run_id, now=now, processing=_processing(ws.root)))


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
