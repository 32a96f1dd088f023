"""`securetune eval` of a DP run and a --no-dp run of the same data: what privacy costs.

    python bench/eval_utility.py --json                       # the synthetic task if present, else the notes
    python bench/eval_utility.py --data examples/medical/notes.jsonl --json

In a temporary workspace, through the CLI (the commands are listed in the result):
scrub the data under a copy of hipaa-safe-harbor that allows a non-private baseline
(`allow_no_dp: true` and no lifetime cap, which any --no-dp run would exceed; saved as the
workspace policy `hipaa-with-baseline`), train MiniLM
with DP-SGD (epsilon 8) and then with --no-dp (same seed, so the same held-out patients),
and evaluate both. The held-out numbers compare
base model, DP adapter and non-private adapter on the same patients; times are wall seconds
and CPU seconds (user + system, which a busy machine inflates less) of each command.
Results go to stdout and bench/results/eval_utility.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit

ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "examples/medical/summaries.jsonl"
NOTES = ROOT / "examples/medical/notes.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--data", type=Path, default=TASK if TASK.exists() else NOTES)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--epochs", default="2")
    parser.add_argument("--epsilon", default="8")
    parser.add_argument("--max-length", default="128")
    parser.add_argument("--samples", default="32")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/eval_utility.json")
    args = parser.parse_args()
    targets = "query,value,dense" if args.model == "minilm" else "q_proj,v_proj"
    st = [sys.executable, "-m", "securetune"]
    commands: list[str] = []
    seconds: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}  # user + system: less sensitive to a busy machine
    with tempfile.TemporaryDirectory(prefix="securetune-bench-eval-") as tmp:
        env = {
            **os.environ,
            "SECURETUNE_WORKSPACE": f"{tmp}/ws",
            "SECURETUNE_WITNESS_DIR": f"{tmp}/witness",
        }

        def run(label: str, *cli: str) -> str:
            commands.append("securetune " + " ".join(cli))
            start, cpu = time.perf_counter(), _children_cpu()
            proc = subprocess.run([*st, *cli], env=env, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"`{commands[-1]}` failed: {proc.stderr.strip().splitlines()[-1]}")
            out = proc.stdout
            seconds[label] = round(time.perf_counter() - start, 1)
            cpu_seconds[label] = round(_children_cpu() - cpu, 1)
            return out

        run("init", "init")
        policy = (ROOT / "policies/hipaa-safe-harbor.yaml").read_text()
        policy = policy.replace("name: hipaa-safe-harbor", "name: hipaa-with-baseline")
        policy = policy.replace("allow_no_dp: false", "allow_no_dp: true")
        policy = policy.replace("lifetime_epsilon: 20", "lifetime_epsilon: null")
        (Path(tmp) / "ws/policies").mkdir(exist_ok=True)
        (Path(tmp) / "ws/policies/hipaa-with-baseline.yaml").write_text(policy)
        commands.append(
            "# ws/policies/hipaa-with-baseline.yaml: hipaa-safe-harbor with allow_no_dp: true, "
            "lifetime_epsilon: null"
        )
        run(
            "scrub",
            "scrub",
            str(args.data.relative_to(ROOT) if args.data.is_relative_to(ROOT) else args.data),
            "--policy",
            "hipaa-with-baseline",
            "--name",
            "data",
            "--id-field",
            "id",
            "--subject-field",
            "patient_id",
            *[x for f in _text_fields(args.data) for x in ("--text-field", f)],
        )
        common = ["--data", "data", "--model", args.model, "--lora-targets", targets]
        common += [
            "--epochs",
            args.epochs,
            "--max-length",
            args.max_length,
            "--seed",
            "7",
            "--json",
        ]
        dp = json.loads(run("train_dp", "train", *common, "--epsilon", args.epsilon))
        nodp = json.loads(run("train_nodp", "train", *common, "--no-dp"))
        dp_eval = json.loads(
            run("eval_dp", "eval", dp["run_id"], "--samples", args.samples, "--json")
        )
        nodp_eval = json.loads(
            run("eval_nodp", "eval", nodp["run_id"], "--samples", args.samples, "--json")
        )
    # the commands ran with cwd at the repository root
    result = {
        "data": str(args.data.relative_to(ROOT) if args.data.is_relative_to(ROOT) else args.data),
        "model": args.model,
        "commands": commands,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "dp": {
            "epsilon": dp["epsilon_spent"],
            "train_units": dp["train_units"],
            "eval": _numbers(dp_eval),
        },
        "nodp": {"eval": _numbers(nodp_eval)},
        "baseline_found": dp_eval["baseline_run_id"] == nodp["run_id"],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    emit(result, compact=args.json, out=args.out)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _text_fields(path: Path) -> list[str]:
    """What scrub must scan: a prompt/completion pair's two fields, else ``text``."""
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    return ["prompt", "completion"] if "prompt" in first else ["text"]


def _numbers(r: dict) -> dict:
    keep = ("format", "heldout", "generation", "forgetting", "seconds", "device")
    return {k: r[k] for k in keep}


if __name__ == "__main__":
    main()
