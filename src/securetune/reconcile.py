"""The workspace must agree with its ledger: what is on disk is what the ledger says happened.

The ledger proves the order of events; this module checks the directories beside it against
those events (docs/WORKSPACE.md, "Agreement with the ledger"):

* every dataset directory on disk was created by a ledgered event with the same name, id
  and ciphertext hash, and has not been removed (``data.rm``) since;
* every dataset the ledger holds live is on disk;
* every run directory on disk was started by a ``train.start`` event.

A dataset is *created* by any event whose payload names ``dataset``, ``dataset_id`` and
``ciphertext_sha256`` (``datastore.create_dataset``'s contract), and *removed* by
``data.rm``. Manifests are read without their MAC (no key is needed to reconcile); a forged
manifest fails authentication in every command that reads the data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from securetune.audit.ledger import LOG_FILE
from securetune.crypto.dataset import read_manifest_unverified
from securetune.errors import DatasetError

REMOVE_EVENT = "data.rm"
EXPORT_EVENT = "data.export"
RUN_START_EVENT = "train.start"
#: Substrings that a line must hold to matter here; skipping the rest keeps a scan cheap.
_INTERESTING = (
    b'"ciphertext_sha256"',
    b'"event":"data.rm"',
    b'"event":"data.export"',
    b'"event":"train.start"',
)


@dataclass
class LedgerDataset:
    """A dataset as the ledger knows it."""

    name: str
    dataset_id: str
    ciphertext_sha256: str
    created_seq: int
    removed_seq: int | None = None
    #: What lineage needs (securetune.lineage): all optional, absent from older events.
    payload: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def live(self) -> bool:
        return self.removed_seq is None


@dataclass
class LedgerState:
    """Datasets by id and run ids, as the ledger's events leave them."""

    datasets: dict[str, LedgerDataset] = field(default_factory=dict)
    runs: set[str] = field(default_factory=set)
    #: sha256 of each exported file -> the id of the dataset exported.
    exports: dict[str, str] = field(default_factory=dict)

    def live_by_name(self) -> dict[str, LedgerDataset]:
        return {d.name: d for d in self.datasets.values() if d.live}


def _events(ledger_dir: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(seq, event, payload) of the lines that can matter, parsed loosely: integrity is
    ``verify_ledger``'s job, agreement is this module's."""
    try:
        with (ledger_dir / LOG_FILE).open("rb") as log:
            for seq, line in enumerate(log):
                if not any(marker in line for marker in _INTERESTING):
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and isinstance(entry.get("payload"), dict):
                    yield seq, str(entry.get("event")), entry["payload"]
    except FileNotFoundError:
        return


def ledger_state(ledger_dir: Path) -> LedgerState:
    state = LedgerState()
    for seq, event, payload in _events(ledger_dir):
        dataset_id = payload.get("dataset_id")
        if event == RUN_START_EVENT and isinstance(payload.get("run_id"), str):
            state.runs.add(payload["run_id"])
        elif event == REMOVE_EVENT and dataset_id in state.datasets:
            state.datasets[dataset_id].removed_seq = seq
        elif event == EXPORT_EVENT and isinstance(payload.get("out_sha256"), str):
            state.exports.setdefault(payload["out_sha256"], str(dataset_id))
        elif (
            isinstance(dataset_id, str)
            and isinstance(payload.get("dataset"), str)
            and isinstance(payload.get("ciphertext_sha256"), str)
        ):
            state.datasets[dataset_id] = LedgerDataset(
                payload["dataset"], dataset_id, payload["ciphertext_sha256"], seq, payload=payload
            )
    return state


@dataclass(frozen=True)
class Disagreements:
    """One line per disagreement; ``datasets`` block writes, ``runs`` are reported."""

    datasets: list[str]
    runs: list[str]

    def __bool__(self) -> bool:
        return bool(self.datasets or self.runs)

    def all(self) -> list[str]:
        return [*self.datasets, *self.runs]


def disagreements(
    datasets_dir: Path, runs_dir: Path, ledger_dir: Path, state: LedgerState | None = None
) -> Disagreements:
    """Compare the dataset and run directories with the ledger; one line per difference."""
    state = state or ledger_state(ledger_dir)
    live = state.live_by_name()
    found: list[str] = []
    on_disk = _visible_dirs(datasets_dir)
    for name in on_disk:
        found.extend(_check_dataset_dir(datasets_dir / name, name, state, live.get(name)))
    for name, known in sorted(live.items()):
        if name not in on_disk:
            found.append(
                f"dataset {name} ({known.dataset_id}) was created in the ledger (entry"
                f" {known.created_seq}) and never removed, but is not on disk"
            )
    runs = [
        f"run {run_id} is on disk but the ledger never started it"
        for run_id in _visible_dirs(runs_dir)
        if run_id not in state.runs
    ]
    return Disagreements(found, runs)


def _visible_dirs(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def _check_dataset_dir(
    path: Path, name: str, state: LedgerState, known: LedgerDataset | None
) -> list[str]:
    if path.is_symlink() or not path.is_dir():
        return [f"dataset {name} is not a directory in the workspace"]
    try:
        manifest = read_manifest_unverified(path)
    except DatasetError as exc:
        return [str(exc)]
    ledgered = state.datasets.get(manifest.dataset_id)
    if ledgered is not None and not ledgered.live:
        return [
            f"dataset {name} ({manifest.dataset_id}) was removed (data.rm, entry"
            f" {ledgered.removed_seq}) but is on disk again: restored from a backup?"
        ]
    if known is not None and known.dataset_id != manifest.dataset_id:
        return [
            f"dataset {name} on disk is {manifest.dataset_id}, but the ledger created"
            f" {name} as {known.dataset_id} (entry {known.created_seq}): replaced on disk"
        ]
    if known is None or ledgered is None or ledgered.name != name:
        return [f"dataset {name} ({manifest.dataset_id}) is on disk but no ledger event created it"]
    if manifest.ciphertext_sha256 != known.ciphertext_sha256:
        return [
            f"dataset {name}: its ciphertext hash differs from the one ledgered at entry"
            f" {known.created_seq}: replaced on disk"
        ]
    return []
