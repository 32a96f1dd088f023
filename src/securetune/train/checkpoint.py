"""Run directories and checkpoints: what a run leaves on disk, and how resume trusts it.

```
runs/<run_id>/
  config.json          the full TrainConfig (its hash is in the train.start event)
  split.json           train/validation record positions (no content)
  metrics.jsonl        per step: loss, epsilon spent; per epoch: losses, clipped fraction
  tokenizer/           the tokenizer, saved with save_pretrained
  adapter/             peft save_pretrained output; with an encrypting policy the weights
                       are a stream container, adapter_model.safetensors.stc
  checkpoint/          LoRA and optimizer tensors (safetensors), state.json, and the
                       generator states (rng.safetensors.resume.stc, a run secret)
  secrets/             other run secrets (see .secrets)
  result.json          the run's summary (what --json prints)
```

With an encrypting policy every run-derived file (adapter weights, metrics, result, split,
checkpoint tensors and state) is a stream container (docs/FORMAT.md, suffix ``.stc``) under
the run's data key, ``run:<run_id>`` in the keyring, with the context
``securetune/run/<run_id>/<path>`` so a file cannot be swapped for another. The generator
states are always encrypted, under the run's resume key (:mod:`.secrets`), and destroyed when
the run ends. Checkpoints hold no pickles: tensors go to safetensors,
everything else to JSON. Each checkpoint's hash is ledgered (``train.checkpoint``); resume
recomputes it and refuses files that do not match, so a tampered checkpoint, or one from
another run, cannot smuggle in a shorter accountant history.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from securetune.crypto.stream import decrypt_bytes, encrypt_bytes
from securetune.errors import DecryptionError, TrainingError
from securetune.fsutil import atomic_write_bytes, make_private_dir
from securetune.train.secrets import RESUME, RunSecrets

ENC_SUFFIX = ".stc"
CHECKPOINT_DIR = "checkpoint"
ADAPTER_DIR = "adapter"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def run_key_name(run_id: str) -> str:
    return f"run:{run_id}"


class RunStore:
    """Reads and writes a run directory's files, encrypting them when the run has a key."""

    def __init__(self, root: Path, run_id: str, key: bytes | None, *, base: str = "") -> None:
        self.root = root
        self.run_id = run_id
        self.key = key
        self.base = base  # this store's path inside the run directory, for the context

    def _context(self, rel: str) -> bytes:
        return f"securetune/run/{self.run_id}/{self.base}{rel}".encode()

    def write(self, rel: str, data: bytes, *, secret: bool = True) -> Path:
        """Write ``rel``; ``secret`` files are encrypted (``.stc``) when the run has a key."""
        path = self.root / rel
        make_private_dir(path.parent)
        if secret and self.key is not None:
            path = path.with_name(path.name + ENC_SUFFIX)
            data = encrypt_bytes(data, self.key, context=self._context(rel))
        atomic_write_bytes(path, data)
        return path

    def read(self, rel: str) -> bytes:
        enc = self.root / (rel + ENC_SUFFIX)
        if enc.exists():
            return self.decrypt(rel, enc.read_bytes())
        path = self.root / rel
        if not path.exists():
            raise TrainingError(f"run {self.run_id}: {rel} is missing")
        return path.read_bytes()

    def decrypt(self, rel: str, sealed: bytes) -> bytes:
        """Open the sealed bytes of ``rel`` (already read, e.g. to hash exactly what is used)."""
        if self.key is None:
            raise TrainingError(f"run {self.run_id}: {rel} is encrypted and no run key was found")
        try:
            return decrypt_bytes(sealed, self.key, context=self._context(rel))
        except DecryptionError:
            raise TrainingError(
                f"run {self.run_id}: {rel} failed authentication (modified or swapped)"
            ) from None


def tree_sha256(directory: Path) -> str:
    """Hash of every file under ``directory``: relative names and contents, sorted."""
    if not directory.is_dir():
        return hashlib.sha256().hexdigest()
    return files_sha256(
        {
            p.relative_to(directory).as_posix(): p.read_bytes()
            for p in directory.rglob("*")
            if p.is_file()
        }
    )


