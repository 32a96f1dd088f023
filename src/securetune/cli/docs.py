"""Render ``docs/cli.md`` from the commands' ``--help`` so the reference never drifts.

``python -m securetune.cli.docs > docs/cli.md`` writes it; ``--check FILE`` exits 1 when
FILE differs from what the code would write (run by ``make test``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from securetune.cli.main import cli


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=" ".join(path))
        for name in command.list_commands(ctx):  # loads lazily registered commands too
            sub = command.get_command(ctx, name)
            if sub is not None:
                found += _walk(sub, [*path, name])
    return found


def render() -> str:
    parts = [
        "# Command reference\n",
        "Generated from `--help` by `make docs`; `make test` fails when this file drifts.\n",
    ]
    for path, command in _walk(cli, ["securetune"]):
        with click.Context(command, info_name=" ".join(path), terminal_width=100) as ctx:
            text = command.get_help(ctx)
        parts.append(f"## `{' '.join(path)}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if len(argv) == 2 and argv[0] == "--check":
        if Path(argv[1]).read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{argv[1]} is out of date: run `make docs`\n")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
