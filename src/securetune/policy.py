"""Policies: what to detect, how to transform it, and the privacy rules for training.

A policy is a YAML file (schema in ``docs/POLICIES.md``). Loading fails closed: an unknown
key, an unknown operator, a transform for an entity that is not detected, or a Safe Harbor
category with neither recognizers nor a stated reason is an error naming the field, never a
warning. The policy's SHA-256 (over its canonical JSON form) is recorded in the ledger and
in every dataset scrubbed or model trained under it.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import rfc8785
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from securetune.errors import PolicyError

Operator = Literal[
    "placeholder",  # "[PERSON]"
    "redact",  # removed entirely
    "pseudonym",  # consistent realistic surrogate, keyed by a workspace secret
    "keep_year",  # dates: keep only the year (Safe Harbor)
    "date_shift",  # dates: shift by a per-subject offset, keeping intervals
    "age_90_plus",  # ages over 89 become "90+" (Safe Harbor)
    "zip3",  # ZIP codes keep three digits, 000 for low-population prefixes (Safe Harbor)
    "keep",  # detected and counted, left in place
]

BUILTIN_DIR_NAME = "policies"

# Operators that only make sense for one kind of entity. Applied to anything else they leak:
# zip3 on an SSN keeps its first three digits, age_90_plus on a date keeps the rest of it.
ENTITY_OPERATORS: dict[str, frozenset[str]] = {
    "keep_year": frozenset({"DATE_TIME"}),
    "date_shift": frozenset({"DATE_TIME"}),
    "age_90_plus": frozenset({"AGE_OVER_89"}),
    "zip3": frozenset({"ZIP_CODE"}),
}
# What ``transforms.default`` may be: it applies to any entity, so only type-agnostic ones.
DEFAULT_OPERATORS = ("placeholder", "redact", "pseudonym", "keep")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectionPolicy(_Strict):
    entities: list[str] = Field(
        min_length=1, description="Entity types to find; each needs a recognizer."
    )
    score_threshold: float = Field(0.5, gt=0, le=1, description="Drop findings scored below this.")
    ner_backend: str | None = Field(
        None, description="None, 'spacy:<package or path>' or 'hf:<local model path>'."
    )
    ner_entities: dict[str, str] = Field(
        default_factory=dict,
        description="Model label -> entity type for an hf: model (default: usual label names).",
    )


class TransformPolicy(_Strict):
    default: Operator = Field("placeholder", description="Operator for entities not listed below.")
    entities: dict[str, Operator] = Field(
        default_factory=dict, description="Operator per entity type."
    )
    date_shift_max_days: int = Field(
        365, ge=1, le=3650, description="Per-subject shifts lie in ±this many days."
    )


class ReidentificationPolicy(_Strict):
    keep_mapping: bool = Field(
        False,
        description="Keep the pseudonym mapping (encrypted) for authorised re-identification.",
    )


class SafeHarborCategory(_Strict):
    id: int = Field(ge=1, le=18)
    name: str
    entities: list[str] = Field(default_factory=list)
    note: str | None = None

    @model_validator(mode="after")
    def _covered_or_explained(self) -> SafeHarborCategory:
        if not self.entities and not self.note:
            raise ValueError(
                f"category {self.id} ({self.name}) needs entities or a note saying why none"
            )
        return self


class TrainingPolicy(_Strict):
    max_epsilon: float | None = Field(None, gt=0, description="Largest epsilon one run may target.")
    lifetime_epsilon: float | None = Field(
        None, gt=0, description="Cap on the epsilon spent on one dataset over all runs."
    )
    max_delta: float | None = Field(None, gt=0, lt=1, description="Largest delta a run may use.")
    lifetime_delta: float | None = Field(
        None, gt=0, lt=1, description="Cap on the deltas of all runs on one dataset, summed."
    )
    privacy_unit: Literal["any", "subject"] = Field(
        "any",
        description="subject: every run protects whole subjects (data without a subject field is refused).",
    )
    neighbours: Literal["any", "replace-one"] = Field(
        "any",
        description="replace-one: runs must be accounted for replacing one unit, not only adding/removing one.",
    )
    validation_early_stopping: bool = Field(
        True,
        description="Whether a run may stop early on its (non-private) validation loss.",
    )
    allow_no_dp: bool = Field(True, description="Whether --no-dp baselines are allowed at all.")
    require_scrubbed: bool = Field(
        True, description="Refuse unscrubbed datasets unless --allow-unscrubbed."
    )
    encrypt_adapter: bool = Field(False, description="Store trained adapters encrypted at rest.")


class ChecksPolicy(_Strict):
    """Gates ``securetune check`` applies to a trained run (docs/CHECKS.md). ``None`` = not gated."""

    mia_auc_max: float | None = Field(
        0.60, gt=0, le=1, description="Largest membership-inference ROC AUC (strongest attack)."
    )
    canaries_extracted_max: int | None = Field(
        0, ge=0, description="Most included canary secrets greedy decoding may reproduce."
    )
    pii_regurgitated_max: int | None = Field(
        0, ge=0, description="Most generated PII values that match a training-set value."
    )
    exposure_max: float | None = Field(
        None, gt=0, description="Largest exposure (bits) of any included canary."
    )
    extraction_rate_max: float | None = Field(
        None, ge=0, le=1, description="Largest exact k-extraction rate on training units."
    )
    epsilon_lb_within_epsilon: bool = Field(
        True,
        description="Fail when the empirical epsilon lower bound exceeds the accountant's epsilon.",
    )


class Policy(_Strict):
    version: Literal[1] = 1
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    description: str = ""
    detection: DetectionPolicy
    transforms: TransformPolicy = TransformPolicy()
    reidentification: ReidentificationPolicy = ReidentificationPolicy()
    training: TrainingPolicy = TrainingPolicy()
    safe_harbor: list[SafeHarborCategory] | None = None
    checks: ChecksPolicy | None = None  # None: `check` applies ChecksPolicy's defaults

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        detected = set(self.detection.entities)
        if len(detected) != len(self.detection.entities):
            raise ValueError("detection.entities lists an entity twice")
        unmapped = sorted(set(self.detection.ner_entities.values()) - detected)
        if unmapped:
            raise ValueError(
                f"detection.ner_entities maps labels to entities that are not detected: "
                f"{', '.join(unmapped)}"
            )
        unknown = sorted(set(self.transforms.entities) - detected)
        if unknown:
            raise ValueError(
                f"transforms.entities names entities that are not detected: {', '.join(unknown)}"
            )
        if self.transforms.default not in DEFAULT_OPERATORS:
            raise ValueError(
                f"transforms.default: {self.transforms.default} applies to one entity type "
                f"only; the default may be {', '.join(DEFAULT_OPERATORS)}"
            )
        for entity, operator in sorted(self.transforms.entities.items()):
            allowed = ENTITY_OPERATORS.get(operator)
            if allowed is not None and entity not in allowed:
                raise ValueError(
                    f"transforms.entities.{entity}: {operator} applies only to "
                    f"{', '.join(sorted(allowed))}"
                )
        if self.safe_harbor is not None:
            ids = sorted(c.id for c in self.safe_harbor)
            if ids != list(range(1, 19)):
                raise ValueError("safe_harbor must list each of the 18 categories exactly once")
            for category in self.safe_harbor:
                missing = sorted(set(category.entities) - detected)
                if missing:
                    raise ValueError(
                        f"safe_harbor category {category.id} relies on entities that are not detected: {', '.join(missing)}"
                    )
        return self

    def operator_for(self, entity: str) -> Operator:
        return self.transforms.entities.get(entity, self.transforms.default)

    @property
    def sha256(self) -> str:
        """Hash of the policy's canonical JSON: formatting and comments do not change it."""
        doc = self.model_dump(mode="json")
        if doc.get("checks") is None:  # policies written before the checks section keep their hash
            doc.pop("checks", None)
        return hashlib.sha256(rfc8785.dumps(doc)).hexdigest()


