"""The facts a report states, gathered from verified evidence into one JSON-able document.

HTML, PDF and JSON are three renderings of the same document (:func:`run_report`,
:func:`workspace_report`), so what a compliance officer reads and what a machine checks
cannot drift apart. Each section is a plain mapping; a value the evidence does not contain
is ``None`` and renders as "not recorded", never as a guess.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from securetune import __version__
from securetune.controls import RunEvidence, evaluate, tally
from securetune.dedup import DEDUP_EVENT
from securetune.evidence import DATASET_CREATED, Evidence, run_evals, run_evidence
from securetune.report import glossary

REPORT_VERSION = 1


def _header(evidence: Evidence, now: datetime, scope: str) -> dict[str, Any]:
    return {
        "report_version": REPORT_VERSION,
        "scope": scope,
        "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generator": f"securetune {__version__}",
        "workspace_id": evidence.workspace_id,
        "ledger": {
            "verified": evidence.ok,
            "error": evidence.error,
            "entries": len(evidence.entries),
            "checkpoint_size": evidence.checkpoint_size,
            "root": evidence.root,
            "verifier_key": evidence.verifier_key,
            "key_name": evidence.key_name,
        },
    }


def failed_report(evidence: Evidence, now: datetime) -> dict[str, Any]:
    """What a report says when the ledger does not verify: that, and nothing else."""
    doc = _header(evidence, now, "unverified")
    doc["verdict"] = {
        "overall": "ledger verification failed",
        "summary": "No facts are reported: they would come from a ledger that failed verification.",
    }
    return doc


# -- one run ------------------------------------------------------------------------------


def run_report(
    evidence: Evidence,
    run_id: str,
    *,
    now: datetime,
    processing: Mapping[str, Any] | None = None,
    metrics: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The full report on one training run."""
    run = run_evidence(evidence, run_id)
    start = run.start.payload
    finish = run.finish.payload if run.finish else {}
    controls = evaluate(run, ledger_ok=evidence.ok)
    counts = tally(controls)
    doc = _header(evidence, now, "run")
    doc["verdict"] = _verdict(start, counts)
    doc["identity"] = _identity(evidence, run, start, finish)
    doc["guarantee"] = _guarantee(run, start, finish, _merged_groups(evidence, run_id))
    doc["dp_statement"] = _dp_statement(doc["guarantee"], start)
    doc["hazards"] = _hazards(run, start, finish, metrics is not None)
    doc["empirical"] = _empirical(run)
    doc["utility"] = _utility(run_evals(evidence, run_id))
    doc["deidentification"] = _deid(run, evidence.policy_dirs)
    doc["training"] = _training(run, start, finish, metrics)
    doc["security"] = _security(evidence, start, finish)
    doc["processing_record"] = _processing(processing)
    doc["controls"] = [c.to_json() for c in controls]
    doc["environment"] = _environment(start)
    doc["glossary"] = glossary.TERMS
    return doc


def _verdict(start: Mapping[str, Any], counts: Mapping[str, int]) -> dict[str, Any]:
    if counts["failed"]:
        overall = "controls failed"
    elif counts["not_run"]:
        overall = "incomplete"
    else:
        overall = "all controls passed"
    return {
        "overall": overall,
        "policy": start.get("policy"),
        "policy_sha256": start.get("policy_sha256"),
        "controls": dict(counts),
        "sign_off": {"reviewer": None, "decision": None, "date": None},
    }


def _identity(
    evidence: Evidence, run: RunEvidence, start: Mapping[str, Any], finish: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "run_id": start.get("run_id"),
        "status": "finished" if run.finish else ("failed" if run.fail else "unfinished"),
        "started": run.start.ts,
        "ended": (run.finish or run.fail).ts if (run.finish or run.fail) else None,
        "adapter_sha256": finish.get("adapter_sha256"),
        "adapter_encrypted": finish.get("adapter_encrypted"),
        "base_model": start.get("model_id"),
        "base_model_sha256": start.get("model_sha256"),
        "dataset": start.get("dataset"),
        "dataset_id": start.get("dataset_id"),
        "dataset_content_sha256": start.get("dataset_content_sha256"),
        "ledger_entries": len(evidence.entries),
        "checkpoint_root": evidence.root,
        "key_name": evidence.key_name,
        "verifier_key": evidence.verifier_key,
        "verified": evidence.ok,
        "versions": start.get("versions") or {},
        "evidence": {
            "train.start": run.start.seq,
            "train.finish": run.finish.seq if run.finish else None,
        },
        "releases": [
            {
                "seq": e.seq,
                "ts": e.ts,
                "destination": e.payload.get("destination"),
                "actor": e.actor,
                "weights_sha256": e.payload.get("weights_sha256"),
            }
            for e in evidence.run_events(str(start.get("run_id")))
            if e.event == "release"
        ],
    }


