"""``securetune data``: add, ls, show, verify, dedup, export, rm (the library is imported per command)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from securetune.cli.context import AppContext, emit, format_option, on_error_option, pass_app

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the result as one JSON object."
)
no_dedup_option = click.option(
    "--no-dedup",
    is_flag=True,
    help="Skip counting duplicate and near-duplicate records (about 2,000 records/s on one "
    "core); count later with `securetune data dedup`.",
)


def dedup_line(summary: dict | None) -> str:
    """One line of duplicate counts (never text) for a command's human output."""
    if summary is None:
        return ""
    if not summary["clusters"]:
        return "\nDuplicates: none found (exact or near)."
    return (
        f"\nDuplicates: {summary['clusters']} group(s) ({summary['exact_clusters']} exact, "
        f"{summary['near_clusters']} near) holding {summary['records_in_clusters']} records; "
        f"largest {summary['largest_cluster']}. Training keeps each group in one privacy unit."
    )


@click.group()
def data() -> None:
    """Encrypted datasets: records are stored only encrypted, one data key per dataset."""


@data.command("add")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", "-n", required=True, help="Dataset name (letters, digits, . _ -).")
@format_option
@on_error_option
@no_dedup_option
@json_option
@pass_app
def add(
    app: AppContext,
    file: Path,
    name: str,
    fmt: str,
    on_error: str,
    no_dedup: bool,
    as_json: bool,
) -> None:
    """Encrypt FILE's records as they are, marked *unscrubbed* (use `scrub` for PHI)."""
    from securetune import datastore

    ws = app.open()
    with ws.locked():
        with app.progress(f"encrypting {name}") as advance:
            result = datastore.add_dataset(
                ws, file, name, fmt=fmt, on_error=on_error, on_record=advance
            )  # type: ignore[arg-type]
        dedup = None if no_dedup else count_duplicates(app, ws, name, trigger="data add")
    ds = result.dataset
    if result.skipped:
        app.warn(f"skipped {result.skipped} malformed record(s)")
    if ds.records == 0:
        app.warn(f"{file} held no records; dataset {name} is empty")
    emit(
        {
            "dataset": dataclasses.asdict(ds),
            "skipped": result.skipped,
            "input_sha256": result.input_sha256,
            "dedup": dedup,
        },
        as_json=as_json,
        human=f"Added dataset {name}: {ds.records} records in {ds.shards} encrypted shard(s), unscrubbed."
        + dedup_line(dedup),
    )


def count_duplicates(app: AppContext, ws: Any, name: str, *, trigger: str) -> dict:
    """The duplicate counts of a dataset just made (also recorded in the ledger)."""
    from securetune.dedup import dedup_dataset

    with app.progress(f"counting duplicates in {name}"):
        return dedup_dataset(ws, name, trigger=trigger).summary


@data.command("dedup")
@click.argument("name")
@click.option(
    "--text-field",
    "text_fields",
    multiple=True,
    help="Field(s) to compare. Default: as scrubbed, else 'text', else every field but the "
    "subject and id fields.",
)
@click.option(
    "--remove",
    is_flag=True,
    help="Also write a new encrypted dataset (--name) keeping one record of each group.",
)
@click.option("--name", "-n", "new_name", help="Name of the dataset --remove writes.")
@json_option
@pass_app
def dedup(
    app: AppContext,
    name: str,
    text_fields: tuple[str, ...],
    remove: bool,
    new_name: str | None,
    as_json: bool,
) -> None:
    """Count exact and near-duplicate records (MinHash over word shingles; docs/DEDUP.md).

    Reports counts only, never text, and records them in the ledger. With --remove, the
    first record of each group and every record outside a group go into dataset --name,
    linked to NAME so both share one privacy budget.
    """
    from securetune.dedup import dedup_dataset
    from securetune.errors import InputError

    if remove and not new_name:
        raise InputError("--remove needs --name NEW for the deduplicated dataset")
    if new_name and not remove:
        raise InputError("--name names the dataset --remove writes; pass --remove too")
    ws = app.open()
    with ws.locked(), app.progress(f"counting duplicates in {name}"):
        result = dedup_dataset(
            ws, name, trigger="data dedup", text_fields=text_fields or None, remove_into=new_name
        )
    s = result.summary
    human = (
        f"Dataset {name}: {s['records']} records compared on {', '.join(result.text_fields)}."
        + dedup_line(s)
    )
    if result.removed_into:
        human += (
            f"\nWrote dataset {result.removed_into}: {result.records_kept} records kept, "
            f"{s['records'] - (result.records_kept or 0)} removed (encrypted, derived from {name})."
        )
    emit(dataclasses.asdict(result), as_json=as_json, human=human)


