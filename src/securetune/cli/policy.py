"""``securetune policy``: list, show and validate policies (what to detect, budgets, gates)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from securetune.cli.context import AppContext, emit, pass_app
from securetune.policy import list_policies, load_policy


def _search(app: AppContext) -> list[Path]:
    """The workspace's own policies/ first (a directory that may not exist), then the built-ins."""
    return [app.root() / "policies"]


@click.group()
def policy() -> None:
    """Policies: what scrub detects and how, training budgets, check gates."""


@policy.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def ls(app: AppContext, as_json: bool) -> None:
    """Every policy by name, with its description."""
    search = _search(app)
    rows = []
    for name in list_policies(search):
        p = load_policy(name, search=search)
        rows.append(
            {"name": p.name, "sha256": p.sha256, "description": " ".join(p.description.split())}
        )
    if as_json:
        emit({"policies": rows}, as_json=True, human="")
        return
    for row in rows:
        click.echo(f"{row['name']:<24} {row['description'][:72]}")


@policy.command("show")
@click.argument("name_or_path")
@pass_app
def show(app: AppContext, name_or_path: str) -> None:
    """The policy after validation and defaults, as JSON (its sha256 is what the ledger records)."""
    p = load_policy(name_or_path, search=_search(app))
    doc = {"sha256": p.sha256, **p.model_dump(mode="json")}
    click.echo(json.dumps(doc, indent=2, sort_keys=True))


@policy.command("validate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def validate(path: Path, as_json: bool) -> None:
    """Check a policy file: unknown keys, bad values and missing recognizers are errors."""
    p = load_policy(path)
    emit(
        {"valid": True, "name": p.name, "sha256": p.sha256},
        as_json=as_json,
        human=f"{path}: valid policy {p.name!r} (sha256 {p.sha256[:16]}…)",
    )
