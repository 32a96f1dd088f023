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
   ``train.finish`` records the adapter's hash.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import filelock
import torch

from securetune import __version__
from securetune.crypto.envelope import new_data_key
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
from securetune.train.data import Collator, UnitDataset, pad_batch, tokenize
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
from securetune.workspace import Workspace

OnStep = Callable[[int, int], None]
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
    protects: str
    clipping: str | None
    max_grad_norm: float
    train_units: int
    validation_units: int
    train_loss: float | None
    validation_loss: float | None
    clipped_fraction: float | None
    stopped: str  # completed | early_stopping | budget_spent | paused
    policy: str | None
    dataset_lifetime_epsilon: float | None
    seconds: float


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was requested but no CUDA device is available")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def _record(ws: Workspace, event: str, payload: dict[str, Any], *, attempts: int = 50) -> None:
    """Ledger writes wait briefly for the workspace lock: another command may hold it."""
    for i in range(attempts):
        try:
            with ws.locked():
                ws.record(event, payload)
            return
        except LockError:
            if i == attempts - 1:
                raise
            time.sleep(0.2)


def _new_run_id(ws: Workspace) -> str:
    return f"{ws.clock().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _versions() -> dict[str, str]:
    import opacus
    import peft
    import transformers

    return {"securetune": __version__, "torch": torch.__version__, "opacus": opacus.__version__,
            "peft": peft.__version__, "transformers": transformers.__version__}


def train_run(
    ws: Workspace, cfg: TrainConfig | None = None, *, resume: str | None = None,
    on_step: OnStep | None = None, stop_after_epochs: int | None = None,
    canaries: CanaryOptions | None = None,
) -> TrainResult:
    """Train (or resume) a run. ``stop_after_epochs`` pauses after that many epochs in this
    call, leaving a resumable checkpoint (used by tests and for time-boxed jobs).
    ``canaries`` plants audit canaries (see :mod:`securetune.train.canaries`)."""
    with quiet():
        return _train_run(ws, cfg, resume=resume, on_step=on_step, stop_after_epochs=stop_after_epochs,
                          canaries=canaries)


