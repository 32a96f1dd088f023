"""audit/schema/: one JSON Schema per ledger event, readable without Python, kept true by the
session-wide check in tests/conftest.py; these tests check the schemas themselves."""

from __future__ import annotations

import json

import jsonschema
import pytest

from securetune.audit.ledger import Ledger
from securetune.workspace import Workspace
from tests.conftest import SCHEMA_DIR

SCHEMAS = sorted(SCHEMA_DIR.glob("*.schema.json"))


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_each_schema_is_valid_and_closed(path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False  # an undocumented field is an error
    assert schema["title"] == f"Ledger event `{path.name.removesuffix('.schema.json')}`"
    assert set(schema["required"]) <= set(schema["properties"])


def test_the_genesis_entry_follows_its_schema(ws: Workspace) -> None:
    [genesis] = list(Ledger.open(ws.ledger_dir).entries())
    schema = json.loads((SCHEMA_DIR / "init.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(genesis.payload, schema)


def test_an_event_the_schema_does_not_describe_is_refused() -> None:
    schema = json.loads((SCHEMA_DIR / "release.schema.json").read_text(encoding="utf-8"))
    payload = {
        "run_id": "r",
        "adapter_sha256": "a" * 64,
        "weights_sha256": "b" * 64,
        "destination": "/tmp/x",
        "controls_passed": 3,
    }
    jsonschema.validate(payload, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**payload, "note_text": "a patient's words"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in payload.items() if k != "run_id"}, schema)
