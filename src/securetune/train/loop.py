"""``train_run``: one DP-LoRA training run, from gates to a ledgered adapter.

Order matters and is the point of this module:

1. policy gates, data, split and budget numbers (:func:`.plan.prepare`), then the model:
   everything that can refuse does so before the ledger hears of the run;
2. under the workspace lock: verify the ledger, check the dataset's lifetime budget, and
   record ``train.start`` (which reserves the run's full target until it finishes);
3. the model is moved to its device *before* Opacus wraps it, LoRA weights are snapshot,
   and the optimizer/module wiring is checked;
4. each epoch ends with validation, the clipped fraction, early stopping, and a checkpoint
   whose hash is ledgered (``train.checkpoint``);
5. the LoRA-changed and spent-within-target guards run before the adapter is written;
   the run's resume secrets are destroyed and ``train.finish`` records that and the
   adapter's hash, in one hold of the workspace lock.

A run that fails before its first checkpoint is charged the epsilon of the steps it took
(``train.fail``, ``released: false``) and leaves nothing behind; one that fails a guard at
the end fails for good (``final: true``): its resume secrets are destroyed too.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import filelock
import torch

from securetune import __version__
from securetune.crypto.envelope import new_data_key
from securetune.dedup import DEDUP_EVENT
from securetune.dedup import event_payload as dedup_event
from securetune.errors import BudgetError, LockError, TrainingError
from securetune.fsutil import atomic_write_bytes, make_private_dir
from securetune.train import budget, privacy
from securetune.train.canaries import (
    CanaryOptions,
    CanarySet,
    generate,
    load_canaries,
    save_canaries,
)
from securetune.train.checkpoint import (
    ADAPTER_DIR,
    ADAPTER_WEIGHTS,
    CHECKPOINT_DIR,
    CheckpointState,
    RunStore,
    load_checkpoint,
    run_key_name,
    save_checkpoint,
    tree_sha256,
)
from securetune.train.config import TrainConfig
from securetune.train.data import (
    SPLIT_COMMITMENT,
    Collator,
    UnitDataset,
    new_choice_key,
    new_split_salt,
    pad_batch,
    save_split_salt,
    split_matches,
    unit_names,
)
from securetune.train.formats import (
    Tokenized,
    corpus_tokens,
    scrubbed_for_training,
    truncated_count,
)
from securetune.train.loss import batch_loss, ghost_criterion, ghost_loss, per_example_loss
from securetune.train.model import (
    LoadedModel,
    add_lora,
    check_targets,
    load_base_model,
    lora_state,
    quiet,
)
from securetune.train.plan import Prepared, prepare
from securetune.train.secrets import AUDIT, RESUME, RunSecrets, key_name
from securetune.workspace import Workspace

OnStep = Callable[[int, int], None]
T = TypeVar("T")
EPSILON_EVALUATIONS = 25
"""With the PRV accountant (~0.3 s a call) per-step epsilon is computed at most this many
times per run; epoch ends and the final step always are. RDP is cheap: every step."""


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    run_dir: str
    adapter_dir: str
    adapter_encrypted: bool
    adapter_sha256: str
    dataset: str
    dataset_scrubbed: bool
    allow_unscrubbed: bool
    model: str
    model_sha256: str
    dp: bool
    epsilon_target: float | None
    epsilon_spent: float | None
    delta: float | None
    delta_defaulted: bool
    noise_multiplier: float | None
    sample_rate: float
    steps: int
    planned_steps: int
    epochs_completed: int
    accountant: str | None
    privacy_unit: str
    neighbours: str | None
    protects: str
    clipping: str | None
    max_grad_norm: float
    train_units: int
    validation_units: int
    format: str  # text | prompt-completion | chat (as configured or detected)
    truncated_examples: int  # examples longer than --max-length (cut on the format's side)
    train_loss: float | None
    validation_loss: float | None
    clipped_fraction: float | None
    stopped: str  # completed | early_stopping | budget_spent | paused
    early_stopping_patience: int
    policy: str | None
    dataset_lifetime_epsilon: float | None
    non_private_outputs: list[str]  # --json keys and run files the guarantee does not cover
    seconds: float


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was requested but no CUDA device is available")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def _locked(ws: Workspace, action: Callable[[], T], *, attempts: int = 50) -> T:
    """Run ``action`` under the workspace lock, waiting briefly: another command may hold it."""
    for i in range(attempts):
        try:
            with ws.locked(wait=True):  # never die on a long scrub's lock
                return action()
        except LockError:
            if i == attempts - 1:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _record(ws: Workspace, event: str, payload: dict[str, Any]) -> None:
    _locked(ws, lambda: ws.record(event, payload))


def _end(
    ws: Workspace, secrets: RunSecrets, event: str, payload: dict[str, Any], *, everything: bool
) -> None:
    """Destroy the run's resume secrets (all of them if ``everything``) and ledger ``event``
    saying so, in one lock hold: no ledgered end leaves the noise recoverable."""

    def act() -> None:
        payload["secrets_destroyed"] = [
            secrets.destroy(ws, kind=kind)
            for kind in ((RESUME, AUDIT) if everything else (RESUME,))
        ]
        ws.record(event, payload)

    _locked(ws, act)


def _new_run_id(ws: Workspace) -> str:
    return f"{ws.clock().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _versions() -> dict[str, str]:
    import opacus
    import peft
    import transformers

    return {
        "securetune": __version__,
        "torch": torch.__version__,
        "opacus": opacus.__version__,
        "peft": peft.__version__,
        "transformers": transformers.__version__,
    }


def train_run(
    ws: Workspace,
    cfg: TrainConfig | None = None,
    *,
    resume: str | None = None,
    on_step: OnStep | None = None,
    stop_after_epochs: int | None = None,
    canaries: CanaryOptions | None = None,
) -> TrainResult:
    """Train (or resume) a run. ``stop_after_epochs`` pauses after that many epochs in this
    call, leaving a resumable checkpoint (used by tests and for time-boxed jobs).
    ``canaries`` plants audit canaries (see :mod:`securetune.train.canaries`)."""
    with quiet():
        return _train_run(
            ws,
            cfg,
            resume=resume,
            on_step=on_step,
            stop_after_epochs=stop_after_epochs,
            canaries=canaries,
        )


def _train_run(
    ws: Workspace,
    cfg: TrainConfig | None,
    *,
    resume: str | None,
    on_step: OnStep | None,
    stop_after_epochs: int | None,
    canaries: CanaryOptions | None = None,
) -> TrainResult:
    started = time.perf_counter()
    if resume is not None:
        run_id, cfg, events = _open_resume(ws, resume)
    else:
        if cfg is None:
            raise TrainingError("internal: a config or a run to resume is required")
        run_id, events = _new_run_id(ws), None
    canary_set = _canary_set(ws, run_id, events, canaries)  # --canaries
    prepared = prepare(ws, cfg, canaries=canary_set)
    loaded = load_base_model(cfg.model)
    check_targets(loaded.model, cfg.lora_targets)
    device = resolve_device(cfg.device)
    tokens = corpus_tokens(prepared.corpus, loaded.tokenizer, prepared.config.max_length)
    run_dir = ws.runs_dir / run_id
    if events is not None:
        _check_resume_matches(events.start, prepared, loaded, RunSecrets.open(ws, run_id, run_dir))
    make_private_dir(run_dir)
    lock = filelock.FileLock(str(run_dir / ".lock"), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockError(f"run {run_id} is being trained by another process") from None
    try:
        if events is None:
            try:
                key, secrets = _start(ws, run_id, run_dir, prepared, loaded, canary_set=canary_set)
            except BaseException:
                if not _start_ledgered(ws, run_id):  # refused: leave no half-made run behind
                    shutil.rmtree(run_dir, ignore_errors=True)
                raise
        else:
            key = _run_key(ws, run_id, events.start)
            secrets = RunSecrets.open(ws, run_id, run_dir)
            _record(
                ws, "train.resume", {"run_id": run_id, "from_step": events.checkpoints[-1]["step"]}
            )
        store = RunStore(run_dir, run_id, key)
        trainer = _Trainer(
            ws,
            run_id,
            store,
            secrets,
            prepared,
            loaded,
            tokens,
            device,
            resumed=events is not None,
            started=started,
        )
        try:
            return trainer.run(on_step=on_step, stop_after_epochs=stop_after_epochs)
        except FinalFailure as exc:
            # A guard at the end failed: resuming would fail the same way. The run ends here,
            # charged what it spent, and its noise becomes unrecoverable.
            _end(
                ws,
                secrets,
                budget.FAIL,
                {
                    "run_id": run_id,
                    "error": type(exc.__cause__).__name__,
                    "released": True,
                    "final": True,
                    "steps": trainer.state.step,
                    "epsilon_spent": trainer.spent(),
                },
                everything=False,
            )
            raise exc.__cause__ from None  # type: ignore[misc]
        except BaseException as exc:
            # A run that failed before its first checkpoint released nothing but may have
            # taken steps (Ctrl-C mid-epoch): it is charged what its accountant had spent,
            # not its whole target, and leaves nothing behind: no losses, no secrets, no
            # directory. Later failures stay resumable (and keep their target reserved).
            if events is None and trainer.checkpoints == 0:
                _end(
                    ws,
                    secrets,
                    budget.FAIL,
                    {
                        "run_id": run_id,
                        "error": type(exc).__name__,
                        "released": False,
                        "steps": trainer.steps_taken(),
                        "epsilon_spent": trainer.spent(),
                    },
                    everything=True,
                )
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
    finally:
        lock.release()


def _start_ledgered(ws: Workspace, run_id: str) -> bool:
    """Whether this run's ``train.start`` is the ledger's last entry, signed or not.

    That entry is the run's commit point: a failure after it (a witness that cannot be
    updated, a kill before the checkpoint that ``audit recover`` later seals) leaves a run the
    ledger names, charged its target until it is resumed or abandoned. Deleting its keys and
    directory then would leave the ledger naming a run with nothing behind it."""
    from securetune.audit.ledger import Ledger

    ledger = Ledger.open(ws.ledger_dir)
    if ledger.size == 0:
        return False
    last = ledger.last_entry()
    return last.event == budget.START and last.payload.get("run_id") == run_id


class FinalFailure(Exception):
    """Wraps a guard failure after which the run cannot usefully be resumed."""


def _start(
    ws: Workspace,
    run_id: str,
    run_dir: Path,
    p: Prepared,
    loaded: LoadedModel,
    *,
    canary_set: CanarySet | None = None,
) -> tuple[bytes | None, RunSecrets]:
    """Budget check, run keys and ``train.start``, atomically under the workspace lock."""
    cfg, manifest = p.config, p.corpus.manifest
    scrubbed = scrubbed_for_training(p.corpus)
    atomic_write_bytes(run_dir / "config.json", cfg.to_json(), mode=0o600)
    split_salt = new_split_salt()
    payload = {
        "run_id": run_id,
        "dataset": manifest.name,
        "dataset_id": manifest.dataset_id,
        "dataset_content_sha256": manifest.content_sha256,
        "dataset_ciphertext_sha256": manifest.ciphertext_sha256,
        # Scrubbed in every field the run reads (a field scrub kept as-is is unscrubbed).
        "dataset_scrubbed": scrubbed,
        # Set whenever training goes ahead on unscrubbed data, whether by --allow-unscrubbed
        # or because the effective rules do not require scrubbing.
        "allow_unscrubbed": not scrubbed,
        "policy": p.policy.name if p.policy else None,
        "policy_sha256": p.policy.sha256 if p.policy else None,
        "dataset_policy": p.dataset_policy.name if p.dataset_policy else None,
        "dataset_policy_sha256": p.dataset_policy.sha256 if p.dataset_policy else None,
        "training_rules": p.rules.model_dump(mode="json"),
        "model_id": loaded.model_id,
        "model_sha256": loaded.model_sha256,
        "config_sha256": cfg.sha256,
        # salted: a plain hash of the unit lists lets a reader enumerate partitions
        "split_sha256": p.split.commitment(split_salt),
        "split_commitment": SPLIT_COMMITMENT,
        "dedup": cfg.dedup,
        "no_dp": cfg.no_dp,
        "epsilon_target": cfg.epsilon if not cfg.no_dp else None,
        "delta": p.delta,
        "delta_defaulted": p.delta_defaulted,
        "noise_multiplier": p.noise_multiplier,
        "sample_rate": p.sample_rate,
        "planned_steps": p.planned_steps,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "max_physical_batch": cfg.max_physical_batch,
        "max_grad_norm": cfg.max_grad_norm,
        "accountant": cfg.accountant,
        "neighbours": None if cfg.no_dp else cfg.neighbours,
        "clipping": cfg.clipping,
        "privacy_unit": p.unit,
        "protects": protects(p),
        "largest_unit_records": p.largest_unit,
        "train_units": p.train_units,
        "validation_units": len(p.split.validation),
        "early_stopping_patience": p.patience,
        "non_private_outputs": p.non_private_outputs,
        "lora": {"r": cfg.lora_r, "alpha": cfg.lora_alpha, "targets": list(cfg.lora_targets)},
        "seed": cfg.seed,  # split and LoRA init; noise, sampling and record choice are secret
        "encrypt_adapter": p.rules.encrypt_adapter,
        "versions": _versions(),
    }
    if canary_set is not None:  # --canaries: the salted commitment only, never a secret or bit
        payload["canaries"] = canary_set.ledger_summary()

    def begin() -> tuple[bytes | None, RunSecrets]:
        _check_budget(ws, p, payload)
        key = None
        if p.rules.encrypt_adapter:
            key = new_data_key()
            keyring = ws.keyring()
            keyring.add(ws.kek(), run_key_name(run_id), key)
            keyring.save(ws.keyring_path)
        secrets = RunSecrets.create(ws, run_id, run_dir)
        try:
            if canary_set is not None:  # --canaries: an audit secret, kept for `check`
                save_canaries(secrets, canary_set)  # before train.start: never a run without them
            save_split_salt(secrets, split_salt)  # likewise: the commitment must stay checkable
            RunStore(run_dir, run_id, key).write(
                "split.json", p.split.to_json(manifest.content_sha256)
            )
            if p.split.dedup is not None:  # the groups this run's units were merged by
                ws.record(
                    DEDUP_EVENT,
                    dedup_event(
                        manifest,
                        p.split.dedup,
                        trigger="train",
                        text_fields=p.corpus.fields.text_fields,
                        run_id=run_id,
                    ),
                )
            ws.record(budget.START, payload)
        except BaseException:  # not started: its keys go with it
            if _start_ledgered(ws, run_id):
                raise  # started after all (the witness failed after signing): keep the run
            keyring = ws.keyring()
            for name in (
                run_key_name(run_id),
                *(key_name(run_id, kind) for kind in (RESUME, AUDIT)),
            ):
                keyring.remove(name)
            keyring.save(ws.keyring_path)
            raise
        return key, secrets

    return _locked(ws, begin)


def _check_budget(ws: Workspace, p: Prepared, payload: dict[str, Any]) -> None:
    """The dataset's lifetime budget at this run's unit: epsilon and summed delta. Hold the lock."""
    cfg, manifest = p.config, p.corpus.manifest
    spent = budget.dataset_spend(
        ws, identity=budget.DataIdentity.of(manifest), unit=p.unit, largest_unit=p.largest_unit
    )
    cap = p.rules.lifetime_epsilon
    this = math.inf if cfg.no_dp else float(cfg.epsilon or 0)
    others = spent.relations - {cfg.neighbours}
    if not cfg.no_dp and others:
        # An add/remove epsilon and a replace-one epsilon bound different things; their sum
        # bounds neither, so a dataset's runs keep to one relation (fail closed).
        raise BudgetError(
            f"dataset {manifest.name}: earlier runs were accounted for {', '.join(sorted(others))} "
            f"neighbours and this one for {cfg.neighbours}; their budgets cannot be added up. "
            "Use the same --neighbours as the earlier runs"
        )
    mixed = (
        (
            f" (including {spent.converted} run(s) at the other privacy unit, converted to the "
            f"{p.unit} unit by group privacy)"
        )
        if spent.converted
        else ""
    )
    if cap is not None and spent.epsilon + this > cap:
        already = (
            "unbounded (a non-private run)" if math.isinf(spent.epsilon) else f"{spent.epsilon:g}"
        )
        raise BudgetError(
            f"dataset {manifest.name}: lifetime budget of {cap:g} ({p.policy_label}) "
            f"would be exceeded: {already} already spent in {spent.runs} run(s){mixed}, this run targets {this:g}"
        )
    if cap is not None and p.unit == "record" and p.corpus.fields.subject_field and not cfg.no_dp:
        # A record-level run on data that names subjects must also fit the budget counted at
        # the subject level, where earlier subject runs count as they are and this run costs
        # its group-privacy conversion; otherwise record runs could push the patient-level
        # spend past the cap unseen.
        k = max(Counter(p.corpus.subjects or ["-"]).values())  # most notes of one patient
        whole = budget.dataset_spend(
            ws, identity=budget.DataIdentity.of(manifest), unit="subject", largest_unit=k
        )
        as_subject, _ = budget.convert(this, 0.0, source="record", target="subject", largest_unit=k)
        if whole.epsilon + as_subject > cap:
            raise BudgetError(
                f"dataset {manifest.name}: lifetime budget of {cap:g} ({p.policy_label}) would be "
                f"exceeded at the subject level: {whole.epsilon:g} already spent, and this record-level "
                f"run costs {as_subject:g} per subject (up to {k} records each)"
            )
    if not cfg.no_dp:
        total = spent.delta + float(p.delta or 0)
        limit = 1.0 / p.train_units
        delta_cap = p.rules.lifetime_delta
        if total >= limit or (delta_cap is not None and total > delta_cap):
            bound = (
                f"the {p.policy_label} cap of {delta_cap:g}"
                if delta_cap is not None and total < limit
                else f"1/N = 1/{p.train_units}"
            )
            raise BudgetError(
                f"dataset {manifest.name}: the summed delta of its runs would reach {total:.3g}{mixed}, "
                f"not below {bound}"
            )
    payload["dataset_epsilon_before"] = None if math.isinf(spent.epsilon) else spent.epsilon
    payload["dataset_delta_before"] = spent.delta
    payload["lifetime_epsilon_cap"] = cap
    payload["lifetime_delta_cap"] = p.rules.lifetime_delta


def abandon_run(ws: Workspace, run_id: str) -> dict[str, Any]:
    """End a resumable run for good: destroy its resume secrets and ledger ``train.fail``
    (``final: true``), charged the epsilon of its last checkpoint (nothing after it was
    released: metrics are written with checkpoints). Returns the ledgered payload."""
    ws.verify_ledger()
    events = budget.runs_in_ledger(ws).get(run_id)
    if events is None:
        raise TrainingError(f"no training run {run_id} in the ledger")
    if events.finish is not None or budget.ended(events):
        raise TrainingError(f"run {run_id} has already ended")
    run_dir = ws.runs_dir / run_id
    make_private_dir(run_dir)  # gone by hand: its keys still go
    lock = filelock.FileLock(str(run_dir / ".lock"), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockError(f"run {run_id} is being trained by another process") from None
    try:
        last = events.checkpoints[-1] if events.checkpoints else {}
        payload: dict[str, Any] = {
            "run_id": run_id,
            "error": "abandoned",
            "released": bool(events.checkpoints),
            "final": True,
            "steps": int(last.get("step", 0)),
            "epsilon_spent": last.get("epsilon_spent") or 0.0,
        }
        _end(
            ws,
            RunSecrets.open(ws, run_id, run_dir),
            budget.FAIL,
            payload,
            everything=not events.checkpoints,
        )
        return payload
    finally:
        lock.release()


def _canary_set(
    ws: Workspace, run_id: str, events: budget.RunEvents | None, options: CanaryOptions | None
) -> CanarySet | None:
    """--canaries: fresh canaries for a new run; a resumed run's own, checked against the ledger."""
    if events is None:
        return generate(options) if options is not None else None
    committed = events.start.get("canaries")
    if committed is None:
        return None
    found = load_canaries(RunSecrets.open(ws, run_id, ws.runs_dir / run_id))
    if found is None or found.commitment != committed["commitment_sha256"]:
        raise TrainingError(
            f"run {run_id}: its canary file is missing or does not match the ledger's commitment"
        )
    return found


