"""Reopen a finished run and verify it against the ledger, for whatever measures it next.

``check`` and ``eval`` both read a trained run after the fact, and both must trust nothing on
disk that the ledger does not vouch for: the config, the dataset's content, the split
(canaries included, against the salted commitment in ``train.start``; an older run's plain
hash), the canary set (against its salted commitment in ``train.start``),
the policy and the adapter (against ``train.finish``) are all re-hashed here, and the base
model is re-hashed when it is loaded. The split is re-derived exactly as training made it,
so a run's held-out units are the ones it never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from securetune.errors import TrainingError
from securetune.workspace import Workspace


class ReopenError(TrainingError):
    """A finished run cannot be reopened: unknown, unfinished, or not what the ledger says."""


@dataclass
class ReopenedRun:
    """A verified run, its records decrypted in memory (never written out)."""

    ws: Workspace
    run_id: str
    start: dict[str, Any]
    finish: dict[str, Any]
    config: Any  # TrainConfig
    corpus: Any  # Corpus, with included canaries appended (as trained)
    dataset_records: int  # records of the dataset itself; positions past it are canaries
    split: Any  # Split, canary units included
    canaries: Any  # CanarySet | None
    store: Any  # RunStore
    policy: Any  # Policy | None

    def __repr__(self) -> str:  # never print record text
        return f"ReopenedRun({self.run_id})"

    @property
    def dp(self) -> bool:
        return not self.start.get("no_dp")


def reopen_run(ws: Workspace, run_id: str, *, purpose: str = "checked") -> ReopenedRun:
    """Re-derive the run from the workspace and refuse anything the ledger does not vouch for.

    ``purpose`` completes "only a finished run's adapter can be ..." in the error message.
    """
    from securetune.policy import load_policy
    from securetune.train import budget
    from securetune.train.canaries import insert, load_canaries
    from securetune.train.checkpoint import ADAPTER_DIR, RunStore, run_key_name, tree_sha256
    from securetune.train.config import TrainConfig
    from securetune.train.data import (
        load_corpus,
        make_split,
        near_duplicates,
        resolve_unit,
        split_matches,
        units_of,
    )
    from securetune.train.secrets import RunSecrets

    ws.verify_ledger()
    events = budget.runs_in_ledger(ws).get(run_id)
    if events is None:
        raise ReopenError(f"no training run {run_id} in the ledger")
    if events.finish is None:
        raise ReopenError(
            f"run {run_id} has not finished; only a finished run's adapter can be {purpose}"
        )
    start, finish = events.start, events.finish
    run_dir = ws.runs_dir / run_id
    try:
        raw = (run_dir / "config.json").read_bytes()
    except FileNotFoundError:
        raise ReopenError(f"run {run_id}: config.json is missing") from None
    cfg = TrainConfig.from_json(raw, source=f"run {run_id} config.json")
    if cfg.sha256 != start["config_sha256"]:
        raise ReopenError(f"run {run_id}: config.json does not match the ledger")
    if tree_sha256(run_dir / ADAPTER_DIR) != finish["adapter_sha256"]:
        raise ReopenError(
            f"run {run_id}: the adapter does not match the hash in the ledger (modified or replaced)"
        )
    key = ws.keyring().get(ws.kek(), run_key_name(run_id)) if start.get("encrypt_adapter") else None
    store = RunStore(run_dir, run_id, key)
    canaries = (
        load_canaries(RunSecrets.open(ws, run_id, run_dir)) if start.get("canaries") else None
    )
    committed = start.get("canaries")
    if (canaries is None) != (committed is None) or (
        canaries is not None and canaries.commitment != committed["commitment_sha256"]
    ):
        raise ReopenError(
            f"run {run_id}: the canary file does not match the commitment in train.start"
        )
    corpus = load_corpus(
        ws, cfg.data, text_fields=cfg.text_fields, subject_field=cfg.subject_field, fmt=cfg.format
    )
    if corpus.manifest.content_sha256 != start["dataset_content_sha256"]:
        raise ReopenError(
            f"run {run_id}: dataset {cfg.data} no longer holds the records the run trained on"
        )
    dataset_records = len(corpus.texts)
    unit = resolve_unit(cfg.privacy_unit, corpus.fields)
    split = make_split(
        units_of(corpus, unit, clusters=near_duplicates(corpus, cfg.dedup)),
        unit=unit,
        fraction=cfg.validation_fraction,
        seed=cfg.seed,
        batch_size=cfg.batch_size,
    )
    if canaries is not None:
        corpus, split = insert(corpus, split, canaries)
    if not split_matches(start, split, RunSecrets.open(ws, run_id, run_dir)):
        raise ReopenError(f"run {run_id}: the train/validation split cannot be reproduced")
    policy = None
    if start.get("policy"):
        policy = load_policy(start["policy"], search=[ws.root / "policies"])
        if policy.sha256 != start.get("policy_sha256"):
            raise ReopenError(
                f"run {run_id}: policy {start['policy']} has changed since the run was trained"
            )
    return ReopenedRun(
        ws=ws,
        run_id=run_id,
        start=start,
        finish=finish,
        config=cfg,
        corpus=corpus,
        dataset_records=dataset_records,
        split=split,
        canaries=canaries,
        store=store,
        policy=policy,
    )


def load_run_model(run: ReopenedRun, *, device: str | None = None) -> tuple[Any, Any, Any]:
    """The base model the run started from (re-hashed), with the run's adapter decrypted in
    memory as peft's ``default`` adapter: (peft model, tokenizer, torch device).

    ``device`` defaults to the run's own ``--device`` (``cuda`` relaxed to ``auto``).
    """
    from peft import LoraConfig, get_peft_model

    from securetune.train.checkpoint import ADAPTER_DIR
    from securetune.train.loop import resolve_device
    from securetune.train.model import load_base_model

    cfg, start = run.config, run.start
    loaded = load_base_model(cfg.model)
    if loaded.model_sha256 != start["model_sha256"]:
        raise ReopenError(
            f"base model {cfg.model} is not the one run {start['run_id']} was trained from"
        )
    config = LoraConfig.from_pretrained(str(run.store.root / ADAPTER_DIR))
    model = get_peft_model(loaded.model, config)
    _set_weights(model, run, "default")
    wanted = device if device is not None else (cfg.device if cfg.device != "cuda" else "auto")
    torch_device = resolve_device(wanted)
    model.to(torch_device)
    return model, loaded.tokenizer, torch_device


def add_run_adapter(model: Any, run: ReopenedRun, name: str) -> None:
    """Load another verified run's adapter into ``model`` beside the ones it has, as ``name``
    (same base model required), so one copy of the base weights serves every comparison."""
    from peft import LoraConfig

    from securetune.train.checkpoint import ADAPTER_DIR

    config = LoraConfig.from_pretrained(str(run.store.root / ADAPTER_DIR))
    model.add_adapter(name, config)
    _set_weights(model, run, name)
    model.to(next(model.parameters()).device)


def _set_weights(model: Any, run: ReopenedRun, name: str) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load as st_load

    from securetune.train.checkpoint import ADAPTER_DIR, ADAPTER_WEIGHTS

    state = st_load(run.store.read(f"{ADAPTER_DIR}/{ADAPTER_WEIGHTS}"))
    set_peft_model_state_dict(model, state, adapter_name=name)


def record_waiting(
    ws: Workspace, event: str, payload: dict[str, Any], *, attempts: int = 50
) -> None:
    """Append a result event under the workspace lock, waiting briefly while another command
    holds it (a measurement that took minutes should not be lost to a busy lock)."""
    import time

    from securetune.errors import LockError

    for attempt in range(attempts):
        try:
            with ws.locked():
                ws.record(event, payload)
            return
        except LockError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)
