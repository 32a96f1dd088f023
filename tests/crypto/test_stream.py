"""The streaming container: round trips, layout, every way to tamper, and the memory bound.

Small chunk sizes (the 1 KiB minimum) keep multi-chunk streams tiny; the construction does
not depend on the size. Byte offsets refer to the layout in docs/FORMAT.md.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import stat
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securetune.crypto.stream import (
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    TAG_SIZE,
    StreamInfo,
    StreamReader,
    StreamWriter,
    _chunk_nonce,
    _derive_keys,
    _header,
    decrypt_bytes,
    decrypt_file,
    encrypt_bytes,
    encrypt_file,
)
from securetune.errors import DecryptionError, KeyProviderError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SALT = bytes(range(100, 132))
CONTEXT = b"dataset=demo;shard=00000"
CS = MIN_CHUNK_SIZE
SEALED = CS + TAG_SIZE
BOUNDARY_SIZES = [0, 1, CS - 1, CS, CS + 1, 2 * CS - 1, 2 * CS, 2 * CS + 1, 3 * CS]


def seal(data: bytes, *, key: bytes = KEY, context: bytes = CONTEXT, salt: bytes = SALT) -> bytes:
    """Encrypt with a fixed salt, so equal inputs give equal ciphertexts."""
    out = io.BytesIO()
    with StreamWriter(out, key, context=context, chunk_size=CS, _salt=salt) as writer:
        writer.write(data)
    return out.getvalue()


def open_(ciphertext: bytes, *, key: bytes = KEY, context: bytes = CONTEXT) -> bytes:
    return decrypt_bytes(ciphertext, key, context=context)


def sealed_chunks(ciphertext: bytes) -> list[bytes]:
    body = ciphertext[HEADER_SIZE:]
    return [body[i : i + SEALED] for i in range(0, len(body), SEALED)]


def expected_length(plaintext_bytes: int) -> int:
    chunks = max(1, -(-plaintext_bytes // CS))
    return HEADER_SIZE + plaintext_bytes + chunks * TAG_SIZE


PLAINTEXT = hashlib.shake_256(b"three chunks").digest(2 * CS + 100)  # 2 full + 1 partial
CIPHERTEXT = seal(PLAINTEXT)


# Round trips --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    data=st.one_of(
        st.sampled_from(BOUNDARY_SIZES).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
        st.binary(max_size=4 * CS),
    )
)
def test_any_plaintext_round_trips_and_reports_its_digests(data: bytes) -> None:
    out = io.BytesIO()
    with StreamWriter(out, KEY, context=CONTEXT, chunk_size=CS) as writer:
        writer.write(data)
    ciphertext = out.getvalue()
    reader = StreamReader(io.BytesIO(ciphertext), KEY, context=CONTEXT)
    assert b"".join(reader) == data
    expected = StreamInfo(
        plaintext_bytes=len(data),
        plaintext_sha256=hashlib.sha256(data).hexdigest(),
        ciphertext_bytes=len(ciphertext),
        ciphertext_sha256=hashlib.sha256(ciphertext).hexdigest(),
    )
    assert writer.info == expected
    assert reader.info == expected
    assert len(ciphertext) == expected_length(len(data))


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=3 * CS + 10),
    cuts=st.lists(st.integers(min_value=0, max_value=3 * CS + 10), max_size=8),
)
def test_splitting_writes_anywhere_gives_identical_ciphertext(data: bytes, cuts: list[int]) -> None:
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    out = io.BytesIO()
    with StreamWriter(out, KEY, context=CONTEXT, chunk_size=CS, _salt=SALT) as writer:
        for start, end in itertools.pairwise(bounds):
            writer.write(data[start:end])
    assert out.getvalue() == seal(data)


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_bytes_helpers_round_trip_at_chunk_boundaries(size: int) -> None:
    data = os.urandom(size)
    assert decrypt_bytes(encrypt_bytes(data, KEY, chunk_size=CS), KEY) == data


def test_empty_plaintext_is_one_empty_final_chunk() -> None:
    assert len(seal(b"")) == HEADER_SIZE + TAG_SIZE
    assert open_(seal(b"")) == b""


def test_plaintext_filling_whole_chunks_ends_without_an_extra_empty_chunk() -> None:
    assert len(seal(bytes(2 * CS))) == HEADER_SIZE + 2 * SEALED


def test_each_file_gets_a_fresh_random_salt() -> None:
    first, second = encrypt_bytes(b"same", KEY), encrypt_bytes(b"same", KEY)
    assert first[13:45] != second[13:45]
    assert first != second


def test_default_chunk_size_is_within_the_allowed_range() -> None:
    assert MIN_CHUNK_SIZE <= DEFAULT_CHUNK_SIZE <= MAX_CHUNK_SIZE


# Layout (docs/FORMAT.md) ----------------------------------------------------------------------


def test_header_layout_matches_the_spec() -> None:
    header = CIPHERTEXT[:HEADER_SIZE]
    assert header[0:8] == b"STSTREAM"
    assert header[8] == 1
    assert int.from_bytes(header[9:13], "big") == CS
    assert header[13:45] == SALT
    assert header == _header(_derive_keys(KEY, SALT, CONTEXT), CS, SALT)


def test_chunk_nonce_is_big_endian_counter_then_last_flag() -> None:
    assert _chunk_nonce(0, False) == bytes(12)
    assert _chunk_nonce(0, True) == bytes(11) + b"\x01"
    assert _chunk_nonce(258, False) == bytes(9) + b"\x01\x02\x00"
    assert _chunk_nonce(2**88 - 1, True) == b"\xff" * 11 + b"\x01"


def test_chunk_counter_overflow_is_an_error() -> None:
    with pytest.raises(OverflowError):
        _chunk_nonce(2**88, False)


def test_every_chunk_is_aes_gcm_under_the_derived_payload_key() -> None:
    """An independent decryption of chunk 1 pins the nonce and key derivation together."""
    keys = _derive_keys(KEY, SALT, CONTEXT)
    chunk1 = sealed_chunks(CIPHERTEXT)[1]
    assert keys.payload.decrypt(_chunk_nonce(1, False), chunk1, None) == PLAINTEXT[CS : 2 * CS]


# Tampering: every region, every way ----------------------------------------------------------


def flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def splice(chunks: list[bytes]) -> bytes:
    return CIPHERTEXT[:HEADER_SIZE] + b"".join(chunks)


C0, C1, C2 = sealed_chunks(CIPHERTEXT)
OTHER_FILE = seal(PLAINTEXT[::-1], salt=bytes(32))

TAMPERED = {
    "chunk 0 ciphertext": flip(CIPHERTEXT, HEADER_SIZE),
    "chunk 0 tag": flip(CIPHERTEXT, HEADER_SIZE + SEALED - 1),
    "chunk 1 ciphertext": flip(CIPHERTEXT, HEADER_SIZE + SEALED + 5),
    "chunk 1 tag": flip(CIPHERTEXT, HEADER_SIZE + 2 * SEALED - 1),
    "final chunk ciphertext": flip(CIPHERTEXT, HEADER_SIZE + 2 * SEALED),
    "final chunk tag": flip(CIPHERTEXT, len(CIPHERTEXT) - 1),
    "truncated inside the header": CIPHERTEXT[: HEADER_SIZE - 1],
    "truncated to the header": CIPHERTEXT[:HEADER_SIZE],
    "truncated to nothing": b"",
    "truncated mid-chunk": CIPHERTEXT[: HEADER_SIZE + SEALED + 100],
    "truncated at a chunk boundary (final chunk dropped)": splice([C0, C1]),
    "truncated to the first chunk": splice([C0]),
    "truncated inside the final tag": CIPHERTEXT[:-1],
    "final chunk shorter than a tag": splice([C0, C1, C2[: TAG_SIZE - 1]]),
    "one byte appended": CIPHERTEXT + b"\x00",
    "a whole chunk appended": CIPHERTEXT + C1,
    "chunks 0 and 1 swapped": splice([C1, C0, C2]),
    "chunk duplicated": splice([C0, C0, C1, C2]),
    "chunk 1 taken from another file under the same key": splice(
        [C0, sealed_chunks(OTHER_FILE)[1], C2]
    ),
    "header taken from another file under the same key": OTHER_FILE[:HEADER_SIZE]
    + CIPHERTEXT[HEADER_SIZE:],
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_tampered_stream_is_rejected(case: str) -> None:
    with pytest.raises(DecryptionError) as err:
        open_(TAMPERED[case])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("offset", range(HEADER_SIZE))
def test_every_header_byte_is_authenticated_before_any_chunk(offset: int) -> None:
    src = io.BytesIO(flip(CIPHERTEXT, offset))
    with pytest.raises(DecryptionError):
        StreamReader(src, KEY, context=CONTEXT)
    assert src.tell() <= HEADER_SIZE


@pytest.mark.parametrize(
    ("key", "context"),
    [(OTHER_KEY, CONTEXT), (KEY, b"dataset=demo;shard=00001"), (KEY, b"")],
    ids=["wrong key", "another shard's context", "empty context"],
)
def test_wrong_key_or_context_fails_at_the_header_before_reading_chunks(
    key: bytes, context: bytes
) -> None:
    src = io.BytesIO(CIPHERTEXT)
    with pytest.raises(DecryptionError, match="header authentication failed"):
        StreamReader(src, key, context=context)
    assert src.tell() == HEADER_SIZE


def test_empty_final_chunk_after_full_chunks_is_rejected_even_with_a_valid_tag() -> None:
    keys = _derive_keys(KEY, SALT, CONTEXT)
    body = keys.payload.encrypt(_chunk_nonce(0, False), bytes(CS), None)
    body += keys.payload.encrypt(_chunk_nonce(1, True), b"", None)
    with pytest.raises(DecryptionError, match="final chunk 1 is empty"):
        open_(CIPHERTEXT[:HEADER_SIZE] + body)


def test_error_messages_never_contain_key_or_plaintext() -> None:
    for ciphertext in TAMPERED.values():
        with pytest.raises(DecryptionError) as err:
            open_(ciphertext)
        message = str(err.value)
        assert KEY.hex() not in message
        assert repr(KEY)[2:20] not in message
        assert repr(PLAINTEXT[:8])[2:-1] not in message


# Writer and reader lifecycle -----------------------------------------------------------------


def test_leaving_a_with_block_by_exception_leaves_an_undecryptable_stream() -> None:
    out = io.BytesIO()
    with pytest.raises(KeyError), StreamWriter(out, KEY, chunk_size=CS) as writer:
        writer.write(PLAINTEXT)
        raise KeyError("boom")
    with pytest.raises(DecryptionError):
        decrypt_bytes(out.getvalue(), KEY)


def test_close_is_idempotent_and_writes_nothing_more() -> None:
    out = io.BytesIO()
    writer = StreamWriter(out, KEY, chunk_size=CS)
    writer.write(b"abc")
    first = writer.close()
    size = len(out.getvalue())
    assert writer.close() == first == writer.info
    assert len(out.getvalue()) == size


def test_writing_after_close_is_refused() -> None:
    writer = StreamWriter(io.BytesIO(), KEY, chunk_size=CS)
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"more")


def test_writer_info_is_unavailable_before_close() -> None:
    with pytest.raises(RuntimeError, match="after close"):
        _ = StreamWriter(io.BytesIO(), KEY, chunk_size=CS).info


def test_reader_info_is_unavailable_until_the_stream_is_read_to_the_end() -> None:
    reader = StreamReader(io.BytesIO(CIPHERTEXT), KEY, context=CONTEXT)
    chunks = iter(reader)
    next(chunks)
    with pytest.raises(RuntimeError, match="to the end"):
        _ = reader.info


def test_reader_can_be_iterated_only_once() -> None:
    reader = StreamReader(io.BytesIO(CIPHERTEXT), KEY, context=CONTEXT)
    assert b"".join(reader) == PLAINTEXT
    with pytest.raises(RuntimeError, match="only once"):
        iter(reader)


def test_reader_yields_one_chunk_at_a_time() -> None:
    reader = StreamReader(io.BytesIO(CIPHERTEXT), KEY, context=CONTEXT)
    assert [len(chunk) for chunk in reader] == [CS, CS, 100]


class TrickleReader(io.RawIOBase):
    """A source that returns at most 7 bytes per read, as pipes and sockets may."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self._src.readinto(memoryview(buffer)[:7])