def files_sha256(files: dict[str, bytes]) -> str:
    """:func:`tree_sha256` of files already in memory (relative POSIX name -> bytes)."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).hexdigest().encode() + b"\n")
    return h.hexdigest()


@dataclass
class CheckpointState:
    """Everything but tensors needed to continue a run exactly where it stopped."""

    step: int  # logical (optimizer) steps completed
    epoch: int  # epochs completed
    history: list[tuple[float, float, int]]  # accountant segments (noise, rate, steps)
    noise_multiplier: float | None
    sample_rate: float
    scheduler_step: int
    best_val_loss: float | None
    bad_epochs: int
    clipped_total: int
    units_total: int

    def to_json(self) -> bytes:
        return (json.dumps(self.__dict__, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> CheckpointState:
        doc = json.loads(raw)
        if "unit_rng" in doc:
            raise TrainingError(
                "the checkpoint was written by an older securetune whose record choice came from the "
                "public seed; it cannot be resumed with a secret one: start a new run"
            )
        doc["history"] = [tuple(h) for h in doc["history"]]
        return cls(**doc)


RNG_FILE = f"{CHECKPOINT_DIR}/rng.safetensors"


def save_checkpoint(
    store: RunStore,
    secrets: RunSecrets,
    *,
    lora: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    generators: dict[str, torch.Tensor],
    state: CheckpointState,
) -> str:
    """Write a complete checkpoint beside the old one, then swap; returns its hash.

    The generator states go in with the checkpoint (one swap, one ledgered hash): a resume
    can never pair weights with older generator states, which would draw the same noise
    twice.
    """
    final = store.root / CHECKPOINT_DIR
    tmp = store.root / (CHECKPOINT_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # The context names the final path, so staged files verify once moved into place.
    staging = RunStore(tmp, store.run_id, store.key, base=f"{CHECKPOINT_DIR}/")
    opt_tensors, opt_meta = _flatten_optimizer(optimizer_state)
    staging.write("adapter.safetensors", st_save({k: v.contiguous() for k, v in lora.items()}))
    staging.write("optimizer.safetensors", st_save(opt_tensors))
    staging.write("optimizer.json", json.dumps(opt_meta, sort_keys=True).encode())
    # Noise, sampling and record-choice secrets: whoever holds them can replay the noise.
    # Always encrypted under the run's resume key, never ledgered, destroyed at the end.
    atomic_write_bytes(
        tmp / RunSecrets.file_name("rng.safetensors", RESUME),
        secrets.seal(RNG_FILE, st_save(generators), kind=RESUME),
    )
    staging.write("state.json", state.to_json())
    old = store.root / (CHECKPOINT_DIR + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return tree_sha256(final)


def load_checkpoint(
    store: RunStore,
    secrets: RunSecrets,
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, torch.Tensor], CheckpointState]:
    reader = RunStore(
        store.root / CHECKPOINT_DIR, store.run_id, store.key, base=f"{CHECKPOINT_DIR}/"
    )
    rng_path = store.root / CHECKPOINT_DIR / RunSecrets.file_name("rng.safetensors", RESUME)
    if not rng_path.exists():
        raise TrainingError(
            f"run {store.run_id}: the checkpoint has no generator states (destroyed or missing)"
        )
    try:
        lora = st_load(reader.read("adapter.safetensors"))
        opt_tensors = st_load(reader.read("optimizer.safetensors"))
        opt_meta = json.loads(reader.read("optimizer.json"))
        generators = st_load(secrets.unseal(RNG_FILE, rng_path.read_bytes(), kind=RESUME))
        state = CheckpointState.from_json(reader.read("state.json"))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise TrainingError(f"run {store.run_id}: the checkpoint is malformed") from None
    return lora, _unflatten_optimizer(opt_tensors, opt_meta), generators, state


def _flatten_optimizer(
    state_dict: dict[str, Any],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split a torch optimizer state dict into tensors (safetensors) and JSON."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, slots in state_dict["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    for pid, slots in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(slots)
    return {"state": state, "param_groups": meta["param_groups"]}
