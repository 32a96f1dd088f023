"""Evidence: the verified ledger's entries, and files whose hash it signs.

The compliance report and `release` decide from nothing the ledger does not vouch for.
:func:`gather` verifies the whole ledger first (chain, signed checkpoint, witness); when that
fails the caller states the failure and uses no facts at all, because facts read from a
ledger that does not verify could have been written by anyone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from securetune.audit.ledger import Entry, Ledger
from securetune.controls import RunEvidence
from securetune.errors import SecuretuneError
from securetune.workspace import Workspace

DATASET_CREATED = ("data.add", "scrub", "data.dedup.create")
#: A dataset made by keeping some records of another (``data dedup --remove``): its text is
#: its source's, so its de-identification is its source's creation event.
SUBSET_CREATED = "data.dedup.create"


class ReportError(SecuretuneError):
    """What was asked for is not in the evidence (an unknown run, ...)."""


@dataclass(frozen=True)
class Evidence:
    """A verified ledger's entries, or the reason the ledger could not be verified."""

    ok: bool
    error: str | None
    entries: tuple[Entry, ...] = ()
    root: str | None = None
    checkpoint_size: int = 0
    verifier_key: str | None = None
    key_name: str | None = None
    workspace_id: str | None = None
    runs_dir: Path | None = None
    policy_dirs: tuple[Path, ...] = ()
    lifetime: Callable[[Mapping[str, Any]], tuple[float, float, frozenset[str]]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def events(self, *names: str) -> Iterator[Entry]:
        """Entries whose event is one of ``names`` (or every entry), in ledger order."""
        for entry in self.entries:
            if not names or entry.event in names:
                yield entry

    def run_events(self, run_id: str) -> list[Entry]:
        """Every entry that names this run, in ledger order."""
        return [e for e in self.entries if e.payload.get("run_id") == run_id]

    def sealed_late(self) -> frozenset[int]:
        """Sequence numbers of entries signed only by `audit recover`, not by the command that
        wrote them: anyone who could write the log file could have written those, so they are
        shown but never count as evidence for a control."""
        late: set[int] = set()
        for entry in self.events("audit.recover"):
            n = int(entry.payload.get("entries_sealed_late") or 0)
            late.update(range(entry.seq - n, entry.seq))
        return frozenset(late)

    def last(self, *names: str) -> Entry | None:
        found = None
        for entry in self.events(*names):
            found = entry
        return found


def gather(
    ws: Workspace,
    *,
    lifetime: Callable[[Mapping[str, Any]], tuple[float, float, frozenset[str]]] | None = None,
) -> Evidence:
    """Verify the ledger and return its entries; a verification failure is returned, not raised.

    ``lifetime`` reads a run's lifetime budget (the training stage's own computation, passed
    in because this module sits below it)."""
    try:
        result = ws.verify_ledger()
        entries = tuple(Ledger.open(ws.ledger_dir, clock=ws.clock).entries())
    except SecuretuneError as exc:
        return Evidence(ok=False, error=str(exc), workspace_id=ws.config.workspace_id)
    if len(entries) != result.entries:
        # The log grew between verification and reading: refuse rather than mix the two.
        return Evidence(
            ok=False,
            error="the ledger changed while the report was being built; run it again",
            workspace_id=ws.config.workspace_id,
        )
    problems = ws.disagreements().all()
    if problems:
        # A ledger that verifies but disagrees with the disk describes a workspace that is not
        # this one: nothing read from either can be stated as fact.
        return Evidence(
            ok=False,
            error=f"the workspace disagrees with its ledger: {problems[0]}"
            + (
                f" (and {len(problems) - 1} more; see `securetune audit verify`)"
                if len(problems) > 1
                else ""
            ),
            workspace_id=ws.config.workspace_id,
        )
    return Evidence(
        ok=True,
        error=None,
        entries=entries,
        root=result.root,
        checkpoint_size=result.checkpoint_size,
        verifier_key=ws.verifier_key(),
        key_name=ws.config.ledger_key_name,
        workspace_id=ws.config.workspace_id,
        runs_dir=ws.runs_dir,
        policy_dirs=(ws.root / "policies",),
        lifetime=lifetime,
    )


def _created(evidence: Evidence, dataset_id: object) -> Entry | None:
    """The event that created a dataset (the last, should an id ever be reused)."""
    found = None
    for entry in evidence.events(*DATASET_CREATED):
        if entry.payload.get("dataset_id") == dataset_id:
            found = entry
    return found


EVAL_EVENT = "eval.result"


def run_evals(evidence: Evidence, run_id: str) -> tuple[Entry, ...]:
    """The run's ``eval.result`` entries in ledger order, less any sealed late (see
    :meth:`Evidence.sealed_late`): those are shown nowhere as evidence."""
    late = evidence.sealed_late()
    return tuple(
        e for e in evidence.run_events(run_id) if e.event == EVAL_EVENT and e.seq not in late
    )


def run_evidence(evidence: Evidence, run_id: str) -> RunEvidence:
    entries = evidence.run_events(run_id)
    start = next((e for e in entries if e.event == "train.start"), None)
    if start is None:
        known = [e.payload.get("run_id") for e in evidence.events("train.start")]
        hint = (
            f"; known runs: {', '.join(str(k) for k in known[-5:])}" if known else "; no runs yet"
        )
        raise ReportError(f"no training run {run_id!r} in the ledger{hint}")
    late = evidence.sealed_late()
    finish = next((e for e in entries if e.event == "train.finish"), None)
    fail = next((e for e in entries if e.event == "train.fail"), None)
    checkpoints = tuple(e for e in entries if e.event == "train.checkpoint")
    checks = tuple(e for e in entries if e.event == "check" and e.seq not in late)
    dataset_id = start.payload.get("dataset_id")
    origin = _created(evidence, dataset_id)
    subsets: list[Entry] = []
    while origin is not None and origin.event == SUBSET_CREATED and len(subsets) < 100:
        subsets.append(origin)
        origin = _created(evidence, origin.payload.get("source_dataset_id"))
    if evidence.lifetime is None:
        raise ReportError("internal: no lifetime budget reader was given")
    eps, delta, run_ids = evidence.lifetime(start.payload)
    runs = tuple(e for e in evidence.events("train.start") if e.payload.get("run_id") in run_ids)
    return RunEvidence(
        start=start,
        finish=finish,
        fail=fail,
        checkpoints=checkpoints,
        dataset_origin=origin,
        dataset_subsets=tuple(subsets),
        checks=checks,
        lifetime_epsilon=eps,
        lifetime_runs=runs,
        lifetime_delta=delta,
        sealed_late=tuple(e.seq for e in entries if e.seq in late),
    )
