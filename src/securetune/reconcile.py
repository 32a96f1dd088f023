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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from securetune.audit.ledger import LOG_FILE
from securetune.crypto.dataset import read_manifest_unverified
from securetune.errors import DatasetError

REMOVE_EVENT = "data.rm"
EXPORT_EVENT = "data.export"
RUN_START_EVENT = "train.start"
TRAIN_PREFIX = "train."
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

    def apply(self, seq: int, event: str, payload: dict[str, Any]) -> None:
        """Fold one event into the state (events that concern no dataset or run are no-ops)."""
        dataset_id = payload.get("dataset_id")
        if event == RUN_START_EVENT and isinstance(payload.get("run_id"), str):
            self.runs.add(payload["run_id"])
        elif event == REMOVE_EVENT and dataset_id in self.datasets:
            self.datasets[dataset_id].removed_seq = seq
        elif event == EXPORT_EVENT and isinstance(payload.get("out_sha256"), str):
            self.exports.setdefault(payload["out_sha256"], str(dataset_id))
        elif (
            isinstance(dataset_id, str)
            and isinstance(payload.get("dataset"), str)
            and isinstance(payload.get("ciphertext_sha256"), str)
        ):
            self.datasets[dataset_id] = LedgerDataset(
                payload["dataset"], dataset_id, payload["ciphertext_sha256"], seq, payload=payload
            )


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
    """The state read loosely, unsigned tail included: for recovery after a kill only.

    A decision a write makes (lineage, budget, agreement) uses :class:`LedgerView`, built
    from the very pass that verified the ledger (``Workspace.ledger_view``).
    """
    state = LedgerState()
    for seq, event, payload in _events(ledger_dir):
        state.apply(seq, event, payload)
    return state


@dataclass
class LedgerView:
    """What writes decide from, collected while the ledger is verified (``on_entry``).

    ``state`` feeds agreement and lineage; ``train_events`` (seq, event, payload) the budget.
    """

    state: LedgerState = field(default_factory=LedgerState)
    train_events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    size: int = 0

    def add_entry(self, entry: Mapping[str, Any]) -> None:
        self.add(int(entry["seq"]), str(entry["event"]), entry["payload"])

    def add(self, seq: int, event: str, payload: dict[str, Any]) -> None:
        self.size = seq + 1
        if event.startswith(TRAIN_PREFIX):
            self.train_events.append((seq, event, payload))
        self.state.apply(seq, event, payload)


@dataclass(frozen=True)
class Disagreements:
    """One line per disagreement; ``blocking`` ones stop writes, ``reported`` ones are shown.

    Only a run directory the ledger has not (yet) started is merely reported: a training
    run makes its directory just before its ``train.start`` event, under its own lock.
    """

    blocking: list[str]
    reported: list[str]

    def __bool__(self) -> bool:
        return bool(self.blocking or self.reported)

    def all(self) -> list[str]:
        return [*self.blocking, *self.reported]


#: The keyring name of a dataset's data key (``datastore.key_name``).
DATASET_KEY_PREFIX = "dataset:"


def disagreements(
    datasets_dir: Path,
    runs_dir: Path,
    ledger_dir: Path,
    state: LedgerState | None = None,
    *,
    key_names: Iterable[str] = (),
) -> Disagreements:
    """Compare the dataset and run directories, and the keyring's data keys (``key_names``),
    with the ledger; one line per difference."""
    state = state or ledger_state(ledger_dir)
    live = state.live_by_name()
    found: list[str] = [*_hidden_entries(datasets_dir), *_hidden_entries(runs_dir)]
    on_disk = _visible_dirs(datasets_dir)
    for name in on_disk:
        found.extend(_check_dataset_dir(datasets_dir / name, name, state, live.get(name)))
    for name, known in sorted(live.items()):
        if name not in on_disk:
            found.append(
                f"dataset {name} ({known.dataset_id}) was created in the ledger (entry"
                f" {known.created_seq}) and never removed, but is not on disk"
            )
    found.extend(_check_data_keys(key_names, state))
    runs = [
        f"run {run_id} is on disk but the ledger never started it"
        for run_id in _visible_dirs(runs_dir)
        if run_id not in state.runs
    ]
    return Disagreements(found, runs)


def _hidden_entries(directory: Path) -> list[str]:
    """Dot-entries left in datasets/ or runs/ after recovery: nothing securetune keeps there.

    Recovery (``Workspace.recover``) finishes or removes its own temporaries before any
    check runs, so what is left is a copy or a rename made by hand (for instance a dataset
    hidden as ``.backup`` to keep a readable copy past its ``data rm``).
    """
    if not directory.is_dir():
        return []
    return [
        f"{directory.name}/{p.name} is a hidden entry the ledger does not account for:"
        " a leftover temporary, or a copy hidden by hand"
        for p in sorted(directory.iterdir(), key=lambda p: p.name)
        if p.name.startswith(".")
    ]


def _check_data_keys(key_names: Iterable[str], state: LedgerState) -> list[str]:
    """Every dataset key in the keyring belongs to a dataset the ledger holds live.

    A key of a removed dataset undoes its crypto-shred: with the KEK, any copy of the
    ciphertext (a backup, a snapshot) becomes readable again.
    """
    found = []
    for name in sorted(key_names):
        if not name.startswith(DATASET_KEY_PREFIX):
            continue
        dataset_id = name.removeprefix(DATASET_KEY_PREFIX)
        known = state.datasets.get(dataset_id)
        if known is None:
            found.append(
                f"the keyring holds a data key for {dataset_id}, a dataset no ledger event created"
            )
        elif not known.live:
            found.append(
                f"the keyring holds the data key of dataset {known.name} ({dataset_id}), removed"
                f" by data.rm at entry {known.removed_seq}: its crypto-shred was undone, the"
                " keyring restored from a backup?"
            )
    return found


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
