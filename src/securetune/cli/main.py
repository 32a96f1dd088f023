"""The ``securetune`` command group and the single place errors become one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from securetune import __version__
from securetune.cli.audit import audit
from securetune.cli.check import check
from securetune.cli.context import AppContext
from securetune.cli.data import data
from securetune.cli.init import init
from securetune.cli.keys import keys
from securetune.cli.scrub import scrub
from securetune.cli.train import plan, train
from securetune.errors import SecuretuneError


class SecuretuneGroup(click.Group):
    """Turns library errors into ``error: <one line>`` on stderr and a non-zero exit.

    With ``--debug`` (or ``SECURETUNE_DEBUG=1``) the exception propagates with its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SecuretuneError as exc:
            if isinstance(ctx.obj, AppContext) and ctx.obj.debug:
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted; nothing partial was kept", err=True)
            ctx.exit(130)


@click.group(
    cls=SecuretuneGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
cli.add_command(scrub)
cli.add_command(audit)
cli.add_command(train)
cli.add_command(plan)
cli.add_command(check)


def main() -> None:
    """Console entry point."""
    cli(prog_name="securetune")
