"""General-PII recall on text written by someone else's generator: the held-out check.

    pip install 'securetune[heldout]'        # presidio-evaluator, for this benchmark only
    python bench/general_pii_heldout.py --sentences 3000 --seed 2026 --json

Our general-PII rules are tuned on :mod:`securetune.scrub.pii_text`, our own generator. This
benchmark scores them on sentences from Microsoft's ``presidio-evaluator`` package
(``PresidioSentenceFaker``: about 200 customer-service and prose templates of its own, its
own name, address and organisation data), which nobody tuning the rules looks at string by
string: only these aggregate numbers are read. It shares Faker's value lists with our
generator for some slots, so it is held out in templates and phrasing, not in every value.

Scoring is the corpus README's (a span is caught when every non-space character lies in a
detection; character precision over all detections). ``hipaa_recall`` counts the entity
types Safe Harbor names: persons, street addresses, ZIP codes, phones, cards, bank and
licence numbers, SSNs, e-mail and IP addresses, URLs and dates. Countries, nationalities,
job titles, organisations and ages are reported per type but left out of it: Safe Harbor
lets them stand (ages under 90). ``GPE`` mixes cities (which it names) with countries
(which it does not), so it is reported apart. Presidio's pattern-only analyzer runs on the
same sentences as the baseline. The JSON holds counts and ratios only, never text.

The generator is not exactly reproducible: some of its values depend on today's date and on
random state it does not seed, so two runs with one ``--seed`` differ by a few thousandths in
recall. Compare rule changes in one process, or on several runs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from _report import emit
from general_pii import detect_both
from securetune.scrub.score import Scorer

HIPAA_TYPES = frozenset(
    {
        "PERSON", "STREET_ADDRESS", "ZIP_CODE", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE",
        "US_SSN", "US_DRIVER_LICENSE", "EMAIL_ADDRESS", "IP_ADDRESS", "DOMAIN_NAME", "URL",
        "DATE_TIME",
    }
)  # fmt: skip


def sentences(count: int, seed: int) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """``count`` sentences of presidio-evaluator's generator and their gold spans."""
    try:
        from presidio_evaluator.data_generator import PresidioSentenceFaker
        from presidio_evaluator.data_generator.faker_extensions import providers
    except ImportError:
        sys.exit(
            "error: this benchmark needs presidio-evaluator: pip install 'securetune[heldout]'"
        )
    # it would query WikiData for hospital names: stay offline on its own fallback list
    providers.HospitalProvider.load_wiki_hospitals = lambda self: list(self.default_list)
    with contextlib.redirect_stdout(sys.stderr):  # it prints progress; stdout is our JSON
        faker = PresidioSentenceFaker(locale="en_US", lower_case_ratio=0.05, random_seed=seed)
        records = faker.generate_new_fake_sentences(count)
    out = []
    for record in records:
        gold = [(s.start_position, s.end_position, s.entity_type) for s in record.spans]
        out.append((record.full_text, gold))
    return out


def score(data, detected) -> dict:
    """Recall per type, over Safe Harbor's types, and character precision."""
    every, hipaa = Scorer(), Scorer()
    for (text, gold), spans in zip(data, detected, strict=True):
        every.add(text, gold, spans)
        hipaa.add(text, [g for g in gold if g[2] in HIPAA_TYPES], spans)
    r, h = every.result(), hipaa.result()
    return {
        "hipaa_recall": round(h.recall, 4),
        "hipaa_spans": h.phrases,
        "recall_all_types": round(r.recall, 4),
        "char_precision": round(r.char_precision, 4),
        "per_type_recall": {k: round(v["recall"], 4) for k, v in sorted(r.per_type.items())},
        "per_type_spans": {k: v["phrases"] for k, v in sorted(r.per_type.items())},
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    data = sentences(args.sentences, args.seed)
    (ours, ours_s), (base, base_s) = detect_both([text for text, _ in data])
    result = {
        "ours": {**score(data, ours), "sentences_per_s": round(len(data) / ours_s, 1)},
        "presidio_pattern_only": {
            **score(data, base),
            "sentences_per_s": round(len(data) / base_s, 1),
        },
        "config": {"sentences": len(data), "seed": args.seed, "generator": "presidio-evaluator"},
    }
    emit(result, compact=args.json, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
