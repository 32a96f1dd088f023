"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and SHA-256 helpers.

Ledger entries are hashed over their RFC 8785 form so that any implementation, in any
language, gets the same bytes from the same JSON value: members sorted by UTF-16 code
units, no insignificant whitespace, minimal string escapes, ECMAScript number formatting.
:func:`canonical_json` is the reference and what writers use; it delegates to the
``rfc8785`` package.

Verification canonicalises every line of the log, and the pure-Python reference costs
about 40 microseconds for a typical entry, 4 seconds per 100,000 entries.
:func:`canonicalize_text` reaches the same bytes through the C-accelerated :mod:`json`
encoder instead (see its docstring for why that is exact), falling back to the reference
for the rare inputs where it would not be; the tests compare both on generated values.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, NamedTuple

import rfc8785

#: Integers with at most this many digits are inside RFC 8785's exact integer range
#: (|n| <= 2**53 - 1 = 9007199254740991, which has 16 digits).
_FAST_MAX_INT_DIGITS = 15
_MAX_SAFE_INT = 2**53 - 1
#: Brackets a float's canonical text inside a placeholder string. A lone surrogate can
#: never survive in canonical JSON, so it cannot be confused with real string content.
_MARK = "\udc80"
#: Every byte value below 0xF0, the lead byte of 4-byte (beyond U+FFFF) UTF-8 sequences.
_BELOW_ASTRAL_LEAD = bytes(range(0xF0))


class CanonicalJSONError(ValueError):
    """A value has no RFC 8785 form (NaN, infinity, an unsafe integer, a lone surrogate).

    The message never contains the offending value: callers turn it into a one-line
    error that names a field, and ledger values must not leak into logs.
    """


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value.

    >>> canonical_json({"b": [1, 2.0, 1e-7, "\\u00e9"], "a": None})
    b'{"a":null,"b":[1,2,1e-7,"\\xc3\\xa9"]}'
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
    return "a value that RFC 8785 cannot represent (e.g. a lone surrogate)"


def es_number(x: float) -> str:
    """Format a float as ECMAScript's Number::toString does (RFC 8785 §3.2.2.3).

    Python's ``repr`` already gives the shortest digits that round-trip, as ECMAScript
    requires; only the layout differs (``1e-05`` vs ``0.00001``, ``3.0`` vs ``3``).

    >>> [es_number(v) for v in (3.0, 1e-05, 1e-07, 1e21, 1e20, -0.0, 0.1, 123.456)]
    ['3', '0.00001', '1e-7', '1e+21', '100000000000000000000', '0', '0.1', '123.456']
    """
    if not math.isfinite(x):
        raise CanonicalJSONError(_reason(rfc8785.FloatDomainError(x)))
    if x == 0:
        return "0"
    sign, text = ("-", repr(-x)) if x < 0 else ("", repr(x))
    mantissa, _, exp_text = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    exponent = int(exp_text or "0") - len(frac)  # value = int(digits) * 10**exponent
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits, k = stripped, len(stripped)
    n = k + exponent  # value = 0.digits * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if e > 0 else '-'}{abs(e)}"


def _reject_constant(name: str) -> None:
    """Refuse the non-JSON literals NaN, Infinity and -Infinity that :mod:`json` accepts."""
    raise ValueError("non-JSON constant")


def _loads(text: str, **hooks: Any) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant, **hooks)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _int_or_double(text: str) -> int | float:
    """Read an integer token as JSON's number model does beyond 2**53: as a double.

    RFC 8785 writes the float 2.0**60 as ``1152921504606846976``; reading that back as a
    Python int would put it outside the exact-integer range and fail to re-canonicalise.
    """
    value = int(text)
    return value if abs(value) <= _MAX_SAFE_INT else float(value)


def parse_json(data: bytes) -> Any:
    """Parse strict UTF-8 JSON text; ValueError if it is not JSON.

    Unlike bare :func:`json.loads`, refuses ``NaN``/``Infinity`` literals and bytes that
    are not UTF-8 (``json.loads`` would guess UTF-16 or UTF-32 from bytes), and reads
    integers beyond 2**53 - 1 as floats, as RFC 8785 (and JavaScript) do.

    >>> parse_json(b'{"a":[1,0.5,9007199254740993]}')
    {'a': [1, 0.5, 9007199254740992.0]}
    """
    return _loads(data.decode("utf-8"), parse_int=_int_or_double)


class FloatText(str):
    """Stands in for a float in a :class:`Canonicalized` view; holds its RFC 8785 text."""

    __slots__ = ()


class Canonicalized(NamedTuple):
    """A parsed JSON text and the RFC 8785 bytes of its value.

    ``view`` equals the parsed value, except that when ``view_has_floats`` is true its
    floats are :class:`FloatText` placeholders: use it for fields that cannot be floats,
    and :func:`parse_json` for the rest.
    """

    view: Any
    canonical: bytes
    view_has_floats: bool


class _OutsideFastDomain(Exception):
    """Raised by the parse hooks when a value needs the reference canonicaliser."""


def _fast_float(text: str) -> FloatText:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e400: let the reference path refuse it
        raise _OutsideFastDomain
    return FloatText(_MARK + es_number(value) + _MARK)


def _fast_int(text: str) -> int:
    if len(text) > _FAST_MAX_INT_DIGITS:
        raise _OutsideFastDomain
    return int(text)


# Built once: constructing a decoder or encoder per line is a measurable share of verify.
_FAST_DECODER = json.JSONDecoder(
    parse_float=_fast_float, parse_int=_fast_int, parse_constant=_reject_constant
)
_FAST_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonicalize_text(data: bytes) -> Canonicalized:
    """Parse JSON text and return its RFC 8785 canonical form (ValueError if not JSON).

    Why the fast path equals RFC 8785: :func:`json.dumps` with ``sort_keys=True``,
    compact separators and ``ensure_ascii=False`` escapes exactly ``"``, ``\\`` and
    U+0000..U+001F, with the same short forms and lowercase ``\\u00xx`` as RFC 8785, and
    writes every other character as is. Without characters beyond U+FFFF (no 4-byte UTF-8,
    no ``\\ud...`` escapes), sorting by code point equals sorting by UTF-16 code unit.
    Integers of at most 15 digits print identically. Floats are parsed into placeholder
    strings carrying :func:`es_number` text, whose quotes and marks are then removed.
    Anything else (long integers, astral characters, lone surrogates) takes the reference
    path, which raises :class:`CanonicalJSONError` for values RFC 8785 cannot represent.
    """
    text = data.decode("utf-8")
    if data.translate(None, _BELOW_ASTRAL_LEAD) or "\\ud" in text or "\\uD" in text:
        return _reference(data)
    try:
        view = _FAST_DECODER.decode(text)
    except _OutsideFastDomain:
        return _reference(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    out = _FAST_ENCODER.encode(view)
    has_floats = _MARK in out  # no \ud escapes were present, so every mark is ours
    if has_floats:
        out = out.replace('"' + _MARK, "").replace(_MARK + '"', "")
    return Canonicalized(view, out.encode("utf-8"), has_floats)


def _reference(data: bytes) -> Canonicalized:
    value = parse_json(data)
    return Canonicalized(value, canonical_json(value), False)


def sha256(data: bytes) -> bytes:
    """Return the SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 digest of ``data``.

    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()
