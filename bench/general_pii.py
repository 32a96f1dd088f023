"""General-PII recall and precision on generated bank/insurer text in many locales.

    python bench/general_pii.py --texts 700 --json

Texts come from :mod:`securetune.scrub.pii_text` (seeded Faker, 14 locales); each span is
scored the corpus way (caught when every non-space character lies inside a detection),
per entity type and per locale, with character precision over all detections. Presidio's
pattern-only analyzer (its predefined pattern recognizers, offline) runs on the same texts
in the same run, as the baseline. The JSON holds counts and ratios only.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from _report import emit
from deid import presidio_pattern_only
from securetune.scrub import Detector, DetectorConfig
from securetune.scrub.pii_text import generate_pii_texts
from securetune.scrub.score import Scorer


def _score(texts, detected) -> dict:
    scorer = Scorer()
    by_locale: dict[str, Counter] = {}
    for t, spans in zip(texts, detected, strict=True):
        gold = [(s.start, s.end, s.entity_type) for s in t.spans]
        misses = scorer.add(t.text, gold, spans)
        c = by_locale.setdefault(t.locale, Counter())
        c["spans"] += len(gold)
        c["caught"] += len(gold) - len(misses)
    r = scorer.result()
    return {
        "recall": round(r.recall, 4),
        "char_precision": round(r.char_precision, 4),
        "per_type_recall": {k: round(v["recall"], 4) for k, v in r.per_type.items()},
        "per_locale_recall": {
            k: round(c["caught"] / c["spans"], 4) for k, c in sorted(by_locale.items())
        },
        "spans": r.phrases,
    }


def detect_both(texts: list[str]) -> tuple[tuple[list, float], tuple[list, float]]:
    """(spans, seconds) of our detector, then of Presidio's pattern-only analyzer."""
    detector = Detector(DetectorConfig())
    presidio = presidio_pattern_only(stock_nlp=True)
    t0 = time.perf_counter()
    ours = [[(f.start, f.end) for f in detector.detect(t)] for t in texts]
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = [[(r.start, r.end) for r in presidio.analyze(t, language="en")] for t in texts]
    return (ours, ours_s), (base, time.perf_counter() - t0)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=700)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    texts = generate_pii_texts(args.texts, seed=args.seed)
    (ours, ours_s), (base, base_s) = detect_both([t.text for t in texts])
    result = {
        "ours": {**_score(texts, ours), "texts_per_s": round(len(texts) / ours_s, 1)},
        "presidio_pattern_only": {
            **_score(texts, base),
            "texts_per_s": round(len(texts) / base_s, 1),
        },
        "config": {"texts": len(texts), "seed": args.seed},
    }
    emit(result, compact=args.json, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