def builtin_dirs() -> list[Path]:
    """Where built-in policies live: the source tree (editable installs) and the wheel's data dir."""
    here = Path(__file__).resolve()
    return [
        here.parents[2] / BUILTIN_DIR_NAME,
        Path(sys.prefix) / "share" / "securetune" / BUILTIN_DIR_NAME,
    ]


def parse_policy(doc: Mapping[str, Any], *, source: str) -> Policy:
    try:
        return Policy.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise PolicyError(f"policy {source}: {where}: {message}") from None


def load_policy(name_or_path: str | Path, *, search: Sequence[Path] = ()) -> Policy:
    """Load a policy by file path, or by name from ``search`` dirs then the built-ins.

    A path is a :class:`~pathlib.Path`, or text with a ``/`` or a ``.yaml``/``.yml``
    suffix; anything else is a name, and a file or directory of that name in the current
    directory is never read for it. A built-in name always means the built-in rules: a
    policy file that takes one with other rules is refused (docs/WORKSPACE.md, "Policy names").
    """
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or Path(text).suffix in {".yaml", ".yml"}:
        path = Path(name_or_path)
    else:
        dirs = [*search, *builtin_dirs()]
        found = [d / f"{text}.yaml" for d in dirs if (d / f"{text}.yaml").is_file()]
        if not found:
            raise PolicyError(
                f"unknown policy {text!r}; known: {', '.join(list_policies(search)) or 'none'}"
                " (give a policy file as a path, e.g. ./my-policy.yaml)"
            )
        path = found[0]
    policy = _read_policy(path)
    builtin = _builtin_policy(policy.name, path)
    if builtin is None and path.stem != policy.name:
        builtin = _builtin_policy(path.stem, path)
    if builtin is not None and builtin.sha256 != policy.sha256:
        raise PolicyError(
            f"policy file {path} takes the name of the built-in policy {builtin.name} with other"
            " rules; rename it (name: and file name) so that the name keeps one meaning"
        )
    return policy


def _read_policy(path: Path) -> Policy:
    if path.is_dir():
        raise PolicyError(f"policy file {path} is a directory, not a file")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} does not exist") from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise PolicyError(f"policy file {path} is not valid YAML") from None
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    if not isinstance(doc, dict):
        raise PolicyError(f"policy file {path} must hold a mapping")
    return parse_policy(doc, source=str(path.name))


def _builtin_policy(name: str, loaded_from: Path) -> Policy | None:
    """The built-in policy called ``name`` (None if there is none, or it is ``loaded_from``)."""
    for d in builtin_dirs():
        candidate = d / f"{name}.yaml"
        if candidate.is_file():
            if candidate.resolve() == loaded_from.resolve():
                return None
            return _read_policy(candidate)
    return None


def list_policies(search: Sequence[Path] = ()) -> list[str]:
    names: set[str] = set()
    for d in [*search, *builtin_dirs()]:
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)
