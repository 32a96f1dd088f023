"""``check_run``: open a finished run the ledger vouches for, and measure it.

Nothing on disk is trusted that the ledger does not vouch for: the config, the dataset's
content, the split (canaries included), the canary set (against the salted commitment in
``train.start``) and the adapter (against ``train.finish``) are all re-hashed first.
Then the registered checks run in order (``--only`` picks some), each adding numbers to
one result. Results hold numbers, parameters and versions only, never text: they are
written into the run directory (encrypted when the run is) and into a ``check`` event.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from securetune import __version__
from securetune.checks import CHECKS
from securetune.errors import LockError, TrainingError
from securetune.train.reopen import ReopenedRun
from securetune.workspace import Workspace

CHECK_EVENT = "check"


class CheckError(TrainingError):
    """A run cannot be checked (unfinished, tampered, or a bad option)."""


@dataclass(frozen=True)
class CheckOptions:
    only: tuple[str, ...] | None = None
    references: int = 10_000
    exposure_canaries: int = 2
    mia_max_units: int = 500
    bootstrap: int = 1000
    extraction_prefix: int = 32
    extraction_suffix: int = 32
    extraction_units: int = 64
    generations: int = 32
    generation_tokens: int = 48
    pii_reference_records: int = 500
    confidence: float = 0.95
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.only is not None:
            unknown = [n for n in self.only if n not in CHECKS]
            if unknown or not self.only:
                raise CheckError(
                    f"unknown check {', '.join(unknown) or '(none)'}; known: {', '.join(CHECKS)}"
                )
        for name in (
            "references",
            "exposure_canaries",
            "mia_max_units",
            "bootstrap",
            "extraction_prefix",
            "extraction_suffix",
            "extraction_units",
            "generations",
            "generation_tokens",
        ):
            if getattr(self, name) < 1:
                raise CheckError(f"check option {name} must be at least 1")
        if not 0.5 <= self.confidence < 1:
            raise CheckError("check option confidence must lie in [0.5, 1)")


@dataclass
class RunUnderCheck(ReopenedRun):
    """A verified run (:class:`ReopenedRun`) with its model loaded: what every check reads."""

    texts: list[str]  # dataset records, then included canaries (as trained)
    tokens: list[list[int]]  # the ids training fed the model, prompt included
    # training's labels: the id where the token is trained, IGNORE_INDEX (-100) on a prompt,
    # a non-assistant turn or a leading special token (text format: labels == tokens)
    labels: list[list[int]]
    scored_texts: list[str]  # each position's trained text: a completion, or the whole text
    format: str  # the dataset records' training format; canaries (past them) are text
    scorer: Any  # Scorer
    tokenizer: Any
    options: CheckOptions

    def __repr__(self) -> str:  # never print record text
        return f"RunUnderCheck({self.run_id})"

    def data_units(self, units: list[list[int]]) -> list[list[int]]:
        return [u for u in units if all(i < self.dataset_records for i in u)]

    def has_prompt(self, position: int) -> bool:
        """Whether the record at ``position`` is a prompt-completion or chat example (whose
        completion, not the whole sequence, is what training fitted)."""
        return self.format != "text" and position < self.dataset_records


@dataclass
class Outcome:
    """What a check adds: headline numbers, details, or why it could not run."""

    numbers: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


def _registry() -> dict[str, Callable[[RunUnderCheck], Outcome]]:
    from securetune.checks import measures

    return {
        "exposure": measures.exposure_check,
        "mia": measures.mia_check,
        "epsilon": measures.epsilon_check,
        "extraction": measures.extraction_check,
        "pii": measures.pii_check,
    }


"""Check names in the order they run (the registry refuses any other name)."""


def check_run(ws: Workspace, run_id: str, options: CheckOptions | None = None) -> dict[str, Any]:
    from securetune.train.model import quiet

    options = options or CheckOptions()
    with quiet():
        return _check_run(ws, run_id, options)


def _check_run(ws: Workspace, run_id: str, options: CheckOptions) -> dict[str, Any]:
    started = time.perf_counter()
    run = open_run(ws, run_id, options)
    registry = _registry()
    result: dict[str, Any] = {
        "run_id": run_id,
        "check_id": f"{ws.clock().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}",
        "dp": run.dp,
        "epsilon": run.finish.get("epsilon_spent"),
        "delta": run.finish.get("delta"),
        "privacy_unit": run.start.get("privacy_unit"),
        "model_id": run.start.get("model_id"),
        "mia_auc": None,
        "mia_auc_ci": None,
        "tpr_at_1pct_fpr": None,
        "epsilon_lower_bound": None,
        "epsilon_certifiable_max": None,
        "exposure_mean": None,
        "extraction_rate": None,
        "canaries_extracted": None,
        "pii_regurgitated": None,
    }
    details: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    timings: dict[str, float] = {"open": round(time.perf_counter() - started, 2)}
    for name in CHECKS:
        if options.only is not None and name not in options.only:
            continue
        began = time.perf_counter()
        outcome = registry[name](run)
        timings[name] = round(time.perf_counter() - began, 2)
        if outcome.skipped is not None:
            skipped[name] = outcome.skipped
            continue
        result.update(outcome.numbers)
        details[name] = outcome.details
    from securetune.checks.gates import apply_gates, rules_for

    rules, source = rules_for(run.policy)
    gates = apply_gates(result, rules, run=run)
    result.update(
        {
            "gates": [asdict(g) for g in gates],
            "gates_source": source,
            "passed": all(g.passed is not False for g in gates),
            "skipped": skipped,
            "details": details,
            "parameters": {k: v for k, v in asdict(options).items() if k != "device"},
            "device": str(run.scorer.device),
            "versions": _versions(),
            "seconds": round(time.perf_counter() - started, 2),
            "seconds_by_check": timings,
        }
    )
    _save(run, result)
    return result


def open_run(ws: Workspace, run_id: str, options: CheckOptions) -> RunUnderCheck:
    """Re-derive the run from the workspace and refuse anything the ledger does not vouch for
    (:func:`securetune.train.reopen.reopen_run`), then load its model for scoring."""
    from securetune.checks.scoring import Scorer
    from securetune.train.formats import corpus_examples, tokenize_examples
    from securetune.train.reopen import load_run_model, reopen_run

    run = reopen_run(ws, run_id, purpose="checked")
    model, tokenizer, device = load_run_model(run)
    examples = corpus_examples(run.corpus, tokenizer)
    tokenized = tokenize_examples(tokenizer, examples, run.config.max_length)
    return RunUnderCheck(
        **{f.name: getattr(run, f.name) for f in fields(run)},
        texts=run.corpus.texts,
        tokens=[t.input_ids for t in tokenized],
        labels=[t.labels for t in tokenized],
        scored_texts=["".join(s.text for s in e.segments if s.trained) for e in examples],
        format=run.corpus.format,
        scorer=Scorer(model, tokenizer, device),
        tokenizer=tokenizer,
        options=options,
    )


def _versions() -> dict[str, str]:
    import peft
    import scipy
    import torch
    import transformers

    return {
        "securetune": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "scipy": scipy.__version__,
    }


def ledger_payload(result: dict[str, Any], result_sha256: str) -> dict[str, Any]:
    """The ``check`` event: numbers, gates, parameters and versions; details stay in the run."""
    keep = (
        "run_id",
        "check_id",
        "dp",
        "epsilon",
        "delta",
        "mia_auc",
        "mia_auc_ci",
        "mia_auc_ci_adjusted",
        "mia_attack",
        "tpr_at_1pct_fpr",
        "tpr_at_0_1pct_fpr",
        "epsilon_lower_bound",
        "epsilon_certifiable_max",
        "exposure_mean",
        "exposure_max_included",
        "exposure_median_included",
        "exposure_max_excluded",
        "exposure_median_excluded",
        "log2_space",
        "extraction_rate",
        "extraction_rate_heldout",
        "canaries_extracted",
        "pii_regurgitated",
        "pii_regurgitated_shared",
        "pii_regurgitated_base",
        "canary_secrets_generated",
        "epsilon_compared",
        "pii_types",
        "passed",
        "skipped",
        "parameters",
        "versions",
        "gates_source",
    )
    payload = {k: result[k] for k in keep if k in result}
    payload["gates"] = [_gate_entry(g) for g in result["gates"]]
    payload["result_sha256"] = result_sha256
    return payload


def _gate_entry(gate: dict[str, Any]) -> dict[str, Any]:
    entry = {k: gate[k] for k in ("name", "value", "limit", "passed")}
    if gate.get("note"):  # fixed wording and numbers, e.g. why a gate could not decide
        entry["note"] = gate["note"]
    return entry


def _save(run: RunUnderCheck, result: dict[str, Any]) -> None:
    raw = (json.dumps(result, indent=2, sort_keys=True) + "\n").encode()
    run.store.write(f"checks/{result['check_id']}.json", raw, secret=True)
    payload = ledger_payload(result, hashlib.sha256(raw).hexdigest())
    for attempt in range(50):
        try:
            with run.ws.locked():
                run.ws.record(CHECK_EVENT, payload)
            return
        except LockError:
            if attempt == 49:
                raise
            time.sleep(0.2)