def _merged_groups(evidence: Evidence, run_id: str) -> int | None:
    """How many near-duplicate groups merged this run's units (its ``data.dedup`` event);
    None when the run merged none by design (``--dedup off``, or a run from before dedup)."""
    entry = next((e for e in evidence.run_events(run_id) if e.event == DEDUP_EVENT), None)
    return int(entry.payload.get("clusters") or 0) if entry is not None else None


def _guarantee(
    run: RunEvidence, start: Mapping[str, Any], finish: Mapping[str, Any], merged: int | None
) -> dict[str, Any]:
    no_dp = bool(start.get("no_dp"))
    units = start.get("train_units")
    delta = start.get("delta")
    eps = None if no_dp else finish.get("epsilon_spent", None)
    unit = start.get("privacy_unit")
    relation = start.get("neighbours") or start.get("neighbouring_relation") or "add-remove"
    rules = start.get("training_rules") or {}
    out = {
        "dp": not no_dp,
        "epsilon": eps,
        "epsilon_target": start.get("epsilon_target"),
        "delta": delta,
        "one_over_n": (1.0 / units) if units else None,
        "delta_times_n": (delta * units) if (delta is not None and units) else None,
        "neighbouring_relation": relation,
        "privacy_unit": unit,
        "protects": start.get("protects") or _protects(unit, bool(merged)),
        "dedup": start.get("dedup") or ("group" if merged is not None else None),
        "merged_groups": merged,
        "merged_units": _merged_units(unit, merged, eps) if not no_dp else None,
        # the ledger's key; older reports read a key no run ever wrote, so this was always null
        "max_records_per_unit": start.get("largest_unit_records"),
        "records_per_unit_per_step": 1 if unit == "subject" else None,
        "n_units": units,
        "validation_units": start.get("validation_units"),
        "accountant": start.get("accountant"),
        "sampling": "Poisson (each unit independently, rate q)",
        "sample_rate": start.get("sample_rate"),
        "noise_multiplier": start.get("noise_multiplier"),
        "max_grad_norm": start.get("max_grad_norm"),
        "steps": finish.get("steps", start.get("planned_steps")),
        "planned_steps": start.get("planned_steps"),
        "batch_size": start.get("batch_size"),
        "clipping": start.get("clipping"),
        "trust_model": (
            "Central: the training process decrypts the scrubbed records in memory on the machine "
            "that runs it; whoever operates that machine and holds the workspace key is trusted. "
            "Only the trained adapter is protected by the guarantee; what the process logs without "
            "noise is listed among the non-private outputs."
        ),
        "lifetime_epsilon_spent": run.lifetime_epsilon,
        "lifetime_epsilon_cap": rules.get("lifetime_epsilon", start.get("lifetime_epsilon_cap")),
        "lifetime_runs": len(run.lifetime_runs),
    }
    out["plain_language"] = _plain_language(out)
    return out


def _protects(unit: Any, merged: bool) -> str | None:
    """For runs whose ``train.start`` predates its ``protects`` field."""
    if unit == "subject":
        if merged:
            return (
                "one subject (patient): all of their records together, with every subject "
                "they share a near-copy with"
            )
        return "one subject (patient): all of their records together"
    if unit == "record":
        if merged:
            return (
                "one record together with its near-copies (a patient with several records is "
                "protected less)"
            )
        return "one record (a patient with several records is protected less)"
    return None


def _merged_units(unit: Any, merged: int | None, eps: float | None) -> str | None:
    """The qualification docs/DEDUP.md gives when near-duplicate groups merged units."""
    if not merged:
        return None
    member = "one copy of a note" if unit == "record" else "one of the merged patients"
    alone = f"2ε = {2 * eps:.2f}" if eps is not None else "2ε"
    return (
        f"{merged} near-duplicate group(s) merged privacy units: a merged unit is protected as a "
        f"whole at the run's ε; one member of it alone ({member}) is protected at (1 + m)·ε by "
        f"group privacy, where m is the number of units the rest of its unit splits into "
        f"without it: usually {alone}, more for a record that was the only bridge between "
        f"copies (docs/DEDUP.md)."
    )


