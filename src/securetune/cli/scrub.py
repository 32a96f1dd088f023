"""``securetune scrub``: de-identify records into an encrypted, scrubbed dataset."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from securetune.cli.context import AppContext, emit, format_option, on_error_option, pass_app
from securetune.cli.data import count_duplicates, dedup_line, no_dedup_option


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--policy",
    "-p",
    required=True,
    help="Policy name (hipaa-safe-harbor, gdpr-pseudonymisation) or YAML path.",
)
@click.option("--name", "-n", required=True, help="Name of the scrubbed dataset to create.")
@click.option(
    "--text-field",
    "text_fields",
    multiple=True,
    default=("text",),
    show_default=True,
    help="Field to scan; repeat for several.",
)
@click.option(
    "--id-field", default=None, help="Field holding the record id (kept; used in findings)."
)
@click.option(
    "--subject-field",
    default=None,
    help="Field holding the patient/subject id (replaced by a keyed token).",
)
@click.option(
    "--findings",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write detected spans (offsets and types, never text) as JSONL. Never inside the workspace, never a link.",
)
@click.option("--force", is_flag=True, help="Replace the --findings file if it exists.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes."
)
@click.option(
    "--ner",
    "ner_backend",
    metavar="BACKEND",
    default=None,
    help="Add a learned NER model to the rules (union): hf:PATH for a local Hugging Face "
    "token-classification model, spacy:PACKAGE_OR_PATH for a spaCy pipeline, or none. "
    "Overrides the policy's detection.ner_backend.",
)
@on_error_option
@format_option
@no_dedup_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_app
def scrub(
    app: AppContext,
    input_path: Path,
    policy: str,
    name: str,
    text_fields: tuple[str, ...],
    id_field: str | None,
    subject_field: str | None,
    findings: Path | None,
    force: bool,
    workers: int,
    ner_backend: str | None,
    on_error: str,
    fmt: str,
    no_dedup: bool,
    as_json: bool,
) -> None:
    """Detect and transform PHI/PII in INPUT under a policy; store the result encrypted.

    Only the --text-field fields are scanned. The --id-field is kept, the --subject-field is
    replaced by a keyed token, and every other field is dropped (and named in the summary).
    """
    # Presidio and spaCy load only when a scrub runs, not when the CLI starts.
    from securetune.scrub.job import scrub_file
    from securetune.scrub.pipeline import ScrubOptions

    options = ScrubOptions(
        text_fields=text_fields,
        id_field=id_field,
        subject_field=subject_field,
        workers=workers,
        on_error=on_error,  # type: ignore[arg-type]
    )
    ws = app.open()
    if findings is not None:
        from securetune.fsutil import check_output_path

        findings = check_output_path(findings, protected=ws.protected_dirs(), force=force)
    with ws.locked():
        with app.progress(f"scrubbing into {name}") as advance:
            summary = scrub_file(
                ws,
                input_path,
                name=name,
                policy=policy,
                options=options,
                fmt=fmt,
                findings_path=findings,
                on_record=advance,  # type: ignore[arg-type]
                ner_backend=ner_backend,
            )
        # Counted on the scrubbed text, the text a run trains on (after the scrub's event).
        dedup = None if no_dedup else count_duplicates(app, ws, name, trigger="scrub")
    if summary.records == 0:
        app.warn(f"{input_path} held no records; dataset {name} is empty")
    if summary.skipped:
        app.warn(f"skipped {summary.skipped} malformed record(s)")
    if summary.dropped_fields:
        app.warn(f"fields not scanned and dropped: {', '.join(summary.dropped_fields)}")
    spans = ", ".join(f"{k} {v}" for k, v in summary.spans_per_type.items()) or "none"
    emit(
        {**dataclasses.asdict(summary), "dedup": dedup},
        as_json=as_json,
        human=(
            f"Scrubbed {summary.records} records under {summary.policy} into dataset {name} "
            f"({summary.records_changed} changed, {summary.records_per_s:.1f} records/s).\n"
            f"Spans replaced: {spans}"
            + (
                f"\nRe-identification mapping kept encrypted as dataset {summary.reid_dataset}."
                if summary.reid_dataset
                else ""
            )
            + _risk_line(summary.residual_risk)
            + dedup_line(dedup)
        ),
    )


def _risk_line(risk: dict) -> str:
    """One line stating the measured miss rate, so nobody reads "scrubbed" as "PHI-free"."""
    if not risk.get("measured"):
        return "\nResidual risk: not measured for this build."
    clinical = risk["clinical"]
    held_out = clinical.get("held_out_recall_without_years") or {}
    worst = min(held_out.values()) if held_out else None
    line = (
        f"\nResidual risk: measured PHI recall {clinical['recall_without_years']:.3f} "
        "(years excluded) on the development notes"
    )
    if worst is not None:
        line += f", as low as {worst:.3f} on notes held out while rules were written"
    general = (risk.get("general_pii") or {}).get("held_out_recall") or {}
    if general:
        line += f"; general PII recall {min(general.values()):.3f} on held-out text"
    if not risk.get("current"):
        line += " (measured on an earlier rule set)"
    return line + "."
