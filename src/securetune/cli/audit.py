"""``securetune audit``: verify the signed ledger, print its public key, render the report."""

from __future__ import annotations

from pathlib import Path

import click

from securetune.cli.context import AppContext, emit, pass_app
from securetune.errors import LedgerError


@click.group()
def audit() -> None:
    """The tamper-evident, signed audit ledger."""


@audit.command("verify")
@click.option(
    "--pubkey",
    default=None,
    help="Verify against this verifier key (from `audit pubkey`, kept out of band) instead of the workspace's.",
)
@click.option(
    "--expect-checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A signed checkpoint kept off this machine (from `audit publish`): the ledger must extend it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def verify(
    app: AppContext, pubkey: str | None, expect_checkpoint: Path | None, as_json: bool
) -> None:
    """Check every entry, link and signature, consistency with the last checkpoint seen, and
    that the datasets and runs on disk are the ones the ledger accounts for."""
    from securetune.audit.checkpoint import parse_verifier_key

    ws = app.open()
    key = None
    if pubkey:
        name, key = parse_verifier_key(pubkey)
        if name != ws.config.ledger_key_name:
            raise LedgerError(
                f"the verifier key is for {name}, but this ledger is signed as {ws.config.ledger_key_name}"
            )
    expected = None
    if expect_checkpoint is not None:
        try:
            expected = expect_checkpoint.read_bytes()
        except OSError:
            raise LedgerError(f"cannot read the expected checkpoint {expect_checkpoint}") from None
    result = ws.verify_ledger(public_key=key, expected_note=expected)
    problems = ws.disagreements().all()
    for problem in problems:
        app.warn(f"disagreement: {problem}")
    emit(
        {
            "ok": not problems,
            "entries": result.entries,
            "root": result.root,
            "checkpoint_size": result.checkpoint_size,
            "first_ts": result.first_ts,
            "last_ts": result.last_ts,
            "events": result.events,
            "format_version": result.version,
            "disagreements": problems,
        },
        as_json=as_json,
        human=f"Ledger OK: {result.entries} entries, every link and the signed checkpoint verified (root {result.root[:16]}…)."
        if not problems
        else f"Ledger verified, but the workspace disagrees with it in {len(problems)} place(s) (above).",
    )
    if problems:
        click.get_current_context().exit(1)


@audit.command("publish")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUT if it is an existing regular file.")
@pass_app
def publish(app: AppContext, out: Path, force: bool) -> None:
    """Verify the ledger, then copy its signed checkpoint to OUT (outside the workspace).

    Keep OUT off this machine (a ticket, an archive, another host) and later run
    `audit verify --expect-checkpoint OUT`: a ledger rolled back to before it, or rewritten,
    is then caught even if the local witness was deleted. An existing OUT (perhaps the
    checkpoint you published last time) is replaced only with --force.
    """
    from securetune.fsutil import atomic_write_bytes, check_output_path

    ws = app.open()
    target = check_output_path(out, protected=ws.protected_dirs(), force=force)
    result = ws.verify_ledger()
    atomic_write_bytes(target, ws.signed_checkpoint(), mode=0o644, replace=force)
    click.echo(
        f"Published the signed checkpoint ({result.checkpoint_size} entries, root {result.root[:16]}…) to {target}."
    )


@audit.command("pubkey")
@pass_app
def pubkey(app: AppContext) -> None:
    """Print the ledger's verifier key (signed-note form) for auditors to keep."""
    click.echo(app.open().verifier_key())


@audit.command("recover")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def recover(app: AppContext, as_json: bool) -> None:
    """Sign ledger entries left unsigned by a command that was killed mid-way.

    Every entry and link is verified first, and the signed prefix must be intact; the
    recovery itself is recorded as an `audit.recover` event, so auditors see it happened.
    """
    ws = app.open()
    with ws.locked():
        sealed = ws.recover_ledger()
    emit(
        {"entries_sealed_late": sealed},
        as_json=as_json,
        human=f"Signed {sealed} entr{'y' if sealed == 1 else 'ies'} left unsigned by an interrupted command; recorded as audit.recover.",
    )


@audit.command("upgrade")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def upgrade(app: AppContext, as_json: bool) -> None:
    """Move a format-v1 ledger to v2 (RFC 6962 leaf hashes in the signed roots).

    The whole ledger is verified first; the upgrade is the `ledger.upgrade` event, the
    first v2 entry. Checkpoints kept from before it stay valid. Needed once, before any
    other command writes to a workspace made by securetune 0.1.0.
    """
    ws = app.open()
    with ws.locked():
        entry = ws.upgrade_ledger()
    emit(
        {"upgraded": True, "seq": entry.seq, **entry.payload},
        as_json=as_json,
        human=f"Ledger upgraded from format v1 to v2 at entry {entry.seq}; recorded as ledger.upgrade.",
    )


@audit.command("report")
@click.argument("run_id", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf", "json"]),
    default="html",
    show_default=True,
    help="HTML (self-contained), PDF (from the same HTML) or JSON (the same facts).",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here (required for html and pdf; json without it goes to stdout).",
)
@click.option("--force", is_flag=True, help="Replace --out if it already exists.")
@pass_app
def report(app: AppContext, run_id: str | None, fmt: str, out: Path | None, force: bool) -> None:
    """Render the compliance report for RUN_ID (or the whole workspace without it).

    The ledger is verified first; if that fails the report's first line says so in red,
    no other facts are shown, and the command exits 1.
    """
    from securetune import report as reporting

    if out is None and fmt != "json":
        raise click.UsageError(f"--out is required for --format {fmt}")
    ws = app.open()
    result = reporting.build(ws, run_id)
    data = reporting.render(result, fmt)  # type: ignore[arg-type]
    if out is None:
        click.echo(data.decode(), nl=False)
    else:
        from securetune.fsutil import atomic_write_bytes, check_output_path

        target = check_output_path(out, protected=ws.protected_dirs(), force=force)
        atomic_write_bytes(target, data, mode=0o644)
        counts = result.controls
        summary = (
            f"{counts.get('passed', 0)} control(s) passed, {counts.get('failed', 0)} failed, "
            f"{counts.get('not_run', 0)} not run"
            if counts
            else result.doc["verdict"]["overall"]
        )
        click.echo(f"Report written to {out} ({summary}).", err=True)
    if not result.verified:
        raise LedgerError(f"the ledger did not verify: {result.doc['ledger']['error']}")