def test_short_reads_from_the_source_are_not_mistaken_for_the_end() -> None:
    reader = StreamReader(TrickleReader(CIPHERTEXT), KEY, context=CONTEXT)  # type: ignore[arg-type]
    assert b"".join(reader) == PLAINTEXT


# Arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_keys_that_are_not_32_bytes_are_a_key_provider_error(length: int) -> None:
    with pytest.raises(KeyProviderError, match=f"must be 32 bytes, got {length}"):
        StreamWriter(io.BytesIO(), bytes(length))
    with pytest.raises(KeyProviderError, match=f"must be 32 bytes, got {length}"):
        StreamReader(io.BytesIO(CIPHERTEXT), bytes(length))


def test_a_text_key_is_a_key_provider_error() -> None:
    with pytest.raises(KeyProviderError, match="must be bytes, got str"):
        encrypt_bytes(b"", "k" * 32)  # type: ignore[arg-type]


@pytest.mark.parametrize("chunk_size", [0, MIN_CHUNK_SIZE - 1, MAX_CHUNK_SIZE + 1])
def test_chunk_size_outside_the_allowed_range_is_refused(chunk_size: int) -> None:
    with pytest.raises(ValueError, match="chunk_size must be between"):
        StreamWriter(io.BytesIO(), KEY, chunk_size=chunk_size)


