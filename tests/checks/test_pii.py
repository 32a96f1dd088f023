"""What counts as a regurgitated identifier: an identifying value that occurs in one training
unit's records only. Values many units share are population-level, and counted apart."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest

from securetune.checks.measures import identifying, pii_check
from securetune.checks.runner import CheckOptions


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


class Scripted:
    """A model that 'generates' fixed texts; the tokenizer decodes an index into them."""

    def __init__(self, adapted: str, base: str) -> None:
        self.texts = {"adapted": adapted, "base": base}
        self.mode = "adapted"

    def generate(self, prompts, new, *, sample, seed):  # type: ignore[no-untyped-def]
        return [[0] if self.mode == "adapted" else [1] for _ in prompts]

    @contextlib.contextmanager
    def base(self):  # type: ignore[no-untyped-def]
        self.mode = "base"
        try:
            yield
        finally:
            self.mode = "adapted"

    def decode(self, ids, skip_special_tokens):  # type: ignore[no-untyped-def]
        return self.texts["adapted" if ids == [0] else "base"]


def test_a_value_unique_to_one_unit_counts_and_one_many_units_share_does_not() -> None:
    clinic = "617-555-0199"  # printed on every patient's notes
    texts = [
        "Patient reachable at 617-555-0142 after discharge.",
        f"Follow-up booked, clinic line {clinic}.",
        f"Questions to the clinic at {clinic} please.",
    ]
    scripted = Scripted(
        adapted=f"Call 617-555-0142 or the clinic at {clinic} today.",
        base=f"Call the clinic at {clinic} today.",
    )
    run = SimpleNamespace(
        options=CheckOptions(generations=2, generation_tokens=4),
        policy=None,
        split=SimpleNamespace(train=[[0], [1], [2]]),
        data_units=lambda units: units,
        texts=texts,
        tokens=[[5, 6]],
        canaries=None,
        tokenizer=scripted,
        scorer=scripted,
    )
    numbers = pii_check(run).numbers  # type: ignore[arg-type]
    assert numbers["pii_regurgitated"] == 2  # two generations, each with the patient's phone
    assert numbers["pii_regurgitated_shared"] == 2
    assert numbers["pii_regurgitated_base"] == 0