def _plain_language(g: Mapping[str, Any]) -> str:
    if not g["dp"]:
        return (
            "This run was trained WITHOUT differential privacy: nothing bounds what the model "
            "reveals about any patient in its training data."
        )
    eps, delta = g["epsilon"], g["delta"]
    if eps is None or delta is None:
        return "The run has not finished, so its privacy loss is not final."
    unit = "patient" if g["privacy_unit"] == "subject" else "record"
    bound = math.exp(eps)
    at_1pct = bound * 0.01 + delta
    reading = (
        f"at a 1% false-positive rate such a test can catch at most {at_1pct:.0%} of members"
        if at_1pct < 1
        else "at this epsilon the worst-case bound no longer limits a test at a 1% false-positive "
        "rate; the empirical checks measure what attacks achieve in practice"
    )
    statement = (
        f"Any test an attacker runs on the adapter to decide whether a given {unit} was in the "
        f"training data has true-positive rate at most e^ε × false-positive rate + δ "
        f"(e^{eps:.2f} ≈ {bound:,.1f}); {reading}. This holds for {g['neighbouring_relation']} "
        f"neighbours at the {unit} level, under the trust model stated below."
    )
    if g.get("merged_units"):
        statement += (
            f" Near-copies merged some {unit}s into larger units: for those, the bound is "
            f"about the merged unit as a whole, not one member of it alone (see below)."
        )
    return statement


def _dp_statement(g: Mapping[str, Any], start: Mapping[str, Any]) -> dict[str, Any]:
    """The DP claim in the vocabulary of the OpenDP deployments registry's transparency tiers.

    Tier 1 names what is protected and how much; tier 2 how it was implemented. Field names
    follow the registry's published categories (privacy unit, privacy loss, neighbouring
    relation, DP flavour, trust model, implementation); it is a mapping of our facts onto
    them, not a submission to the registry.
    """
    return {
        "tier_1": {
            "data_product": "LoRA adapter weights (fine-tuned language model)",
            "privacy_unit": g["privacy_unit"],
            "unit_description": g["protects"],
            "neighbouring_relation": g["neighbouring_relation"],
            "dp_flavor": "approximate DP ((epsilon, delta)-DP)" if g["dp"] else "none",
            "privacy_loss": {"epsilon": g["epsilon"], "delta": g["delta"]},
            "trust_model": "central",
            "budget_horizon": "lifetime of the dataset in this workspace",
            "lifetime_privacy_loss": {"epsilon": g["lifetime_epsilon_spent"]},
        },
        "tier_2": {
            "mechanism": "DP-SGD (per-example clipping, Gaussian noise), Poisson subsampling",
            "accountant": g["accountant"],
            "noise_multiplier": g["noise_multiplier"],
            "clipping_norm": g["max_grad_norm"],
            "sample_rate": g["sample_rate"],
            "steps": g["steps"],
            "implementation": {
                k: v
                for k, v in (start.get("versions") or {}).items()
                if k in ("opacus", "torch", "securetune")
            },
        },
    }


def _hazards(
    run: RunEvidence, start: Mapping[str, Any], finish: Mapping[str, Any], has_metrics: bool
) -> list[dict[str, str]]:
    hazards: list[dict[str, str]] = []

    def add(hid: str, severity: str, text: str) -> None:
        hazards.append({"id": hid, "severity": severity, "text": text})

    if start.get("no_dp"):
        add(
            "no-dp",
            "high",
            "Trained without differential privacy (--no-dp): no bound on what the model reveals.",
        )
    if start.get("privacy_unit") == "record":
        add(
            "unit-record",
            "high",
            "The privacy unit is a single record: a patient with k records has roughly k times the "
            "stated privacy loss.",
        )
    eps = finish.get("epsilon_spent")
    if eps is not None and not start.get("no_dp"):
        if eps > 10:
            add(
                "large-epsilon",
                "high",
                f"Epsilon {eps:.2f} is large: the worst-case bound is weak.",
            )
        elif eps > 1:
            add(
                "moderate-epsilon",
                "info",
                f"Epsilon {eps:.2f} is above 1: typical of DP model training, strong against "
                "average-case attacks but weak as a worst-case bound.",
            )
    units = start.get("train_units")
    delta = start.get("delta")
    if units and delta is not None and delta * units > 0.01:
        add("delta", "medium", f"delta × N = {delta * units:.3g}: delta is not far below 1/N.")
    if not start.get("dataset_scrubbed"):
        add(
            "unscrubbed",
            "high",
            "The training data was not scrubbed of PHI/PII (--allow-unscrubbed).",
        )
    outputs = start.get("non_private_outputs") or finish.get("non_private_outputs")
    if outputs:
        add(
            "non-private-outputs",
            "medium",
            "Kept without noise: " + ", ".join(str(o) for o in outputs) + ".",
        )
    elif has_metrics or finish.get("metrics_sha256"):
        add(
            "non-private-outputs",
            "medium",
            "Per-step training losses and validation loss were kept without noise (metrics.jsonl); "
            "they are not covered by the guarantee.",
        )
    others = len(run.lifetime_runs) - 1
    if others > 0:
        add(
            "tuning-runs",
            "info",
            f"{others} other run(s) used the same data; their privacy loss is added to the lifetime "
            "budget, but choosing among runs by their non-private validation loss is not accounted.",
        )
    if finish and not finish.get("adapter_encrypted"):
        add("plaintext-adapter", "medium", "The adapter is stored in plaintext.")
    if run.sealed_late:
        add(
            "sealed-late",
            "high",
            f"{len(run.sealed_late)} of this run's ledger entries were signed late by `audit recover` "
            "(not by the command that wrote them); they are shown but not counted as evidence.",
        )
    if run.fail is not None and run.finish is None:
        add("failed-run", "info", "The run failed; any checkpoint it left is charged as spent.")
    return hazards


