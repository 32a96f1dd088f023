"""The ``securetune`` command group and the single place errors become one line.

Start-up is a feature (DESIGN.md): ``securetune --version`` must not pay for Presidio,
spaCy or torch. Commands are therefore listed by import path in :data:`COMMANDS` and a
command's module is imported only when that command (or ``--help``'s listing) needs it;
each command module in turn imports its heavy stage inside the command body. Adding a
command is one line in :data:`COMMANDS`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from securetune import __version__
from securetune.errors import SecuretuneError

#: Command name -> ``module:attribute`` of its click command or group.
COMMANDS: dict[str, str] = {
    "init": "securetune.cli.init:init",
    "data": "securetune.cli.data:data",
    "keys": "securetune.cli.keys:keys",
    "scrub": "securetune.cli.scrub:scrub",
    "audit": "securetune.cli.audit:audit",
    "train": "securetune.cli.train:train",
    "plan": "securetune.cli.train:plan",
    "runs": "securetune.cli.runs:runs",
    "release": "securetune.cli.runs:release",
    "policy": "securetune.cli.policy:policy",
    "check": "securetune.cli.check:check",
    "eval": "securetune.cli.eval:eval_command",
}


class SecuretuneGroup(click.Group):
    """Loads commands lazily from :data:`COMMANDS`, and turns library errors into
    ``error: <one line>`` on stderr and a non-zero exit.

    With ``--debug`` (or ``SECURETUNE_DEBUG=1``) the exception propagates with its traceback.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        self.add_command(command, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SecuretuneError as exc:
            if _debug(ctx):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted; nothing partial was kept", err=True)
            ctx.exit(130)


def _debug(ctx: click.Context) -> bool:
    return bool(getattr(ctx.obj, "debug", False))


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
    from securetune.cli.context import AppContext

    ctx.obj = AppContext(workspace_option=workspace, debug=debug)


def main() -> None:
    """Console entry point."""
    cli(prog_name="securetune")
