"""Shared fixtures. Every test runs under pytest-socket (see pyproject addopts): any attempt
to open a network socket fails the test."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3  # noqa: F401  (see below)
from click.testing import CliRunner, Result

from securetune.cli.main import cli
from securetune.workspace import Secrets, Workspace

# urllib3 (under transformers and Presidio) opens an AF_INET6 socket at import to probe for
# IPv6, without any network traffic. The CLI imports those stages lazily, inside tests and
# so under the socket guard; importing urllib3 here keeps that probe from being reported.

# Planted in test records so scans can prove no plaintext leaks anywhere.
MARKER = "ZEPHYRINE-QUISTGAARD-7731"

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "audit" / "schema"


@pytest.fixture(autouse=True, scope="session")
def _every_ledger_event_the_code_writes_follows_its_schema() -> Iterator[None]:
    """audit/schema/ documents every event for auditors; this keeps it true.

    Each event securetune's own code records (through ``Workspace.record``) is validated
    against ``audit/schema/<event>.schema.json`` before it is written, in every test of the
    suite; an event without a schema, a missing field or an undocumented one fails the test
    that caused it. Events a test records itself (to build a scenario) are not checked.
    """
    import sys

    import jsonschema

    schemas = {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text(encoding="utf-8"))
        for p in SCHEMA_DIR.glob("*.schema.json")
    }
    original = Workspace.record

    def record(self: Workspace, event: str, payload: Any) -> Any:
        caller = sys._getframe(1).f_code.co_filename
        if "/tests/" not in caller:
            schema = schemas.get(event)
            assert schema is not None, f"ledger event {event!r} has no schema in audit/schema/"
            jsonschema.validate(json.loads(json.dumps(dict(payload), default=str)), schema)
        return original(self, event, payload)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Workspace, "record", record)
        yield


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "SECURETUNE_WORKSPACE",
        "SECURETUNE_KEY",
        "SECURETUNE_PASSPHRASE",
        "SECURETUNE_DEBUG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECURETUNE_WITNESS_DIR", str(tmp_path / "witness"))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(
        tmp_path / "ws",
        secrets=Secrets(environ={}),
        witness_dir=tmp_path / "witness",
        actor="tester@test",
    )


@contextlib.contextmanager
def tampered(path: Path) -> Iterator[None]:
    """``path`` with its last bit flipped for the block's duration, then restored."""
    saved = path.read_bytes()
    try:
        path.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))
        yield
    finally:
        path.write_bytes(saved)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    records = [
        {
            "id": i,
            "patient_id": f"p{i % 3}",
            "text": f"note {i} for {MARKER} seen on 3/{i + 1}/2024",
        }
        for i in range(25)
    ]
    return write_jsonl(tmp_path / "notes.jsonl", records)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Callable[..., Result]]:
    """Invoke the CLI against tmp_path/ws; returns click's Result (stdout and stderr apart)."""
    runner = CliRunner()
    env = {
        "SECURETUNE_WORKSPACE": str(tmp_path / "ws"),
        "SECURETUNE_WITNESS_DIR": str(tmp_path / "witness"),
    }

    def invoke(
        *args: str, env_extra: dict[str, str] | None = None, input: str | None = None
    ) -> Result:
        return runner.invoke(
            cli, list(args), env={**env, **(env_extra or {})}, input=input, catch_exceptions=False
        )

    yield invoke
