"""`scrub` on training shapes: prompt/completion strings and chat ``messages`` lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from securetune import datastore
from securetune.errors import InputError
from securetune.workspace import Workspace

from ..conftest import write_jsonl
from .test_scrub_job import scrub

NAME, PHONE = "Okafor", "617-555-0142"

CHATS = [
    {
        "id": "c1",
        "messages": [
            {"role": "system", "content": "You summarise notes."},
            {"role": "user", "content": f"Pt Margaret {NAME} admitted. Call {PHONE}."},
            {"role": "assistant", "content": f"{NAME} admitted; phone {PHONE}.", "name": "bot"},
        ],
    }
]


def test_every_message_content_is_scanned_roles_kept_and_other_keys_dropped(
    ws: Workspace, tmp_path: Path
) -> None:
    findings = tmp_path / "findings.jsonl"
    summary = scrub(
        ws,
        write_jsonl(tmp_path / "chats.jsonl", CHATS),
        findings_path=findings,
        options={"text_fields": ("messages",), "subject_field": None},
    )
    assert summary.dropped_fields == ["messages[].name"]
    (record,) = datastore.read_dataset(ws, "clean")
    assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
    assert [set(m) for m in record["messages"]] == [{"role", "content"}] * 3
    assert record["messages"][0]["content"] == "You summarise notes."
    for value in (NAME, PHONE):
        assert value not in json.dumps(record)
    where = {json.loads(x)["field"] for x in findings.read_text().splitlines()}
    assert where == {"messages[1].content", "messages[2].content"}  # offsets into each message


def test_prompt_and_completion_are_scanned_as_text_fields(ws: Workspace, tmp_path: Path) -> None:
    pairs = [
        {"id": "p1", "prompt": f"Summarize: Pt {NAME}, call {PHONE}.", "completion": f"{NAME}."}
    ]
    scrub(
        ws,
        write_jsonl(tmp_path / "pairs.jsonl", pairs),
        options={"text_fields": ("prompt", "completion"), "subject_field": None},
    )
    (record,) = datastore.read_dataset(ws, "clean")
    assert set(record) == {"id", "prompt", "completion"}
    assert NAME not in json.dumps(record) and PHONE not in json.dumps(record)


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (
            [{"role": "Dr. Okafor", "content": "hi"}],
            "record 1: message 0 in 'messages' has a role other than "
            "system, user, assistant, tool, developer",
        ),
        (
            [{"role": "user", "content": ["not", "text"]}],
            "record 1: text field 'messages' is neither a string nor a list of messages with "
            "string 'content'",
        ),
    ],
)
def test_a_chat_that_cannot_be_scanned_whole_is_refused(
    ws: Workspace, tmp_path: Path, messages: list, message: str
) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"id": "b1", "messages": messages}])
    with pytest.raises(InputError) as err:
        scrub(ws, path, options={"text_fields": ("messages",), "subject_field": None})
    assert str(err.value) == message
    assert NAME not in str(err.value)
