"""The full configuration of one training run: typed, validated, saved with the run.

Modelled on peft's ``LoraConfig``: dataclass fields with help text, ``Literal`` choices,
cross-field checks that name the bad field, and JSON written sorted and stamped with the
library version. Validation fails closed: an unknown key in a saved config is an error, so a
resumed run can never silently drop a privacy setting.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from securetune import __version__
from securetune.errors import TrainingError

Accountant = Literal["prv", "rdp"]
PrivacyUnit = Literal["auto", "record", "subject"]
Clipping = Literal["hooks", "ghost"]
Device = Literal["auto", "cpu", "cuda"]

CONFIG_VERSION = 1


def _help(text: str) -> Any:
    return {"help": text}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run. ``None`` means "derive it" (see :func:`resolve`)."""

    data: str = field(metadata=_help("Dataset name in the workspace."))
    model: str = field(default="tiny", metadata=_help("'tiny', a local directory, or a cached hub id."))
    epsilon: float | None = field(default=None, metadata=_help("Target epsilon for the whole run."))
    delta: float | None = field(default=None, metadata=_help("Target delta; default min(1e-5, 1/(10 N))."))
    epochs: int = field(default=1, metadata=_help("Passes over the training units."))
    batch_size: int = field(default=16, metadata=_help("Expected logical batch (Poisson sampling)."))
    max_physical_batch: int = field(default=8, metadata=_help("Largest batch sent through the model at once."))
    lr: float = field(default=2e-3, metadata=_help("Peak learning rate of AdamW."))
    warmup_fraction: float = field(default=0.1, metadata=_help("Share of steps with linear warmup before cosine decay."))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay."))
    lora_r: int = field(default=8, metadata=_help("LoRA rank."))
    lora_alpha: int = field(default=16, metadata=_help("LoRA scaling numerator."))
    lora_targets: tuple[str, ...] = field(default=("q_proj", "v_proj"), metadata=_help("Module names LoRA adapts."))
    max_grad_norm: float = field(default=1.0, metadata=_help("Per-unit gradient clipping bound C."))
    accountant: Accountant = field(default="prv", metadata=_help("Privacy accountant."))
    privacy_unit: PrivacyUnit = field(default="auto", metadata=_help("What epsilon protects: one record or one subject."))
    clipping: Clipping = field(default="hooks", metadata=_help("Per-sample gradients (hooks) or ghost clipping."))
    device: Device = field(default="auto", metadata=_help("Where to train."))
    seed: int = field(default=0, metadata=_help("Seeds the split, LoRA init and record choice; DP noise and sampling use os.urandom."))
    max_length: int = field(default=128, metadata=_help("Tokens per example (longer ones are truncated)."))
    validation_fraction: float = field(default=0.1, metadata=_help("Share of units held out for validation."))
    early_stopping_patience: int = field(default=2, metadata=_help("Epochs without validation improvement before stopping."))
    text_fields: tuple[str, ...] | None = field(default=None, metadata=_help("Fields to train on; default from the dataset."))
    subject_field: str | None = field(default=None, metadata=_help("Field naming the subject; default from the dataset."))
    no_dp: bool = field(default=False, metadata=_help("Non-private baseline (recorded as such)."))
    allow_unscrubbed: bool = field(default=False, metadata=_help("Train on an unscrubbed dataset (ledgered and flagged)."))
    policy: str | None = field(default=None, metadata=_help("Policy whose training rules apply; default the dataset's."))

    def __post_init__(self) -> None:
        self._validate()

    def _validate(self) -> None:
        def bad(name: str, why: str) -> TrainingError:
            return TrainingError(f"invalid training option {name}: {why} (got {getattr(self, name)!r})")

        for name, kind in (("accountant", Accountant), ("privacy_unit", PrivacyUnit),
                           ("clipping", Clipping), ("device", Device)):
            if getattr(self, name) not in get_args(kind):
                raise bad(name, f"must be one of {', '.join(get_args(kind))}")
        if not self.data:
            raise bad("data", "a dataset name is required")
        if not self.no_dp and self.epsilon is None:
            raise bad("epsilon", "a target epsilon is required unless --no-dp")
        if self.epsilon is not None and not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise bad("epsilon", "must be a finite number > 0")
        if self.delta is not None and not (0 < self.delta < 1):
            raise bad("delta", "must lie strictly between 0 and 1")
        for name in ("epochs", "batch_size", "max_physical_batch", "lora_r", "lora_alpha", "max_length"):
            if getattr(self, name) < 1:
                raise bad(name, "must be at least 1")
        if self.max_length < 2:
            raise bad("max_length", "must be at least 2 (a next-token loss needs two tokens)")
        if self.early_stopping_patience < 0:
            raise bad("early_stopping_patience", "must be >= 0 (0 disables early stopping)")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "must be > 0")
        if not (math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0):
            raise bad("max_grad_norm", "must be > 0")
        if not 0 <= self.warmup_fraction < 1:
            raise bad("warmup_fraction", "must lie in [0, 1)")
        if self.weight_decay < 0:
            raise bad("weight_decay", "must be >= 0")
        if not 0 < self.validation_fraction < 1:
            raise bad("validation_fraction", "must lie strictly between 0 and 1")
        if not self.lora_targets or any(not t for t in self.lora_targets):
            raise bad("lora_targets", "name at least one module")
        if self.text_fields is not None and not self.text_fields:
            raise bad("text_fields", "name at least one field")

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        for key, value in doc.items():
            if isinstance(value, tuple):
                doc[key] = list(value)
        return doc

    def to_json(self) -> bytes:
        """Sorted JSON stamped with the config version and the securetune version."""
        doc = {"config_version": CONFIG_VERSION, "securetune_version": __version__, **self.to_dict()}
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, *, source: str = "config") -> TrainConfig:
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise TrainingError(f"{source}: not valid JSON") from None
        if not isinstance(doc, dict) or doc.pop("config_version", None) != CONFIG_VERSION:
            raise TrainingError(f"{source}: unknown config version")
        doc.pop("securetune_version", None)
        return cls.from_dict(doc, source=source)

    @classmethod
    def from_dict(cls, doc: dict[str, Any], *, source: str = "config") -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise TrainingError(f"{source}: unknown key {unknown[0]}")
        values = dict(doc)
        for key in ("lora_targets", "text_fields"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        try:
            return cls(**values)
        except TypeError as exc:
            raise TrainingError(f"{source}: {exc}") from None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json()).hexdigest()


def default_delta(units: int) -> float:
    """Strictly below 1/N: a delta of 1/N or more allows releasing one unit's data outright."""
    return min(1e-5, 1.0 / (10 * max(units, 1)))
