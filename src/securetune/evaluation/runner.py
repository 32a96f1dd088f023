"""``evaluate_run``: base model, adapter and non-private baseline on the run's held-out units.

The run is reopened exactly as ``check`` reopens it (:func:`securetune.train.reopen.reopen_run`:
config, dataset content, split, canaries, policy and adapter re-hashed against the ledger),
so its held-out units are the ones it never trained on. One copy of the base model carries
the run's adapter and, when there is one, the baseline's; the base model is the same
weights with every adapter switched off.

A result holds aggregates, parameters and versions. Per-unit numbers are kept only in the
run directory (encrypted when the run is); no record text and no generated text is kept
anywhere. The ``eval.result`` event lists which of its numbers the run's privacy guarantee
does not cover (``non_private_outputs``).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from securetune import __version__
from securetune.errors import TrainingError
from securetune.workspace import Workspace

EVAL_EVENT = "eval.result"
ADAPTER = "default"  # peft's name for the run's own adapter
BASELINE = "baseline"
MODELS = {"base": "base", "adapter": ADAPTER, "baseline": BASELINE}
"""Result key -> what :func:`securetune.evaluation.score.using` switches to."""

GENERATIVE = ("prompt-completion", "chat")
"""Formats whose records end in a completion to generate (a chat's last assistant turn)."""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: what the CLI turns into a progress bar."""


class EvalError(TrainingError):
    """A run cannot be evaluated as asked (a bad option or baseline)."""


@dataclass(frozen=True)
class EvalOptions:
    data: str | None = None  # another dataset to score as well
    baseline: str | None = None  # a run to compare with; default: found in the ledger
    find_baseline: bool = True
    samples: int = 32  # held-out prompts to generate completions for (0: none)
    max_new_tokens: int | None = None  # None: the longest sampled reference completion
    bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name, low in (("samples", 0), ("max_new_tokens", 1), ("bootstrap", 1)):
            if getattr(self, name) is not None and getattr(self, name) < low:
                raise EvalError(f"eval option {name} must be at least {low}")
        if not 0.5 <= self.confidence < 1:
            raise EvalError("eval option confidence must lie in [0.5, 1)")


def evaluate_run(
    ws: Workspace,
    run_id: str,
    options: EvalOptions | None = None,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    from securetune.train.model import quiet

    options = options or EvalOptions()
    with quiet():
        return _evaluate(ws, run_id, options, progress or (lambda stage, done, total: None))


def _evaluate(
    ws: Workspace, run_id: str, options: EvalOptions, progress: Progress
) -> dict[str, Any]:
    from securetune.evaluation.encode import encode_corpus
    from securetune.train.reopen import add_run_adapter, load_run_model, reopen_run

    started = time.perf_counter()
    run = reopen_run(ws, run_id, purpose="evaluated")
    baseline, found = _baseline(ws, run, options)
    other_corpus = _load_other(ws, run, options.data) if options.data is not None else None
    model, tokenizer, device = load_run_model(run, device=options.device)
    if baseline is not None:
        add_run_adapter(model, baseline, BASELINE)
    models = [m for m in MODELS if m != "baseline" or baseline is not None]
    scorer = _Scorer(model, tokenizer, device, models, progress)
    records = encode_corpus(tokenizer, run.corpus, run.config.max_length)
    units = [u for u in run.split.validation if all(i < run.dataset_records for i in u)]
    heldout, heldout_units = scorer.losses("held-out", records, units, options)
    other = other_units = None
    if other_corpus is not None:
        other, other_units = _other(run, other_corpus, options, scorer, tokenizer)
    fmt = run.corpus.format
    generation, generation_note = None, None
    if fmt not in GENERATIVE:
        generation_note = f"{fmt} records have no prompt to complete"
    elif options.samples == 0:
        generation_note = "--samples 0"
    else:
        generation = scorer.generation(records, units, options, tokenizer)
    from securetune.evaluation.probe import probe_records, probe_sha256

    probe, _ = scorer.losses(
        "forgetting probe",
        probe_records(tokenizer, run.config.max_length),
        None,
        options,
    )
    forgetting = {
        "probe_sha256": probe_sha256(),
        **{k: probe[k] for k in ("sequences", *MODELS, "adapter_minus_base")},
        "perplexity_ratio": _ratio(probe["adapter"], probe["base"]),
        "baseline_perplexity_ratio": _ratio(probe.get("baseline"), probe["base"]),
    }
    result: dict[str, Any] = {
        "run_id": run_id,
        "eval_id": f"{ws.clock().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}",
        "dp": run.dp,
        "epsilon": run.finish.get("epsilon_spent"),
        "delta": run.finish.get("delta"),
        "model_id": run.start.get("model_id"),
        "dataset": run.start.get("dataset"),
        "dataset_content_sha256": run.start.get("dataset_content_sha256"),
        "format": fmt,
        "baseline_run_id": baseline.run_id if baseline is not None else None,
        "baseline_found": found,
        "heldout": heldout,
        "other": other,
        "generation": generation,
        "generation_skipped": generation_note,
        "forgetting": forgetting,
        "non_private_outputs": non_private_outputs(run.dp, baseline is not None),
        "parameters": {
            k: v for k, v in asdict(options).items() if k not in ("device", "find_baseline")
        },
        "device": str(device),
        "versions": _versions(),
        "seconds": round(time.perf_counter() - started, 2),
        # Per-unit numbers: kept in the (encrypted) run directory, never in the ledger.
        "details": {"heldout_units": heldout_units, "other_units": other_units},
    }
    _save(ws, run, result)
    return result


def non_private_outputs(dp: bool, has_baseline: bool) -> list[str]:
    """Which outputs the run's (epsilon, delta) guarantee does not cover.

    Held-out and ``--data`` numbers are computed from records directly (the base model's
    too), without noise; generations come from held-out prompts; the baseline adapter has
    no guarantee at all. Only the adapter's (and the base model's) numbers on the public
    probe are functions of the DP adapter alone.
    """
    if not dp:
        return ["everything (non-private run: the adapter carries no guarantee)"]
    out = ["heldout", "other", "generation", "details (run directory, per unit)"]
    if has_baseline:
        out += ["forgetting.baseline", "forgetting.baseline_perplexity_ratio"]
    return out


def _ratio(a: dict[str, Any] | None, b: dict[str, Any]) -> float | None:
    if a is None or a["loss"] is None or b["loss"] is None:
        return None
    import math

    return math.exp(min(700.0, a["loss"] - b["loss"]))


class _Scorer:
    """Scores record sets with each model in turn and reports progress by stage."""

    def __init__(
        self, model: Any, tokenizer: Any, device: Any, models: list[str], progress: Progress
    ) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.models, self.progress = models, progress

    def losses(
        self,
        stage: str,
        records: Sequence[Any],
        units: list[list[int]] | None,
        options: EvalOptions,
    ) -> tuple[dict[str, Any], dict[str, list[list[float]]]]:
        """Pooled loss per model on ``units`` (lists of record positions; ``None``: every
        record its own unit), differences with bootstrap intervals, and per-unit rows."""
        import numpy as np

        from securetune.evaluation.metrics import by_unit, difference, pooled
        from securetune.evaluation.score import masked_nll, using

        units = units if units is not None else [[i] for i in range(len(records))]
        positions = sorted({i for u in units for i in u})
        row = {p: k for k, p in enumerate(positions)}
        chosen = [records[p] for p in positions]
        rows = [[row[i] for i in u] for u in units]
        per_unit: dict[str, np.ndarray] = {}
        total = len(chosen) * len(self.models)
        for k, name in enumerate(self.models):
            with using(self.model, MODELS[name]):
                nll = masked_nll(
                    self.model,
                    chosen,
                    pad_id=self.tokenizer.pad_token_id,
                    device=self.device,
                    progress=lambda done, k=k: self.progress(stage, k * len(chosen) + done, total),
                )
            per_unit[name] = by_unit(nll, rows)
        out: dict[str, Any] = {
            "units" if stage != "forgetting probe" else "sequences": len(units),
            "records": len(chosen),
        }
        for name in MODELS:
            out[name] = pooled(per_unit[name]) if name in per_unit else None
        for a, b in (("adapter", "base"), ("adapter", "baseline"), ("baseline", "base")):
            key = f"{a}_minus_{b}"
            out[key] = (
                difference(
                    per_unit[a],
                    per_unit[b],
                    rounds=options.bootstrap,
                    confidence=options.confidence,
                    seed=options.seed,
                )
                if a in per_unit and b in per_unit
                else None
            )
        details = {name: np.round(v, 6).tolist() for name, v in per_unit.items()}
        return out, details

    def generation(
        self,
        records: Sequence[Any],
        units: list[list[int]],
        options: EvalOptions,
        tokenizer: Any,
    ) -> dict[str, Any] | None:
        """Greedy completions of up to ``samples`` held-out prompts, by each model."""
        from securetune.evaluation.encode import completion, prompt_length
        from securetune.evaluation.metrics import exact_match, rouge_l
        from securetune.evaluation.score import greedy, using

        lengths = {i: prompt_length(records[i].labels) for u in units for i in u}
        candidates = sorted(i for i, n in lengths.items() if 0 < n < len(records[i].input_ids))
        random.Random(options.seed).shuffle(candidates)
        chosen = sorted(candidates[: options.samples])
        if not chosen:
            return None
        prompts = [records[i].input_ids[: lengths[i]] for i in chosen]
        references = [_decode(tokenizer, completion(records[i].labels)) for i in chosen]
        eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else None
        if eos is None:
            eos = getattr(tokenizer, "sep_token_id", None)
        # Greedy decoding from a model that never emits the end token runs to the limit, so
        # the default limit is what the longest reference needs (its end token included).
        limit = options.max_new_tokens or max(len(completion(records[i].labels)) for i in chosen)
        out: dict[str, Any] = {"samples": len(chosen), "max_new_tokens": limit}
        total = len(chosen) * len(self.models)
        for k, name in enumerate(self.models):
            with using(self.model, MODELS[name]):
                generated = greedy(
                    self.model,
                    prompts,
                    max_new_tokens=limit,
                    eos_id=eos,
                    pad_id=tokenizer.pad_token_id,
                    device=self.device,
                    progress=lambda done, k=k: self.progress(
                        "generating", k * len(chosen) + done, total
                    ),
                )
            texts = [_decode(tokenizer, g) for g in generated]
            out[name] = {
                "rouge_l": rouge_l(texts, references),
                "exact_match": exact_match(texts, references),
            }
            del texts, generated  # generated text is never kept
        for name in MODELS:
            out.setdefault(name, None)
        return out


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    # References pass through the tokenizer like generations do, so an uncased or lossy
    # tokenizer does not count as a model error.
    return str(tokenizer.decode(list(ids), skip_special_tokens=True))


def _load_other(ws: Workspace, run: Any, name: str) -> Any:
    """``--data``: another dataset, read with the run's field options and format, held to the run's
    rule on scrubbing (a run trained under "scrubbed data only" is not scored on raw notes)."""
    from securetune.train.data import load_corpus
    from securetune.train.formats import scrubbed_for_training, unscanned_fields

    corpus = load_corpus(
        ws,
        name,
        text_fields=run.config.text_fields,
        subject_field=run.config.subject_field,
        fmt=run.corpus.format,
    )
    rules = run.start.get("training_rules") or {}
    required = rules.get("require_scrubbed", True) and not run.start.get("allow_unscrubbed")
    if required and not scrubbed_for_training(corpus):
        state = (
            f"was not scrubbed in {', '.join(unscanned_fields(corpus))}"
            if corpus.manifest.scrubbed
            else "is not scrubbed"
        )
        raise EvalError(
            f"--data {name} {state}, and run {run.run_id} was trained under rules "
            "that require scrubbed data; scrub it first"
        )
    return corpus


def _other(
    run: Any, corpus: Any, options: EvalOptions, scorer: _Scorer, tokenizer: Any
) -> tuple[dict[str, Any], dict[str, list[list[float]]]]:
    """Every record of the ``--data`` dataset; its units are its subjects when it names
    them, else its records."""
    from securetune.evaluation.encode import encode_corpus

    records = encode_corpus(tokenizer, corpus, run.config.max_length)
    if corpus.subjects is None:
        units = [[i] for i in range(len(records))]
    else:
        groups: dict[str, list[int]] = {}
        for i, subject in enumerate(corpus.subjects):
            groups.setdefault(subject, []).append(i)
        units = list(groups.values())
    out, details = scorer.losses(f"dataset {options.data}", records, units, options)
    out["dataset"] = corpus.manifest.name
    out["dataset_content_sha256"] = corpus.manifest.content_sha256
    out["trained_on"] = corpus.manifest.content_sha256 == run.start["dataset_content_sha256"]
    return out, details


def _baseline(ws: Workspace, run: Any, options: EvalOptions) -> tuple[Any, str | None]:
    """The run to compare with: ``--baseline``, else the latest finished ``--no-dp`` run of
    the same dataset content and base model whose held-out units are this run's (a baseline
    that trained on them would look better than it is)."""
    from securetune.train import budget
    from securetune.train.reopen import reopen_run

    if options.baseline is not None:
        if options.baseline == run.run_id:
            raise EvalError("--baseline names the run being evaluated")
        other = reopen_run(ws, options.baseline, purpose="used as a baseline")
        problem = _mismatch(run, other)
        if problem:
            raise EvalError(f"--baseline {options.baseline}: {problem}")
        return other, "option"
    if not options.find_baseline or not run.dp:
        return None, None
    start = run.start
    for candidate in reversed(list(budget.runs_in_ledger(ws).values())):
        s = candidate.start
        if (
            candidate.finish is None
            or not s.get("no_dp")
            or candidate.run_id == run.run_id
            or s.get("dataset_content_sha256") != start["dataset_content_sha256"]
            or s.get("model_sha256") != start["model_sha256"]
        ):
            continue
        other = reopen_run(ws, candidate.run_id, purpose="used as a baseline")
        if not _mismatch(run, other):
            return other, "ledger"
    return None, None


def _mismatch(run: Any, other: Any) -> str | None:
    if other.start["model_sha256"] != run.start["model_sha256"]:
        return "it was trained from a different base model"
    if other.start["dataset_content_sha256"] != run.start["dataset_content_sha256"]:
        return "it was trained on different data"
    if other.split.validation != run.split.validation:
        return "its held-out units differ from this run's (it may have trained on them)"
    return None


def _versions() -> dict[str, str]:
    """The installed versions of what computed the numbers (distribution names)."""
    from importlib.metadata import version

    names = ("torch", "transformers", "peft", "rouge-score")
    return {"securetune": __version__, **{name: version(name) for name in names}}


def ledger_payload(result: dict[str, Any], result_sha256: str) -> dict[str, Any]:
    """The ``eval.result`` event: the result without its per-unit details."""
    payload = {k: v for k, v in result.items() if k != "details"}
    payload["result_sha256"] = result_sha256
    return payload


def _save(ws: Workspace, run: Any, result: dict[str, Any]) -> None:
    from securetune.train.reopen import record_waiting

    raw = (json.dumps(result, indent=2, sort_keys=True) + "\n").encode()
    run.store.write(f"evals/{result['eval_id']}.json", raw, secret=True)
    record_waiting(ws, EVAL_EVENT, ledger_payload(result, hashlib.sha256(raw).hexdigest()))
