"""National identity and tax numbers with a fixed letter shape are NATIONAL_ID, and the check
letter decides where there is one."""

from __future__ import annotations

import pytest

from .conftest import spans

N = "NATIONAL_ID"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NI number: AB 12 34 56 C on the form.", [(11, 24, N)]),  # UK National Insurance
        ("Please update DNI 12345678Z for the holder.", [(18, 27, N)]),  # Spanish DNI/NIF
        ("Permiso con NIE X1234567L en vigor.", [(16, 25, N)]),  # Spanish NIE
        ("Il codice fiscale RSSMRA85T10A562S risulta errato.", [(18, 34, N)]),  # Italian
    ],
)
def test_national_ids_are_found(detector, text, expected) -> None:
    assert [s for s in spans(detector, text) if s[2] == N] == expected


def test_a_wrong_check_letter_is_no_national_id(detector) -> None:
    assert spans(detector, "Please update DNI 12345678Y for the holder.") == []
    assert spans(detector, "Il codice fiscale RSSMRA85T10A562X risulta errato.") == []
