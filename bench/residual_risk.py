"""Measure the scrubber's recall per PHI type for the residual-risk estimate.

    python bench/residual_risk.py \
        --corpus ../shared/data/physionet-deid-dev --corpus ../shared/data/physionet-deid-dev2 \
        --write src/securetune/scrub/residual_risk.json

Runs the detector as the scrub pipeline does (windows, adjacent spans joined) over each
PhysioNet-deid-format corpus and over generated general-PII text
(:mod:`securetune.scrub.pii_text`), and writes per-type recall with 95% Wilson intervals,
pooled over the corpora, stamped with the recognizer set it measured. Counts and ratios
only. ``securetune scrub`` attaches the file's content to its summary and ledger event.

The clinical corpora are the ones the rules were developed on, so their recall is an
in-sample figure; the file also carries the held-out figures (``--held-out NAME=RECALL``)
measured the cross-split way, which are the honest ones for unseen notes, and the general-PII
recall on another generator's text (``--held-out-general``, from
``bench/general_pii_heldout.py``), the honest one for unseen general text.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from securetune.scrub import Detector, DetectorConfig
from securetune.scrub.corpus import read_corpus
from securetune.scrub.pii_text import generate_pii_texts
from securetune.scrub.pipeline import detect_long, join_adjacent
from securetune.scrub.risk import per_type_estimate
from securetune.scrub.score import Scorer


def _scored(detector: Detector, items) -> Scorer:
    scorer = Scorer()
    for text, gold in items:
        found = join_adjacent(detect_long(detector, text), text)
        scorer.add(text, gold, [(f.start, f.end) for f in found])
    return scorer


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", action="append", type=Path, required=True)
    ap.add_argument("--pii-texts", type=int, default=700)
    ap.add_argument(
        "--held-out",
        action="append",
        default=[],
        metavar="LABEL=RECALL",
        help="a cross-split measurement: recall (years excluded) on notes the rules were not "
        "written against, labelled with which rules and which notes",
    )
    ap.add_argument(
        "--held-out-general",
        action="append",
        default=[],
        metavar="LABEL=RECALL",
        help="general-PII recall of Safe Harbor types on text from a generator the rules were "
        "not written against (bench/general_pii_heldout.py), labelled with that generator",
    )
    ap.add_argument("--write", type=Path, default=None)
    args = ap.parse_args(argv)
    detector = Detector(DetectorConfig())
    notes = [n for c in args.corpus for n in read_corpus(c)]
    clinical = _scored(
        detector, ((n.text, [(p.start, p.end, p.phi_type) for p in n.phrases]) for n in notes)
    ).result()
    texts = generate_pii_texts(args.pii_texts, seed=0)
    general = _scored(
        detector, ((t.text, [(s.start, s.end, s.entity_type) for s in t.spans]) for t in texts)
    ).result()
    result = {
        "recognizer_set": detector.versions()["recognizer_set"],
        "clinical": {
            "method": (
                "phrase recall (every non-space character inside a detection) on "
                f"{len(notes)} PhysioNet deid notes with gold PHI; in-sample: the rules "
                "were developed on these notes"
            ),
            "recall_without_years": round(clinical.recall_without_dateyear, 4),
            "per_type": per_type_estimate(clinical.per_type),
            "held_out_recall_without_years": {
                k: float(v) for k, v in (h.split("=", 1) for h in args.held_out)
            },
        },
        "general_pii": {
            "method": (
                f"span recall on {len(texts)} generated bank/insurer texts in 14 locales "
                "(seeded Faker); types as the policy names them; in-sample: the general-PII "
                "rules were written against this generator"
            ),
            "recall": round(general.recall, 4),
            "held_out_recall": {
                k: float(v) for k, v in (h.split("=", 1) for h in args.held_out_general)
            },
            "per_type": per_type_estimate(general.per_type),
        },
    }
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.write:
        args.write.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
