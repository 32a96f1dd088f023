"""Data lineage: the privacy budget follows the data, not its name (docs/WORKSPACE.md).

Every dataset gets an order-independent, keyed fingerprint of its records, and is linked
to the dataset it was derived from, when the ledger shows one:

1. its input file is a file ``data export`` wrote (the export's ``out_sha256``);
2. its records are the same multiset as an earlier dataset's (shuffled, or converted
   between JSONL, CSV and Parquet: values are compared as the text they export to), or
   its units are: the same records grouped under the same subjects, whatever the subject
   ids are now and in whatever order (see :class:`RecordFingerprint`);
3. its input file is the one an earlier dataset was made from (a re-scrub, or a scrub of
   a file that was also added raw);
4. a command made it from a named dataset (``data dedup --remove`` keeps a subset of its
   records, so neither the records nor an input file match): that dataset, named by id
   (checked first: the command knows its source).

A dataset's *lineage root* is the first dataset of that chain; the budget counts every run
on any dataset with the same root (``train/budget.py``), and a derived dataset without a
policy of its own inherits the policy (and so the caps) of its nearest ancestor that had one.
Removed datasets keep their place in the ledger, so removing and re-adding data links too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from securetune.reconcile import LedgerState

MODULUS = 1 << 256


def _as_text(value: Any) -> str:
    """A value as the text it becomes in a CSV or Parquet export (None and "" are absent)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


class RecordFingerprint:
    """Keyed multiset hashes of a dataset's records and of its privacy units.

    * ``hexdigest()``: the sum of HMAC-SHA-256 per record, mod 2**256, with the record
      count. A sum is order-independent and counts duplicates (XOR would cancel them).
    * ``units_hexdigest()``: the same sum over *units*: the records of one subject (the
      ``unit_field`` value, itself left out) hashed together as a sorted multiset, so the
      order of subjects, the order of each subject's records, and the subject ids
      themselves (re-pseudonymised, renumbered) do not matter; only which records belong
      together. Without a unit field each record is its own unit.

    Keyed, so a fingerprint (kept in the manifest and the ledger) cannot confirm a guessed
    record without the workspace's lineage key.
    """

    def __init__(self, key: bytes, *, unit_field: str | None = None) -> None:
        self._key = key
        self._unit_field = unit_field
        self._total = 0
        self.records = 0
        self._units: dict[str, list[bytes]] = {}
        self._lone_units: list[bytes] = []

    def _digest(self, record: Mapping[str, Any], *, leave_out: str | None = None) -> bytes:
        fields = {str(k): _as_text(v) for k, v in record.items() if k != leave_out}
        canonical = json.dumps(
            {k: v for k, v in sorted(fields.items()) if v != ""}, ensure_ascii=False
        )
        return hmac.new(
            self._key, canonical.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).digest()

    def add(self, record: Mapping[str, Any]) -> None:
        digest = self._digest(record)
        self._total = (self._total + int.from_bytes(digest, "big")) % MODULUS
        self.records += 1
        unit = _as_text(record.get(self._unit_field)) if self._unit_field else ""
        if unit:
            self._units.setdefault(unit, []).append(
                self._digest(record, leave_out=self._unit_field)
            )
        else:
            self._lone_units.append(digest)

    def hexdigest(self) -> str:
        return f"{self.records}:{self._total:064x}"

    def units_hexdigest(self) -> str:
        groups = [*self._units.values(), *([d] for d in self._lone_units)]
        total = 0
        for digests in groups:
            unit = hmac.new(self._key, b"unit\0" + b"".join(sorted(digests)), hashlib.sha256)
            total = (total + int.from_bytes(unit.digest(), "big")) % MODULUS
        return f"{len(groups)}:{total:064x}"


@dataclass(frozen=True)
class Lineage:
    """Where a new dataset comes from, as recorded in its provenance and ledger event."""

    derived_from: dict[str, str] | None
    root: str | None
    policy: str | None
    policy_sha256: str | None

    def fields(self) -> dict[str, Any]:
        """Ledger/provenance fields (nothing when the dataset starts its own lineage)."""
        if self.derived_from is None:
            return {}
        out: dict[str, Any] = {"derived_from": self.derived_from, "lineage_root": self.root}
        if self.policy is not None:
            out["lineage_policy"] = self.policy
            out["lineage_policy_sha256"] = self.policy_sha256
        return out


def find_source(
    state: LedgerState,
    *,
    input_sha256: str | None,
    fingerprint: str,
    source_dataset_id: str | None = None,
    units_fingerprint: str | None = None,
) -> Lineage:
    """The dataset a new one derives from, by the rules in the module docstring.

    ``state`` must come from a verified ledger (``Workspace.ledger_view``).
    """
    source_id, how = None, ""
    if fingerprint.startswith("0:"):  # no records: nothing to protect, nothing to link
        return Lineage(None, None, None, None)
    if source_dataset_id is not None and source_dataset_id in state.datasets:
        source_id, how = source_dataset_id, "subset"
    if source_id is None and input_sha256 and input_sha256 in state.exports:
        source_id, how = state.exports[input_sha256], "export"
    if source_id is None:
        for known in state.datasets.values():  # ledger order: the earliest match wins
            if known.payload.get("records_fingerprint") == fingerprint:
                source_id, how = known.dataset_id, "same records"
                break
            if units_fingerprint and known.payload.get("units_fingerprint") == units_fingerprint:
                source_id, how = known.dataset_id, "same units"
                break
    if source_id is None and input_sha256:
        for known in state.datasets.values():
            if known.payload.get("input_sha256") == input_sha256:
                source_id, how = known.dataset_id, "same input file"
                break
    if source_id is None or source_id not in state.datasets:
        return Lineage(None, None, None, None)
    source = state.datasets[source_id]
    policy, policy_sha256 = _effective_policy(source.payload)
    return Lineage(
        {"dataset_id": source_id, "dataset": source.name, "how": how},
        root_of(state)(source_id),
        policy,
        policy_sha256,
    )


def _effective_policy(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if payload.get("policy"):
        return payload["policy"], payload.get("policy_sha256")
    return payload.get("lineage_policy"), payload.get("lineage_policy_sha256")


def root_of(state: LedgerState) -> Callable[[str], str]:
    """A function naming each dataset id's lineage root (an unknown id is its own root)."""

    def root(dataset_id: str) -> str:
        # Written when the dataset was made, from its source's root: roots never move.
        known = state.datasets.get(dataset_id)
        recorded = known.payload.get("lineage_root") if known is not None else None
        return recorded if isinstance(recorded, str) else dataset_id

    return root