@data.command("ls")
@json_option
@pass_app
def ls(app: AppContext, as_json: bool) -> None:
    """List datasets (exit 1 if any is damaged; the others are still listed)."""
    from securetune import datastore

    listing = datastore.list_datasets(app.open())
    lines = [
        f"{d.name:24} {d.records:>9} records  {'scrubbed' if d.scrubbed else 'UNSCRUBBED':10} {d.created}"
        for d in listing.datasets
    ]
    for name, reason in listing.damaged.items():
        app.warn(f"dataset {name} is damaged: {reason}")
    result: dict = {"datasets": [dataclasses.asdict(d) for d in listing.datasets]}
    if listing.damaged:
        result["damaged"] = listing.damaged
    emit(
        result,
        as_json=as_json,
        human="\n".join(lines)
        if lines
        else "No datasets yet (add one with: securetune data add FILE --name NAME).",
    )
    if listing.damaged:
        click.get_current_context().exit(1)


@data.command("show")
@click.argument("name")
@json_option
@pass_app
def show(app: AppContext, name: str, as_json: bool) -> None:
    """Show a dataset's metadata and counts (never record text)."""
    from securetune import datastore

    d = datastore.show_dataset(app.open(), name)
    fields = ", ".join(f"{k}:{'|'.join(v)}" for k, v in d.schema.items())
    emit(
        dataclasses.asdict(d),
        as_json=as_json,
        human=(
            f"{d.name} ({d.dataset_id})\n"
            f"  records:    {d.records} in {d.shards} shard(s), {d.ciphertext_bytes} bytes encrypted\n"
            f"  scrubbed:   {'yes, policy ' + str(d.provenance.get('policy')) if d.scrubbed else 'no'}\n"
            f"  created:    {d.created} by `{d.provenance.get('command')}`\n"
            f"  fields:     {fields}\n"
            f"  content:    sha256:{d.content_sha256}"
        ),
    )


@data.command("verify")
@click.argument("name")
@json_option
@pass_app
def verify(app: AppContext, name: str, as_json: bool) -> None:
    """Decrypt every shard in memory and check it against the authenticated manifest."""
    from securetune import datastore

    ws = app.open()
    with app.progress(f"verifying {name}") as advance:
        d = datastore.verify_dataset(ws, name, on_record=advance)
    emit(
        {"dataset": name, "ok": True, "records": d.records, "shards": d.shards},
        as_json=as_json,
        human=f"Dataset {name} verified: {d.records} records in {d.shards} shard(s), manifest and every chunk authentic.",
    )


@data.command("export")
@click.argument("name")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Output file: .jsonl, .csv or .parquet (others are refused). Never inside the workspace, never a link.",
)
@click.option("--force", is_flag=True, help="Replace OUT if it is an existing regular file.")
@json_option
@pass_app
def export(app: AppContext, name: str, out: Path, force: bool, as_json: bool) -> None:
    """Write a dataset's plaintext to a file (0600). This is recorded in the ledger."""
    from securetune import datastore

    ws = app.open()
    with ws.locked():
        result = datastore.export_dataset(ws, name, out, force=force)
    emit(
        dataclasses.asdict(result),
        as_json=as_json,
        human=f"Exported {result.records} records of {name} to {result.out} (plaintext, mode 0600).",
    )


@data.command("rm")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_app
def rm(app: AppContext, name: str, yes: bool, as_json: bool) -> None:
    """Crypto-shred a dataset: destroy its data key, then delete its files."""
    from securetune import datastore

    if not yes:
        click.confirm(
            f"Destroy dataset {name}? Its data key is deleted and it cannot be recovered",
            abort=True,
            err=True,
        )
    ws = app.open()
    with ws.locked():
        d = datastore.remove_dataset(ws, name)
    emit(
        {"dataset": name, "dataset_id": d.dataset_id, "crypto_shredded": True},
        as_json=as_json,
        human=f"Removed dataset {name}: data key destroyed, ciphertext deleted.",
    )
