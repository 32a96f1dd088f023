"""The full configuration of one training run: typed, validated, saved with the run.

Modelled on peft's ``LoraConfig`` (fields with help text, ``Literal`` choices, cross-field
checks that name the bad field, JSON written sorted and stamped with the library version),
validated by pydantic so every value, from the command line or a saved config, is parsed by
one set of rules: ``--epochs 1.5`` fails with one line naming ``epochs``. Validation fails
closed: an unknown key in a saved config is an error, so a resumed run can never silently
drop a privacy setting, and a saved config is read in strict mode (no "3" for 3).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from securetune import __version__
from securetune.errors import TrainingError

Accountant = Literal["prv", "rdp", "pld"]
PrivacyUnit = Literal["auto", "record", "subject"]
Neighbours = Literal["add-remove", "replace-one"]
Clipping = Literal["hooks", "ghost"]
Device = Literal["auto", "cpu", "cuda"]
Format = Literal["text", "prompt-completion", "chat"]

CONFIG_VERSION = 1
DEFAULT_PATIENCE = 2
"""Early-stopping patience when neither the option nor a policy decides it."""


class _Fields(BaseModel):
    """The fields and their checks (pydantic validates strictly only without a custom __init__)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    data: str = Field(description="Dataset name in the workspace.")
    model: str = Field("tiny", description="'tiny', a local directory, or a cached hub id.")
    epsilon: float | None = Field(None, description="Target epsilon for the whole run.")
    delta: float | None = Field(None, description="Target delta; default min(1e-5, 1/(10 N)).")
    allow_large_delta: bool = Field(
        False, description="Accept an explicit delta above 1/(10 N) (it must still be below 1/N)."
    )
    epochs: int = Field(1, description="Passes over the training units.")
    batch_size: int = Field(16, description="Expected logical batch (Poisson sampling).")
    max_physical_batch: int = Field(8, description="Largest batch sent through the model at once.")
    lr: float = Field(2e-3, description="Peak learning rate of AdamW.")
    warmup_fraction: float = Field(
        0.1, description="Share of steps with linear warmup before cosine decay."
    )
    weight_decay: float = Field(0.0, description="AdamW weight decay.")
    lora_r: int = Field(8, description="LoRA rank.")
    lora_alpha: int = Field(16, description="LoRA scaling numerator.")
    lora_targets: tuple[str, ...] = Field(
        ("q_proj", "v_proj"), description="Module names LoRA adapts."
    )
    max_grad_norm: float = Field(1.0, description="Per-unit gradient clipping bound C.")
    accountant: Accountant = Field(
        "prv", description="Privacy accountant: Opacus prv or rdp, or Google dp-accounting pld."
    )
    neighbours: Neighbours = Field(
        "add-remove",
        description="Neighbouring datasets: one unit added/removed, or one unit replaced (pld only).",
    )
    privacy_unit: PrivacyUnit = Field(
        "auto", description="What epsilon protects: one record or one subject."
    )
    clipping: Clipping = Field(
        "hooks", description="Per-sample gradients (hooks) or ghost clipping."
    )
    device: Device = Field("auto", description="Where to train.")
    seed: int = Field(
        0,
        description="Seeds the split and LoRA init; DP noise, sampling and record choice are secret.",
    )
    max_length: int = Field(128, description="Tokens per example (longer ones are truncated).")
    validation_fraction: float = Field(0.1, description="Share of units held out for validation.")
    early_stopping_patience: int | None = Field(
        None,
        description=f"Epochs without validation improvement before stopping; 0 disables; "
        f"default {DEFAULT_PATIENCE}, or 0 when the policy forbids validation-based stopping.",
    )
    text_fields: tuple[str, ...] | None = Field(
        None, description="Fields to train on; default from the dataset."
    )
    format: Format | None = Field(
        None,
        description="text, prompt-completion or chat; default detected from the dataset's fields "
        "(a run's saved config always names the format it trained with).",
    )
    subject_field: str | None = Field(
        None, description="Field naming the subject; default from the dataset."
    )
    no_dp: bool = Field(False, description="Non-private baseline (recorded as such).")
    allow_unscrubbed: bool = Field(
        False, description="Train on an unscrubbed dataset (ledgered and flagged)."
    )
    policy: str | None = Field(
        None, description="Policy whose training rules apply; default the dataset's."
    )

    @model_validator(mode="after")
    def _validate(self) -> _Fields:
        def bad(name: str, why: str) -> ValueError:
            return _FieldError(name, why, getattr(self, name))

        if not self.data:
            raise bad("data", "a dataset name is required")
        if not self.no_dp and self.epsilon is None:
            raise bad("epsilon", "a target epsilon is required unless --no-dp")
        if self.epsilon is not None and not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise bad("epsilon", "must be a finite number > 0")
        if self.delta is not None and not (0 < self.delta < 1):
            raise bad("delta", "must lie strictly between 0 and 1")
        for name in (
            "epochs",
            "batch_size",
            "max_physical_batch",
            "lora_r",
            "lora_alpha",
            "max_length",
        ):
            if getattr(self, name) < 1:
                raise bad(name, "must be at least 1")
        if self.max_length < 2:
            raise bad("max_length", "must be at least 2 (a next-token loss needs two tokens)")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 0:
            raise bad("early_stopping_patience", "must be >= 0 (0 disables early stopping)")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "must be > 0")
        if not (math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0):
            raise bad("max_grad_norm", "must be > 0")
        if not 0 <= self.warmup_fraction < 1:
            raise bad("warmup_fraction", "must lie in [0, 1)")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise bad("weight_decay", "must be >= 0")
        if not 0 < self.validation_fraction < 1:
            raise bad("validation_fraction", "must lie strictly between 0 and 1")
        if not self.lora_targets or any(not t for t in self.lora_targets):
            raise bad("lora_targets", "name at least one module")
        if self.text_fields is not None and not self.text_fields:
            raise bad("text_fields", "name at least one field")
        if self.neighbours == "replace-one" and self.accountant != "pld" and not self.no_dp:
            raise bad(
                "accountant",
                "replace-one neighbours are accounted by pld (Google dp-accounting) only",
            )
        return self


