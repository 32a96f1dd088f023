"""``securetune init``."""

from __future__ import annotations

import click

from securetune.cli.context import AppContext, emit, pass_app


@click.command()
@click.option(
    "--key-provider",
    type=click.Choice(["file", "passphrase", "env"]),
    default="file",
    show_default=True,
    help="Where the key-encryption key comes from: a 0600 key file in the workspace, a "
    "passphrase (scrypt; $SECURETUNE_PASSPHRASE or a prompt), or an environment variable.",
)
@click.option(
    "--key-env",
    default="SECURETUNE_KEY",
    show_default=True,
    help="Variable holding the base64 key, with --key-provider env.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def init(app: AppContext, key_provider: str, key_env: str, as_json: bool) -> None:
    """Create a workspace: config, keys (0600), datasets and runs areas, and the signed ledger."""
    from securetune.workspace import Workspace

    ws = Workspace.init(
        app.root(),
        secrets=app.secrets(),
        key_provider=key_provider,  # type: ignore[arg-type]
        key_env_variable=key_env,
        witness_dir=app.witness_dir(),
    )
    emit(
        {
            "workspace": str(ws.root),
            "workspace_id": ws.id,
            "key_provider": key_provider,
            "ledger_public_key": ws.verifier_key(),
        },
        as_json=as_json,
        human=f"Initialised securetune workspace {ws.root} ({key_provider} key).\n"
        f"Ledger public key (keep a copy for auditors): {ws.verifier_key()}",
    )
