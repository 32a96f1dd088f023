"""``securetune runs`` and ``securetune release``: what was trained, and getting it out."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from securetune.cli.context import AppContext, emit, pass_app
from securetune.errors import LedgerError


@click.group()
def runs() -> None:
    """Training runs recorded in the ledger (never record text)."""


def _eps(value: Any) -> str:
    if value is None:
        return "-"
    return "no DP" if isinstance(value, float) and math.isinf(value) else f"{value:.3g}"


@runs.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def ls(app: AppContext, as_json: bool) -> None:
    """Every run: dataset, status, epsilon, unit, whether `check` ran."""
    from securetune import report as reporting
    from securetune.report.output import to_json

    doc = reporting.build(app.open()).doc
    if not doc["ledger"]["verified"]:
        raise LedgerError(f"the ledger did not verify: {doc['ledger']['error']}")
    if as_json:
        click.echo(to_json({"runs": doc["runs"]}).decode(), nl=False)
        return
    if not doc["runs"]:
        click.echo("No training runs yet.")
    for r in doc["runs"]:
        click.echo(
            f"{r['run_id']}  {r['dataset']:<16} {r['status']:<10} epsilon {_eps(r['epsilon']):<6} "
            f"unit {r['privacy_unit']:<8} checked {'yes' if r['checked'] else 'no'}"
        )


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def show(app: AppContext, run_id: str, as_json: bool) -> None:
    """One run: what was trained on what, at what epsilon, and which controls passed."""
    from securetune import report as reporting
    from securetune.report.output import to_json

    doc = reporting.build(app.open(), run_id).doc
    if not doc["ledger"]["verified"]:
        raise LedgerError(f"the ledger did not verify: {doc['ledger']['error']}")
    summary = {
        "identity": doc["identity"],
        "guarantee": {
            k: doc["guarantee"][k]
            for k in (
                "dp",
                "epsilon",
                "delta",
                "privacy_unit",
                "neighbouring_relation",
                "n_units",
                "accountant",
                "noise_multiplier",
                "max_grad_norm",
                "steps",
                "sample_rate",
            )
        },
        "verdict": doc["verdict"],
        "controls": [{k: c[k] for k in ("id", "status", "observed")} for c in doc["controls"]],
        "releases": doc["identity"].get("releases", []),
    }
    if as_json:
        click.echo(to_json(summary).decode(), nl=False)
        return
    i, g = doc["identity"], doc["guarantee"]
    click.echo(f"Run {i['run_id']} ({i['status']}): {i['base_model']} on dataset {i['dataset']}")
    click.echo(
        f"  privacy: epsilon {_eps(g['epsilon'])}, delta {g['delta']}, unit {g['privacy_unit']}, "
        f"{g['neighbouring_relation']} neighbours, N = {g['n_units']}"
    )
    click.echo(
        f"  adapter: {i['adapter_sha256'] or 'none'} ({'encrypted' if i['adapter_encrypted'] else 'plaintext'})"
    )
    click.echo(f"  verdict: {doc['verdict']['overall']}")
    for c in doc["controls"]:
        click.echo(f"  [{c['status'].replace('_', ' '):^7}] {c['id']}: {c['observed']}")
    for rel in summary["releases"]:
        click.echo(f"  released #{rel['seq']} {rel['ts'][:19]} to {rel['destination']}")


def _new_directory(out: Path, protected: list[Path]) -> Path:
    """``out`` must not exist (not even as a link); the rest is every output path's rule."""
    from securetune.errors import InputError
    from securetune.fsutil import check_output_path

    if out.is_symlink() or out.exists():
        raise InputError(f"refusing to write {out}: it already exists; give a new directory")
    return check_output_path(out, protected=protected, force=False)


@click.command()
@click.argument("run_id")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new directory for the peft adapter (must not exist; outside the workspace).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def release(app: AppContext, run_id: str, out: Path, as_json: bool) -> None:
    """Write RUN_ID's adapter as a plain peft directory, if every policy control passed.

    `PeftModel.from_pretrained(base, OUT)` loads it. Refused (exit 3, nothing written) while
    any control of the run's policy has failed or has no evidence, a `check` after training
    included. The release is ledgered before the files appear.
    """
    from securetune.train.release import release as do_release

    ws = app.open()
    resolved = _new_directory(out, ws.protected_dirs())
    with ws.locked():
        result = do_release(ws, run_id, resolved)
    emit(
        {
            "run_id": result.run_id,
            "out_dir": result.out_dir,
            "adapter_sha256": result.adapter_sha256,
            "weights_sha256": result.weights_sha256,
            "controls_passed": result.controls_passed,
            "ledger_seq": result.ledger_seq,
        },
        as_json=as_json,
        human=f"Released run {run_id} to {result.out_dir} ({result.controls_passed} controls passed; ledger entry #{result.ledger_seq}).",
    )