class TrainConfig(_Fields):
    """Everything that determines a run. ``None`` means "derive it" (see :func:`.plan.prepare`)."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _one_line(exc, values) from None

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        doc = self.model_dump()
        if doc["format"] is None:
            # A config from before formats existed serialises as it did, so its hash in the
            # ledger still matches; every run trained since names its (detected) format.
            del doc["format"]
        for key, value in doc.items():
            if isinstance(value, tuple):
                doc[key] = list(value)
        return doc

    def to_json(self) -> bytes:
        """Sorted JSON stamped with the config version and the securetune version."""
        doc = {
            "config_version": CONFIG_VERSION,
            "securetune_version": __version__,
            **self.to_dict(),
        }
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
        """A saved config: unknown keys and loosely typed values are refused (strict mode)."""
        unknown = sorted(set(doc) - set(cls.model_fields))
        if unknown:
            raise TrainingError(f"{source}: unknown key {unknown[0]}")
        values = dict(doc)
        for key in ("lora_targets", "text_fields"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        try:
            _Fields.model_validate(values, strict=True)
        except ValidationError as exc:
            raise TrainingError(f"{source}: {_one_line(exc, values)}") from None
        return cls(**values)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json()).hexdigest()


class _FieldError(ValueError):
    """A cross-field check's verdict, carried through pydantic to :func:`_one_line`."""

    def __init__(self, name: str, why: str, value: Any) -> None:
        super().__init__(f"{name}: {why}")
        self.name, self.why, self.value = name, why, value


def _one_line(exc: ValidationError, values: dict[str, Any]) -> TrainingError:
    """The first problem as ``invalid training option FIELD: WHY (got VALUE)``."""
    first = exc.errors()[0]
    ctx_error = first.get("ctx", {}).get("error")
    if isinstance(ctx_error, _FieldError):
        name, why, value = ctx_error.name, ctx_error.why, ctx_error.value
    else:
        name = str(first["loc"][0]) if first["loc"] else "(config)"
        why = first["msg"].removeprefix("Value error, ")
        if first["type"] == "literal_error":
            (kind,) = [f.annotation for n, f in _Fields.model_fields.items() if n == name]
            why = "must be one of " + ", ".join(a for a in get_args(kind) if isinstance(a, str))
        elif first["type"] == "extra_forbidden":
            return TrainingError(f"unknown training option {name}")
        value = values.get(name, first.get("input"))
    return TrainingError(f"invalid training option {name}: {why} (got {value!r})")


def default_delta(units: int) -> float:
    """Strictly below 1/N: a delta of 1/N or more allows releasing one unit's data outright."""
    return min(1e-5, 1.0 / (10 * max(units, 1)))