def _empirical(run: RunEvidence) -> dict[str, Any]:
    latest = run.checks[-1] if run.checks else None
    if latest is None:
        return {"ran": False, "note": "`securetune check` has not been run on this adapter."}
    p = latest.payload
    return {
        "ran": True,
        "seq": latest.seq,
        "ts": latest.ts,
        "results": {k: v for k, v in p.items() if k not in ("run_id",)},
    }


def _utility(evals: tuple[Any, ...]) -> dict[str, Any]:
    """The last ``securetune eval`` of the run: is the private model any good?"""
    if not evals:
        return {"ran": False, "note": "`securetune eval` has not been run on this adapter."}
    latest = evals[-1]
    p = latest.payload
    return {
        "ran": True,
        "seq": latest.seq,
        "ts": latest.ts,
        "eval_id": p.get("eval_id"),
        "format": p.get("format"),
        "baseline_run_id": p.get("baseline_run_id"),
        "heldout": p.get("heldout"),
        "other": p.get("other"),
        "generation": p.get("generation"),
        "forgetting": p.get("forgetting"),
        "non_private_outputs": p.get("non_private_outputs") or [],
    }


def _deid(run: RunEvidence, policy_dirs: tuple[Path, ...] = ()) -> dict[str, Any]:
    origin = run.dataset_origin
    if origin is None:
        return {"scrubbed": False, "note": "The dataset's creation is not in this ledger."}
    p = origin.payload
    if origin.event != "scrub":
        return {
            "scrubbed": False,
            "seq": origin.seq,
            "note": "The dataset was added as-is (data add), without de-identification.",
        }
    from securetune.policy import PolicyError, load_policy

    categories: list[dict[str, Any]] = []
    counts = p.get("spans_per_type") or {}
    try:
        policy = load_policy(str(p.get("policy")), search=policy_dirs)
        matches = policy.sha256 == p.get("policy_sha256")
    except PolicyError:
        policy, matches = None, False
    if policy is not None and matches:
        for item in policy.safe_harbor or []:
            entities = list(item.entities)
            categories.append(
                {
                    "id": item.id,
                    "name": item.name,
                    "entities": entities,
                    "handling": ", ".join(sorted({str(policy.operator_for(e)) for e in entities}))
                    or None,
                    "found": sum(int(counts.get(e, 0)) for e in entities),
                    "note": item.note,
                }
            )
    return {
        "scrubbed": True,
        "seq": origin.seq,
        "subset_of_scrubbed": [
            {"seq": e.seq, "dataset": e.payload.get("dataset")} for e in run.dataset_subsets
        ],
        "policy": p.get("policy"),
        "policy_sha256": p.get("policy_sha256"),
        "policy_file_matches": matches,
        "engine": p.get("engine") or {},
        "records": p.get("records"),
        "records_changed": p.get("records_changed"),
        "spans_per_type": counts,
        "dropped_fields": p.get("dropped_fields"),
        "safe_harbor": categories,
        "measured_recall": p.get("residual_risk") or p.get("measured_recall"),
        "attestation": (
            "Safe Harbor also needs the covered entity to have no actual knowledge that what "
            "remains identifies anyone (164.514(b)(2)(ii)): no tool can certify that; a person attests it."
        ),
        "expert_determination": "not performed",
    }


