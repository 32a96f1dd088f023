"""Does detection time grow linearly with the text, whatever the text? Adversarial shapes.

    python bench/scrub_worst_case.py --json

A record can be anything a user's export holds: a log line of 100,000 characters, a column of
numbers, a table in capitals. A rule that backtracks or rescans can turn one such record into
minutes of work (one address rule took 18 s on 20,000 capitals before it was fixed). For each
shape below, the detector runs on texts of ``--size`` and 4x ``--size`` characters (as the
scrub pipeline does: windows of 100,000 characters) and the JSON gives seconds per 10,000
characters and the growth ratio (time at 4x over time at 1x: about 4 when linear, 16 when
quadratic). Shapes are built from invented words and random digits; no record text.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _report import emit
from securetune.scrub import Detector, DetectorConfig
from securetune.scrub.pii_text import generate_pii_texts
from securetune.scrub.pipeline import detect_long


def _repeat(unit: Callable[[random.Random], str]) -> Callable[[int, random.Random], str]:
    def make(size: int, rng: random.Random) -> str:
        parts: list[str] = []
        total = 0
        while total < size:
            piece = unit(rng)
            parts.append(piece)
            total += len(piece)
        return "".join(parts)[:size]

    return make


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


_CUES = ["Mr.", "Dr.", "son", "wife", "call", "tel", "at", "St", "Street", "Apt", "Suite", "IBAN"]
_WORDS = ["Harlow", "Quill", "Brant", "Oslo", "Maple", "North", "Via", "Rua", "van", "de"]

SHAPES: dict[str, Callable[[int, random.Random], str]] = {
    "capital words": _repeat(lambda r: r.choice(["ABC ", "QRST ", "ZX ", "MNOP "])),
    "title-case words": _repeat(lambda r: r.choice(_WORDS) + " "),
    "digits and spaces": _repeat(lambda r: _digits(r, r.randint(1, 4)) + " "),
    "digit groups with separators": _repeat(
        lambda r: _digits(r, r.randint(2, 4)) + r.choice("-./ ")
    ),
    "phone-like punctuation": _repeat(
        lambda r: r.choice(["(", ")", "+", "-", " ", "x"]) + _digits(r, 2)
    ),
    "one long token": lambda size, r: "".join(r.choice("aeiourstnl") for _ in range(size)),
    "one long number": lambda size, r: _digits(r, size),
    "cues and names": _repeat(
        lambda r: f"{r.choice(_CUES)} {r.choice(_WORDS)} {_digits(r, r.randint(0, 5))} "
    ),
    "blank padding after a cue": _repeat(lambda r: "tel" + " " * r.randint(50, 400) + "x\n"),
    "one long identifier after a cue": lambda size, r: "MRN " + _digits(r, size - 5) + "é",
    "greetings and names": _repeat(lambda r: f"Dear {r.choice(_WORDS)}, "),
    "lines of a table": _repeat(
        lambda r: f"{r.choice(_WORDS).upper()} {_digits(r, 3)} {r.choice(_WORDS)}\n"
    ),
}


def _seconds(detector: Detector, texts: list[str]) -> float:
    """The fastest of ``texts`` (each new: the detector memoises words it has seen)."""
    best = float("inf")
    for text in texts:
        t0 = time.perf_counter()
        detect_long(detector, text)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10_000, help="characters of the small text")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    detector = Detector(DetectorConfig())
    for t in generate_pii_texts(28, seed=args.seed):  # every family loads what it loads lazily
        detector.detect(t.text)
    shapes = {}
    for name, make in SHAPES.items():
        rng = random.Random(args.seed)
        t_small = _seconds(detector, [make(args.size, rng) for _ in range(2)])
        t_large = _seconds(detector, [make(4 * args.size, rng) for _ in range(2)])
        shapes[name] = {
            "s_per_10k_chars": round(t_large / (4 * args.size) * 10_000, 4),
            "growth_4x": round(t_large / max(t_small, 1e-6), 2),
        }
    worst = max(shapes.values(), key=lambda s: s["s_per_10k_chars"])
    result = {
        "shapes": shapes,
        "worst_s_per_10k_chars": worst["s_per_10k_chars"],
        "worst_growth_4x": max(s["growth_4x"] for s in shapes.values()),
        "config": {"size": args.size, "seed": args.seed},
    }
    emit(result, compact=args.json, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
