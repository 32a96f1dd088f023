"""Benchmark near-duplicate detection (securetune.dedup) on real clinical notes.

    .venv/bin/python bench/dedup.py --corpus ../shared/data/physionet-deid-dev \
        --corpus ../shared/data/physionet-deid-dev2 --json --out bench/results/dedup.json

Measures, in one run on the same notes:

* throughput (records/s) of :func:`securetune.dedup.find_clusters` at the default
  parameters, and the groups it finds in the real notes (real copy-forward);
* its agreement with an exact all-pairs computation of the 3-word-shingle Jaccard
  similarity: how many pairs at or above the threshold exist, and how many of them the
  MinHash/LSH search put in one group (recall), with the all-pairs time as the ratio's base;
* its recall on synthetic copy-forward: each note of at least 30 words copied with a share
  of its words replaced (spread evenly), or with a new paragraph of the given share
  appended, and mixed back into the corpus; the share of copies grouped with their source.

The JSON holds counts, ratios and times only, never text.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from pathlib import Path

from securetune.dedup import DEFAULT_PARAMS, find_clusters, shingles
from securetune.scrub.corpus import read_corpus


def edited(text: str, share: float, rng: random.Random) -> str:
    words = text.split()
    edits = max(1, round(len(words) * share))
    step = len(words) / (edits + 1)
    for k in range(1, edits + 1):
        words[int(k * step)] = f"edit{rng.randrange(10**6)}"
    return " ".join(words)


def appended(text: str, share: float, rng: random.Random) -> str:
    extra = max(1, round(len(text.split()) * share))
    return text + "\n" + " ".join(f"new{rng.randrange(10**6)}" for _ in range(extra))


def copy_recall(texts: list[str], make, share: float, seed: int) -> dict[str, float | int]:
    rng = random.Random(seed)
    sources = [i for i, t in enumerate(texts) if len(t.split()) >= 30]
    copies = [make(texts[i], share, rng) for i in sources]
    found = find_clusters([*texts, *copies])
    group_of = {i: g[0] for g in found.groups for i in g}
    n = len(texts)
    hits = sum(
        1 for k, i in enumerate(sources) if i in group_of and group_of.get(n + k) == group_of[i]
    )
    return {"copies": len(sources), "grouped_with_source": hits, "recall": hits / len(sources)}


def all_pairs(texts: list[str]) -> tuple[list[tuple[int, int]], float]:
    start = time.perf_counter()
    sets = [shingles(t, DEFAULT_PARAMS.shingle_words) for t in texts]
    pairs = []
    for i, j in itertools.combinations(range(len(sets)), 2):
        a, b = sets[i], sets[j]
        if a and b and len(a & b) >= DEFAULT_PARAMS.threshold * len(a | b):
            pairs.append((i, j))
    return pairs, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", action="append", required=True, type=Path)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()
    notes = [n for folder in args.corpus for n in read_corpus(folder)]
    texts = [n.text for n in notes]

    start = time.perf_counter()
    found = find_clusters(texts)
    seconds = time.perf_counter() - start
    pairs, exact_seconds = all_pairs(texts)
    group_of = {i: g[0] for g in found.groups for i in g}
    caught = sum(1 for i, j in pairs if i in group_of and group_of.get(j) == group_of[i])
    patient = [n.patient for n in notes]
    result = {
        "corpus": [str(c) for c in args.corpus],
        "records": len(texts),
        "patients": len(set(patient)),
        "seconds": round(seconds, 3),
        "records_per_s": round(len(texts) / seconds, 1),
        "found": found.summary(),
        "groups_within_one_patient": sum(
            1 for g in found.groups if len({patient[i] for i in g}) == 1
        ),
        "all_pairs": {
            "pairs_at_or_above_threshold": len(pairs),
            "cross_patient_pairs": sum(1 for i, j in pairs if patient[i] != patient[j]),
            "grouped_by_minhash_lsh": caught,
            "seconds": round(exact_seconds, 3),
            "speedup_of_minhash_lsh": round(exact_seconds / seconds, 2),
        },
        "synthetic_copy_forward": {
            **{
                f"edited_{round(s * 100)}pct": copy_recall(texts, edited, s, seed=1)
                for s in (0.02, 0.05, 0.1, 0.15, 0.25)
            },
            **{
                f"appended_{round(s * 100)}pct": copy_recall(texts, appended, s, seed=2)
                for s in (0.25, 0.5, 1.0)
            },
        },
    }
    doc = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(doc + "\n")
    if args.json:
        print(doc)
    else:
        print(
            f"{result['records']} notes: {result['records_per_s']} records/s, "
            f"{found.summary()['clusters']} groups",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
