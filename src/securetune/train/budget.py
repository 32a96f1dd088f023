"""The per-dataset lifetime privacy budget, read from the signed ledger.

There is no separate budget file to edit or lose: the spend on a dataset is the sum over
the ledger's ``train.*`` events for that dataset, and the ledger is verified (signature,
hash chain, witness) before it is read. Deleting a run directory does not give budget back.

Rules (fail closed):

* a finished run counts the epsilon its accountant reported (``train.finish``);
* a run that started but never finished counts its full target (``train.start``): it may
  have released a checkpoint, and it may still be resumed;
* a run that failed before its first checkpoint (``train.fail`` with ``released: false``)
  counts nothing: its computations on the data never left the process;
* a non-private (``--no-dp``) run spends an unbounded budget;
* spends add up (basic composition: a valid, if loose, bound for any mix of accountants),
  and so do deltas.

A dataset is matched by its lineage root *or* its content hash (securetune.lineage):
re-adding an export, shuffling the records or re-scrubbing the same raw file links the new
dataset to its source, and all runs on one lineage share one budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from securetune.audit.ledger import Ledger
from securetune.lineage import lineage_root_namer
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


def runs_in_ledger(ws: Workspace) -> dict[str, RunEvents]:
    """Every training run in the ledger by id. Call :meth:`Workspace.verify_ledger` first."""
    runs: dict[str, RunEvents] = {}
    for entry in Ledger.open(ws.ledger_dir, clock=ws.clock).entries():
        if not entry.event.startswith("train."):
            continue
        run_id = entry.payload.get("run_id")
        if not isinstance(run_id, str):
            continue
        if entry.event == START:
            runs[run_id] = RunEvents(run_id=run_id, start=entry.payload)
        elif run_id in runs:
            if entry.event == CHECKPOINT:
                runs[run_id].checkpoints.append(entry.payload)
            elif entry.event == FINISH:
                runs[run_id].finish = entry.payload
            elif entry.event == FAIL:
                runs[run_id].failed = entry.payload
    return runs


def dataset_spend(ws: Workspace, *, dataset_id: str, content_sha256: str, exclude_run: str | None = None) -> Spend:
    """What earlier runs spent on this dataset (verifies the ledger first)."""
    ws.verify_ledger()
    lineage_root = lineage_root_namer(ws.ledger_dir)  # data, not names: see securetune.lineage
    mine = lineage_root(dataset_id)
    eps = delta = 0.0
    runs = unfinished = non_private = 0
    for run in runs_in_ledger(ws).values():
        start = run.start
        if run.run_id == exclude_run:
            continue
        if lineage_root(str(start.get("dataset_id"))) != mine and start.get("dataset_content_sha256") != content_sha256:
            continue
        if run.failed is not None and not run.failed.get("released", True):
            continue  # failed before its first checkpoint: nothing left the process
        runs += 1
        if start.get("no_dp"):
            non_private += 1
            eps = math.inf
            continue
        if run.finish is None:
            unfinished += 1
            eps += float(start["epsilon_target"])
        else:
            eps += float(run.finish["epsilon_spent"])
        delta += float(start["delta"])
    return Spend(epsilon=eps, delta=delta, runs=runs, unfinished=unfinished, non_private=non_private)
