"""The ``securetune`` command group and the single place errors become one line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from securetune import __version__
from securetune.cli.audit import audit
from securetune.cli.context import AppContext
from securetune.cli.data import data
from securetune.cli.init import init
from securetune.cli.keys import keys
from securetune.errors import SecuretuneError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Workspace directory. Default: $SECURETUNE_WORKSPACE, else the current directory.",
)
@click.option(
    "--debug", is_flag=True, envvar="SECURETUNE_DEBUG", help="Show tracebacks for errors."
)
@click.version_option(__version__, prog_name="securetune")
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None, debug: bool) -> None:
    """Fine-tune language models on sensitive text without leaking it.

    \b
    securetune init                      create a workspace here
    securetune data add notes.jsonl -n raw
    securetune audit verify              check the signed ledger
    """
    ctx.obj = AppContext(workspace_option=workspace, debug=debug)


cli.add_command(init)
cli.add_command(data)
cli.add_command(keys)
cli.add_command(audit)


def main() -> None:
    """Console entry point: library errors become one line on stderr and a non-zero exit."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SecuretuneError as exc:
        if _debug_requested():
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted; nothing partial was kept", err=True)
        sys.exit(130)


def _debug_requested() -> bool:
    ctx = click.get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.find_root().obj, AppContext):
        return ctx.find_root().obj.debug
    return "--debug" in sys.argv
