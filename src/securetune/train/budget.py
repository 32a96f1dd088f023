"""The per-dataset lifetime privacy budget, read from the signed ledger.

There is no separate budget file to edit or lose: the spend on a dataset is the sum over
the ledger's ``train.*`` events for that dataset, and the ledger is verified (signature,
hash chain, witness) before it is read. Deleting a run directory does not give budget back.

What one run costs, at its own privacy unit (fail closed):

* a finished run: the epsilon its accountant reported (``train.finish``);
* a run that started and has not finished: its full target (``train.start``); it may have
  released a checkpoint, and it may still be resumed;
* a run that failed for good (``train.fail`` with ``final: true``): the epsilon it had spent;
* a run that failed before its first checkpoint (``train.fail``, ``released: false``): the
  epsilon of the steps it took (nothing if it took none: it computed nothing on the data);
* a non-private (``--no-dp``) run: an unbounded budget.

The budget is kept **per dataset and unit**: a new run is charged against the spend at its
own unit, and a spend at the other unit is converted, never simply added:

* record -> subject, by group privacy over the largest subject's k records:
  (k eps, k e^((k-1) eps) delta);
* subject -> record: removing one record changes one subject's data, which is one subject
  removed and one added: (2 eps, (1 + e^eps) delta).

Converted spends add up with the others (basic composition: valid for any mix of
accountants), deltas too, and the summed delta is capped (see :mod:`.loop`).

Which runs concern a dataset is decided in one place, :func:`same_data`: a dataset is
matched by its lineage root *or* its content hash (securetune.lineage), so re-adding an
export, shuffling the records or re-scrubbing the same raw file links the new dataset to its
source, and all runs on one lineage share one budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from securetune.lineage import root_of
from securetune.workspace import Workspace

START = "train.start"
FINISH = "train.finish"
CHECKPOINT = "train.checkpoint"
FAIL = "train.fail"


@dataclass
class RunEvents:
    run_id: str
    start: dict
    checkpoints: list[dict] = field(default_factory=list)
    finish: dict | None = None
    failed: dict | None = None


@dataclass(frozen=True)
class Spend:
    epsilon: float  # math.inf once any non-private run touched the dataset
    delta: float
    runs: int
    unfinished: int
    non_private: int
    unit: str = "record"  # the unit the spend is expressed at
    converted: int = 0  # runs at the other unit, converted (see the module docstring)
    run_ids: frozenset[str] = frozenset()  # the runs counted
    relations: frozenset[str] = frozenset()  # neighbouring relations of the private runs counted


@dataclass(frozen=True)
class DataIdentity:
    """What the budget knows a dataset by (its manifest's id and content hash)."""

    dataset_id: str
    content_sha256: str

    @classmethod
    def of(cls, manifest: Any) -> DataIdentity:
        return cls(dataset_id=manifest.dataset_id, content_sha256=manifest.content_sha256)


def same_data(
    start: dict[str, Any],
    identity: DataIdentity,
    lineage_root: Callable[[str], str] | None = None,
) -> bool:
    """Whether a run (its ``train.start`` payload) trained on this dataset or its lineage.

    ``lineage_root`` names a dataset id's lineage root (:func:`securetune.lineage.root_of`):
    a derived dataset (scrub output, a re-added export, the same records shuffled) shares its
    source's root, and so its budget.
    """
    if lineage_root is not None and lineage_root(str(start.get("dataset_id"))) == lineage_root(
        identity.dataset_id
    ):
        return True
    return (
        start.get("dataset_id") == identity.dataset_id
        or start.get("dataset_content_sha256") == identity.content_sha256
    )


def run_cost(run: RunEvents) -> tuple[float, float] | None:
    """(epsilon, delta) one run costs at its own unit; ``None`` when it costs nothing."""
    start = run.start
    failed = run.failed
    if failed is not None and not failed.get("released", True) and not failed.get("steps"):
        return None  # failed before any step: nothing was computed from the data
    if start.get("no_dp"):
        return math.inf, 0.0
    delta = float(start["delta"])
    if run.finish is not None:
        return float(run.finish["epsilon_spent"]), delta
    if ended(run):
        return float(failed.get("epsilon_spent") or 0.0), delta  # type: ignore[union-attr]
    return float(start["epsilon_target"]), delta


def ended(run: RunEvents) -> bool:
    """Failed for good, or before its first checkpoint: it can never be resumed."""
    failed = run.failed
    return failed is not None and bool(failed.get("final") or not failed.get("released", True))


def convert(
    epsilon: float, delta: float, *, source: str, target: str, largest_unit: int
) -> tuple[float, float]:
    """A spend at unit ``source`` expressed at unit ``target`` (see the module docstring)."""
    if source == target:
        return epsilon, delta
    if source == "record":  # group privacy over one subject's records
        k = max(1, largest_unit)
        return k * epsilon, min(1.0, k * _exp(epsilon * (k - 1)) * delta) if delta else 0.0
    return 2 * epsilon, min(1.0, (1 + _exp(epsilon)) * delta) if delta else 0.0


def _exp(x: float) -> float:
    return math.inf if x > 700 else math.exp(x)


def runs_in_ledger(ws: Workspace) -> dict[str, RunEvents]:
    """Every training run in the ledger by id, from the verified ledger (``ledger_view``)."""
    return runs_of(ws.ledger_view().train_events)


def runs_of(events: list[tuple[int, str, dict[str, Any]]]) -> dict[str, RunEvents]:
    """Group ``train.*`` events (seq, event, payload) by run, in ledger order."""
    runs: dict[str, RunEvents] = {}
    for _seq, event, payload in events:
        run_id = payload.get("run_id")
        if not isinstance(run_id, str):
            continue
        if event == START:
            runs[run_id] = RunEvents(run_id=run_id, start=payload)
        elif run_id in runs:
            if event == CHECKPOINT:
                runs[run_id].checkpoints.append(payload)
            elif event == FINISH:
                runs[run_id].finish = payload
            elif event == FAIL:
                runs[run_id].failed = payload
    return runs


def dataset_spend(
    ws: Workspace,
    *,
    identity: DataIdentity,
    unit: str = "record",
    largest_unit: int = 1,
    exclude_run: str | None = None,
) -> Spend:
    """What earlier runs spent on this dataset, at ``unit``, from the verified ledger.

    ``largest_unit`` is the most records one subject has, for converting record-level runs.
    """
    # Runs and lineage from the one pass that verified the ledger (signature, chain,
    # witness): a tampered ledger makes this raise, never count a fresh budget.
    view = ws.ledger_view()
    return spend_of(
        runs_of(view.train_events),
        root_of(view.state),  # data, not names: see securetune.lineage
        identity=identity,
        unit=unit,
        largest_unit=largest_unit,
        exclude_run=exclude_run,
    )


def spend_of(
    all_runs: dict[str, RunEvents],
    lineage_root: Callable[[str], str],
    *,
    identity: DataIdentity,
    unit: str,
    largest_unit: int,
    exclude_run: str | None = None,
) -> Spend:
    """The spend of the runs (from a verified ledger) on this dataset's lineage, at ``unit``."""
    eps = delta = 0.0
    runs = unfinished = non_private = converted = 0
    counted: set[str] = set()
    relations: set[str] = set()
    for run in all_runs.values():
        if run.run_id == exclude_run or not same_data(run.start, identity, lineage_root):
            continue
        cost = run_cost(run)
        if cost is None:
            continue
        runs += 1
        counted.add(run.run_id)
        if not run.start.get("no_dp"):
            relations.add(str(run.start.get("neighbours") or "add-remove"))
        non_private += bool(run.start.get("no_dp"))
        unfinished += run.finish is None and not ended(run)
        source = run.start.get("privacy_unit") or "record"
        converted += source != unit and not run.start.get("no_dp")
        e, d = convert(*cost, source=source, target=unit, largest_unit=largest_unit)
        eps += e
        delta += d
    return Spend(
        epsilon=eps,
        delta=delta,
        runs=runs,
        unfinished=unfinished,
        non_private=non_private,
        unit=unit,
        converted=converted,
        run_ids=frozenset(counted),
        relations=frozenset(relations),
    )


def lifetime_reader(
    ws: Workspace,
) -> Callable[[dict[str, Any]], tuple[float, float, frozenset[str]]]:
    """For the report and `release`: what every run on a run's data (its lineage) has spent,
    at that run's unit, computed exactly as the budget check computes it.

    The ledger is read on the first question, from the pass that verified it (the
    caller's, or one made then), and once only, however many runs are asked about (the
    workspace report asks about every run)."""
    read: list[tuple[dict[str, RunEvents], Callable[[str], str]]] = []

    def of(start: dict[str, Any]) -> tuple[float, float, frozenset[str]]:
        if not read:
            view = ws.ledger_view()
            read.append((runs_of(view.train_events), root_of(view.state)))
        all_runs, lineage_root = read[0]
        spend = spend_of(
            all_runs,
            lineage_root,
            identity=DataIdentity(
                str(start.get("dataset_id")), str(start.get("dataset_content_sha256"))
            ),
            unit=str(start.get("privacy_unit") or "record"),
            largest_unit=int(start.get("largest_unit_records") or 1),
        )
        return spend.epsilon, spend.delta, spend.run_ids

    return of
