"""The policy's transforms, run through Presidio's ``AnonymizerEngine``.

The product's stack is Presidio's analyzer *and* anonymizer: detected spans go to
``AnonymizerEngine.anonymize`` with one ``OperatorConfig`` per entity type, as any
Presidio user would write them. Where our operator is Presidio's, Presidio's runs
(``placeholder`` is its ``replace`` with ``[ENTITY]``, ``redact`` and ``keep`` are its
own); where ours differ (keyed pseudonyms, per-subject date shifts, keep-year, ZIP3,
90+), they are registered as custom ``Operator`` classes that call the pure functions in
:mod:`securetune.scrub.operators`, so a value is transformed identically either way.
"""

from __future__ import annotations

from typing import Any

from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult
from presidio_anonymizer.entities.conflict_resolution_strategy import (
    ConflictResolutionStrategy,
)
from presidio_anonymizer.operators import Operator, OperatorType

from securetune.policy import Policy
from securetune.scrub.detect import Finding
from securetune.scrub.errors import DetectorError
from securetune.scrub.operators import OperatorContext, apply

#: Our operators that Presidio has no equivalent for.
CUSTOM = ("pseudonym", "date_shift", "keep_year", "zip3", "age_90_plus")
#: Operators whose output is kept in the re-identification mapping.
MAPPED = ("pseudonym", "date_shift")


class _PolicyOperator(Operator):
    """Base of the custom operators: ``params`` carry the entity type, the keyed context
    and, when the policy keeps it, the list the (entity, surrogate, original) goes to."""

    NAME = ""

    def operate(self, text: str, params: dict[str, Any] | None = None) -> str:
        assert params is not None  # validate() ran first
        value = apply(self.NAME, text, params["entity"], params["ctx"])  # type: ignore[arg-type]
        mapping = params.get("mapping")
        if mapping is not None and self.NAME in MAPPED:
            mapping.append((params["entity"], value, text))
        return value

    def validate(self, params: dict[str, Any] | None = None) -> None:
        if not params or not isinstance(params.get("ctx"), OperatorContext):
            raise DetectorError(f"operator {self.NAME} needs its keyed context")

    def operator_name(self) -> str:
        return self.NAME

    def operator_type(self) -> OperatorType:
        return OperatorType.Anonymize


_CLASSES = [type(f"{n.title()}Operator", (_PolicyOperator,), {"NAME": n}) for n in CUSTOM]


class PolicyAnonymizer:
    """One engine per process, with our operators registered once."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.engine = AnonymizerEngine()
        for cls in _CLASSES:
            self.engine.add_anonymizer(cls)

    def _config(self, entity: str, ctx: OperatorContext, mapping: list | None) -> OperatorConfig:
        operator = self.policy.operator_for(entity)
        if operator == "placeholder":
            return OperatorConfig("replace", {"new_value": f"[{entity}]"})
        if operator in ("redact", "keep"):
            return OperatorConfig(operator, {})
        return OperatorConfig(operator, {"entity": entity, "ctx": ctx, "mapping": mapping})

    def anonymize(
        self,
        text: str,
        findings: list[Finding],
        ctx: OperatorContext,
        mapping: list[tuple[str, str, str]] | None = None,
    ) -> str:
        """``text`` with every finding transformed by the policy's operator for its type."""
        if not findings:
            return text
        results = [RecognizerResult(f.entity_type, f.start, f.end, f.score) for f in findings]
        operators = {e: self._config(e, ctx, mapping) for e in {f.entity_type for f in findings}}
        return self.engine.anonymize(
            text,
            results,
            operators,
            # findings are already merged and joined: nothing for Presidio to resolve
            conflict_resolution=ConflictResolutionStrategy.MERGE_SIMILAR_OR_CONTAINED,
            merge_entities_with_spaces=False,
        ).text
