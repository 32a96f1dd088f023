"""Fixtures for the detection-core tests: one Detector per session (building it is slow)."""

from __future__ import annotations

import pytest

from securetune.scrub import Detector, DetectorConfig


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector(DetectorConfig())


def spans(detector: Detector, text: str) -> list[tuple[int, int, str]]:
    """(start, end, entity_type) of every finding."""
    return [(f.start, f.end, f.entity_type) for f in detector.detect(text)]


def at(text: str, value: str, entity: str, nth: int = 0) -> tuple[int, int, str]:
    """The expected span of the ``nth`` occurrence of ``value`` in ``text``."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(value, start + 1)
    return (start, start + len(value), entity)