# Files ---------------------------------------------------------------------------------------


def test_file_round_trip_reports_matching_info_and_private_modes(tmp_path: Path) -> None:
    src, enc, dec = tmp_path / "plain", tmp_path / "plain.enc", tmp_path / "plain.out"
    src.write_bytes(PLAINTEXT)
    sealed = encrypt_file(src, enc, KEY, context=CONTEXT, chunk_size=CS)
    opened = decrypt_file(enc, dec, KEY, context=CONTEXT)
    assert dec.read_bytes() == PLAINTEXT
    assert sealed == opened
    assert sealed.ciphertext_sha256 == hashlib.sha256(enc.read_bytes()).hexdigest()
    assert stat.S_IMODE(dec.stat().st_mode) == 0o600
    assert stat.S_IMODE(enc.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "plain.enc", "plain.out"]


def test_failed_file_decryption_leaves_no_plaintext_behind(tmp_path: Path) -> None:
    enc, dec = tmp_path / "plain.enc", tmp_path / "plain.out"
    enc.write_bytes(TAMPERED["truncated at a chunk boundary (final chunk dropped)"])
    with pytest.raises(DecryptionError):
        decrypt_file(enc, dec, KEY, context=CONTEXT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.enc"]


def test_failed_file_decryption_keeps_an_existing_destination(tmp_path: Path) -> None:
    enc, dec = tmp_path / "plain.enc", tmp_path / "plain.out"
    enc.write_bytes(TAMPERED["final chunk tag"])
    dec.write_bytes(b"previous contents")
    with pytest.raises(DecryptionError):
        decrypt_file(enc, dec, KEY, context=CONTEXT)
    assert dec.read_bytes() == b"previous contents"


# Memory bound --------------------------------------------------------------------------------

BIG = 64 << 20
BIG_CHUNK = 64 << 10


def test_memory_stays_near_the_chunk_size_for_a_64_mib_stream(tmp_path: Path) -> None:
    block = os.urandom(1 << 20)
    path = tmp_path / "big.enc"
    with path.open("wb") as dst:
        tracemalloc.start()
        try:
            with StreamWriter(dst, KEY, chunk_size=BIG_CHUNK) as writer:
                for _ in range(BIG // len(block)):
                    writer.write(block)
            _, write_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    with path.open("rb") as src:
        tracemalloc.start()
        try:
            reader = StreamReader(src, KEY)
            total = sum(len(chunk) for chunk in reader)
            _, read_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert total == BIG
    assert writer.info.plaintext_bytes == reader.info.plaintext_bytes == BIG
    # A few chunks' worth (buffer, sealed chunk, plaintext), never the 64 MiB file.
    assert write_peak < 4 * BIG_CHUNK
    assert read_peak < 4 * BIG_CHUNK
