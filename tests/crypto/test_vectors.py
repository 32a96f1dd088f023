"""Every committed vector in tests/crypto/vectors/ must verify, forever.

Valid vectors must decrypt to their plaintext with the recorded digests, and re-encrypting
with the recorded salt or nonce must reproduce the committed bytes exactly, which pins the
writer as well as the reader. Failing vectors must raise DecryptionError for the reason they
name; the message fragment proves it failed at the intended check, not an earlier one.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from securetune.crypto.envelope import unwrap_key, wrap_key
from securetune.crypto.stream import StreamReader, StreamWriter
from securetune.errors import DecryptionError

VECTORS = sorted((Path(__file__).parent / "vectors").glob("*.json"))

FAILURES = {
    "stream": {
        "truncated_header": "stream header is truncated",
        "bad_magic": "not a securetune encrypted stream",
        "unsupported_version": "unsupported stream format version",
        "invalid_chunk_size": "invalid chunk size",
        "header_mac": "stream header authentication failed",
        "truncated_chunk": "shorter than the 16-byte tag",
        "chunk_auth": "failed authentication: the stream was modified",
        "empty_final_chunk": "only an empty stream may end in an empty chunk",
    },
    "wrapped_key": {
        "malformed": "wrapped key is malformed",
        "bad_magic": "not a securetune wrapped key",
        "unsupported_version": "unsupported wrapped-key version",
        "auth": "wrapped key failed authentication",
    },
}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_the_vector_set_covers_every_failure_and_both_types() -> None:
    vectors = [load(p) for p in VECTORS]
    for kind, failures in FAILURES.items():
        seen = {v.get("failure") for v in vectors if v["type"] == kind}
        assert set(failures) <= seen
        assert any(v["expect"] == "ok" for v in vectors if v["type"] == kind)


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path: Path) -> None:
    vector = load(path)
    assert vector["name"] == path.stem
    if vector["type"] == "stream":
        check_stream(vector)
    else:
        assert vector["type"] == "wrapped_key"
        check_wrapped_key(vector)


def check_stream(v: dict[str, Any]) -> None:
    key, context = bytes.fromhex(v["key"]), bytes.fromhex(v["context"])
    ciphertext = bytes.fromhex(v["ciphertext"])
    if v["expect"] == "DecryptionError":
        with pytest.raises(DecryptionError, match=FAILURES["stream"][v["failure"]]):
            b"".join(StreamReader(io.BytesIO(ciphertext), key, context=context))
        return
    assert v["expect"] == "ok"
    reader = StreamReader(io.BytesIO(ciphertext), key, context=context)
    assert b"".join(reader).hex() == v["plaintext"]
    assert reader.info.plaintext_sha256 == v["plaintext_sha256"]
    assert reader.info.ciphertext_sha256 == v["ciphertext_sha256"]
    out = io.BytesIO()
    salt = bytes.fromhex(v["salt"])
    with StreamWriter(out, key, context=context, chunk_size=v["chunk_size"], _salt=salt) as w:
        w.write(bytes.fromhex(v["plaintext"]))
    assert out.getvalue() == ciphertext


def check_wrapped_key(v: dict[str, Any]) -> None:
    kek, context = bytes.fromhex(v["kek"]), bytes.fromhex(v["context"])
    wrapped = bytes.fromhex(v["wrapped"])
    if v["expect"] == "DecryptionError":
        with pytest.raises(DecryptionError, match=FAILURES["wrapped_key"][v["failure"]]):
            unwrap_key(kek, wrapped, context=context)
        return
    assert v["expect"] == "ok"
    dek = bytes.fromhex(v["dek"])
    assert unwrap_key(kek, wrapped, context=context) == dek
    assert wrap_key(kek, dek, context=context, _nonce=bytes.fromhex(v["nonce"])) == wrapped
