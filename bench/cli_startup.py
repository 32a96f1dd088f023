"""Benchmark CLI start-up: wall time of `securetune --version`, `--help`, `data ls` and
`audit verify` on a small workspace, each a fresh process, as a user runs them.

Usage::

    .venv/bin/python bench/cli_startup.py --json [--repeat 7] [--out bench/results/cli_startup.json]

Targets (docs/ARCHITECTURE.md): ``--version`` and ``--help`` under 0.3 s, ``data ls`` and
``audit verify`` on a small workspace under 1 s. ``*_vs_bare_python`` divides by the time
of ``python -c pass`` measured in the same run, the ratio to compare across machines.
``*_cpu_s`` is the median CPU time (user + system) of the same runs: on a machine shared
with other jobs wall time includes waiting for a core, CPU time does not (``load_average``
says how busy the machine was). ``data_add`` is a write: it verifies the whole ledger
before it decides anything (docs/WORKSPACE.md), which costs little on a small workspace.
``heavy_modules`` lists any of torch/transformers/presidio/spacy a command imported
(must be empty).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import emit

COMMANDS = {
    "version": ["--version"],
    "help": ["--help"],
    "data_ls": ["data", "ls"],
    "audit_verify": ["audit", "verify"],
    "data_add": ["data", "add", "{notes}", "-n", "{name}"],
}
HEAVY = ("torch", "transformers", "presidio_analyzer", "spacy")
_HEAVY_PROBE = (
    "import sys, runpy; sys.argv = ['securetune', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('securetune', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    f"print('heavy:' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
)


def _time(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one fresh process."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def run(repeat: int) -> dict[str, object]:
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="securetune-bench-cli-") as tmp:
        root = Path(tmp)
        env = {
            **os.environ,
            "SECURETUNE_WORKSPACE": str(root / "ws"),
            "SECURETUNE_WITNESS_DIR": str(root / "witness"),
        }
        notes = root / "notes.jsonl"
        notes.write_text(
            "".join(json.dumps({"id": i, "text": f"note {i}"}) + "\n" for i in range(20))
        )
        cli = [python, "-m", "securetune"]
        subprocess.run([*cli, "init"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*cli, "data", "add", str(notes), "-n", "notes"],
            env=env,
            check=True,
            capture_output=True,
        )
        bare = statistics.median(_time([python, "-c", "pass"], env)[0] for _ in range(repeat))
        result: dict[str, object] = {
            "bare_python_s": round(bare, 4),
            "load_average": round(os.getloadavg()[0], 2),
        }
        added = iter(range(10_000))
        for name, template in COMMANDS.items():

            def argv(template: list[str] = template) -> list[str]:
                fill = {"notes": str(notes), "name": f"copy-{next(added)}"}
                return [*cli, *(a.format(**fill) for a in template)]

            _time(argv(), env)  # warm the page cache and bytecode
            timed = [_time(argv(), env) for _ in range(repeat)]
            runs = [wall for wall, _ in timed]
            median = statistics.median(runs)
            args = argv()[len(cli) :]
            probe = subprocess.run(
                [python, "-c", _HEAVY_PROBE, *args], env=env, capture_output=True, text=True
            )
            result[f"{name}_s"] = round(median, 4)
            result[f"{name}_runs_s"] = [round(t, 4) for t in runs]
            result[f"{name}_cpu_s"] = round(statistics.median(cpu for _, cpu in timed), 4)
            result[f"{name}_vs_bare_python"] = round(median / bare, 2)
            loaded = probe.stderr.strip().splitlines()[-1].removeprefix("heavy:")
            result[f"{name}_heavy_modules"] = [m for m in loaded.split(",") if m]
    result["config"] = {
        "repeat": repeat,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "targets_s": {"version": 0.3, "help": 0.3, "data_ls": 1.0, "audit_verify": 1.0},
        "data_add": "each run adds the same 20 records under a new name (a write)",
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (median reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on one line")
    parser.add_argument("--out", type=Path, default=Path("bench/results/cli_startup.json"))
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    emit(run(args.repeat), compact=args.json, out=args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