def _run_key(ws: Workspace, run_id: str, start: dict[str, Any]) -> bytes | None:
    if not start.get("encrypt_adapter"):
        return None
    return ws.keyring().get(ws.kek(), run_key_name(run_id))


def _open_resume(ws: Workspace, run_id: str) -> tuple[str, TrainConfig, budget.RunEvents]:
    """Trust nothing on disk that the ledger does not vouch for."""
    ws.verify_ledger()
    events = budget.runs_in_ledger(ws).get(run_id)
    run_dir = ws.runs_dir / run_id
    if events is None:
        raise TrainingError(f"no training run {run_id} in the ledger")
    if events.finish is not None:
        raise TrainingError(f"run {run_id} already finished; start a new run instead")
    if budget.ended(events):
        raise TrainingError(
            f"run {run_id} failed for good (its resume secrets are destroyed); start a new run"
        )
    if not events.checkpoints:
        raise TrainingError(f"run {run_id} has no checkpoint to resume from; start a new run")
    try:
        raw = (run_dir / "config.json").read_bytes()
    except FileNotFoundError:
        raise TrainingError(f"run {run_id}: config.json is missing") from None
    cfg = TrainConfig.from_json(raw, source=f"run {run_id} config.json")
    if (
        hashlib.sha256(raw).hexdigest() != events.start["config_sha256"]
    ):  # the bytes, not a re-stamp
        raise TrainingError(
            f"run {run_id}: config.json does not match the ledger (modified after the run started)"
        )
    last = events.checkpoints[-1]
    if tree_sha256(run_dir / CHECKPOINT_DIR) != last["checkpoint_sha256"]:
        raise TrainingError(
            f"run {run_id}: checkpoint files do not match the hash in the ledger (modified, replaced or "
            f"from another run); refusing to resume"
        )
    return run_id, cfg, events


