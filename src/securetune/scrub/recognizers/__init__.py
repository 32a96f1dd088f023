"""Our recognizer families; importing this package registers the built-in ones."""

from securetune.scrub.recognizers import (  # noqa: F401 - imported to register
    ages,
    contact,
    dates,
    general,
    ids,
    locations,
    names,
    phones,
)
from securetune.scrub.recognizers.base import (
    SpanRecognizer,
    families,
    family,
    register_family,
    reset_for_tests,
)

__all__ = ["SpanRecognizer", "families", "family", "register_family", "reset_for_tests"]
