"""Errors raised by the scrubber; messages name settings, never record text."""

from __future__ import annotations

from securetune.errors import SecuretuneError


class DetectorError(SecuretuneError):
    """The detector is misconfigured or a backend it needs is missing (fail closed)."""
