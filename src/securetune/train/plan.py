"""Everything decided before the first step: policy gates, data, split, budget numbers.

``securetune plan`` and ``securetune train`` share :func:`prepare`, so the noise multiplier,
steps and sample rate that ``plan`` prints are the ones ``train`` will use. Every policy
gate (no-DP allowed, max epsilon, max delta, scrubbed data) runs here, before a model is
loaded or a ledger event written.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from securetune.errors import BudgetError, PolicyError, TrainingError
from securetune.policy import Policy, TrainingPolicy, load_policy
from securetune.train import privacy
from securetune.train.config import DEFAULT_PATIENCE, TrainConfig, default_delta
from securetune.train.data import (
    Corpus,
    Split,
    load_corpus,
    make_split,
    near_duplicates,
    resolve_unit,
    units_of,
)
from securetune.train.formats import unscanned_fields
from securetune.workspace import Workspace


@dataclass(frozen=True)
class Prepared:
    """The resolved run: what the accountant will be told, and the data it is about."""

    config: TrainConfig
    corpus: Corpus
    policy: Policy | None  # --policy, else the dataset's
    unit: str
    split: Split
    delta: float | None
    delta_defaulted: bool
    steps_per_epoch: int
    planned_steps: int
    sample_rate: float
    noise_multiplier: float | None
    rules: TrainingPolicy = field(default_factory=TrainingPolicy)  # the effective (strictest) rules
    dataset_policy: Policy | None = None  # the policy the dataset was scrubbed under
    policy_label: str = "the default training rules"
    patience: int = DEFAULT_PATIENCE  # early stopping, resolved against the rules
    largest_unit: int = 1  # most records in one unit: a subject's, or merged near-copies'

    @property
    def train_units(self) -> int:
        return len(self.split.train)

    @property
    def neighbours(self) -> str:
        return self.config.neighbours

    @property
    def non_private_outputs(self) -> list[str]:
        return non_private_outputs(self, command="train")


def non_private_outputs(p: Prepared, *, command: str) -> list[str]:
    """What a run (or a plan) publishes that the (epsilon, delta) guarantee does not cover.

    Each entry is a key of the command's ``--json`` output or a path in the run directory
    (docs/TRAINING.md, "What the guarantee covers", explains each). Under add/remove
    neighbours N itself is private, so everything computed from it is listed too; under
    replace-one N is the same in both neighbours.
    """
    if p.config.no_dp:
        return ["everything (non-private baseline: the adapter carries no guarantee)"]
    out: list[str] = []
    if p.neighbours == "add-remove":  # all of these are functions of N
        out += ["train_units", "validation_units", "sample_rate", "noise_multiplier"]
        out += ["steps", "steps_per_epoch"] if command == "plan" else ["steps", "planned_steps"]
        if p.delta_defaulted:
            out.append("delta")
    # truncated_examples: how many examples --max-length cut, a function of every record's
    # length (only the count is published, and never ledgered).
    if p.split.dedup is not None:  # counts of near-duplicate groups, found in the text
        out.append("dedup")
    if command == "plan":
        return [*out, "mean_tokens", "max_tokens", "truncated_examples"]
    out += [
        "train_loss",
        "validation_loss",
        "clipped_fraction",
        "metrics.jsonl",
        "checkpoint/state.json",
        "split.json",
        # the most records one subject has, over all records (ledgered in train.start)
        "largest_unit_records",
        "truncated_examples",
    ]
    if p.patience > 0:  # the epoch count was chosen by the validation loss
        out += ["stopped", "epochs_completed"] + ([] if "steps" in out else ["steps"])
    return out


def stricter(a: TrainingPolicy, b: TrainingPolicy) -> TrainingPolicy:
    """The stricter of two rule sets, rule by rule: a second policy can only tighten."""

    merged = {
        "max_epsilon",
        "lifetime_epsilon",
        "max_delta",
        "lifetime_delta",
        "privacy_unit",
        "neighbours",
        "validation_early_stopping",
        "allow_no_dp",
        "require_scrubbed",
        "encrypt_adapter",
    }
    if set(TrainingPolicy.model_fields) != merged:  # a new rule needs a merge rule here
        raise TrainingError(
            f"internal: no merge rule for training rules {sorted(set(TrainingPolicy.model_fields) ^ merged)}"
        )

    def low(x: float | None, y: float | None) -> float | None:
        return y if x is None else x if y is None else min(x, y)

    return TrainingPolicy(
        max_epsilon=low(a.max_epsilon, b.max_epsilon),
        lifetime_epsilon=low(a.lifetime_epsilon, b.lifetime_epsilon),
        max_delta=low(a.max_delta, b.max_delta),
        lifetime_delta=low(a.lifetime_delta, b.lifetime_delta),
        privacy_unit="subject" if "subject" in (a.privacy_unit, b.privacy_unit) else "any",
        neighbours="replace-one" if "replace-one" in (a.neighbours, b.neighbours) else "any",
        validation_early_stopping=a.validation_early_stopping and b.validation_early_stopping,
        allow_no_dp=a.allow_no_dp and b.allow_no_dp,
        require_scrubbed=a.require_scrubbed or b.require_scrubbed,
        encrypt_adapter=a.encrypt_adapter or b.encrypt_adapter,
    )


def resolve_policy(
    ws: Workspace, cfg: TrainConfig, corpus: Corpus
) -> tuple[Policy | None, Policy | None, TrainingPolicy, str]:
    """(--policy or the dataset's, the dataset's, the effective rules, a label for messages).

    ``--policy`` can add rules but never lift the dataset's: the effective rules are the
    stricter of both. The dataset's policy is loaded like ``scrub`` loads it (workspace
    policies first) and must hash to what the dataset's provenance recorded.
    """
    search = [ws.root / "policies"]
    provenance = corpus.manifest.provenance
    dataset_policy = None
    if provenance.get("policy"):
        dataset_policy = load_policy(provenance["policy"], search=search)
        recorded = provenance.get("policy_sha256")
        if recorded != dataset_policy.sha256:
            raise PolicyError(
                f"policy {dataset_policy.name} has changed since dataset {corpus.manifest.name} was scrubbed "
                f"(its hash is not the one recorded in the dataset's provenance); restore it, or re-scrub"
            )
    named = load_policy(cfg.policy, search=search) if cfg.policy else None
    if named is None:
        policy = dataset_policy
        rules = dataset_policy.training if dataset_policy else TrainingPolicy()
    elif dataset_policy is None or dataset_policy.sha256 == named.sha256:
        policy, rules = named, named.training
    else:
        policy, rules = named, stricter(named.training, dataset_policy.training)
    ancestor = _lineage_policy(ws, corpus.manifest, dataset_policy, search)
    if ancestor is not None:  # derived data keeps its source's caps (see securetune.lineage)
        rules = stricter(rules, ancestor.training)
    names = list(dict.fromkeys(p.name for p in (policy, dataset_policy, ancestor) if p is not None))
    label = (
        ("policy " + names[0] if len(names) == 1 else "policies " + " + ".join(names))
        if names
        else "the default training rules"
    )
    return policy, dataset_policy, rules, label


def _lineage_policy(
    ws: Workspace, manifest: Any, own: Policy | None, search: list[Path]
) -> Policy | None:
    """The policy of the data this dataset derives from, when it is not the dataset's own.

    Taken from the dataset's creation event in the *verified* ledger (``ledger_view``), and
    the manifest's copy must agree: the caps of the source follow derived data only if
    neither record of the link can be edited unseen.
    """
    known = ws.ledger_view().state.datasets.get(manifest.dataset_id)
    if known is None:
        raise PolicyError(
            f"dataset {manifest.name} has no creation event in the ledger; see `securetune audit verify`"
        )
    name, recorded = known.payload.get("lineage_policy"), known.payload.get("lineage_policy_sha256")
    provenance = manifest.provenance
    if (provenance.get("lineage_policy"), provenance.get("lineage_policy_sha256")) != (
        name,
        recorded,
    ):
        raise PolicyError(
            f"dataset {manifest.name}: its manifest and its ledger event name different policies"
            " for the data it derives from; see `securetune audit verify`"
        )
    if not name or (own is not None and own.sha256 == recorded):
        return None
    ancestor = load_policy(name, search=search)
    if ancestor.sha256 != recorded:
        raise PolicyError(
            f"policy {name} of the data this dataset derives from has changed since; restore it"
        )
    return ancestor


def check_gates(cfg: TrainConfig, corpus: Corpus, rules: TrainingPolicy, label: str) -> None:
    """Policy gates that need no numbers; each refuses before anything runs."""
    if cfg.no_dp and not rules.allow_no_dp:
        raise PolicyError(f"{label} forbids --no-dp training")
    if (
        cfg.epsilon is not None
        and rules.max_epsilon is not None
        and cfg.epsilon > rules.max_epsilon
    ):
        raise BudgetError(f"--epsilon {cfg.epsilon} exceeds the {label} cap of {rules.max_epsilon}")
    unscanned = unscanned_fields(corpus)
    if unscanned and rules.require_scrubbed and not cfg.allow_unscrubbed:
        raise TrainingError(
            f"dataset {corpus.manifest.name} was scrubbed in "
            f"{', '.join(corpus.manifest.provenance.get('text_fields') or ())}, but this run "
            f"trains on {', '.join(unscanned)}, which scrub did not scan; scrub with "
            "--text-field for every field the run reads, or pass --allow-unscrubbed"
        )
    if not corpus.manifest.scrubbed and rules.require_scrubbed and not cfg.allow_unscrubbed:
        raise TrainingError(
            f"dataset {corpus.manifest.name} is unscrubbed; scrub it first (securetune scrub) or pass "
            "--allow-unscrubbed (recorded in the ledger and flagged in every report)"
        )
    if not cfg.no_dp and rules.neighbours == "replace-one" and cfg.neighbours != "replace-one":
        raise PolicyError(
            f"{label} requires --neighbours replace-one (accounted with --accountant pld)"
        )
    if not cfg.no_dp and cfg.neighbours == "replace-one" and cfg.dedup != "off":
        # Replacing one record with a near-copy of another merges two units (and removing
        # the copy splits them again): the neighbour then has a different number of units,
        # which replace-one accounting holds fixed. Add/remove covers merged units.
        raise TrainingError(
            "--neighbours replace-one cannot be combined with near-duplicate grouping: "
            "replacing one record can merge or split units, which changes the unit count "
            "replace-one holds fixed; pass --dedup off, or use add-remove neighbours"
        )
    if not rules.validation_early_stopping and cfg.early_stopping_patience:
        raise PolicyError(
            f"{label} forbids validation-based early stopping (its losses are not private); "
            "set early_stopping_patience to 0"
        )


def check_unit(cfg: TrainConfig, corpus: Corpus, rules: TrainingPolicy, label: str) -> str:
    """The privacy unit of the run, refused when the rules require subjects and it is not."""
    if rules.privacy_unit == "subject" and not cfg.no_dp:
        if not corpus.fields.subject_field:
            raise PolicyError(
                f"{label} requires the subject privacy unit, and dataset {corpus.manifest.name} names no "
                "subject field; pass --subject-field (or scrub with --subject-field)"
            )
        if cfg.privacy_unit == "record":
            raise PolicyError(
                f"{label} requires the subject privacy unit: --privacy-unit record protects one note, "
                "not the person it is about"
            )
    return resolve_unit(cfg.privacy_unit, corpus.fields)


def check_delta(cfg: TrainConfig, delta: float, n: int, unit: str) -> None:
    """A delta of 1/N or more allows publishing one unit outright; above 1/(10 N) needs insisting."""
    if delta >= 1.0 / n:
        raise TrainingError(
            f"--delta {delta:g} is not below 1/N = 1/{n} training {unit}s; a delta that large "
            "allows publishing one unit's data outright (the default is min(1e-5, 1/(10 N)))"
        )
    if cfg.delta is not None and delta > 1.0 / (10 * n) and not cfg.allow_large_delta:
        raise TrainingError(
            f"--delta {delta:g} is above 1/(10 N) = 1/{10 * n} for {n} training {unit}s; pass "
            "--allow-large-delta to insist (the default is min(1e-5, 1/(10 N)))"
        )


def prepare(ws: Workspace, cfg: TrainConfig, *, canaries: Any = None) -> Prepared:
    """``canaries``: a :class:`~securetune.train.canaries.CanarySet` whose included canaries
    join the training units (and so count in N for the accountant)."""
    corpus = load_corpus(
        ws, cfg.data, text_fields=cfg.text_fields, subject_field=cfg.subject_field, fmt=cfg.format
    )
    if cfg.format is None:  # the run's saved config names the format it trains with
        cfg = cfg.model_copy(update={"format": corpus.format})
    policy, dataset_policy, rules, label = resolve_policy(ws, cfg, corpus)
    check_gates(cfg, corpus, rules, label)
    unit = check_unit(cfg, corpus, rules, label)
    clusters = near_duplicates(corpus, cfg.dedup)
    units = units_of(corpus, unit, clusters=clusters)
    patience = cfg.early_stopping_patience
    if patience is None:
        patience = DEFAULT_PATIENCE if rules.validation_early_stopping else 0
    extra = {
        "rules": rules,
        "dataset_policy": dataset_policy,
        "policy_label": label,
        "patience": patience,
        "largest_unit": max(len(u) for u in units),
    }
    try:
        split = make_split(
            units,
            unit=unit,
            fraction=cfg.validation_fraction,
            seed=cfg.seed,
            batch_size=cfg.batch_size,
        )
    except TrainingError as exc:
        if clusters is None or not clusters.groups:
            raise
        raise TrainingError(
            f"{exc} ({clusters.records_in_clusters} near-duplicate records were grouped into "
            f"{len(clusters.groups)} unit(s); --dedup off keeps them apart, without the "
            "protection of docs/DEDUP.md)"
        ) from None
    if clusters is not None:
        split = replace(split, dedup=clusters.summary())
    if canaries is not None:  # --canaries: appended after the split, so they never validate
        from securetune.train.canaries import insert

        corpus, split = insert(corpus, split, canaries)
    n = len(split.train)
    spe = privacy.steps_per_epoch(n, cfg.batch_size)
    steps = cfg.epochs * spe
    rate = privacy.sample_rate(n, cfg.batch_size)
    if cfg.no_dp:
        return Prepared(
            cfg, corpus, policy, unit, split, None, False, spe, steps, rate, None, **extra
        )
    delta = cfg.delta if cfg.delta is not None else default_delta(n)
    if rules.max_delta is not None and cfg.delta is None:
        delta = min(delta, rules.max_delta)
    check_delta(cfg, delta, n, unit)
    if rules.max_delta is not None and delta > rules.max_delta:
        raise BudgetError(f"--delta {delta:g} exceeds the {label} cap of {rules.max_delta:g}")
    assert cfg.epsilon is not None  # TrainConfig guarantees it when DP is on
    noise = privacy.noise_multiplier(
        epsilon=cfg.epsilon,
        delta=delta,
        rate=rate,
        steps=steps,
        accountant=cfg.accountant,
        neighbours=cfg.neighbours,
    )
    return Prepared(
        cfg, corpus, policy, unit, split, delta, cfg.delta is None, spe, steps, rate, noise, **extra
    )


@dataclass(frozen=True)
class PlanResult:
    dataset: str
    privacy_unit: str
    train_units: int
    validation_units: int
    epsilon_target: float | None
    delta: float | None
    delta_defaulted: bool
    accountant: str
    neighbours: str
    noise_multiplier: float | None
    sample_rate: float
    steps: int
    steps_per_epoch: int
    epochs: int
    batch_size: int
    max_physical_batch: int
    model: str
    model_parameters: int
    trainable_parameters: int
    format: str
    mean_tokens: float
    max_tokens: int
    truncated_examples: int
    estimated_seconds: float
    seconds_per_step: float
    estimated_peak_memory_mb: float
    estimate_method: str
    non_private_outputs: list[str]
    dedup: dict[str, Any] | None = None


def estimate(ws: Workspace, prepared: Prepared, *, device: str = "cpu") -> PlanResult:
    """Time and memory estimates without touching the data with the model.

    Time: two DP steps are run on *synthetic* token batches of the dataset's length and the
    physical batch size, then scaled to the planned number of physical steps. Memory: an
    analytic sum of weights, LoRA optimizer state, per-sample gradients (hooks mode) and
    the logits of one physical batch, which dominate for small models with big vocabularies.
    """
    from securetune.train.model import quiet

    with quiet():
        return _estimate(prepared, device=device)


def _estimate(prepared: Prepared, *, device: str) -> PlanResult:
    from securetune.train.formats import corpus_tokens, truncated_count
    from securetune.train.model import add_lora, load_base_model

    cfg = prepared.config
    loaded = load_base_model(cfg.model)
    tokens = corpus_tokens(prepared.corpus, loaded.tokenizer, cfg.max_length)
    lengths = [len(t.input_ids) for t in tokens]
    mean_len = sum(lengths) / len(lengths)
    max_len = max(lengths)
    model = add_lora(
        loaded.model, r=cfg.lora_r, alpha=cfg.lora_alpha, targets=cfg.lora_targets, seed=cfg.seed
    )
    model.to(device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    phys = min(cfg.max_physical_batch, cfg.batch_size)
    seconds = _time_step(model, loaded.tokenizer, phys, max_len, cfg, device)
    physical_per_logical = math.ceil(cfg.batch_size / phys)
    total = seconds * physical_per_logical * prepared.planned_steps
    vocab = model.get_output_embeddings().weight.shape[0]
    per_sample = 0 if cfg.no_dp or cfg.clipping == "ghost" else trainable * phys
    bytes_ = 4 * (loaded.parameters + 3 * trainable + per_sample + 3 * phys * max_len * vocab)
    return PlanResult(
        dataset=cfg.data,
        privacy_unit=prepared.unit,
        train_units=prepared.train_units,
        validation_units=len(prepared.split.validation),
        epsilon_target=cfg.epsilon,
        delta=prepared.delta,
        delta_defaulted=prepared.delta_defaulted,
        accountant=cfg.accountant,
        neighbours=cfg.neighbours,
        noise_multiplier=prepared.noise_multiplier,
        sample_rate=prepared.sample_rate,
        steps=prepared.planned_steps,
        steps_per_epoch=prepared.steps_per_epoch,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        max_physical_batch=phys,
        model=loaded.model_id,
        model_parameters=loaded.parameters,
        trainable_parameters=trainable,
        format=prepared.corpus.format,
        mean_tokens=round(mean_len, 1),
        max_tokens=max_len,
        truncated_examples=truncated_count(tokens),
        estimated_seconds=round(total, 1),
        seconds_per_step=round(seconds * physical_per_logical, 4),
        estimated_peak_memory_mb=round(bytes_ / 2**20, 1),
        estimate_method="time: 2 timed physical steps on synthetic tokens; memory: analytic",
        non_private_outputs=non_private_outputs(prepared, command="plan"),
        dedup=prepared.split.dedup,
    )


def _time_step(
    model: Any, tokenizer: Any, batch: int, length: int, cfg: TrainConfig, device: str
) -> float:
    from securetune.train.loss import batch_loss

    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, len(tokenizer), (batch, length), generator=gen).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    wrapped: Any = model
    if not cfg.no_dp:
        from opacus import GradSampleModule

        wrapped = GradSampleModule(model, loss_reduction="mean")
    times = []
    for _ in range(2):
        start = time.perf_counter()
        out = wrapped(input_ids=ids, attention_mask=torch.ones_like(ids))
        batch_loss(out.logits, ids).backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - start)
    if not cfg.no_dp:
        wrapped._close()
    return min(times)
