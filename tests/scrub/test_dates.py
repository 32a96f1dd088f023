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
    # a range of month/days is one span
    ("trach placed 8/14). ceftaz 8/2 - 8/10.", [(13, 17, D), (27, 37, D)]),
    ("intubated 4/28-5/1 for CHF; XRT 11/04/11/05.", [(10, 18, D), (32, 43, D)]),
    # a month/day right after a sentence or a word's full stop, and m/d.yy
    (
        "rr 30s overnight. On 2/6 this eve. To floor.3/14. Seen 12/19.95",
        [(21, 24, D), (44, 48, D), (55, 63, D)],
    ),
    # "AC" ends "CARDIAC"; it is not a ventilator mode here
    ("CARDIAC: balloon pump weaned off 6/4, lines out.", [(33, 36, D)]),
    ("admitted 14 Feb, 91 and again Sept 3-5, 2001.", [(9, 19, D), (30, 44, D)]),
    # two-digit years beside dated events, only in a history section
    ("PMH: CABG 79, redo CABG 86, AVR,MI 79, HTN.", [(10, 12, D), (24, 26, D), (35, 37, D)]),
    ("Hx: DM. 04 PTCA to RCA. 11 stent to LAD.", [(8, 10, D), (24, 26, D)]),
    ("home for Christmas; seen 22-Jul-2019.", [(9, 18, D), (25, 36, D)]),
    # day first with full stops (most of Europe), year first with any one separator
    (
        "born 03.10.1945, opened 2019/07/22, closed 2021.1.5.",
        [(5, 15, D), (24, 34, D), (43, 51, D)],
    ),
]

MUST_NOT_MATCH = [
    "BP 120/80, pain 8/10, strength 5/5, PSV 10/5, D5 1/2 NS, given at 2130.",
    "heparin 1000 units; flowby 6/3; PEEP/PS 5/10; 2nd unit PRBC; on 1st step mattress.",
    "Pt will go home in May. Dec breath sounds. Mar edema.",
    "Rate 14, TV 450, Hct 30.1, K 4.0, plt 1900.",
    # ventilator settings, fractions, strength ranges, percentages
    "SIMV 500x12, 40%, & 5/8. On AC 600x14/5/40%. Crackles 1/3-1/2 up. Strength 5/5-4/5.",
    # two-digit numbers outside a history section, or counted, are not years
    "CABG 79 noted.\nPMH: MI x2, CABG x3, stent 2 to LAD, HTN 10 yrs.\nHR in 60's, hct 34 s/p.",
]


@pytest.mark.parametrize(("text", "expected"), MUST_MATCH)
def test_dates_found_with_exact_offsets(detector, text, expected) -> None:
    assert spans(detector, text) == expected


@pytest.mark.parametrize("text", MUST_NOT_MATCH)
def test_date_lookalikes_are_left(detector, text) -> None:
    assert [s for s in spans(detector, text) if s[2] == D] == []
