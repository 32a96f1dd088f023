"""Generate the committed test vectors in ``tests/crypto/vectors/`` (one scenario per file).

Run ``python tests/crypto/make_vectors.py`` only to *add* vectors. The committed files are
the compatibility promise of format version 1: ``test_vectors.py`` requires every one of them
to keep verifying forever, so an existing file must never be regenerated with different bytes.

Everything is deterministic: keys, salts and nonces are fixed and passed through the private
seams (``StreamWriter(_salt=...)``, ``wrap_key(_nonce=...)``); malformed-but-authenticated
streams (an empty final chunk, a misplaced last flag) are sealed chunk by chunk with the
module's own private helpers, so they fail for the structural reason they are named for.

Each file holds ``type`` ("stream" or "wrapped_key"), ``name``, ``description``, the inputs in
hex, and ``expect``: "ok" with the plaintext and digests, or "DecryptionError" with a
``failure`` naming the rule that must reject it (see FAILURES in test_vectors.py).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

from securetune.crypto.envelope import wrap_key
from securetune.crypto.stream import (
    _HEADER_FIELDS,
    HEADER_SIZE,
    MAGIC,
    TAG_SIZE,
    StreamWriter,
    _chunk_nonce,
    _derive_keys,
    _header_mac,
)

VECTORS = Path(__file__).parent / "vectors"
KEY = hashlib.sha256(b"securetune test vector key").digest()
OTHER_KEY = hashlib.sha256(b"securetune test vector other key").digest()
SALT = hashlib.sha256(b"securetune test vector salt").digest()
OTHER_SALT = hashlib.sha256(b"securetune test vector other salt").digest()
CONTEXT = b"dataset=vectors;shard=00000"
CS = 1024


def pattern(n: int, label: bytes = b"plaintext") -> bytes:
    """Deterministic, non-repeating filler so misplaced bytes cannot go unnoticed."""
    return hashlib.shake_256(b"securetune test vector " + label).digest(n) if n else b""


def seal(
    plaintext: bytes,
    *,
    key: bytes = KEY,
    salt: bytes = SALT,
    context: bytes = CONTEXT,
    chunk_size: int = CS,
) -> bytes:
    out = io.BytesIO()
    with StreamWriter(out, key, context=context, chunk_size=chunk_size, _salt=salt) as w:
        w.write(plaintext)
    return out.getvalue()


def chunks(ciphertext: bytes, chunk_size: int = CS) -> list[bytes]:
    body, step = ciphertext[HEADER_SIZE:], chunk_size + TAG_SIZE
    return [body[i : i + step] for i in range(0, len(body), step)]


def header_with(*, version: int = 1, chunk_size: int = CS, magic: bytes = MAGIC) -> bytes:
    """A header whose MAC is valid for its (possibly out-of-spec) fields."""
    fields = _HEADER_FIELDS.pack(magic, version, chunk_size, SALT)
    return fields + _header_mac(_derive_keys(KEY, SALT, CONTEXT).header_mac_key, fields)


def sealed_by_hand(pieces: list[tuple[bytes, bool]]) -> bytes:
    """Header plus chunks sealed with explicit (plaintext, last flag) pairs, in order."""
    payload = _derive_keys(KEY, SALT, CONTEXT).payload
    body = b"".join(
        payload.encrypt(_chunk_nonce(i, last), data, None) for i, (data, last) in enumerate(pieces)
    )
    return header_with() + body


def ok_stream(name: str, description: str, plaintext: bytes, **kw: Any) -> dict[str, Any]:
    ciphertext = seal(plaintext, **kw)
    return {
        "type": "stream",
        "name": name,
        "description": description,
        "key": kw.get("key", KEY).hex(),
        "context": kw.get("context", CONTEXT).hex(),
        "chunk_size": kw.get("chunk_size", CS),
        "salt": kw.get("salt", SALT).hex(),
        "ciphertext": ciphertext.hex(),
        "expect": "ok",
        "plaintext": plaintext.hex(),
        "plaintext_sha256": hashlib.sha256(plaintext).hexdigest(),
        "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
    }


def bad_stream(
    name: str,
    description: str,
    ciphertext: bytes,
    failure: str,
    *,
    key: bytes = KEY,
    context: bytes = CONTEXT,
) -> dict[str, Any]:
    return {
        "type": "stream",
        "name": name,
        "description": description,
        "key": key.hex(),
        "context": context.hex(),
        "ciphertext": ciphertext.hex(),
        "expect": "DecryptionError",
        "failure": failure,
    }


def flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def stream_vectors() -> list[dict[str, Any]]:
    three = pattern(2 * CS + 100)  # two full chunks and a partial one
    ct = seal(three)
    c0, c1, c2 = chunks(ct)
    head = ct[:HEADER_SIZE]
    other = seal(pattern(2 * CS + 100, b"other file"), salt=OTHER_SALT)
    return [
        ok_stream("stream_empty", "Empty plaintext: one empty final chunk.", b""),
        ok_stream("stream_one_byte", "A single byte in one final chunk.", pattern(1)),
        ok_stream("stream_partial_chunk", "Less than one chunk.", pattern(100)),
        ok_stream("stream_one_full_chunk", "Exactly one chunk, which is final.", pattern(CS)),
        ok_stream(
            "stream_two_full_chunks",
            "Exactly two chunks; no empty chunk follows the full final one.",
            pattern(2 * CS),
        ),
        ok_stream("stream_three_chunks", "Two full chunks and a partial final one.", three),
        ok_stream(
            "stream_empty_context",
            "The default empty context.",
            pattern(CS + 1),
            context=b"",
        ),
        ok_stream(
            "stream_chunk_size_4096",
            "A non-minimal chunk size recorded in the header.",
            pattern(4096 + 7),
            chunk_size=4096,
        ),
        bad_stream("stream_empty_input", "Zero bytes.", b"", "truncated_header"),
        bad_stream(
            "stream_truncated_header", "Cut inside the header.", ct[:40], "truncated_header"
        ),
        bad_stream("stream_bad_magic", "First magic byte changed.", flip(ct, 0), "bad_magic"),
        bad_stream(
            "stream_unsupported_version",
            "Version 2 with a header MAC valid for it.",
            header_with(version=2) + ct[HEADER_SIZE:],
            "unsupported_version",
        ),
        bad_stream(
            "stream_chunk_size_too_small",
            "Chunk size 512 (< 1 KiB) with a valid header MAC.",
            header_with(chunk_size=512) + ct[HEADER_SIZE:],
            "invalid_chunk_size",
        ),
        bad_stream(
            "stream_chunk_size_too_large",
            "Chunk size 16 MiB + 1 with a valid header MAC.",
            header_with(chunk_size=(1 << 24) + 1) + ct[HEADER_SIZE:],
            "invalid_chunk_size",
        ),
        bad_stream(
            "stream_chunk_size_changed",
            "Chunk size field changed from 1024 to 1025.",
            flip(ct, 12),
            "header_mac",
        ),
        bad_stream("stream_salt_changed", "One salt bit flipped.", flip(ct, 20), "header_mac"),
        bad_stream("stream_mac_changed", "One header MAC bit flipped.", flip(ct, 76), "header_mac"),
        bad_stream(
            "stream_wrong_key", "Valid stream, another key.", ct, "header_mac", key=OTHER_KEY
        ),
        bad_stream(
            "stream_wrong_context",
            "Valid stream, the next shard's context.",
            ct,
            "header_mac",
            context=b"dataset=vectors;shard=00001",
        ),
        bad_stream("stream_no_chunks", "Header only.", head, "truncated_chunk"),
        bad_stream(
            "stream_final_chunk_shorter_than_tag",
            "Final chunk cut to 15 bytes.",
            head + c0 + c1 + c2[:15],
            "truncated_chunk",
        ),
        bad_stream(
            "stream_chunk_ciphertext_changed",
            "One bit of chunk 1's ciphertext flipped.",
            flip(ct, HEADER_SIZE + CS + TAG_SIZE + 3),
            "chunk_auth",
        ),
        bad_stream(
            "stream_chunk_tag_changed",
            "One bit of chunk 0's tag flipped.",
            flip(ct, HEADER_SIZE + CS + TAG_SIZE - 1),
            "chunk_auth",
        ),
        bad_stream(
            "stream_truncated_at_chunk_boundary",
            "Final chunk dropped: chunk 1 now ends the stream but was sealed as not last.",
            head + c0 + c1,
            "chunk_auth",
        ),
        bad_stream(
            "stream_truncated_mid_chunk",
            "Cut 100 bytes into chunk 1.",
            head + c0 + c1[:100],
            "chunk_auth",
        ),
        bad_stream("stream_trailing_byte", "One zero byte appended.", ct + b"\x00", "chunk_auth"),
        bad_stream(
            "stream_trailing_chunk",
            "A valid-looking chunk appended after the final one.",
            seal(pattern(CS)) + c1,
            "chunk_auth",
        ),
        bad_stream(
            "stream_chunks_reordered", "Chunks 0 and 1 swapped.", head + c1 + c0 + c2, "chunk_auth"
        ),
        bad_stream(
            "stream_chunk_from_other_file",
            "Chunk 1 replaced by chunk 1 of another file under the same key and context.",
            head + c0 + chunks(other)[1] + c2,
            "chunk_auth",
        ),
        bad_stream(
            "stream_header_from_other_file",
            "A genuine header of another file under the same key and context.",
            other[:HEADER_SIZE] + ct[HEADER_SIZE:],
            "chunk_auth",
        ),
        bad_stream(
            "stream_empty_final_chunk_after_full_chunk",
            "A full chunk then an empty final chunk, all tags valid: not canonical.",
            sealed_by_hand([(pattern(CS), False), (b"", True)]),
            "empty_final_chunk",
        ),
        bad_stream(
            "stream_last_flag_on_first_chunk",
            "Chunk 0 sealed with the last flag, yet followed by chunk 1 (tags valid).",
            sealed_by_hand([(pattern(CS), True), (pattern(10), True)]),
            "chunk_auth",
        ),
        bad_stream(
            "stream_missing_last_flag",
            "Every chunk sealed without the last flag (tags valid): a truncation.",
            sealed_by_hand([(pattern(CS), False), (pattern(10), False)]),
            "chunk_auth",
        ),
    ]


KEK = hashlib.sha256(b"securetune test vector kek").digest()
OTHER_KEK = hashlib.sha256(b"securetune test vector other kek").digest()
DEK = hashlib.sha256(b"securetune test vector dek").digest()
WRAP_NONCE = hashlib.sha256(b"securetune test vector wrap nonce").digest()[:12]
WRAP_CONTEXT = b"workspace=vectors;key=dataset/demo"


def wrap_vector(
    name: str,
    description: str,
    wrapped: bytes,
    *,
    failure: str | None = None,
    kek: bytes = KEK,
    context: bytes = WRAP_CONTEXT,
) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "type": "wrapped_key",
        "name": name,
        "description": description,
        "kek": kek.hex(),
        "context": context.hex(),
        "wrapped": wrapped.hex(),
    }
    if failure is None:
        vector.update(expect="ok", dek=DEK.hex(), nonce=WRAP_NONCE.hex())
    else:
        vector.update(expect="DecryptionError", failure=failure)
    return vector


def wrap_vectors() -> list[dict[str, Any]]:
    good = wrap_key(KEK, DEK, context=WRAP_CONTEXT, _nonce=WRAP_NONCE)
    empty_ctx = wrap_key(KEK, DEK, context=b"", _nonce=WRAP_NONCE)
    return [
        wrap_vector("wrap_ok", "A data key wrapped for one keyring slot.", good),
        wrap_vector("wrap_ok_empty_context", "Empty context.", empty_ctx, context=b""),
        wrap_vector("wrap_wrong_kek", "Another KEK.", good, failure="auth", kek=OTHER_KEK),
        wrap_vector(
            "wrap_wrong_context",
            "Moved to another slot.",
            good,
            failure="auth",
            context=b"workspace=vectors;key=dataset/other",
        ),
        wrap_vector("wrap_nonce_changed", "One nonce bit flipped.", flip(good, 5), failure="auth"),
        wrap_vector(
            "wrap_key_changed", "One sealed-key bit flipped.", flip(good, 20), failure="auth"
        ),
        wrap_vector("wrap_tag_changed", "One tag bit flipped.", flip(good, 64), failure="auth"),
        wrap_vector("wrap_bad_magic", "Magic changed.", flip(good, 0), failure="bad_magic"),
        wrap_vector(
            "wrap_unsupported_version",
            "Version byte 2.",
            good[:4] + b"\x02" + good[5:],
            failure="unsupported_version",
        ),
        wrap_vector("wrap_truncated", "Last byte missing.", good[:-1], failure="malformed"),
        wrap_vector("wrap_extended", "One byte appended.", good + b"\x00", failure="malformed"),
    ]


def main() -> None:
    VECTORS.mkdir(exist_ok=True)
    for vector in stream_vectors() + wrap_vectors():
        path = VECTORS / f"{vector['name']}.json"
        path.write_text(json.dumps(vector, indent=2, sort_keys=True) + "\n")
        print(path)


if __name__ == "__main__":
    main()
