"""``securetune keys``: rotate the key-encryption key, make a key for the env provider."""

from __future__ import annotations

import click

from securetune.cli.context import AppContext, emit, pass_app


@click.group()
def keys() -> None:
    """Workspace keys (envelope encryption: the KEK wraps one data key per dataset)."""


@keys.command("rotate")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def rotate(app: AppContext, as_json: bool) -> None:
    """Make a new key-encryption key and re-wrap every data key under it.

    Data is not re-encrypted. The old key stops working. With the passphrase provider the
    new passphrase comes from $SECURETUNE_NEW_PASSPHRASE or a prompt; with the env provider
    from $<VARIABLE>_NEW (then move it into <VARIABLE>).
    """
    ws = app.open()
    with ws.locked():
        result = ws.rotate_keys()
    emit(
        {
            "keys_rewrapped": result.keys_rewrapped,
            "old_kek_id": result.old_kek_id,
            "new_kek_id": result.new_kek_id,
        },
        as_json=as_json,
        human=f"Rotated the workspace key: {result.keys_rewrapped} key(s) re-wrapped; the old key no longer works.",
    )


@keys.command("generate")
def generate() -> None:
    """Print a new random 256-bit key in base64 (for --key-provider env)."""
    from securetune.crypto.keys import encode_key, new_random_key

    click.echo(encode_key(new_random_key()))
