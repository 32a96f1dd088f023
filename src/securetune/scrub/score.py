"""Scoring exactly as the PhysioNet deid corpus README defines it.

* Phrase recall: a PHI phrase is caught when every non-space character of it lies inside
  some detected span.
* Character precision: the share of detected non-space characters that lie inside a PHI
  phrase.

Recall is reported overall, without ``DateYear`` (HIPAA Safe Harbor lets a bare year
stand), for names (PTName, RelativeProxyName, HCPName, PTNameInitial) and per type.

>>> s = Scorer()
>>> s.add("Dr Smith 7/22", [(3, 8, "HCPName"), (9, 13, "Date")], [(3, 8)])
[(9, 13, 'Date')]
>>> round(s.result().recall, 2), s.result().char_precision
(0.5, 1.0)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

NAME_TYPES = ("PTName", "RelativeProxyName", "HCPName", "PTNameInitial")


@dataclass(frozen=True)
class ScoreResult:
    """Totals and ratios; misses are counted by type (no text)."""

    phrases: int
    caught: int
    recall: float
    recall_without_dateyear: float
    name_recall: float
    per_type: dict[str, dict[str, float]]
    misses_by_type: dict[str, int]
    detected_chars: int
    true_chars: int
    char_precision: float


@dataclass
class Scorer:
    """Accumulates notes; call :meth:`result` at the end."""

    total: Counter = field(default_factory=Counter)
    caught: Counter = field(default_factory=Counter)
    detected_chars: int = 0
    true_chars: int = 0

    def add(
        self,
        text: str,
        gold: list[tuple[int, int, str]],
        detected: list[tuple[int, int]],
    ) -> list[tuple[int, int, str]]:
        """Score one note; return the gold phrases it missed (for the caller's eyes)."""
        covered = bytearray(len(text))
        for start, end in detected:
            for i in range(max(0, start), min(end, len(text))):
                covered[i] = 1
        phi = bytearray(len(text))
        misses = []
        for start, end, phi_type in gold:
            self.total[phi_type] += 1
            chars = [i for i in range(start, end) if not text[i].isspace()]
            for i in chars:
                phi[i] = 1
            if all(covered[i] for i in chars):
                self.caught[phi_type] += 1
            else:
                misses.append((start, end, phi_type))
        for i, c in enumerate(covered):
            if c and not text[i].isspace():
                self.detected_chars += 1
                self.true_chars += phi[i]
        return misses

    def result(self) -> ScoreResult:
        """Ratios over everything added so far."""

        def ratio(types) -> float:
            n = sum(self.total[t] for t in types)
            return sum(self.caught[t] for t in types) / n if n else 1.0

        types = sorted(self.total)
        return ScoreResult(
            phrases=sum(self.total.values()),
            caught=sum(self.caught.values()),
            recall=ratio(types),
            recall_without_dateyear=ratio([t for t in types if t != "DateYear"]),
            name_recall=ratio([t for t in types if t in NAME_TYPES]),
            per_type={
                t: {"phrases": self.total[t], "caught": self.caught[t], "recall": ratio([t])}
                for t in types
            },
            misses_by_type={t: self.total[t] - self.caught[t] for t in types},
            detected_chars=self.detected_chars,
            true_chars=self.true_chars,
            char_precision=(self.true_chars / self.detected_chars if self.detected_chars else 1.0),
        )
