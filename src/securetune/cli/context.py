"""What every command needs: the workspace location, secrets, and the two output streams.

Results go to stdout (one JSON object with ``--json``); everything for humans (progress,
tables, warnings) goes to stderr, so ``--json`` output can be piped safely.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported where used: `securetune --help` must not pay for them
    from rich.console import Console

    from securetune.crypto.keys import PassphrasePurpose
    from securetune.workspace import Secrets, Workspace

PASSPHRASE_ENV = "SECURETUNE_PASSPHRASE"
NEW_PASSPHRASE_ENV = "SECURETUNE_NEW_PASSPHRASE"


@dataclass
class AppContext:
    workspace_option: Path | None
    debug: bool
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _err: Console | None = field(default=None, repr=False)

    @property
    def err(self) -> Console:
        """A rich console on stderr, made on first use (rich costs start-up time)."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False)
        return self._err

    def passphrase(self, purpose: PassphrasePurpose) -> str:
        """Unlock with $SECURETUNE_PASSPHRASE; the first passphrase also comes from it at init;
        a rotation's new one only from $SECURETUNE_NEW_PASSPHRASE. Otherwise ask."""
        if purpose == "unlock":
            if self.environ.get(PASSPHRASE_ENV):
                return self.environ[PASSPHRASE_ENV]
            return click.prompt("Passphrase", hide_input=True, err=True)
        source = NEW_PASSPHRASE_ENV if purpose == "rotate" else PASSPHRASE_ENV
        if self.environ.get(source):
            return self.environ[source]
        return click.prompt("New passphrase", hide_input=True, confirmation_prompt=True, err=True)

    def warn(self, message: str) -> None:
        """One plain line on stderr (no wrapping, no markup: paths may contain brackets)."""
        click.echo(f"warning: {message}", err=True)

    def secrets(self) -> Secrets:
        from securetune.workspace import Secrets

        return Secrets(environ=self.environ, passphrase_prompt=self.passphrase)

    def root(self) -> Path:
        from securetune.workspace import find_root

        return find_root(self.workspace_option, self.environ, Path.cwd())

    def witness_dir(self) -> Path:
        from securetune.audit.witness import default_witness_dir

        return default_witness_dir(self.environ)

    def open(self) -> Workspace:
        from securetune.workspace import Workspace

        return Workspace.open(self.root(), secrets=self.secrets(), witness_dir=self.witness_dir())

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Any]:
        """A records-per-second progress bar on stderr; yields ``advance(n_done)``."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        ]
        with Progress(
            *columns, console=self.err, transient=True, disable=not self.err.is_terminal
        ) as bar:
            task = bar.add_task(description, total=total, rate="")

            def advance(done: int) -> None:
                if done % 256 == 0:
                    speed = bar.tasks[0].speed
                    bar.update(task, completed=done, rate=f"{speed:,.0f} rec/s" if speed else "")

            yield advance


def emit(result: Mapping[str, Any], *, as_json: bool, human: str) -> None:
    """Print one JSON object on stdout with --json, else the human line."""
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    else:
        click.echo(human)


pass_app = click.make_pass_decorator(AppContext)

# Options shared by every command that reads raw records (`data add`, `scrub`).
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "csv", "parquet", "txt"]),
    default="auto",
    show_default=True,
    help="Input format; auto uses the file extension (a directory means .txt files).",
)
on_error_option = click.option(
    "--on-error",
    type=click.Choice(["fail", "skip"]),
    default="fail",
    show_default=True,
    help="What to do with a malformed record: stop with nothing written, or skip and count it.",
)