def _train_run(ws: Workspace, cfg: TrainConfig | None, *, resume: str | None, on_step: OnStep | None,
               stop_after_epochs: int | None, canaries: CanaryOptions | None = None) -> TrainResult:
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
    tokens = tokenize(loaded.tokenizer, prepared.corpus.texts, cfg.max_length)
    run_dir = ws.runs_dir / run_id
    if events is not None:
        _check_resume_matches(events.start, prepared, loaded, cfg)
    make_private_dir(run_dir)
    lock = filelock.FileLock(str(run_dir / ".lock"), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockError(f"run {run_id} is being trained by another process") from None
    try:
        if events is None:
            try:
                key = _start(ws, run_id, run_dir, prepared, loaded, canary_set=canary_set)
                if canary_set is not None:  # --canaries: kept (encrypted) for `check`
                    save_canaries(RunStore(run_dir, run_id, key), canary_set)
            except BaseException:
                shutil.rmtree(run_dir, ignore_errors=True)  # refused: leave no half-made run behind
                raise
        else:
            key = _run_key(ws, run_id, events.start)
            _record(ws, "train.resume", {"run_id": run_id, "from_step": events.checkpoints[-1]["step"]})
        store = RunStore(run_dir, run_id, key)
        trainer = _Trainer(ws, run_id, store, prepared, loaded, tokens, device, resumed=events is not None,
                           started=started)
        try:
            return trainer.run(on_step=on_step, stop_after_epochs=stop_after_epochs)
        except BaseException as exc:
            # A run that failed before its first checkpoint released nothing: say so, so the
            # budget does not keep its reservation. Later failures stay resumable (and reserved).
            # Nothing was released, so nothing it computed (per-step losses in metrics.jsonl)
            # may stay behind either: the run directory goes.
            if events is None and trainer.checkpoints == 0:
                _record(ws, budget.FAIL, {"run_id": run_id, "error": type(exc).__name__, "released": False})
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
    finally:
        lock.release()


def _start(ws: Workspace, run_id: str, run_dir: Path, p: Prepared, loaded: LoadedModel,
           *, canary_set: CanarySet | None = None) -> bytes | None:
    """Budget check and ``train.start``, atomically under the workspace lock."""
    cfg, manifest = p.config, p.corpus.manifest
    atomic_write_bytes(run_dir / "config.json", cfg.to_json(), mode=0o600)
    atomic_write_bytes(run_dir / "split.json", p.split.to_json(manifest.content_sha256), mode=0o600)
    payload = {
        "run_id": run_id,
        "dataset": manifest.name,
        "dataset_id": manifest.dataset_id,
        "dataset_content_sha256": manifest.content_sha256,
        "dataset_ciphertext_sha256": manifest.ciphertext_sha256,
        "dataset_scrubbed": manifest.scrubbed,
        # Set whenever training goes ahead on unscrubbed data, whether by --allow-unscrubbed
        # or because the effective rules do not require scrubbing.
        "allow_unscrubbed": not manifest.scrubbed,
        "policy": p.policy.name if p.policy else None,
        "policy_sha256": p.policy.sha256 if p.policy else None,
        "dataset_policy": p.dataset_policy.name if p.dataset_policy else None,
        "dataset_policy_sha256": p.dataset_policy.sha256 if p.dataset_policy else None,
        "training_rules": p.rules.model_dump(mode="json"),
        "model_id": loaded.model_id,
        "model_sha256": loaded.model_sha256,
        "config_sha256": cfg.sha256,
        "split_sha256": p.split.sha256,
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
        "clipping": cfg.clipping,
        "privacy_unit": p.unit,
        "train_units": p.train_units,
        "validation_units": len(p.split.validation),
        "lora": {"r": cfg.lora_r, "alpha": cfg.lora_alpha, "targets": list(cfg.lora_targets)},
        "seed": cfg.seed,  # split, LoRA init, record choice; noise and sampling use os.urandom
        "encrypt_adapter": p.rules.encrypt_adapter,
        "versions": _versions(),
    }
    if canary_set is not None:  # --canaries: the salted commitment only, never a secret or bit
        payload["canaries"] = canary_set.ledger_summary()
    for attempt in range(50):
        try:
            with ws.locked():
                spent = budget.dataset_spend(ws, dataset_id=manifest.dataset_id,
                                             content_sha256=manifest.content_sha256)
                cap = p.rules.lifetime_epsilon
                this = math.inf if cfg.no_dp else float(cfg.epsilon or 0)
                if cap is not None and spent.epsilon + this > cap:
                    already = "unbounded (a non-private run)" if math.isinf(spent.epsilon) else f"{spent.epsilon:g}"
                    raise BudgetError(
                        f"dataset {manifest.name}: lifetime budget of {cap:g} ({p.policy_label}) "
                        f"would be exceeded: {already} already spent in {spent.runs} run(s), this run targets {this:g}"
                    )
                payload["dataset_epsilon_before"] = None if math.isinf(spent.epsilon) else spent.epsilon
                payload["lifetime_epsilon_cap"] = cap
                key = None
                if p.rules.encrypt_adapter:
                    key = new_data_key()
                    keyring = ws.keyring()
                    keyring.add(ws.kek(), run_key_name(run_id), key)
                    keyring.save(ws.keyring_path)
                ws.record(budget.START, payload)
                return key
        except LockError:
            if attempt == 49:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _canary_set(ws: Workspace, run_id: str, events: budget.RunEvents | None,
                options: CanaryOptions | None) -> CanarySet | None:
    """--canaries: fresh canaries for a new run; a resumed run's own, checked against the ledger."""
    if events is None:
        return generate(options) if options is not None else None
    committed = events.start.get("canaries")
    if committed is None:
        return None
    store = RunStore(ws.runs_dir / run_id, run_id, _run_key(ws, run_id, events.start))
    found = load_canaries(store)
    if found is None or found.commitment != committed["commitment_sha256"]:
        raise TrainingError(f"run {run_id}: its canary file is missing or does not match the ledger's commitment")
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
    if not events.checkpoints:
        raise TrainingError(f"run {run_id} has no checkpoint to resume from; start a new run")
    try:
        raw = (run_dir / "config.json").read_bytes()
    except FileNotFoundError:
        raise TrainingError(f"run {run_id}: config.json is missing") from None
    cfg = TrainConfig.from_json(raw, source=f"run {run_id} config.json")
    if cfg.sha256 != events.start["config_sha256"]:
        raise TrainingError(f"run {run_id}: config.json does not match the ledger (modified after the run started)")
    last = events.checkpoints[-1]
    if tree_sha256(run_dir / CHECKPOINT_DIR) != last["checkpoint_sha256"]:
        raise TrainingError(
            f"run {run_id}: checkpoint files do not match the hash in the ledger (modified, replaced or "
            f"from another run); refusing to resume"
        )
    return run_id, cfg, events


def _check_resume_matches(start: dict[str, Any], p: Prepared, loaded: LoadedModel, cfg: TrainConfig) -> None:
    checks = {
        "dataset content": (start["dataset_content_sha256"], p.corpus.manifest.content_sha256),
        "base model": (start["model_sha256"], loaded.model_sha256),
        "train/validation split": (start["split_sha256"], p.split.sha256),
        "noise multiplier": (start["noise_multiplier"], p.noise_multiplier),
    }
    for what, (then, now) in checks.items():
        if then != now:
            raise TrainingError(f"cannot resume run: the {what} differs from when the run started")


class _Trainer:
    """The mutable state of one training call; :meth:`run` is its only entry point."""

    def __init__(self, ws: Workspace, run_id: str, store: RunStore, p: Prepared, loaded: LoadedModel,
                 tokens: list[list[int]], device: torch.device, *, resumed: bool, started: float) -> None:
        self.ws, self.run_id, self.store, self.p, self.loaded = ws, run_id, store, p, loaded
        self.cfg = p.config
        self.tokens, self.device, self.resumed, self.started = tokens, device, resumed, started
        self.pad_id = loaded.tokenizer.pad_token_id
        self.metrics_path = store.root / "metrics.jsonl"
        self.checkpoints = 0
        # Until the first checkpoint a new run's metrics stay in memory: a run that dies
        # before it (released nothing, charged nothing) leaves no per-step losses on disk.
        self.pending: list[str] | None = None if resumed else []

    # -- setup --------------------------------------------------------------------------------
    def _build(self) -> None:
        cfg = self.cfg
        model = add_lora(self.loaded.model, r=cfg.lora_r, alpha=cfg.lora_alpha,
                         targets=cfg.lora_targets, seed=cfg.seed)
        model.to(self.device)  # before Opacus wraps it: moving afterwards breaks the wiring
        model.train()
        self.model = model
        self.dataset = UnitDataset(self.p.split.train, self.tokens, seed=cfg.seed)
        # Poisson sampling and noise draw from os.urandom-seeded generators, never from the
        # public --seed; a resumed run restores their states from the (secret) checkpoint.
        self.sample_gen = privacy.secret_generator("cpu")
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=cfg.batch_size, collate_fn=Collator(self.pad_id),
            generator=self.sample_gen, shuffle=cfg.no_dp,
        )
        params = privacy.trainable(model)
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.base_optimizer = optimizer
        self.private: privacy.Private | None = None
        if cfg.no_dp:
            self.loader, self.optimizer, self.module = loader, optimizer, model
        else:
            assert cfg.epsilon is not None and self.p.delta is not None
            self.private = privacy.make_private(
                model=model, optimizer=optimizer, loader=loader, epsilon=cfg.epsilon,
                delta=self.p.delta, epochs=cfg.epochs, max_grad_norm=cfg.max_grad_norm,
                accountant=cfg.accountant, clipping=cfg.clipping, criterion=ghost_criterion(),
                noise_generator=privacy.secret_generator(self.device),
                noise=self.p.noise_multiplier if self.resumed else None,
                rate=self.p.sample_rate, steps_per_epoch=self.p.steps_per_epoch,
            )
            if not math.isclose(self.private.noise_multiplier, self.p.noise_multiplier or 0, rel_tol=1e-9):
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
        self.state = CheckpointState(
            step=0, epoch=0, history=[], noise_multiplier=self.p.noise_multiplier,
            sample_rate=self.p.sample_rate, scheduler_step=0, best_val_loss=None, bad_epochs=0,
            unit_rng=None, clipped_total=0, units_total=0,
        )
        if self.resumed:
            self._restore()
        self.initial_lora = lora_state(model) if not self.resumed else self._initial_from_start()

    def _initial_from_start(self) -> dict[str, torch.Tensor]:
        # LoRA init is seeded: rebuilding it gives the weights the run started from.
        fresh = add_lora(load_base_model(self.cfg.model).model, r=self.cfg.lora_r,
                         alpha=self.cfg.lora_alpha, targets=self.cfg.lora_targets, seed=self.cfg.seed)
        return lora_state(fresh)

    def _restore(self) -> None:
        lora, opt_state, gens, state = load_checkpoint(self.store)
        named = dict(self.model.named_parameters())
        if set(lora) != {n for n, p in named.items() if p.requires_grad}:
            raise TrainingError(f"run {self.run_id}: checkpoint LoRA tensors do not match the model")
        with torch.no_grad():
            for name, tensor in lora.items():
                named[name].copy_(tensor.to(self.device))
        self.base_optimizer.load_state_dict(opt_state)
        self.sample_gen.set_state(gens["sample"])
        if self.private is not None:
            privacy.restore_history(self.private, state.history)
            self.private.optimizer.generator.set_state(gens["noise"])
        if state.unit_rng is not None:
            self.dataset.rng.setstate(_rng_from_json(state.unit_rng))
        with warnings.catch_warnings():  # replaying the schedule, not skipping an optimizer step
            warnings.simplefilter("ignore")
            for _ in range(state.scheduler_step):
                self.scheduler.step()
        self.state = state
        lines = self.metrics_path.read_bytes().splitlines(keepends=True) if self.metrics_path.exists() else []
        kept = [ln for ln in lines if json.loads(ln).get("step", 0) <= state.step]
        atomic_write_bytes(self.metrics_path, b"".join(kept), mode=0o600)

    # -- loop ---------------------------------------------------------------------------------
    def run(self, *, on_step: OnStep | None, stop_after_epochs: int | None) -> TrainResult:
        self._build()
        stride = 1 if self.cfg.accountant == "rdp" else max(1, math.ceil(self.p.planned_steps / EPSILON_EVALUATIONS))
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
            self._metric({"event": "epoch", "epoch": self.state.epoch, "step": self.state.step,
                          "train_loss": train_loss, "validation_loss": val_loss,
                          "clipped_fraction": clipped_fraction, "epsilon": eps})
            improved = self.state.best_val_loss is None or val_loss < self.state.best_val_loss
            self.state.best_val_loss = val_loss if improved else self.state.best_val_loss
            self.state.bad_epochs = 0 if improved else self.state.bad_epochs + 1
            self._checkpoint()
            if self.state.step >= self.p.planned_steps:
                stopped = "completed" if self.state.epoch >= self.cfg.epochs else "budget_spent"
                break
            if self.cfg.early_stopping_patience and self.state.bad_epochs >= self.cfg.early_stopping_patience:
                stopped = "early_stopping"
                break
            if stop_after_epochs is not None and epochs_here >= stop_after_epochs and self.state.epoch < self.cfg.epochs:
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
            self._metric({"step": self.state.step, "epoch": self.state.epoch + 1, "loss": mean,
                          "lr": self.scheduler.get_last_lr()[0], "epsilon": eps})
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

            with BatchMemoryManager(data_loader=self.loader, max_physical_batch_size=self.cfg.max_physical_batch,
                                    optimizer=self.optimizer) as loader:
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
            chunks = list(zip(ids.split(self.cfg.max_physical_batch), mask.split(self.cfg.max_physical_batch),
                              labels.split(self.cfg.max_physical_batch), strict=True))
            for i, (a, b, c) in enumerate(chunks):
                yield a.to(self.device), b.to(self.device), c.to(self.device), i == len(chunks) - 1

    def _physical(self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                  last: bool | None) -> tuple[float, int, int]:
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
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    @torch.no_grad()
    def _validate(self) -> float:
        self.model.eval()
        records = self.p.split.validation_records
        total, count = 0.0, 0
        for i in range(0, len(records), self.cfg.max_physical_batch):
            chunk = [self.tokens[r] for r in records[i : i + self.cfg.max_physical_batch]]
            ids, mask, labels = (t.to(self.device) for t in pad_batch(chunk, self.pad_id))
            with self._autocast():
                logits = self.model(input_ids=ids, attention_mask=mask).logits
            total += float(per_example_loss(logits, labels).sum().item())
            count += len(chunk)
        self.model.train()
        return total / count

    def _epsilon(self) -> float | None:
        if self.private is None:
            return None
        return privacy.epsilon_of(privacy.history_of(self.private), delta=self.p.delta or 0.0,
                                  accountant=self.cfg.accountant)

    def _metric(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, sort_keys=True) + "\n"
        if self.pending is not None:
            self.pending.append(line)
            return
        with self.metrics_path.open("a", encoding="utf-8") as fh:
            fh.write(line)

    def _flush_metrics(self) -> None:
        if self.pending is not None:
            atomic_write_bytes(self.metrics_path, "".join(self.pending).encode(), mode=0o600)
            self.pending = None

    def _checkpoint(self) -> None:
        self.state.history = privacy.history_of(self.private)
        self.state.unit_rng = _rng_to_json(self.dataset.rng.getstate())
        gens = {"sample": self.sample_gen.get_state()}
        if self.private is not None:
            gens["noise"] = self.private.optimizer.generator.get_state()
        self._flush_metrics()
        digest = save_checkpoint(self.store, lora=lora_state(self.model),
                                 optimizer_state=self.base_optimizer.state_dict(), generators=gens,
                                 state=self.state)
        self.checkpoints += 1
        _record(self.ws, budget.CHECKPOINT, {
            "run_id": self.run_id, "step": self.state.step, "epoch": self.state.epoch,
            "checkpoint_sha256": digest, "epsilon_spent": self._epsilon(),
        })

    # -- the end ---------------------------------------------------------------------------------
    def _finish(self, stopped: str, train_loss: float | None, val_loss: float | None,
                clipped_fraction: float | None) -> TrainResult:
        privacy.check_changed(self.initial_lora, lora_state(self.model))
        eps = self._epsilon()
        if eps is not None and self.cfg.epsilon is not None and eps > self.cfg.epsilon * (1 + 1e-9):
            raise BudgetError(
                f"guard: the accountant reports epsilon {eps:.4f} above the target {self.cfg.epsilon}; "
                "the adapter was not saved"
            )
        self._flush_metrics()
        adapter_dir = self._save_adapter()
        adapter_sha = tree_sha256(adapter_dir)
        result = self._result(stopped, train_loss, val_loss, clipped_fraction, adapter=adapter_dir)
        _record(self.ws, budget.FINISH, {
            "run_id": self.run_id, "stopped": stopped, "steps": self.state.step,
            "epochs_completed": self.state.epoch, "epsilon_spent": eps, "delta": self.p.delta,
            "accountant": self.cfg.accountant if self.private else None, "privacy_unit": self.p.unit,
            "noise_multiplier": self.p.noise_multiplier, "sample_rate": self.p.sample_rate,
            "adapter_sha256": adapter_sha, "adapter_encrypted": self.store.key is not None,
            # Losses are computed without noise: they stay out of the signed ledger (the
            # result and --json carry them); the ledger vouches for the metrics file's hash.
            "metrics_sha256": _file_sha256(self.metrics_path),
        })
        atomic_write_bytes(self.store.root / "result.json",
                           (json.dumps(asdict(result), indent=2, sort_keys=True) + "\n").encode(), mode=0o600)
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
            state = {k: v.detach().to("cpu").contiguous() for k, v in get_peft_model_state_dict(self.model, save_embedding_layers=False).items()}
            self.store.write(f"{ADAPTER_DIR}/{ADAPTER_WEIGHTS}", st_save(state, metadata={"format": "pt"}))
        self.loaded.tokenizer.save_pretrained(str(self.store.root / "tokenizer"))
        return adapter_dir

    def _result(self, stopped: str, train_loss: float | None, val_loss: float | None,
                clipped_fraction: float | None, *, adapter: Path | None) -> TrainResult:
        p, cfg = self.p, self.cfg
        dp = self.private is not None
        return TrainResult(
            run_id=self.run_id, run_dir=str(self.store.root),
            adapter_dir=str(adapter) if adapter else "", adapter_encrypted=self.store.key is not None,
            adapter_sha256=tree_sha256(adapter) if adapter else "", dataset=cfg.data,
            dataset_scrubbed=p.corpus.manifest.scrubbed,
            allow_unscrubbed=not p.corpus.manifest.scrubbed,
            model=self.loaded.model_id, model_sha256=self.loaded.model_sha256, dp=dp,
            epsilon_target=cfg.epsilon if dp else None, epsilon_spent=self._epsilon(),
            delta=p.delta, delta_defaulted=p.delta_defaulted, noise_multiplier=p.noise_multiplier,
            sample_rate=p.sample_rate, steps=self.state.step, planned_steps=p.planned_steps,
            epochs_completed=self.state.epoch, accountant=cfg.accountant if dp else None,
            privacy_unit=p.unit,
            protects=(f"each {p.unit}" + (f" ({p.corpus.fields.subject_field})" if p.unit == "subject" else ""))
            if dp else "nothing (non-private baseline)",
            clipping=cfg.clipping if dp else None, max_grad_norm=cfg.max_grad_norm,
            train_units=p.train_units, validation_units=len(p.split.validation),
            train_loss=train_loss, validation_loss=val_loss, clipped_fraction=clipped_fraction,
            stopped=stopped, policy=p.policy.name if p.policy else None,
            dataset_lifetime_epsilon=p.rules.lifetime_epsilon,
            seconds=round(time.perf_counter() - self.started, 2),
        )


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rng_to_json(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_from_json(doc: list) -> tuple:
    return (doc[0], tuple(doc[1]), doc[2])

