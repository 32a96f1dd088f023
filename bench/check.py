"""`securetune check` speed: scored sequences per second, and a default check of the demo run.

    python bench/check.py --json              # the demo run (tiny preset, 240 notes, --canaries 64)
    python bench/check.py --json --skip-demo  # scoring throughput only

Throughput is measured on the tiny preset with a trained-shape adapter (LoRA on q/v): exposure
candidates (`suffix_nll`: prefix shared, only secret positions through the head) and full
sequences (`token_logprobs`, what membership inference scores). The demo part replays
examples/medical/demo.sh's run (scrub under hipaa-safe-harbor, DP at epsilon 8, seed 7) with
--canaries 64 in a temporary workspace and times `securetune check RUN --json` with every
default (10,000 references per canary). Results go to stdout and bench/results/check.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit

ROOT = Path(__file__).resolve().parents[1]


def throughput(candidates: int, device: str) -> dict:
    import torch

    from securetune.checks.scoring import Scorer
    from securetune.train.model import add_lora, load_base_model, quiet

    with quiet():
        loaded = load_base_model("tiny")
    model = add_lora(loaded.model, r=8, alpha=16, targets=("q_proj", "v_proj"), seed=0)
    scorer = Scorer(model.to(device), loaded.tokenizer, torch.device(device))
    tok = loaded.tokenizer
    prefix = "Verity Oakley's MRN is "
    gen = torch.Generator().manual_seed(0)
    secrets = [f"{int(x):09d}" for x in torch.randint(0, 10**9, (candidates,), generator=gen)]
    ids = [s[:-1] for s in tok([prefix + s for s in secrets])["input_ids"]]
    p = len(tok(prefix.strip())["input_ids"]) - 1
    start = time.perf_counter()
    scorer.suffix_nll(p, ids)
    cand_s = time.perf_counter() - start
    notes = [
        json.loads(x)["text"]
        for x in (ROOT / "examples/medical/notes.jsonl").read_text().splitlines()
    ]
    seqs = tok(notes, truncation=True, max_length=128)["input_ids"]
    start = time.perf_counter()
    scorer.token_logprobs(seqs)
    full_s = time.perf_counter() - start
    return {
        "candidates": candidates,
        "candidate_sequences_per_s": round(candidates / cand_s, 1),
        "full_sequences": len(seqs),
        "full_sequences_per_s": round(len(seqs) / full_s, 1),
        "mean_tokens_full": round(sum(map(len, seqs)) / len(seqs), 1),
    }


def demo_check() -> dict:
    st = [sys.executable, "-m", "securetune"]
    with tempfile.TemporaryDirectory(prefix="securetune-bench-check-") as tmp:
        env = {
            **os.environ,
            "SECURETUNE_WORKSPACE": f"{tmp}/ws",
            "SECURETUNE_WITNESS_DIR": f"{tmp}/witness",
        }

        def run(*args: str) -> str:
            return subprocess.run(
                [*st, *args], env=env, check=True, capture_output=True, text=True
            ).stdout

        run("init")
        run(
            "scrub",
            str(ROOT / "examples/medical/notes.jsonl"),
            "--policy",
            "hipaa-safe-harbor",
            "--name",
            "notes",
            "--id-field",
            "id",
            "--subject-field",
            "patient_id",
        )
        start = time.perf_counter()
        trained = json.loads(
            run(
                "train",
                "--data",
                "notes",
                "--model",
                "tiny",
                "--epsilon",
                "8",
                "--seed",
                "7",
                "--canaries",
                "64",
                "--json",
            )
        )
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        proc = subprocess.run(
            [*st, "check", trained["run_id"], "--json"], env=env, capture_output=True, text=True
        )
        check_s = time.perf_counter() - start
        result = json.loads(proc.stdout)
        return {
            "train_seconds": round(train_s, 1),
            "check_wall_seconds": round(check_s, 1),
            "check_exit_code": proc.returncode,
            "check_seconds_by_check": result["seconds_by_check"],
            "train_units": trained["train_units"],
            "references": result["parameters"]["references"],
            "exposure_canaries": result["parameters"]["exposure_canaries"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/check.json")
    args = parser.parse_args()
    import torch

    result = {
        "bench": "check",
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": args.device,
        "scoring": throughput(args.candidates, args.device),
    }
    if not args.skip_demo:
        result["demo"] = demo_check()
    emit(result, compact=args.json, out=args.out)


if __name__ == "__main__":
    main()
