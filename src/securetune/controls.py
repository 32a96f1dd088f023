"""Policy controls, evaluated against signed evidence (used by the report and by `release`).

Every control a run's policy imposes is recorded in that run's ``train.start`` event
(``training_rules``) and enforced by ``train`` before the first step; the report re-checks
each one against what the ledger says actually happened, and names the entries (sequence
number and hash) that are its evidence. A control is ``passed``, ``failed`` or ``not_run``
(its evidence does not exist yet, e.g. no ``check`` after training); ``not_run`` is never
counted as a pass.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from securetune.audit.ledger import Entry

Status = Literal["passed", "failed", "not_run"]


@dataclass(frozen=True)
class EvidenceRef:
    seq: int
    event: str
    hash: str

    @classmethod
    def of(cls, entry: Entry) -> EvidenceRef:
        return cls(seq=entry.seq, event=entry.event, hash=entry.hash)


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    clause: str
    requirement: str
    observed: str
    status: Status
    evidence: tuple[EvidenceRef, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["evidence"] = [asdict(e) for e in self.evidence]
        return doc


@dataclass(frozen=True)
class RunEvidence:
    """The ledger entries of one run, and of the dataset it trained on."""

    start: Entry
    finish: Entry | None
    fail: Entry | None
    checkpoints: tuple[Entry, ...]
    dataset_origin: Entry | None  # the data.add or scrub event that created the dataset's text
    checks: tuple[Entry, ...]
    lifetime_epsilon: float
    lifetime_runs: tuple[Entry, ...]
    lifetime_delta: float = 0.0
    sealed_late: tuple[int, ...] = ()
    #: data dedup --remove steps between the trained dataset and ``dataset_origin``, newest first
    dataset_subsets: tuple[Entry, ...] = ()


def _refs(*entries: Entry | None) -> tuple[EvidenceRef, ...]:
    return tuple(EvidenceRef.of(e) for e in entries if e is not None)


def _fmt(value: float) -> str:
    return "unbounded (no DP)" if math.isinf(value) else f"{value:.4g}"


def evaluate(run: RunEvidence, *, ledger_ok: bool) -> list[Control]:
    """Every control the run's recorded policy imposes, plus the ledger's own integrity."""
    start = run.start.payload
    rules: dict[str, Any] = start.get("training_rules") or {}
    finish = run.finish.payload if run.finish else None
    ended = run.finish or run.fail
    controls = [
        Control(
            id="ledger-integrity",
            title="Audit trail verifies",
            clause="HIPAA 164.312(b); GDPR Art. 5(2)",
            requirement="every entry, link and the signed checkpoint verify",
            observed="verified" if ledger_ok else "verification failed",
            status="passed" if ledger_ok else "failed",
        )
    ]
    if rules.get("require_scrubbed"):
        scrubbed = bool(start.get("dataset_scrubbed"))
        controls.append(
            Control(
                id="data-scrubbed",
                title="Training data was de-identified",
                clause="HIPAA 164.514(b)(2); GDPR Art. 5(1)(c), 25",
                requirement="the dataset was produced by `scrub` under a policy",
                observed=f"dataset {start.get('dataset')!r} {'was' if scrubbed else 'was NOT'} scrubbed",
                status="passed" if scrubbed else "failed",
                evidence=_refs(run.dataset_origin, run.start),
            )
        )
    if "allow_no_dp" in rules and not rules["allow_no_dp"]:
        dp = not start.get("no_dp")
        controls.append(
            Control(
                id="dp-required",
                title="Training used differential privacy",
                clause="GDPR Art. 25, 32",
                requirement="DP-SGD (no --no-dp)",
                observed="DP-SGD" if dp else "non-private run",
                status="passed" if dp else "failed",
                evidence=_refs(run.start),
            )
        )
    if rules.get("max_epsilon") is not None:
        cap = float(rules["max_epsilon"])
        if finish is None:
            status: Status = "not_run"
            observed = "run did not finish"
        else:
            eps = math.inf if start.get("no_dp") else float(finish.get("epsilon_spent", math.inf))
            status = "passed" if eps <= cap else "failed"
            observed = f"epsilon spent {_fmt(eps)}"
        controls.append(
            Control(
                id="epsilon-per-run",
                title="Privacy loss of this run within the policy cap",
                clause="NIST SP 800-226 §2; GDPR Art. 32",
                requirement=f"epsilon <= {cap:g}",
                observed=observed,
                status=status,
                evidence=_refs(run.start, run.finish),
            )
        )
    if rules.get("lifetime_epsilon") is not None:
        cap = float(rules["lifetime_epsilon"])
        total = run.lifetime_epsilon
        controls.append(
            Control(
                id="epsilon-lifetime",
                title="Dataset's lifetime privacy budget respected",
                clause="NIST SP 800-226 §2 (composition)",
                requirement=f"sum of epsilon over every run on this data <= {cap:g}",
                observed=f"{_fmt(total)} over {len(run.lifetime_runs)} run(s)",
                status="passed" if total <= cap else "failed",
                evidence=_refs(*run.lifetime_runs),
            )
        )
    if rules.get("max_delta") is not None:
        cap = float(rules["max_delta"])
        delta = float(start.get("delta", math.inf))
        units = int(start.get("train_units") or 0)
        ok = delta <= cap and (units == 0 or delta < 1.0 / units)
        controls.append(
            Control(
                id="delta",
                title="Failure probability delta small enough",
                clause="NIST SP 800-226 §2",
                requirement=f"delta <= {cap:g} and delta < 1/N",
                observed=f"delta {delta:.3g}, 1/N = {1.0 / units:.3g}"
                if units
                else f"delta {delta:.3g}",
                status="passed" if ok else "failed",
                evidence=_refs(run.start),
            )
        )
    if rules.get("privacy_unit") == "subject" and not start.get("no_dp"):
        unit = str(start.get("privacy_unit"))
        controls.append(
            Control(
                id="privacy-unit",
                title="Whole patients are the privacy unit",
                clause="NIST SP 800-226 §2.3 (unit of privacy)",
                requirement="unit = subject (all of one patient's records)",
                observed=f"unit = {unit}",
                status="passed" if unit == "subject" else "failed",
                evidence=_refs(run.start),
            )
        )
    if rules.get("neighbours") == "replace-one" and not start.get("no_dp"):
        relation = str(start.get("neighbours") or "add-remove")
        controls.append(
            Control(
                id="neighbours",
                title="Accounted for replacing one unit",
                clause="NIST SP 800-226 §2 (neighbouring datasets)",
                requirement="neighbouring relation = replace-one",
                observed=f"relation = {relation}",
                status="passed" if relation == "replace-one" else "failed",
                evidence=_refs(run.start),
            )
        )
    if rules.get("lifetime_delta") is not None:
        cap = float(rules["lifetime_delta"])
        controls.append(
            Control(
                id="delta-lifetime",
                title="Dataset's summed delta within the cap",
                clause="NIST SP 800-226 §2 (composition)",
                requirement=f"sum of delta over every run on this data <= {cap:g}",
                observed=f"{run.lifetime_delta:.3g}",
                status="passed" if run.lifetime_delta <= cap else "failed",
                evidence=_refs(*run.lifetime_runs),
            )
        )
    if rules.get("validation_early_stopping") is False:
        patience = start.get("early_stopping_patience")
        ok = patience == 0
        controls.append(
            Control(
                id="no-validation-stopping",
                title="No early stopping on the non-private validation loss",
                clause="NIST SP 800-226 §4 (non-private side channels)",
                requirement="early-stopping patience 0",
                observed=f"patience {patience}",
                status="passed" if ok else "failed",
                evidence=_refs(run.start),
            )
        )
    if rules.get("encrypt_adapter"):
        if finish is None:
            status, observed = "not_run", "no adapter written"
        else:
            enc = bool(finish.get("adapter_encrypted"))
            status = "passed" if enc else "failed"
            observed = "encrypted (AES-256-GCM)" if enc else "plaintext"
        controls.append(
            Control(
                id="adapter-encrypted",
                title="Trained adapter encrypted at rest",
                clause="HIPAA 164.312(a)(2)(iv); GDPR Art. 32",
                requirement="adapter stored encrypted",
                observed=observed,
                status=status,
                evidence=_refs(run.finish),
            )
        )
    controls.extend(_gate_controls(run, ended))
    return controls


def _gate_controls(run: RunEvidence, ended: Entry | None) -> list[Control]:
    """The memorization gates the policy set, as recorded by the last `check` of the run."""
    start = run.start.payload
    required = (start.get("training_rules") or {}).get("require_check")
    # Only a check of the finished adapter is evidence: one recorded before `train.finish`
    # (or before its last checkpoint) measured something else, and one naming another
    # adapter hash measured another adapter.
    after = [
        c
        for c in run.checks
        if run.finish is not None
        and c.seq > run.finish.seq
        and all(c.seq > cp.seq for cp in run.checkpoints)
        and c.payload.get("adapter_sha256") in (None, run.finish.payload.get("adapter_sha256"))
    ]
    latest = after[-1] if after else None
    if latest is None:
        return [
            Control(
                id="memorization-check",
                title="Memorization measured after training",
                clause="EDPB Opinion 28/2024 (anonymity of models); GDPR Art. 35",
                requirement="`securetune check` ran after the last training event"
                + (" (required by policy)" if required else ""),
                observed="no check of the finished adapter recorded for this run",
                status="not_run",
                evidence=_refs(ended),
            )
        ]
    gates = latest.payload.get("gates") or {}
    out: list[Control] = []
    if isinstance(gates, dict):
        items = sorted(gates.items())
    else:  # a list of {name, passed, ...}
        items = [(str(g.get("name")), g) for g in gates if isinstance(g, dict)]
    for name, gate in items:
        passed = gate.get("passed") if isinstance(gate, dict) else bool(gate)
        limit = gate.get("limit", gate.get("threshold")) if isinstance(gate, dict) else None
        value = gate.get("value", gate.get("observed")) if isinstance(gate, dict) else None
        out.append(
            Control(
                id=f"gate-{name}",
                title=f"Check gate: {name}",
                clause="EDPB Opinion 28/2024; GDPR Art. 35",
                requirement=f"{name} within {limit}" if limit is not None else name,
                observed=_observed(
                    value, passed, gate.get("note") if isinstance(gate, dict) else None
                ),
                status="not_run" if passed is None else ("passed" if passed else "failed"),
                evidence=_refs(latest),
            )
        )
    if not out:
        out.append(
            Control(
                id="memorization-check",
                title="Memorization measured after training",
                clause="EDPB Opinion 28/2024; GDPR Art. 35",
                requirement="`securetune check` ran",
                observed="check ran but recorded no gates",
                status="not_run",
                evidence=_refs(latest),
            )
        )
    return out


def _observed(value: Any, passed: bool | None, note: str | None) -> str:
    if value is not None:
        shown = f"{value}"
    else:
        shown = "not measured" if passed is None else ("passed" if passed else "failed")
    return f"{shown} ({note})" if note and note != shown else shown


def tally(controls: list[Control]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "not_run": 0}
    for control in controls:
        counts[control.status] += 1
    return counts
