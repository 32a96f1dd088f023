"""Residual risk: how much PHI the scrubber is measured to miss, by type, for reports.

Scrubbing is never perfect, and a compliance officer needs the miss rate next to the
guarantee DP gives. The rate is *measured*, not asserted: ``bench/residual_risk.py`` runs
the detector over de-identification corpora with gold annotations and writes
``residual_risk.json`` beside this module (counts and ratios only, never text). Each scrub
attaches that estimate to its summary and ledger event, with the recognizer set it was
measured on; when the rules have changed since, the estimate says so (``current: false``)
instead of passing an old number off as this run's.

Per type: phrases, caught, recall and a 95% Wilson interval (small types, such as phone
numbers in a few hundred notes, get the wide interval they deserve).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

RISK_FILE = "residual_risk.json"


def wilson(caught: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion.

    >>> wilson(95, 100)
    (0.8882, 0.9785)
    >>> wilson(0, 0)
    (0.0, 1.0)
    """
    if total == 0:
        return (0.0, 1.0)
    p = caught / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def per_type_estimate(per_type: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Scorer per-type counts -> recall with its interval, per type."""
    out = {}
    for t, v in sorted(per_type.items()):
        n, k = int(v["phrases"]), int(v["caught"])
        out[t] = {
            "phrases": n,
            "caught": k,
            "recall": round(k / n, 4) if n else 1.0,
            "ci95": list(wilson(k, n)),
        }
    return out


@lru_cache(maxsize=1)
def _stored() -> dict[str, Any] | None:
    f = resources.files("securetune.scrub").joinpath(RISK_FILE)
    if not f.is_file():
        return None
    return json.loads(f.read_text(encoding="utf-8"))


def residual_risk(recognizer_set: str) -> dict[str, Any]:
    """The stored estimate, marked current or not for the rules that ran (``recognizer_set``
    from ``Detector.versions()``). Without a stored estimate, says that there is none."""
    stored = _stored()
    if stored is None:
        return {"measured": False, "note": "no residual-risk measurement ships with this build"}
    return {
        "measured": True,
        "current": stored.get("recognizer_set") == recognizer_set,
        **stored,
    }