def _check_resume_matches(
    start: dict[str, Any], p: Prepared, loaded: LoadedModel, secrets: RunSecrets
) -> None:
    checks = {
        "dataset content": (start["dataset_content_sha256"], p.corpus.manifest.content_sha256),
        "base model": (start["model_sha256"], loaded.model_sha256),
        "train/validation split": (True, split_matches(start, p.split, secrets)),
        "noise multiplier": (start["noise_multiplier"], p.noise_multiplier),
    }
    for what, (then, now) in checks.items():
        if then != now:
            raise TrainingError(f"cannot resume run: the {what} differs from when the run started")


def _fresh_state(p: Prepared) -> CheckpointState:
    return CheckpointState(
        step=0,
        epoch=0,
        history=[],
        noise_multiplier=p.noise_multiplier,
        sample_rate=p.sample_rate,
        scheduler_step=0,
        best_val_loss=None,
        bad_epochs=0,
        clipped_total=0,
        units_total=0,
    )


class _Trainer:
    """The mutable state of one training call; :meth:`run` is its only entry point."""

    def __init__(
        self,
        ws: Workspace,
        run_id: str,
        store: RunStore,
        secrets: RunSecrets,
        p: Prepared,
        loaded: LoadedModel,
        tokens: list[Tokenized],
        device: torch.device,
        *,
        resumed: bool,
        started: float,
    ) -> None:
        self.ws, self.run_id, self.store, self.secrets, self.p, self.loaded = (
            ws,
            run_id,
            store,
            secrets,
            p,
            loaded,
        )
        self.cfg = p.config
        self.tokens, self.device, self.resumed, self.started = tokens, device, resumed, started
        self.pad_id = loaded.tokenizer.pad_token_id
        self.metrics_path = store.root / "metrics.jsonl"
        self.checkpoints = 0
        self.private: privacy.Private | None = None
        self.state = _fresh_state(p)
        # Metrics stay in memory and are written (encrypted when the run is) with each
        # checkpoint: a run that dies before its first one leaves no per-step losses on
        # disk, and an encrypted run never writes them in plaintext.
        self.metrics: list[str] = []

    def steps_taken(self) -> int:
        return self.state.step

    def spent(self) -> float | None:
        """Epsilon spent so far (None for a non-private run)."""
        if self.private is None:
            return None if self.cfg.no_dp else 0.0
        return self._epsilon()

    # -- setup --------------------------------------------------------------------------------
    def _build(self) -> None:
        cfg = self.cfg
        model = add_lora(
            self.loaded.model,
            r=cfg.lora_r,
            alpha=cfg.lora_alpha,
            targets=cfg.lora_targets,
            seed=cfg.seed,
        )
        model.to(self.device)  # before Opacus wraps it: moving afterwards breaks the wiring
        model.train()
        self.model = model
        # Poisson sampling, noise and record choice draw from os.urandom, never from the
        # public --seed; a resumed run restores them from the checkpoint's resume secrets.
        self.choice_key = new_choice_key()
        self.dataset = UnitDataset(
            self.p.split.train,
            self.tokens,
            key=self.choice_key,
            names=unit_names(self.p.corpus, self.p.split.train, self.p.unit),
            step=lambda: self.state.step,
        )
        self.sample_gen = privacy.secret_generator("cpu")
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=cfg.batch_size,
            collate_fn=Collator(self.pad_id),
            generator=self.sample_gen,
            shuffle=cfg.no_dp,
        )
        params = privacy.trainable(model)
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.base_optimizer = optimizer
        if cfg.no_dp:
            self.loader, self.optimizer, self.module = loader, optimizer, model
        else:
            assert cfg.epsilon is not None and self.p.delta is not None
            self.private = privacy.make_private(
                model=model,
                optimizer=optimizer,
                loader=loader,
                epsilon=cfg.epsilon,
                delta=self.p.delta,
                epochs=cfg.epochs,
                max_grad_norm=cfg.max_grad_norm,
                accountant=cfg.accountant,
                clipping=cfg.clipping,
                criterion=ghost_criterion(),
                noise_generator=privacy.secret_generator(self.device),
                noise=self.p.noise_multiplier if self.resumed else None,
                rate=self.p.sample_rate,
                steps_per_epoch=self.p.steps_per_epoch,
                neighbours=cfg.neighbours,
            )
            if not math.isclose(
                self.private.noise_multiplier, self.p.noise_multiplier or 0, rel_tol=1e-9
            ):
                raise TrainingError("guard: Opacus chose a different noise multiplier than planned")
            self.loader, self.optimizer = self.private.loader, self.private.optimizer
            self.module = self.private.module
        warm = math.ceil(cfg.warmup_fraction * self.p.planned_steps)
        total = self.p.planned_steps

        def schedule(step: int) -> float:
            if step < warm:
                return (step + 1) / (warm + 1)
            progress = (step - warm) / max(1, total - warm)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        if self.resumed:
            self._restore()
        self.initial_lora = lora_state(model) if not self.resumed else self._initial_from_start()

    def _initial_from_start(self) -> dict[str, torch.Tensor]:
        # LoRA init is seeded: rebuilding it gives the weights the run started from.
        fresh = add_lora(
            load_base_model(self.cfg.model).model,
            r=self.cfg.lora_r,
            alpha=self.cfg.lora_alpha,
            targets=self.cfg.lora_targets,
            seed=self.cfg.seed,
        )
        return lora_state(fresh)

    def _restore(self) -> None:
        lora, opt_state, gens, state = load_checkpoint(self.store, self.secrets)
        named = dict(self.model.named_parameters())
        if set(lora) != {n for n, p in named.items() if p.requires_grad}:
            raise TrainingError(
                f"run {self.run_id}: checkpoint LoRA tensors do not match the model"
            )
        with torch.no_grad():
            for name, tensor in lora.items():
                named[name].copy_(tensor.to(self.device))
        self.base_optimizer.load_state_dict(opt_state)
        self.sample_gen.set_state(gens["sample"])
        self.dataset.key = self.choice_key = bytes(gens["choice_key"].tolist())
        if self.private is not None:
            privacy.restore_history(self.private, state.history)
            self.private.optimizer.generator.set_state(gens["noise"])
        with warnings.catch_warnings():  # replaying the schedule, not skipping an optimizer step
            warnings.simplefilter("ignore")
            for _ in range(state.scheduler_step):
                self.scheduler.step()
        self.state = state
        lines = self.store.read("metrics.jsonl").decode().splitlines(keepends=True)
        self.metrics = [ln for ln in lines if json.loads(ln).get("step", 0) <= state.step]

    # -- loop ---------------------------------------------------------------------------------
    def run(self, *, on_step: OnStep | None, stop_after_epochs: int | None) -> TrainResult:
        self._build()
        stride = (
            1
            if self.cfg.accountant == "rdp"
            else max(1, math.ceil(self.p.planned_steps / EPSILON_EVALUATIONS))
        )
        patience = self.p.patience
        stopped = "completed"
        epochs_here = 0
        train_loss: float | None = None
        val_loss: float | None = None
        clipped_fraction: float | None = None
        while self.state.epoch < self.cfg.epochs:
            losses, clipped, units = self._epoch(on_step, stride)
            self.state.epoch += 1
            epochs_here += 1
            train_loss = sum(losses) / len(losses) if losses else None
            val_loss = self._validate()
            clipped_fraction = clipped / units if units and not self.cfg.no_dp else None
            eps = self._epsilon()
            self._metric(
                {
                    "event": "epoch",
                    "epoch": self.state.epoch,
                    "step": self.state.step,
                    "train_loss": train_loss,
                    "validation_loss": val_loss,
                    "clipped_fraction": clipped_fraction,
                    "epsilon": eps,
                }
            )
            improved = self.state.best_val_loss is None or val_loss < self.state.best_val_loss
            self.state.best_val_loss = val_loss if improved else self.state.best_val_loss
            self.state.bad_epochs = 0 if improved else self.state.bad_epochs + 1
            self._checkpoint()
            if self.state.step >= self.p.planned_steps:
                stopped = "completed" if self.state.epoch >= self.cfg.epochs else "budget_spent"
                break
            if patience and self.state.bad_epochs >= patience:
                stopped = "early_stopping"
                break
            if (
                stop_after_epochs is not None
                and epochs_here >= stop_after_epochs
                and self.state.epoch < self.cfg.epochs
            ):
                return self._result("paused", train_loss, val_loss, clipped_fraction, adapter=None)
        if train_loss is None:  # resumed a run whose epochs were all done
            val_loss = self._validate()
        return self._finish(stopped, train_loss, val_loss, clipped_fraction)

    def _epoch(self, on_step: OnStep | None, stride: int) -> tuple[list[float], int, int]:
        losses: list[float] = []
        clipped = units = 0
        step_loss, step_units = 0.0, 0
        for ids, mask, labels, last in self._batches():
            if ids.shape[0] == 0:
                assert self.private is not None
                privacy.empty_step(self.private, self.cfg.clipping)
                stepped = True
            else:
                loss_value, n, n_clipped = self._physical(ids, mask, labels, last)
                step_loss += loss_value * n
                step_units += n
                units += n
                clipped += n_clipped
                stepped = last if self.private is None else not self.optimizer._is_last_step_skipped
            if not stepped:
                continue
            self.scheduler.step()
            self.state.step += 1
            self.state.scheduler_step += 1
            mean = step_loss / step_units if step_units else None
            if mean is not None:
                losses.append(mean)
            eps = self._epsilon() if self.state.step % stride == 0 else None
            self._metric(
                {
                    "step": self.state.step,
                    "epoch": self.state.epoch + 1,
                    "loss": mean,
                    "lr": self.scheduler.get_last_lr()[0],
                    "epsilon": eps,
                }
            )
            step_loss, step_units = 0.0, 0
            if on_step is not None:
                on_step(self.state.step, self.p.planned_steps)
            if self.state.step >= self.p.planned_steps:
                break
        self.state.clipped_total += clipped
        self.state.units_total += units
        return losses, clipped, units

    def _batches(self):  # type: ignore[no-untyped-def]
        """Physical batches as (ids, mask, labels, last-of-logical-batch)."""
        if self.private is not None:
            from opacus.utils.batch_memory_manager import BatchMemoryManager

            with BatchMemoryManager(
                data_loader=self.loader,
                max_physical_batch_size=self.cfg.max_physical_batch,
                optimizer=self.optimizer,
            ) as loader:
                for batch in loader:
                    if len(batch) != 3 or batch[0].shape[0] == 0:
                        # An empty Poisson batch (Opacus builds its shape from a sample).
                        empty = torch.empty((0, 1), dtype=torch.long)
                        yield empty, empty, empty, None
                        continue
                    ids, mask, labels = batch
                    yield ids.to(self.device), mask.to(self.device), labels.to(self.device), None
            return
        for ids, mask, labels in self.loader:
            chunks = list(
                zip(
                    ids.split(self.cfg.max_physical_batch),
                    mask.split(self.cfg.max_physical_batch),
                    labels.split(self.cfg.max_physical_batch),
                    strict=True,
                )
            )
            for i, (a, b, c) in enumerate(chunks):
                yield a.to(self.device), b.to(self.device), c.to(self.device), i == len(chunks) - 1

    def _physical(
        self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, last: bool | None
    ) -> tuple[float, int, int]:
        n = ids.shape[0]
        try:
            with self._autocast():
                logits = self.module(input_ids=ids, attention_mask=mask).logits
            if self.private is not None and self.cfg.clipping == "ghost":
                loss = ghost_loss(self.private.criterion, logits, labels)
                value = float(loss.item())
                loss.backward()
            else:
                loss = batch_loss(logits, labels)
                value = float(loss.item())
                if self.private is None:
                    # Accumulate a logical batch: weight each chunk by its share of it.
                    loss = loss * (n / self.cfg.batch_size)
                loss.backward()
        except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
            if "out of memory" in str(exc).lower() or "can't allocate" in str(exc).lower():
                raise TrainingError(
                    f"out of memory on a physical batch of {n} x {ids.shape[1]} tokens; lower "
                    "--max-physical-batch (the logical --batch-size and the privacy guarantee are unaffected)"
                ) from None
            raise
        n_clipped = 0
        if self.private is not None:
            norms = privacy.per_sample_norms(self.module, self.cfg.clipping)
            n_clipped = int((norms > self.cfg.max_grad_norm).sum().item())
            self.optimizer.step()
            self.optimizer.zero_grad()
        elif last:
            self.optimizer.step()
            self.optimizer.zero_grad()
        return value, n, n_clipped

    def _autocast(self):  # type: ignore[no-untyped-def]
        """bf16 on CUDA, except under ghost clipping.

        With hooks, the trainable layers run in float32 (:func:`.privacy.keep_float32`) so
        per-sample gradients, clip factors, the sum and the noise are float32. Ghost clipping
        sums the clipped gradients in a second backward pass through the whole model, whose
        bf16 rounding of c_i * g_i is not c_i times the rounded g_i: that sum could exceed
        the bound by the rounding, so ghost runs stay in float32.
        """
        if self.device.type == "cuda" and (self.cfg.clipping == "hooks" or self.private is None):
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast(self.device.type, enabled=False)

    @torch.no_grad()
    def _validate(self) -> float:
        self.model.eval()
        records = self.p.split.validation_records
        total, count = 0.0, 0
        for i in range(0, len(records), self.cfg.max_physical_batch):
            chunk = [self.tokens[r] for r in records[i : i + self.cfg.max_physical_batch]]
            padded = pad_batch(
                [t.input_ids for t in chunk], self.pad_id, labels=[t.labels for t in chunk]
            )
            ids, mask, labels = (t.to(self.device) for t in padded)
            with self._autocast():
                logits = self.model(input_ids=ids, attention_mask=mask).logits
            total += float(per_example_loss(logits, labels).sum().item())
            count += len(chunk)
        self.model.train()
        return total / count

    def _epsilon(self) -> float | None:
        if self.private is None:
            return None
        return privacy.epsilon_of(
            privacy.history_of(self.private),
            delta=self.p.delta or 0.0,
            accountant=self.cfg.accountant,
            neighbours=self.cfg.neighbours,
        )

    def _metric(self, row: dict[str, Any]) -> None:
        self.metrics.append(json.dumps(row, sort_keys=True) + "\n")

    def _flush_metrics(self) -> Path:
        return self.store.write("metrics.jsonl", "".join(self.metrics).encode())

    def _checkpoint(self) -> None:
        self.state.history = privacy.history_of(self.private)
        gens = {
            "sample": self.sample_gen.get_state(),
            "choice_key": torch.frombuffer(bytearray(self.choice_key), dtype=torch.uint8),
        }
        if self.private is not None:
            gens["noise"] = self.private.optimizer.generator.get_state()
        self._flush_metrics()
        digest = save_checkpoint(
            self.store,
            self.secrets,
            lora=lora_state(self.model),
            optimizer_state=self.base_optimizer.state_dict(),
            generators=gens,
            state=self.state,
        )
        self.checkpoints += 1
        _record(
            self.ws,
            budget.CHECKPOINT,
            {
                "run_id": self.run_id,
                "step": self.state.step,
                "epoch": self.state.epoch,
                "checkpoint_sha256": digest,
                "epsilon_spent": self._epsilon(),
            },
        )

    # -- the end ---------------------------------------------------------------------------------
    def _finish(
        self,
        stopped: str,
        train_loss: float | None,
        val_loss: float | None,
        clipped_fraction: float | None,
    ) -> TrainResult:
        eps = self._epsilon()
        try:
            privacy.check_changed(self.initial_lora, lora_state(self.model))
            if (
                eps is not None
                and self.cfg.epsilon is not None
                and eps > self.cfg.epsilon * (1 + 1e-9)
            ):
                raise BudgetError(
                    f"guard: the accountant reports epsilon {eps:.4f} above the target {self.cfg.epsilon}; "
                    "the adapter was not saved"
                )
        except TrainingError as exc:
            raise FinalFailure() from exc
        metrics_path = self._flush_metrics()
        adapter_dir = self._save_adapter()
        adapter_sha = tree_sha256(adapter_dir)
        result = self._result(stopped, train_loss, val_loss, clipped_fraction, adapter=adapter_dir)
        self.store.write(
            "result.json", (json.dumps(asdict(result), indent=2, sort_keys=True) + "\n").encode()
        )
        _end(
            self.ws,
            self.secrets,
            budget.FINISH,
            {
                "run_id": self.run_id,
                "stopped": stopped,
                "steps": self.state.step,
                "epochs_completed": self.state.epoch,
                "epsilon_spent": eps,
                "delta": self.p.delta,
                "accountant": self.cfg.accountant if self.private else None,
                "privacy_unit": self.p.unit,
                "neighbours": result.neighbours,
                "noise_multiplier": self.p.noise_multiplier,
                "sample_rate": self.p.sample_rate,
                "adapter_sha256": adapter_sha,
                "adapter_encrypted": self.store.key is not None,
                # Losses are computed without noise: they stay out of the signed ledger (the
                # result and --json carry them); the ledger vouches for the metrics file's hash.
                "metrics_sha256": _file_sha256(metrics_path),
            },
            everything=False,
        )
        return result

    def _save_adapter(self) -> Path:
        from peft import get_peft_model_state_dict
        from safetensors.torch import save as st_save

        adapter_dir = self.store.root / ADAPTER_DIR
        make_private_dir(adapter_dir)
        # Name the base model by its id ('tiny', a path, a hub id), not a temporary directory.
        self.model.peft_config["default"].base_model_name_or_path = self.loaded.model_id
        if self.store.key is None:
            self.model.save_pretrained(str(adapter_dir), save_embedding_layers=False)
        else:
            # Never write plaintext weights: serialise in memory, then seal.
            self.model.peft_config["default"].save_pretrained(str(adapter_dir))
            state = {
                k: v.detach().to("cpu").contiguous()
                for k, v in get_peft_model_state_dict(
                    self.model, save_embedding_layers=False
                ).items()
            }
            self.store.write(
                f"{ADAPTER_DIR}/{ADAPTER_WEIGHTS}", st_save(state, metadata={"format": "pt"})
            )
        self.loaded.tokenizer.save_pretrained(str(self.store.root / "tokenizer"))
        return adapter_dir

    def _result(
        self,
        stopped: str,
        train_loss: float | None,
        val_loss: float | None,
        clipped_fraction: float | None,
        *,
        adapter: Path | None,
    ) -> TrainResult:
        p, cfg = self.p, self.cfg
        dp = self.private is not None
        scrubbed = scrubbed_for_training(p.corpus)
        return TrainResult(
            run_id=self.run_id,
            run_dir=str(self.store.root),
            adapter_dir=str(adapter) if adapter else "",
            adapter_encrypted=self.store.key is not None,
            adapter_sha256=tree_sha256(adapter) if adapter else "",
            dataset=cfg.data,
            dataset_scrubbed=scrubbed,
            allow_unscrubbed=not scrubbed,
            model=self.loaded.model_id,
            model_sha256=self.loaded.model_sha256,
            dp=dp,
            epsilon_target=cfg.epsilon if dp else None,
            epsilon_spent=self._epsilon(),
            delta=p.delta,
            delta_defaulted=p.delta_defaulted,
            noise_multiplier=p.noise_multiplier,
            sample_rate=p.sample_rate,
            steps=self.state.step,
            planned_steps=p.planned_steps,
            epochs_completed=self.state.epoch,
            accountant=cfg.accountant if dp else None,
            privacy_unit=p.unit,
            neighbours=cfg.neighbours if dp else None,
            protects=protects(p),
            clipping=cfg.clipping if dp else None,
            max_grad_norm=cfg.max_grad_norm,
            train_units=p.train_units,
            validation_units=len(p.split.validation),
            format=p.corpus.format,
            truncated_examples=truncated_count(self.tokens),
            train_loss=train_loss,
            validation_loss=val_loss,
            clipped_fraction=clipped_fraction,
            stopped=stopped,
            early_stopping_patience=p.patience,
            policy=p.policy.name if p.policy else None,
            dataset_lifetime_epsilon=p.rules.lifetime_epsilon,
            non_private_outputs=p.non_private_outputs,
            seconds=round(time.perf_counter() - self.started, 2),
        )


def protects(p: Prepared) -> str:
    """What the guarantee covers as one, in words: ``train.start`` records it, the report and
    ``train --json`` show it. Merged units (docs/DEDUP.md) are covered as a whole."""
    cfg = p.config
    if cfg.no_dp:
        return "nothing (non-private baseline)"
    merged = ""
    if (p.split.dedup or {}).get("clusters"):
        merged = (
            " together with its near-copies"
            if p.unit == "record"
            else " together with every subject it shares a near-copy with"
        )
    subject = f" ({p.corpus.fields.subject_field})" if p.unit == "subject" else ""
    relation = ", one added or removed" if cfg.neighbours == "add-remove" else ", one replaced"
    return f"each {p.unit}{subject}{merged}{relation}"


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
