"""Wrapping data keys under the workspace KEK (docs/FORMAT.md, "Wrapped keys")."""

from __future__ import annotations

import pytest

from securetune.crypto.envelope import (
    WRAPPED_KEY_SIZE,
    new_data_key,
    unwrap_key,
    wrap_key,
)
from securetune.errors import DecryptionError, KeyProviderError

KEK = bytes(range(32))
OTHER_KEK = bytes(range(1, 33))
DEK = bytes(range(200, 232))
NONCE = bytes(range(12))
CONTEXT = b"workspace=ws-1;key=dataset/demo"
WRAPPED = wrap_key(KEK, DEK, context=CONTEXT, _nonce=NONCE)


def test_wrapped_key_unwraps_to_the_data_key() -> None:
    assert unwrap_key(KEK, WRAPPED, context=CONTEXT) == DEK


def test_wrapped_key_layout_is_magic_version_nonce_then_sealed_key() -> None:
    assert len(WRAPPED) == WRAPPED_KEY_SIZE == 65
    assert WRAPPED[:4] == b"STWK"
    assert WRAPPED[4] == 1
    assert WRAPPED[5:17] == NONCE


def test_each_wrap_uses_a_fresh_nonce() -> None:
    first, second = wrap_key(KEK, DEK, context=CONTEXT), wrap_key(KEK, DEK, context=CONTEXT)
    assert first[5:17] != second[5:17]
    assert unwrap_key(KEK, first, context=CONTEXT) == unwrap_key(KEK, second, context=CONTEXT)


def test_new_data_keys_are_32_random_bytes() -> None:
    keys = {new_data_key() for _ in range(8)}
    assert len(keys) == 8
    assert {len(k) for k in keys} == {32}


def test_wrong_kek_is_a_decryption_error() -> None:
    with pytest.raises(DecryptionError, match="wrong workspace key"):
        unwrap_key(OTHER_KEK, WRAPPED, context=CONTEXT)


def test_a_wrapped_key_moved_to_another_slot_does_not_unwrap() -> None:
    with pytest.raises(DecryptionError, match="failed authentication"):
        unwrap_key(KEK, WRAPPED, context=b"workspace=ws-1;key=dataset/other")


@pytest.mark.parametrize("offset", range(WRAPPED_KEY_SIZE))
def test_every_byte_of_a_wrapped_key_is_authenticated(offset: int) -> None:
    tampered = bytearray(WRAPPED)
    tampered[offset] ^= 0x80
    with pytest.raises(DecryptionError) as err:
        unwrap_key(KEK, bytes(tampered), context=CONTEXT)
    assert "\n" not in str(err.value)
    assert DEK.hex() not in str(err.value)
    assert KEK.hex() not in str(err.value)


@pytest.mark.parametrize(
    "wrapped",
    [b"", WRAPPED[:-1], WRAPPED + b"\x00", WRAPPED[:17]],
    ids=["empty", "one byte short", "one byte extra", "prefix only"],
)
def test_wrong_length_is_a_decryption_error(wrapped: bytes) -> None:
    with pytest.raises(DecryptionError, match=f"expected 65 bytes, got {len(wrapped)}"):
        unwrap_key(KEK, wrapped, context=CONTEXT)


def test_unknown_version_is_named_in_the_error() -> None:
    future = WRAPPED[:4] + b"\x02" + WRAPPED[5:]
    with pytest.raises(DecryptionError, match="unsupported wrapped-key version 2"):
        unwrap_key(KEK, future, context=CONTEXT)


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_malformed_kek_or_dek_length_is_a_key_provider_error(length: int) -> None:
    with pytest.raises(
        KeyProviderError, match=f"key-encryption key must be 32 bytes, got {length}"
    ):
        wrap_key(bytes(length), DEK, context=CONTEXT)
    with pytest.raises(KeyProviderError, match=f"data key must be 32 bytes, got {length}"):
        wrap_key(KEK, bytes(length), context=CONTEXT)
    with pytest.raises(
        KeyProviderError, match=f"key-encryption key must be 32 bytes, got {length}"
    ):
        unwrap_key(bytes(length), WRAPPED, context=CONTEXT)
