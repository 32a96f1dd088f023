"""``securetune eval RUN``: is the trained model any good, compared with the base and a baseline?"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from securetune.cli.context import AppContext, emit, pass_app


@click.command("eval")
@click.argument("run_id", metavar="RUN")
@click.option(
    "--data",
    metavar="DATASET",
    help="Also score every record of this dataset (read with the run's field options).",
)
@click.option(
    "--baseline",
    metavar="RUN",
    help="Compare with this run. Default: the latest finished --no-dp run of the same data, "
    "base model and held-out units, if the ledger has one.",
)
@click.option("--no-baseline", is_flag=True, help="Do not look for a baseline run.")
@click.option(
    "--samples",
    type=int,
    default=32,
    show_default=True,
    help="Held-out prompts to complete and score with ROUGE-L and exact match "
    "(prompt/completion runs; 0: none).",
)
@click.option(
    "--max-new-tokens",
    type=int,
    default=None,
    help="Longest generated completion. Default: as long as the longest sampled reference.",
)
@click.option(
    "--bootstrap",
    type=int,
    default=1000,
    show_default=True,
    help="Bootstrap rounds for the intervals on loss differences.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seeds sample choice and bootstrap."
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where to score (auto: a GPU when there is one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_app
def eval_command(app: AppContext, run_id: str, no_baseline: bool, as_json: bool, **kw: Any) -> None:
    """Loss, perplexity, generations and forgetting of a run's adapter against the base model
    and a non-private baseline, on the run's held-out units.

    \b
    securetune eval RUN_ID
    securetune eval RUN_ID --data other-notes --json
    """
    from securetune.evaluation.runner import EvalOptions, evaluate_run

    options = EvalOptions(find_baseline=not no_baseline, **kw)
    ws = app.open()
    with _progress(app) as update:
        result = evaluate_run(ws, run_id, options, progress=update)
    for line in _notes(result):
        app.err.print(f"note: {line}", markup=False)
    emit({k: v for k, v in result.items() if k != "details"}, as_json=as_json, human=_human(result))


@contextmanager
def _progress(app: AppContext) -> Iterator[Any]:
    """One bar per stage (held-out scoring, --data, generation, the probe) on stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=app.err,
        transient=True,
        disable=not app.err.is_terminal,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _notes(r: dict[str, Any]) -> list[str]:
    out = []
    if r["dp"] and r["baseline_run_id"] is None:
        out.append(
            "no non-private baseline: train one with --no-dp on the same data and seed "
            "(or pass --baseline RUN) to see what privacy costs"
        )
    if r["generation_skipped"]:
        out.append(f"no generations scored: {r['generation_skipped']}")
    return out


def _v(x: Any, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _ci(d: dict[str, Any] | None) -> str:
    if not d or d["loss"] is None:
        return "n/a"
    ci = d["ci"]
    interval = "" if ci is None else f" (95% CI {ci[0]:+.4f} to {ci[1]:+.4f})"
    return f"{d['loss']:+.4f}{interval}"


def _human(r: dict[str, Any]) -> str:
    kind = f"DP, epsilon {_v(r['epsilon'])}" if r["dp"] else "NON-PRIVATE"
    lines = [f"Eval {r['eval_id']} of run {r['run_id']} ({kind}, {r['format']}, {r['seconds']} s)"]
    names = ["base", "adapter"] + (["baseline"] if r["baseline_run_id"] else [])
    if r["baseline_run_id"]:
        lines.append(f"  baseline: run {r['baseline_run_id']} (--no-dp or --baseline)")
    for title, section in (
        ("held-out", r["heldout"]),
        (f"--data {r['parameters']['data']}", r["other"]),
    ):
        if section is None:
            continue
        lines.append(
            f"  {title} ({section['units']} units, {section['base']['tokens']} tokens): perplexity "
            + ", ".join(f"{n} {_v(section[n]['perplexity'])}" for n in names)
        )
        lines.append(f"    loss adapter - base {_ci(section['adapter_minus_base'])}")
        if section.get("adapter_minus_baseline"):
            lines.append(f"    loss adapter - baseline {_ci(section['adapter_minus_baseline'])}")
    g = r["generation"]
    if g:
        lines.append(
            f"  generations ({g['samples']} held-out prompts): ROUGE-L "
            + ", ".join(f"{n} {_v(g[n]['rouge_l'], 3)}" for n in names)
            + "; exact match "
            + ", ".join(f"{n} {_v(g[n]['exact_match'], 3)}" for n in names)
        )
    f = r["forgetting"]
    lines.append(
        f"  forgetting probe ({f['base']['tokens']} tokens of general English): perplexity base "
        f"{_v(f['base']['perplexity'])}, adapter {_v(f['adapter']['perplexity'])} "
        f"(x{_v(f['perplexity_ratio'], 3)})"
    )
    return "\n".join(lines)
