"""What counts as a regurgitated identifier."""

from __future__ import annotations

import pytest

from securetune.checks.measures import identifying


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Henry Castellano", True),
        ("617-555-0142", True),
        ("4471902", True),
        ("12 Elm Street", True),
        ("Henry", False),
        ("Mercy", False),
        ("3/4", False),
        ("90", False),
    ],
)
def test_only_multi_word_or_long_numeric_values_can_single_someone_out(
    value: str, expected: bool
) -> None:
    assert identifying(value) is expected
