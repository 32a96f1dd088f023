"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and SHA-256 helpers.

Ledger entries are hashed over their RFC 8785 form so that any implementation, in any
language, gets the same bytes from the same JSON value: members sorted by UTF-16 code
units, no insignificant whitespace, minimal string escapes, ECMAScript number formatting.
:func:`canonical_json` is the reference; it delegates to the ``rfc8785`` package.

Verifying a 100,000-entry ledger canonicalises every entry twice, and the pure-Python
reference costs about 17 microseconds per entry. :func:`parse_json` therefore also reports
whether a parsed value lies in a domain where the C-accelerated standard library encoder
provably produces the same bytes as RFC 8785 (see :func:`canonical_json_parsed`); the
tests check that equivalence with generated values. Writers always use the reference.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

#: Integers with at most this many digits are inside RFC 8785's exact integer range
#: (|n| <= 2**53 - 1 = 9007199254740991, which has 16 digits).
_FAST_MAX_INT_DIGITS = 15


class CanonicalJSONError(ValueError):
    """A value has no RFC 8785 form (NaN, infinity, an unsafe integer, a lone surrogate).

    The message never contains the offending value: callers turn it into a one-line
    error that names a field, and ledger values must not leak into logs.
    """


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value.

    >>> canonical_json({"b": [1, 2.0, "\\u00e9"], "a": None})
    b'{"a":null,"b":[1,2,"\\xc3\\xa9"]}'
    """
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as err:
        # rfc8785's messages quote the value itself; keep only the kind of problem.
        raise CanonicalJSONError(_reason(err)) from None


def _reason(err: Exception) -> str:
    """Describe a canonicalisation failure without repeating the value."""
    if isinstance(err, rfc8785.FloatDomainError):
        return "a float that RFC 8785 cannot represent (NaN or infinity)"
    if isinstance(err, rfc8785.IntegerDomainError):
        return "an integer outside RFC 8785's exact range of +/-(2**53 - 1)"
    return "a value that RFC 8785 cannot represent (e.g. a lone surrogate or unknown type)"


class _DomainProbe:
    """Parse hooks that note whether a document leaves the fast-path domain."""

    __slots__ = ("fast",)

    def __init__(self) -> None:
        self.fast = True

    def parse_float(self, text: str) -> float:
        self.fast = False
        return float(text)

    def parse_int(self, text: str) -> int:
        if len(text.lstrip("-")) > _FAST_MAX_INT_DIGITS:
            self.fast = False
        return int(text)


def _reject_constant(name: str) -> None:
    """Refuse the non-JSON literals NaN, Infinity and -Infinity that :mod:`json` accepts."""
    raise ValueError("non-JSON constant")


def parse_json(data: bytes) -> tuple[Any, bool]:
    """Parse strict UTF-8 JSON; return ``(value, fast)``.

    ``fast`` is true when the document is pure ASCII, holds no floats and no integer
    longer than 15 digits; :func:`canonical_json_parsed` may then use the standard
    library encoder. Raises :class:`ValueError` on anything that is not JSON (including
    ``NaN`` literals and bytes that are not UTF-8).

    >>> parse_json(b'{"a":1}')
    ({'a': 1}, True)
    >>> parse_json(b'{"a":1.5}')
    ({'a': 1.5}, False)
    """
    text = data.decode("utf-8")  # strict: json.loads would guess UTF-16/32 from bytes
    probe = _DomainProbe()
    try:
        value = json.loads(
            text,
            parse_float=probe.parse_float,
            parse_int=probe.parse_int,
            parse_constant=_reject_constant,
        )
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    return value, probe.fast and data.isascii()


def canonical_json_parsed(value: Any, *, fast: bool) -> bytes:
    """Canonicalise a value returned by :func:`parse_json` (``fast`` as it reported).

    Why the fast path is exact: for ASCII-only text, UTF-16 and code-point key order
    agree; :func:`json.dumps` with ``ensure_ascii=False`` escapes exactly ``"``, ``\\``
    and U+0000..U+001F, with the same short forms and lowercase ``\\u00xx`` as RFC 8785;
    integers of at most 15 digits print identically; there are no floats. A ``\\ud800``
    escape (ASCII on the wire) decodes to a lone surrogate, which cannot be encoded and is
    rejected, as RFC 8785 rejects it.
    """
    if not fast:
        return canonical_json(value)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalJSONError(_reason(ValueError())) from None


def sha256(data: bytes) -> bytes:
    """Return the SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 digest of ``data``.

    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()
