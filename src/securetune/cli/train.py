"""``securetune train`` and ``securetune plan``: DP-LoRA fine-tuning under a privacy budget."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

from securetune.cli.context import AppContext, emit, pass_app
from securetune.errors import TrainingError
from securetune.train.config import TrainConfig


def _shared_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options that mean the same to plan and train (plan ignores the model-only ones)."""
    options = [
        click.option("--data", help="Dataset name (see: securetune data ls)."),
        click.option(
            "--model",
            default="tiny",
            show_default=True,
            help="'tiny' (built-in, random weights, offline), a local model directory, or a hub id in the local cache. Never downloads.",
        ),
        click.option(
            "--epsilon",
            help="Target epsilon for the whole run (required unless --no-dp).",
        ),
        click.option(
            "--delta",
            help="Target delta. Default: min(1e-5, 1/(10 N)), N = training units; refused at or "
            "above 1/N, and above 1/(10 N) unless --allow-large-delta.",
        ),
        click.option(
            "--allow-large-delta",
            is_flag=True,
            help="Accept an explicit --delta above 1/(10 N) (it must still be below 1/N).",
        ),
        click.option("--epochs", default="1", show_default=True, help="Passes over the data."),
        click.option(
            "--batch-size",
            default="16",
            show_default=True,
            help="Expected logical batch. Poisson sampling includes each unit with rate "
            "1/ceil(N/batch), N = training units (at most batch/N).",
        ),
        click.option(
            "--max-physical-batch",
            default="8",
            show_default=True,
            help="Largest batch through the model at once; lower it on out-of-memory.",
        ),
        click.option("--lr", default="2e-3", show_default=True, help="Peak learning rate."),
        click.option("--lora-r", default="8", show_default=True, help="LoRA rank."),
        click.option("--lora-alpha", default="16", show_default=True, help="LoRA alpha."),
        click.option(
            "--lora-targets",
            default="q_proj,v_proj",
            show_default=True,
            help="Comma-separated module names to adapt.",
        ),
        click.option(
            "--max-grad-norm",
            default="1.0",
            show_default=True,
            help="Per-unit clipping bound C.",
        ),
        click.option(
            "--accountant",
            help="prv or rdp (Opacus, add/remove only) or pld (Google dp-accounting). "
            "Default: prv, or pld with --neighbours replace-one.",
        ),
        click.option(
            "--neighbours",
            default="add-remove",
            show_default=True,
            help="What epsilon bounds: adding or removing one unit (add-remove), or replacing "
            "one (replace-one; accounted with pld; N is then public).",
        ),
        click.option(
            "--privacy-unit",
            type=click.Choice(["auto", "record", "subject"]),
            default="auto",
            show_default=True,
            help="What epsilon protects. auto: subject when the dataset has a subject field.",
        ),
        click.option(
            "--clipping",
            type=click.Choice(["hooks", "ghost"]),
            default="hooks",
            show_default=True,
            help="Per-sample gradients via hooks, or Opacus ghost clipping (less memory).",
        ),
        click.option("--max-length", default="128", show_default=True, help="Tokens per example."),
        click.option(
            "--early-stopping-patience",
            help="Epochs without validation improvement before stopping; 0 disables. Default: 2, "
            "or 0 when the policy forbids validation-based early stopping.",
        ),
        click.option(
            "--text-field",
            "text_fields",
            multiple=True,
            help="Field(s) to train on. Default: as scrubbed, else 'text'.",
        ),
        click.option(
            "--format",
            "data_format",
            type=click.Choice(["auto", "text", "prompt-completion", "chat"]),
            default="auto",
            show_default=True,
            help="How records become training examples. text: the text fields, all trained; "
            "prompt-completion: 'prompt' and 'completion', loss on the completion only; chat: "
            "'messages', loss on assistant turns only. auto: from the dataset's fields.",
        ),
        click.option(
            "--subject-field",
            help="Field naming the subject (e.g. patient id). Default: as scrubbed.",
        ),
        click.option(
            "--seed",
            default="0",
            show_default=True,
            help="Seeds the split and LoRA init. DP noise, Poisson sampling and a subject's "
            "record choice never use it (os.urandom).",
        ),
        click.option(
            "--no-dp",
            is_flag=True,
            help="Non-private baseline: recorded as such; a policy can forbid it.",
        ),
        click.option(
            "--allow-unscrubbed",
            is_flag=True,
            help="Train on an unscrubbed dataset (ledgered and flagged).",
        ),
        click.option(
            "--policy",
            help="Policy whose training rules apply. Default: the dataset's scrub policy.",
        ),
        click.option(
            "--json", "as_json", is_flag=True, help="Print the result as one JSON object."
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _config(kw: dict[str, Any]) -> TrainConfig:
    if not kw.get("data"):
        raise TrainingError("--data is required (or --resume RUN)")
    targets = tuple(t.strip() for t in kw["lora_targets"].split(",") if t.strip())
    accountant = kw["accountant"] or ("pld" if kw["neighbours"] == "replace-one" else "prv")
    # Values go to TrainConfig as typed: pydantic parses them, and a bad one is one line
    # naming the field (click's own type errors print a usage block).
    return TrainConfig(
        data=kw["data"],
        model=kw["model"],
        epsilon=kw["epsilon"],
        delta=kw["delta"],
        allow_large_delta=kw["allow_large_delta"],
        epochs=kw["epochs"],
        batch_size=kw["batch_size"],
        max_physical_batch=kw["max_physical_batch"],
        lr=kw["lr"],
        lora_r=kw["lora_r"],
        lora_alpha=kw["lora_alpha"],
        lora_targets=targets,
        max_grad_norm=kw["max_grad_norm"],
        accountant=accountant,
        neighbours=kw["neighbours"],
        privacy_unit=kw["privacy_unit"],
        clipping=kw["clipping"],
        device=kw.get("device", "auto"),
        seed=kw["seed"],
        max_length=kw["max_length"],
        early_stopping_patience=kw["early_stopping_patience"],
        text_fields=tuple(kw["text_fields"]) or None,
        format=None if kw["data_format"] == "auto" else kw["data_format"],
        subject_field=kw["subject_field"],
        no_dp=kw["no_dp"],
        allow_unscrubbed=kw["allow_unscrubbed"],
        policy=kw["policy"],
    )


@click.command("train")
@_shared_options
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="auto: CUDA (bf16 autocast) when present, else CPU.",
)
@click.option(
    "--resume",
    "resume",
    metavar="RUN",
    help="Continue a run from its last checkpoint (its saved config applies).",
)
@click.option(
    "--abandon",
    metavar="RUN",
    help="End a resumable run for good: crypto-shred its resume secrets (noise and sampling "
    "states) and charge what its last checkpoint spent.",
)
@click.option(
    "--canaries",
    "canary_count",
    type=int,
    default=0,
    show_default=True,
    help="Plant M secret canaries (each included with p=1/2) for `securetune check`. 0: none.",
)
@click.option(
    "--canary-repetitions",
    type=int,
    default=1,
    show_default=True,
    help="Copies of each included canary.",
)
@pass_app
def train(
    app: AppContext,
    as_json: bool,
    resume: str | None,
    abandon: str | None,
    canary_count: int,
    canary_repetitions: int,
    **kw: Any,
) -> None:
    """Fine-tune LoRA adapters with DP-SGD (Opacus) under a target (epsilon, delta).

    \b
    securetune train --data notes-clean --model tiny --epsilon 8
    securetune train --resume RUN_ID
    securetune train --abandon RUN_ID
    """
    from securetune.train.loop import abandon_run, train_run

    ws = app.open()
    if abandon:
        ended = abandon_run(ws, abandon)
        emit(
            ended,
            as_json=as_json,
            human=f"Run {abandon} abandoned: resume secrets destroyed, "
            f"charged epsilon {ended['epsilon_spent']:.3f} ({ended['steps']} steps released)",
        )
        return
    cfg = None if resume else _config(kw)
    canaries = None
    if canary_count and not resume:
        from securetune.train.canaries import CanaryOptions

        canaries = CanaryOptions(count=canary_count, repetitions=canary_repetitions)
    if cfg is not None and cfg.allow_unscrubbed:
        app.err.print(
            "warning: --allow-unscrubbed: this run is flagged in the ledger and in every report"
        )
    if cfg is not None and cfg.no_dp:
        app.err.print(
            "warning: --no-dp: a NON-PRIVATE baseline; the adapter carries no privacy guarantee"
        )
    with app.progress("training (steps)") as advance:
        result = train_run(
            ws, cfg, resume=resume, on_step=lambda done, _total: advance(done), canaries=canaries
        )
    if result.delta_defaulted:
        app.err.print(
            f"note: delta defaulted to {result.delta:.3g} (< 1/N for N = {result.train_units} training {result.privacy_unit}s)"
        )
    if result.clipped_fraction is not None:
        app.err.print(
            f"clipped per-sample gradients in the last epoch: {result.clipped_fraction:.0%}"
        )
    doc = dataclasses.asdict(result)
    if result.dp:
        human = (
            f"Run {result.run_id}: DP-LoRA on {result.dataset}, stopped: {result.stopped}\n"
            f"  privacy:  epsilon {result.epsilon_spent:.3f} spent of {result.epsilon_target:g}, delta {result.delta:.3g}, "
            f"protects {result.protects} ({result.accountant} accountant)\n"
            f"  noise:    multiplier {result.noise_multiplier:.4f}, sample rate {result.sample_rate:.4f}, "
            f"{result.steps} steps, clip C={result.max_grad_norm:g}, {result.clipping} clipping\n"
            f"  data:     {_data_line(result.format, result.truncated_examples)}\n"
            f"  loss:     train {_f(result.train_loss)}, validation {_f(result.validation_loss)}\n"
            f"  adapter:  {result.adapter_dir}{' (encrypted)' if result.adapter_encrypted else ''}\n"
            f"  not covered by epsilon: {', '.join(result.non_private_outputs)}"
        )
    else:
        human = (
            f"Run {result.run_id}: NON-PRIVATE baseline on {result.dataset} ({result.steps} steps)\n"
            f"  data:     {_data_line(result.format, result.truncated_examples)}\n"
            f"  loss:     train {_f(result.train_loss)}, validation {_f(result.validation_loss)}\n"
            f"  adapter:  {result.adapter_dir}"
        )
    emit(doc, as_json=as_json, human=human)


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _data_line(fmt: str, truncated: int) -> str:
    return f"{fmt} format, {truncated} example(s) cut at --max-length"


@click.command("plan")
@_shared_options
@pass_app
def plan(app: AppContext, as_json: bool, **kw: Any) -> None:
    """Show the noise multiplier, steps, sample rate and time/memory estimates; trains nothing.

    \b
    securetune plan --data notes-clean --epsilon 8 --epochs 3
    """
    from securetune.train.plan import estimate, prepare

    ws = app.open()
    prepared = prepare(ws, _config(kw))
    result = estimate(ws, prepared)
    r = result
    noise = "none (non-private)" if r.noise_multiplier is None else f"{r.noise_multiplier:.4f}"
    human = (
        f"Plan for {r.dataset}: {r.train_units} training {r.privacy_unit}s, {r.validation_units} held out\n"
        f"  budget:   epsilon {r.epsilon_target}, delta {r.delta if r.delta is None else format(r.delta, '.3g')}"
        f"{' (default, < 1/N)' if r.delta_defaulted else ''}, {r.accountant} accountant, "
        f"{r.neighbours} neighbours\n"
        f"  noise:    multiplier {noise}, sample rate {r.sample_rate:.4f}, "
        f"{r.steps} steps ({r.steps_per_epoch}/epoch x {r.epochs})\n"
        f"  data:     {_data_line(r.format, r.truncated_examples)}; {r.mean_tokens:g} tokens "
        f"on average, {r.max_tokens} at most\n"
        f"  model:    {r.model}, {r.model_parameters:,} parameters, {r.trainable_parameters:,} trainable\n"
        f"  estimate: ~{r.estimated_seconds:.0f} s on cpu, peak ~{r.estimated_peak_memory_mb:.0f} MB ({r.estimate_method})\n"
        f"  not covered by epsilon: {', '.join(r.non_private_outputs)}"
    )
    emit(dataclasses.asdict(result), as_json=as_json, human=human)
