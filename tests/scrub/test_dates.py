"""Dates in clinical forms; blood pressures, scores, ventilator settings and times are not."""

from __future__ import annotations

import pytest

from .conftest import spans

D = "DATE_TIME"

MUST_MATCH = [
    ("7/22 found by husband.", [(0, 4, D)]),
    ("on 7/22/97 and 8/16/2017 and 2017-08-16.", [(3, 10, D), (15, 24, D), (29, 39, D)]),
    ("in nov. 2016 on the 3rd; cultures from the 11th.", [(3, 12, D), (20, 23, D), (43, 47, D)]),
    (
        "PMH: MI '92, CABG 1992, s/p fx4/97. CVA 74'.",
        [(8, 11, D), (18, 22, D), (30, 34, D), (40, 43, D)],
    ),
    ("May 3rd appt. Seen Jan. 5, 2019. HX:8/30 fall.", [(0, 7, D), (19, 31, D), (36, 40, D)]),
    ("trach placed 8/14). ceftaz 8/2 - 8/10.", [(13, 17, D), (27, 30, D), (33, 37, D)]),
    ("home for Christmas; seen 22-Jul-2019.", [(9, 18, D), (25, 36, D)]),
]

MUST_NOT_MATCH = [
    "BP 120/80, pain 8/10, strength 5/5, PSV 10/5, D5 1/2 NS, given at 2130.",
    "heparin 1000 units; flowby 6/3; PEEP/PS 5/10; 2nd unit PRBC; on 1st step mattress.",
    "Pt will go home in May. Dec breath sounds. Mar edema.",
    "Rate 14, TV 450, Hct 30.1, K 4.0, plt 1900.",
]


@pytest.mark.parametrize(("text", "expected"), MUST_MATCH)
def test_dates_found_with_exact_offsets(detector, text, expected) -> None:
    assert spans(detector, text) == expected


@pytest.mark.parametrize("text", MUST_NOT_MATCH)
def test_date_lookalikes_are_left(detector, text) -> None:
    assert [s for s in spans(detector, text) if s[2] == D] == []
