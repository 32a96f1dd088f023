"""Benchmark the scrubber's detection on a PhysioNet-deid-format corpus.

    .venv/bin/python bench/deid.py --corpus ../shared/data/physionet-deid-dev --json

Scores phrase recall and character precision as the corpus README defines them
(:mod:`securetune.scrub.score`), and measures notes per second for our detector and, side by
side in the same run on the same notes, for Presidio with only its predefined pattern
recognizers (same offline blank spaCy pipeline). The JSON holds counts and ratios only;
``--show-misses`` prints missed phrases with context to stderr for a developer's eyes and
never into the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import spacy
from presidio_analyzer import AnalyzerEngine, PatternRecognizer, RecognizerRegistry
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import EmailRecognizer
from spacy.lookups import Lookups

from securetune.scrub import Detector, DetectorConfig
from securetune.scrub.corpus import Note, read_corpus
from securetune.scrub.nlp import OfflineSpacyNlpEngine, blank_pipeline, lemma_table
from securetune.scrub.recognizers.contact import OfflineEmailRecognizer
from securetune.scrub.score import Scorer


class StockSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's own spaCy engine, as shipped, around a blank pipeline with spaCy's lookup
    lemmatizer (the offline configuration Presidio documents); only loading differs."""

    def __init__(self) -> None:
        super().__init__(models=[{"lang_code": "en", "model_name": "blank"}])
        nlp = spacy.blank("en")
        lemmatizer = nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        lookups = Lookups()
        lookups.add_table("lemma_lookup", lemma_table())
        lemmatizer.initialize(lookups=lookups)
        self.nlp = {"en": nlp}

    def load(self) -> None:
        return None


def presidio_pattern_only(*, stock_nlp: bool = True) -> AnalyzerEngine:
    """Presidio's predefined pattern recognizers (email made offline).

    ``stock_nlp``: Presidio's own ``SpacyNlpEngine`` (the baseline the issue names);
    otherwise our faster offline engine, which isolates the recognizers' cost.
    """
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"])
    keep = []
    for r in registry.recognizers:
        if isinstance(r, EmailRecognizer):
            keep.append(OfflineEmailRecognizer())
        elif isinstance(r, PatternRecognizer):
            keep.append(r)
    registry.recognizers = keep
    nlp_engine = (
        StockSpacyNlpEngine() if stock_nlp else OfflineSpacyNlpEngine({"en": blank_pipeline("en")})
    )
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def run_ours(detector: Detector, notes: list[Note]):
    t0 = time.perf_counter()
    out = [detector.detect(n.text) for n in notes]
    return out, time.perf_counter() - t0


def run_presidio(engine: AnalyzerEngine, notes: list[Note]):
    t0 = time.perf_counter()
    out = [[(r.start, r.end) for r in engine.analyze(n.text, language="en")] for n in notes]
    return out, time.perf_counter() - t0


def show_false_positives(notes: list[Note], findings) -> None:
    """Developer aid: detected text that overlaps no PHI, most frequent first (stderr)."""
    counts: Counter = Counter()
    for note, spans in zip(notes, findings, strict=True):
        phi = set()
        for p in note.phrases:
            phi.update(range(p.start, p.end))
        for f in spans:
            if not phi.intersection(range(f.start, f.end)):
                counts[(f.entity_type, note.text[f.start : f.end].lower())] += f.end - f.start
    for (entity, value), chars in counts.most_common(150):
        print(f"FP {chars:5d} {entity:14} {value!r}", file=sys.stderr)


def score(notes: list[Note], detected, show: bool = False) -> dict:
    scorer = Scorer()
    for note, spans in zip(notes, detected, strict=True):
        gold = [(p.start, p.end, p.phi_type) for p in note.phrases]
        misses = scorer.add(note.text, gold, spans)
        if show:
            for s, e, t in misses:
                ctx = (
                    note.text[max(0, s - 40) : s]
                    + "[["
                    + note.text[s:e]
                    + "]]"
                    + note.text[e : e + 30]
                )
                print(f"MISS {t:18} {note.patient}/{note.note}: {ctx!r}", file=sys.stderr)
    r = scorer.result()
    return {
        "phrases": r.phrases,
        "caught": r.caught,
        "recall": round(r.recall, 4),
        "recall_without_dateyear": round(r.recall_without_dateyear, 4),
        "name_recall": round(r.name_recall, 4),
        "char_precision": round(r.char_precision, 4),
        "per_type_recall": {t: round(v["recall"], 4) for t, v in r.per_type.items()},
        "phrases_per_type": {t: int(v["phrases"]) for t, v in r.per_type.items()},
        "misses_by_type": r.misses_by_type,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True, help="folder with id.text and id-phi.phrase")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--out", help="also write the JSON to this file")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N notes")
    ap.add_argument("--repeat", type=int, default=3, help="timing rounds (best is kept)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the Presidio baseline")
    ap.add_argument("--show-misses", action="store_true", help="print misses to stderr")
    ap.add_argument("--show-fps", action="store_true", help="print false positives to stderr")
    args = ap.parse_args(argv)

    notes = read_corpus(args.corpus)
    if args.limit:
        notes = notes[: args.limit]
    t0 = time.perf_counter()
    detector = Detector(DetectorConfig())
    build_s = time.perf_counter() - t0
    baselines = {}
    if not args.no_baseline:
        baselines = {
            "presidio_pattern_only": presidio_pattern_only(stock_nlp=True),
            "presidio_pattern_only_on_our_nlp_engine": presidio_pattern_only(stock_nlp=False),
        }

    # Timing: the engines alternate on batches of notes, and each batch keeps its best of
    # ``--repeat`` rounds, so all engines see the same machine load (CI boxes are noisy).
    batches = [notes[i : i + 25] for i in range(0, len(notes), 25)]
    best = {name: [float("inf")] * len(batches) for name in ["ours", *baselines]}
    ours_findings: list = []
    base_spans: dict[str, list] = {name: [] for name in baselines}
    for round_ in range(max(1, args.repeat)):
        for b, batch in enumerate(batches):
            for name, engine in baselines.items():
                spans, s = run_presidio(engine, batch)
                best[name][b] = min(best[name][b], s)
                if round_ == 0:
                    base_spans[name] += spans
            found, s = run_ours(detector, batch)
            best["ours"][b] = min(best["ours"][b], s)
            if round_ == 0:
                ours_findings += found
    seconds = {name: sum(v) for name, v in best.items()}

    result = {
        "corpus_notes": len(notes),
        "ours": score(
            notes, [[(f.start, f.end) for f in fs] for fs in ours_findings], args.show_misses
        ),
        "ours_notes_per_s": round(len(notes) / seconds["ours"], 1),
        "ours_build_s": round(build_s, 2),
        "detector_versions": detector.versions(),
    }
    if args.show_fps:
        show_false_positives(notes, ours_findings)
    for name in baselines:
        base = score(notes, base_spans[name])
        result[name] = {
            "recall": base["recall"],
            "recall_without_dateyear": base["recall_without_dateyear"],
            "name_recall": base["name_recall"],
            "char_precision": base["char_precision"],
            "notes_per_s": round(len(notes) / seconds[name], 1),
        }
    if baselines:
        result["speed_ratio_ours_over_presidio"] = round(
            seconds["presidio_pattern_only"] / seconds["ours"], 2
        )
        result["speed_ratio_ours_over_presidio_on_our_nlp_engine"] = round(
            seconds["presidio_pattern_only_on_our_nlp_engine"] / seconds["ours"], 2
        )
    text = json.dumps(result, indent=None if args.json else 2, sort_keys=True)
    print(text)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