def _training(
    run: RunEvidence,
    start: Mapping[str, Any],
    finish: Mapping[str, Any],
    metrics: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    steps = [m for m in metrics or [] if "step" in m]
    return {
        "base_model": start.get("model_id"),
        "lora": start.get("lora"),
        "epochs_planned": start.get("epochs"),
        "epochs_completed": finish.get("epochs_completed"),
        "stopped": finish.get("stopped") or ("failed" if run.fail else None),
        "checkpoints": len(run.checkpoints),
        "series": {
            "step": [m["step"] for m in steps],
            "loss": [m.get("loss") for m in steps],
            "epsilon": [m.get("epsilon") for m in steps],
        }
        if steps
        else None,
        "series_note": None
        if steps
        else "per-step metrics are not available in plaintext signed form",
    }


def _security(
    evidence: Evidence, start: Mapping[str, Any], finish: Mapping[str, Any]
) -> dict[str, Any]:
    rotations = [
        {"seq": e.seq, "ts": e.ts, "keys_rewrapped": e.payload.get("keys_rewrapped")}
        for e in evidence.events("keys.rotate")
    ]
    init = next(iter(evidence.events("init")), None)
    return {
        "data_encryption": "AES-256-GCM chunked stream, per-dataset data key wrapped by the workspace key",
        "adapter_encryption": "AES-256-GCM"
        if finish.get("adapter_encrypted")
        else "none (plaintext)",
        "key_provider": init.payload.get("key_provider") if init else None,
        "key_rotations": rotations,
        "ledger_signature": "Ed25519 over an RFC 6962 Merkle root (C2SP signed note)",
        "verifier_key": evidence.verifier_key,
    }


PROCESSING_FIELDS = (
    ("controller", "Name and contact details of the controller (and DPO)"),
    ("purposes", "Purposes of the processing"),
    ("data_subjects", "Categories of data subjects"),
    ("personal_data", "Categories of personal data"),
    ("recipients", "Categories of recipients"),
    ("transfers", "Transfers to third countries and safeguards"),
    ("retention", "Time limits for erasure"),
    ("security_measures", "General description of technical and organisational security measures"),
)


def _processing(declared: Mapping[str, Any] | None) -> dict[str, Any]:
    """GDPR Art. 30(1) fields, from the workspace's processing.yaml (declared, not evidenced)."""
    declared = declared or {}
    return {
        "source": "processing.yaml in the workspace (declared by the controller, not ledger evidence)",
        "fields": [
            {"key": k, "label": label, "value": declared.get(k)} for k, label in PROCESSING_FIELDS
        ],
    }


def _environment(start: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "training_versions": start.get("versions") or {},
        "report_python": platform.python_version(),
        "report_platform": platform.platform(terse=True),
    }


# -- the workspace --------------------------------------------------------------------------


def workspace_report(evidence: Evidence, *, now: datetime) -> dict[str, Any]:
    """Datasets, runs and the budget spent per dataset, from the verified ledger."""
    doc = _header(evidence, now, "workspace")
    datasets: dict[str, dict[str, Any]] = {}
    for entry in evidence.entries:
        p = entry.payload
        if entry.event in DATASET_CREATED and isinstance(p.get("dataset_id"), str):
            datasets[p["dataset_id"]] = {
                "name": p.get("dataset"),
                "dataset_id": p["dataset_id"],
                "created_seq": entry.seq,
                "created": entry.ts,
                "how": entry.event,
                "scrubbed": entry.event == "scrub" or bool(p.get("scrubbed")),
                "policy": p.get("policy"),
                "records": p.get("records"),
                "removed": False,
                "epsilon_spent": 0.0,
                "runs": 0,
            }
        elif entry.event == "data.rm" and p.get("dataset_id") in datasets:
            datasets[p["dataset_id"]]["removed"] = True
    runs = []
    for entry in evidence.events("train.start"):
        run_id = str(entry.payload.get("run_id"))
        run = run_evidence(evidence, run_id)
        finish = run.finish.payload if run.finish else {}
        spent = math.inf if entry.payload.get("no_dp") else finish.get("epsilon_spent")
        runs.append(
            {
                "run_id": run_id,
                "dataset": entry.payload.get("dataset"),
                "status": "finished" if run.finish else ("failed" if run.fail else "unfinished"),
                "epsilon": spent,
                "privacy_unit": entry.payload.get("privacy_unit"),
                "checked": bool(run.checks),
            }
        )
        ds = datasets.get(str(entry.payload.get("dataset_id")))
        if ds is not None:
            ds["runs"] += 1
            ds["epsilon_spent"] = run.lifetime_epsilon
    doc["verdict"] = {
        "overall": "ledger verified" if evidence.ok else "ledger verification failed",
        "summary": f"{len(datasets)} dataset(s), {len(runs)} training run(s)",
    }
    doc["datasets"] = list(datasets.values())
    doc["runs"] = runs
    doc["glossary"] = glossary.TERMS
    return doc
