"""The on-disk layout of a workspace, and the few operations that span all of it.

```
<workspace>/
  securetune.yaml        config: id, key provider, ledger identity (no secrets)
  keys/                  0700
    keyring.json         every wrapped key (data keys, ledger signing key), 0600
    kek.key              the key-encryption key, file provider only, 0600
  datasets/<name>/       encrypted datasets (see securetune.crypto.dataset)
  runs/                  training runs
  ledger/                log.jsonl + signed checkpoint (see docs/LEDGER.md)
  .lock                  held by any command that writes
```

Every command that changes the workspace takes the lock, does its work, and calls
:meth:`Workspace.record`, which appends a ledger event and signs a new checkpoint. A copy
of the latest checkpoint and the ledger public key is kept in a *witness* directory
outside the workspace, so that rolling the workspace back to an older state (log and
checkpoint together) is detected by the next ``audit verify``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import getpass
import hashlib
import hmac
import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import filelock
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError

from securetune import __version__, reconcile
from securetune.audit.checkpoint import Checkpoint, open_signed_checkpoint, verifier_key
from securetune.audit.ledger import (
    CHECKPOINT_FILE,
    FORMAT_VERSION,
    Entry,
    Ledger,
    VerifyResult,
    read_checkpoint,
    verify_ledger,
)
from securetune.audit.witness import Witness, WitnessError
from securetune.crypto.keyring import Keyring
from securetune.crypto.keys import (
    EnvKeyProvider,
    FileKeyProvider,
    KeyProvider,
    PassphraseKeyProvider,
    PassphrasePrompt,
)
from securetune.errors import KeyProviderError, LedgerError, LockError, WorkspaceError
from securetune.fsutil import atomic_write_bytes, fsync_dir, make_private_dir

CONFIG_FILE = "securetune.yaml"
WORKSPACE_ENV = "SECURETUNE_WORKSPACE"
SIGNING_KEY_NAME = "ledger-signing"
ROTATION_DIR = "rotate.pending"
COMMIT_MARKER = "COMMIT"
ROTATION_ID_FILE = "new_kek_id"
#: ``datasets/.commit-<id>.json``: datasets committed together (all or none), see commit_journal.
COMMIT_JOURNAL_PREFIX = ".commit-"
#: The events a commit journal may carry (each creates one dataset).
JOURNAL_EVENTS = frozenset({"data.add", "data.create", "scrub", "scrub.reid"})

ProviderKind = Literal["file", "passphrase", "env"]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def default_actor() -> str:
    """Who ran the command, for the ledger: local user and host, nothing more."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


class WorkspaceConfig(BaseModel):
    """``securetune.yaml``. Unknown keys are errors: a misspelt setting must not be ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    workspace_id: str
    created: str
    securetune_version: str
    key_provider: ProviderKind = "file"
    key_env_variable: str = "SECURETUNE_KEY"
    ledger_origin: str
    ledger_key_name: str
    ledger_public_key: str  # base64 raw Ed25519 public key


@dataclass(frozen=True)
class Secrets:
    """How the caller supplies secrets. Passed in, never read from globals at import."""

    environ: Mapping[str, str]
    passphrase_prompt: PassphrasePrompt | None = None


@dataclass(frozen=True)
class RotationResult:
    keys_rewrapped: int
    old_kek_id: str
    new_kek_id: str


def kek_id(kek: bytes) -> str:
    """A fingerprint of a KEK that is safe to log: it reveals nothing usable about the key."""
    return hmac.new(kek, b"securetune kek id v1", hashlib.sha256).hexdigest()[:16]


def find_root(explicit: Path | None, environ: Mapping[str, str], cwd: Path) -> Path:
    """``--workspace`` wins, then ``SECURETUNE_WORKSPACE``, then the current directory."""
    if explicit is not None:
        return Path(explicit)
    if environ.get(WORKSPACE_ENV):
        return Path(environ[WORKSPACE_ENV])
    return cwd


class Workspace:
    """A securetune workspace. Use :meth:`init` or :meth:`open`, not the constructor."""

    def __init__(
        self,
        root: Path,
        config: WorkspaceConfig,
        *,
        secrets: Secrets,
        witness_dir: Path | None,
        clock: Clock = utc_now,
        actor: str | None = None,
    ) -> None:
        self.root = root
        self.config = config
        self.secrets = secrets
        self.witness_dir = witness_dir
        self.clock = clock
        self.actor = actor or default_actor()
        self._kek: bytes | None = None
        self._provider: KeyProvider | None = None
        self._view: reconcile.LedgerView | None = None  # verified content (see ledger_view)
        self._view_note: bytes | None = None  # the signed checkpoint that view is of
        self._reconciled = False  # the disk agreed with the ledger at this lock hold's start
        self._own_journals: set[str] = set()  # commit journals this process is carrying out
        self._lock = filelock.FileLock(str(root / ".lock"), timeout=0)

    # -- layout -------------------------------------------------------------------------
    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def keyring_path(self) -> Path:
        return self.keys_dir / "keyring.json"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def ledger_dir(self) -> Path:
        return self.root / "ledger"

    @property
    def id(self) -> str:
        return self.config.workspace_id

    def protected_dirs(self) -> list[Path]:
        """Where no user-chosen output may go: the workspace itself and its witness."""
        return [self.root] + ([self.witness_dir] if self.witness_dir is not None else [])

    # -- creation and opening --------------------------------------------------------------
    @classmethod
    def init(
        cls,
        root: Path,
        *,
        secrets: Secrets,
        key_provider: ProviderKind = "file",
        key_env_variable: str = "SECURETUNE_KEY",
        witness_dir: Path | None = None,
        clock: Clock = utc_now,
        actor: str | None = None,
    ) -> Workspace:
        root = Path(root)
        if (root / CONFIG_FILE).exists():
            raise WorkspaceError(f"{root} is already a securetune workspace")
        root.mkdir(parents=True, exist_ok=True)
        workspace_id = str(uuid.uuid4())
        signing_key = Ed25519PrivateKey.generate()
        public_raw = signing_key.public_key().public_bytes_raw()
        config = WorkspaceConfig(
            workspace_id=workspace_id,
            created=clock().isoformat(timespec="seconds"),
            securetune_version=__version__,
            key_provider=key_provider,
            key_env_variable=key_env_variable,
            ledger_origin=f"securetune/{workspace_id}",
            # C2SP convention: the note key name is the log origin.
            ledger_key_name=f"securetune/{workspace_id}",
            ledger_public_key=base64.b64encode(public_raw).decode(),
        )
        ws = cls(root, config, secrets=secrets, witness_dir=witness_dir, clock=clock, actor=actor)
        ws._witness().check_writable()  # before anything exists: a half-made workspace is worse
        make_private_dir(ws.keys_dir)
        new = ws.provider().new_key()
        for name, content in new.files.items():
            atomic_write_bytes(ws.keys_dir / name, content)
        keyring = Keyring.create(workspace_id, new.key, {"kind": key_provider, **new.params})
        keyring.add(new.key, SIGNING_KEY_NAME, signing_key.private_bytes_raw())
        keyring.save(ws.keyring_path)
        for d in (ws.datasets_dir, ws.runs_dir):
            make_private_dir(d)
        ws._kek = new.key
        with ws.locked():
            Ledger.create(
                ws.ledger_dir,
                signing_key=signing_key,
                origin=config.ledger_origin,
                actor=ws.actor,
                payload={
                    "workspace_id": workspace_id,
                    "securetune_version": __version__,
                    "key_provider": key_provider,
                    "kek_id": kek_id(new.key),
                    "ledger_public_key": config.ledger_public_key,
                },
                clock=clock,
            )
            # The config is written last: a workspace is only "there" once it is complete.
            atomic_write_bytes(root / CONFIG_FILE, _dump_config(config), mode=0o644)
            ws._update_witness(read_checkpoint(ws.ledger_dir, ws.public_key()))
        return ws

    @classmethod
    def open(
        cls,
        root: Path,
        *,
        secrets: Secrets,
        witness_dir: Path | None = None,
        clock: Clock = utc_now,
        actor: str | None = None,
    ) -> Workspace:
        root = Path(root)
        path = root / CONFIG_FILE
        if not path.is_file():
            raise WorkspaceError(
                f"{root} is not a securetune workspace (no {CONFIG_FILE}); run `securetune init` "
                f"or pass --workspace / set {WORKSPACE_ENV}"
            )
        try:
            config = WorkspaceConfig.model_validate(
                yaml.safe_load(path.read_text(encoding="utf-8"))
            )
        except (yaml.YAMLError, ValidationError, UnicodeDecodeError) as exc:
            first = exc.errors()[0] if isinstance(exc, ValidationError) else None
            where = f" (field {'.'.join(map(str, first['loc']))}: {first['msg']})" if first else ""
            raise WorkspaceError(f"workspace config {path} is malformed{where}") from None
        ws = cls(root, config, secrets=secrets, witness_dir=witness_dir, clock=clock, actor=actor)
        return ws

    # -- keys --------------------------------------------------------------------------------
    def provider(self) -> KeyProvider:
        """One provider per workspace object, so rotation can compare new and old passphrases."""
        if self._provider is None:
            self._provider = self._make_provider()
        return self._provider

    def _make_provider(self) -> KeyProvider:
        kind = self.config.key_provider
        if kind == "file":
            return FileKeyProvider(self.keys_dir)
        if kind == "env":
            return EnvKeyProvider(self.config.key_env_variable, self.secrets.environ)
        if self.secrets.passphrase_prompt is None:
            raise KeyProviderError("this workspace is protected by a passphrase and none was given")
        return PassphraseKeyProvider(self.secrets.passphrase_prompt)

    def keyring(self) -> Keyring:
        keyring = Keyring.load(self.keyring_path)
        # The keyring's id is bound into every wrapped key; the config's is not authenticated.
        # A mismatch means one of them was replaced (or a keyring copied from elsewhere).
        if keyring.workspace_id != self.id:
            raise KeyProviderError(
                "the keyring belongs to another workspace than this config names: "
                "one of them was replaced or copied"
            )
        return keyring

    def kek(self) -> bytes:
        """The unlocked KEK, checked against the keyring once per process."""
        if self._kek is None:
            keyring = self.keyring()
            kek = self.provider().load_key(keyring.provider)
            keyring.verify_kek(kek)
            self._kek = kek
        return self._kek

    def signing_key(self) -> Ed25519PrivateKey:
        """The ledger signing key; it must match the public key the config advertises."""
        raw = self.keyring().get(self.kek(), SIGNING_KEY_NAME)
        key = Ed25519PrivateKey.from_private_bytes(raw)
        if key.public_key().public_bytes_raw() != self.public_key().public_bytes_raw():
            raise LedgerError(
                "the ledger public key in the workspace config does not match the workspace's "
                "signing key: the config was edited"
            )
        return key

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(self.config.ledger_public_key))

    def verifier_key(self) -> str:
        return verifier_key(self.config.ledger_key_name, self.public_key())

    def rotate_keys(self) -> RotationResult:
        """Make a new KEK and re-wrap every key under it; the old KEK stops working.

        The ``keys.rotate`` ledger event is the commit point, as for datasets: the new
        keyring (and new key file) are staged in ``keys/rotate.pending``, the event is
        appended and signed, and only then is anything moved into place. A rotation whose
        event cannot be written never takes effect; :meth:`recover` finishes a staged
        rotation that the ledger's last event names and discards any other.
        """
        self._require_lock()
        self.ledger_ready()
        old = self.kek()
        new = self.provider().new_key(rotating=True)
        if hmac.compare_digest(new.key, old):
            raise KeyProviderError("the new key is the same as the current key")
        keyring = self.keyring()
        rewrapped = keyring.rewrapped(
            old, new.key, {"kind": self.config.key_provider, **new.params}
        )
        staging = self.keys_dir / ROTATION_DIR
        shutil.rmtree(staging, ignore_errors=True)
        make_private_dir(staging)
        atomic_write_bytes(staging / self.keyring_path.name, rewrapped.to_bytes())
        for name, content in new.files.items():
            atomic_write_bytes(staging / name, content)
        result = RotationResult(
            keys_rewrapped=len(keyring.wrapped), old_kek_id=kek_id(old), new_kek_id=kek_id(new.key)
        )
        atomic_write_bytes(staging / ROTATION_ID_FILE, result.new_kek_id.encode())
        self.record("keys.rotate", dataclasses.asdict(result))
        self._apply_rotation(staging)
        self._kek = new.key
        return result

    def _apply_rotation(self, staging: Path) -> None:
        markers = (COMMIT_MARKER, ROTATION_ID_FILE)
        for item in sorted(staging.iterdir()):
            if item.name not in markers:
                os.replace(item, self.keys_dir / item.name)
        fsync_dir(self.keys_dir)
        for name in markers:
            with contextlib.suppress(FileNotFoundError):
                (staging / name).unlink()
        staging.rmdir()

    def _rotation_was_ledgered(self, staging: Path) -> bool:
        """Whether the ledger's last entry is the ``keys.rotate`` event of this staging.

        Every locked command recovers first, so a rotation killed after its event was
        signed finds that event still last in the log.
        """
        if (staging / COMMIT_MARKER).exists():  # staged by securetune 0.1.0
            return True
        try:
            staged_id = (staging / ROTATION_ID_FILE).read_text(encoding="ascii")
            last = Ledger.open(self.ledger_dir, clock=self.clock).last_entry()
        except (OSError, UnicodeDecodeError, LedgerError):
            return False
        return last.event == "keys.rotate" and last.payload.get("new_kek_id") == staged_id

    def recover(self) -> None:
        """Finish or discard work a killed process left behind. Called under the lock."""
        staging = self.keys_dir / ROTATION_DIR
        if staging.is_dir():
            if self._rotation_was_ledgered(staging):
                self._apply_rotation(staging)
            else:
                shutil.rmtree(staging)
        if self.datasets_dir.is_dir():
            journaled = {m["dataset_id"] for _, members in self._journals() for m in members}
            leftovers = [
                p
                for p in sorted(self.datasets_dir.glob(".tmp-*"))
                if p.name.removeprefix(".tmp-") not in journaled
            ]
            if leftovers:
                self._recover_datasets(leftovers)

    def _recover_datasets(self, leftovers: list[Path]) -> None:
        """Finish what the ledger says happened, undo what it does not, delete the rest.

        ``.tmp-<id>`` is a dataset being written, ``.tmp-rm-<id>`` one being removed. The
        ledger decides: a created (and not removed) id is renamed to its ledgered name
        (the event was signed, so the dataset exists), a removal that was ledgered is
        finished, a removal that was not is undone; anything else was never ledgered
        and goes, data key included, or a copy of its ciphertext would stay readable.
        So a dataset renamed to a temporary name by hand is put back, never deleted.
        """
        state = reconcile.ledger_state(self.ledger_dir)
        doomed: list[Path] = []
        for tmp in leftovers:
            removing = tmp.name.startswith(".tmp-rm-")
            dataset_id = tmp.name.removeprefix(".tmp-rm-" if removing else ".tmp-")
            known = state.datasets.get(dataset_id)
            target = self.datasets_dir / known.name if known is not None else None
            if known is not None and known.live and target is not None and not target.exists():
                os.rename(tmp, target)  # created, or removal never ledgered: it stays
            elif known is not None and known.live:
                continue  # its name is taken again: leave both for `audit verify` to report
            else:
                doomed.append(tmp)
        fsync_dir(self.datasets_dir)
        if doomed and self.keyring_path.exists():
            keyring = Keyring.load(self.keyring_path)
            names = {f"dataset:{p.name.removeprefix('.tmp-').removeprefix('rm-')}" for p in doomed}
            if names & set(keyring.wrapped):
                for name in names & set(keyring.wrapped):
                    keyring.remove(name)
                keyring.save(self.keyring_path)
        for tmp in doomed:
            shutil.rmtree(tmp, ignore_errors=True)

    # -- commits of several datasets at once ---------------------------------------------
    def open_commit_journal(self, members: list[dict[str, Any]]) -> Path:
        """Record that the staged datasets ``members`` appear together or not at all.

        Each member is ``{dataset_id, name, event, payload}``: a dataset fully written to
        ``datasets/.tmp-<id>`` with its key in the keyring, and the ledger event that will
        create it (names, ids, counts and hashes only). The caller then records the events
        in order, renames the datasets into place and calls :meth:`close_commit_journal`.
        If it is killed in between, :meth:`ledger_ready` finishes the commit: once the first
        event is in the ledger the rest are recorded from the journal and every dataset is
        renamed into place (roll forward); before that, every member is deleted, key included.
        """
        self._require_lock()
        if any(m["event"] not in JOURNAL_EVENTS for m in members):
            raise WorkspaceError("internal: only dataset-creating events go in a commit journal")
        path = self.datasets_dir / f"{COMMIT_JOURNAL_PREFIX}{uuid.uuid4()}.json"
        doc = {"members": members, "mac": self._journal_mac(members)}
        atomic_write_bytes(path, json.dumps(doc, sort_keys=True).encode())
        self._own_journals.add(path.name)
        return path

    def _journal_mac(self, members: list[dict[str, Any]]) -> str:
        """The journal's events are signed into the ledger on recovery: without this MAC,
        anyone who can write ``datasets/`` could have securetune sign events of their own."""
        key = hmac.new(self.kek(), b"securetune commit journal v1", hashlib.sha256).digest()
        body = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
        return hmac.new(key, body, hashlib.sha256).hexdigest()

    def close_commit_journal(self, path: Path) -> None:
        path.unlink()
        fsync_dir(self.datasets_dir)
        self._own_journals.discard(path.name)

    def _journals(self) -> list[tuple[Path, list[dict[str, Any]]]]:
        found = []
        for path in sorted(self.datasets_dir.glob(f"{COMMIT_JOURNAL_PREFIX}*.json")):
            if path.name in self._own_journals:
                continue
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                members, mac = doc["members"], doc["mac"]
                valid = isinstance(mac, str) and all(
                    isinstance(m["dataset_id"], str)
                    and isinstance(m["name"], str)
                    and m["event"] in JOURNAL_EVENTS
                    for m in members
                )
            except (OSError, ValueError, KeyError, TypeError):
                valid = False
            if not valid or not hmac.compare_digest(mac, self._journal_mac(members)):
                raise WorkspaceError(
                    f"the commit journal {path} of an interrupted command is unreadable or was"
                    " modified; see docs/WORKSPACE.md"
                )
            found.append((path, members))
        return found

    def _finish_commits(self) -> None:
        """Roll interrupted multi-dataset commits forward, or back (see open_commit_journal)."""
        for path, members in self._journals():
            state = self.ledger_view().state
            if any(m["dataset_id"] in state.datasets for m in members):
                signing_key = self.signing_key()
                for m in members:
                    staged = (self.datasets_dir / f".tmp-{m['dataset_id']}").is_dir()
                    if m["dataset_id"] not in state.datasets and staged:  # else: reported
                        self._append_signed(m["event"], m["payload"], signing_key)
                for m in members:
                    tmp, target = (
                        self.datasets_dir / f".tmp-{m['dataset_id']}",
                        self.datasets_dir / m["name"],
                    )
                    if tmp.is_dir() and not target.exists():
                        os.rename(tmp, target)
            else:
                self._discard_staged([m["dataset_id"] for m in members])
            path.unlink()
            fsync_dir(self.datasets_dir)

    def _discard_staged(self, dataset_ids: list[str]) -> None:
        """Delete never-ledgered staged datasets, their data keys first."""
        if self.keyring_path.exists():
            keyring = Keyring.load(self.keyring_path)
            names = {f"dataset:{i}" for i in dataset_ids} & set(keyring.wrapped)
            if names:
                for name in names:
                    keyring.remove(name)
                keyring.save(self.keyring_path)
        for dataset_id in dataset_ids:
            shutil.rmtree(self.datasets_dir / f".tmp-{dataset_id}", ignore_errors=True)

    # -- locking and the ledger ----------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, *, wait: bool = False) -> Iterator[Workspace]:
        """Hold the workspace write lock; a second writer fails at once with LockError.

        ``wait=True`` waits as long as it takes instead: for a training run, which takes
        the lock only for the moment of each ledger event, and must not die (with a
        checkpoint written but not ledgered) because a long ``scrub`` holds it.
        """
        try:
            self._lock.acquire(timeout=-1 if wait else 0, poll_interval=0.1)
        except filelock.Timeout:
            raise LockError(
                f"workspace {self.root} is locked by another securetune process; try again when it finishes"
            ) from None
        try:
            if (self.root / CONFIG_FILE).exists():
                self.recover()
            yield self
        finally:
            self._view = self._view_note = None  # another process may write once we release
            self._reconciled = False
            self._lock.release()

    def _require_lock(self) -> None:
        if not self._lock.is_locked:
            raise WorkspaceError("internal: this operation must run under Workspace.locked()")

    def ledger_ready(self) -> Ed25519PrivateKey:
        """Check, before any effect, that the next event can be appended and signed.

        Commands call this *before* doing what they will ledger, so that an effect (an
        export, a shred) never happens when its ledger entry cannot be written. It checks:
        no unsigned entries, the signing key unwraps and matches the configured public key,
        the whole ledger verifies and extends everything the witness has seen (no rollback),
        the witness can be written, any commit an interrupted command left half-done is
        finished, and the disk agrees with the ledger.
        """
        self._require_lock()
        signing_key = self.signing_key()
        ledger = Ledger.open(self.ledger_dir, clock=self.clock)
        if ledger.version < FORMAT_VERSION:
            raise LedgerError(
                f"the ledger is in format v{ledger.version}, whose signed roots lack RFC 6962 leaf"
                " hashes; run `securetune audit upgrade` once (it is ledgered) before other commands"
            )
        signed = read_checkpoint(self.ledger_dir, self.public_key()).size
        if ledger.size != signed:
            n = ledger.size - signed
            raise LedgerError(
                f"the ledger holds {n} unsigned entr{'y' if n == 1 else 'ies'} from an interrupted "
                "command; inspect with `securetune audit verify`, then run `securetune audit recover`"
            )
        # Every decision a write makes from the ledger (lineage, budget, agreement) reads the
        # content that verified here, once per lock hold: an old line edited before the
        # command and restored after it would otherwise steer the decision unseen.
        self.ledger_view()
        self._witness().check_writable()
        self._finish_commits()
        self._require_agreement()
        return signing_key

    def ledger_view(self) -> reconcile.LedgerView:
        """The ledger's content as verified end to end (against the witness), for decisions.

        Verified once per lock hold (or per command, outside a lock) and then kept up to
        date with this command's own appends; a checkpoint changed by anyone else makes it
        verify again.
        """
        note = self._checkpoint_note()
        if self._view is None or note != self._view_note:
            self.verify_ledger()
        assert self._view is not None  # set by verify_ledger
        return self._view

    def _checkpoint_note(self) -> bytes:
        path = self.ledger_dir / CHECKPOINT_FILE
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise LedgerError(f"ledger checkpoint {path} is missing") from None
        except IsADirectoryError:
            raise LedgerError(f"ledger checkpoint {path} is a directory, not a file") from None

    def _require_agreement(self) -> None:
        """Refuse to write while the disk disagrees with the ledger.

        Once per lock hold: afterwards the disk changes only by this command, whose effects
        are ledgered before they appear (so a re-check would see them half-done).
        """
        if self._reconciled:
            return
        found = self.disagreements().blocking
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise WorkspaceError(
                f"the workspace disagrees with its ledger: {found[0]}{more}; nothing was"
                " changed. See `securetune audit verify` and docs/WORKSPACE.md"
            )
        self._reconciled = True

    def disagreements(self) -> reconcile.Disagreements:
        """Datasets, runs and data keys that the verified ledger does not account for, and
        live ledger datasets missing from disk (verifies the ledger if not yet done)."""
        return reconcile.disagreements(
            self.datasets_dir,
            self.runs_dir,
            self.ledger_dir,
            self.ledger_view().state,
            key_names=self.keyring().wrapped if self.keyring_path.exists() else (),
        )

    def record(self, event: str, payload: Mapping[str, Any]) -> Entry:
        """Append one ledger event and sign a new checkpoint covering it.

        The entry is committed once its checkpoint is signed; a witness that cannot be
        updated after that is reported as :class:`LedgerError` naming the committed entry,
        so the caller can finish its effect (the next command finishes it otherwise).
        """
        signing_key = self.ledger_ready()
        return self._append_signed(event, payload, signing_key)

    def _append_signed(
        self, event: str, payload: Mapping[str, Any], signing_key: Ed25519PrivateKey
    ) -> Entry:
        view = self.ledger_view()
        ledger = Ledger.open(self.ledger_dir, clock=self.clock)
        entry = ledger.append(event, payload, actor=self.actor)
        checkpoint = ledger.write_checkpoint(signing_key)
        view.add(entry.seq, entry.event, dict(entry.payload))
        self._view_note = self._checkpoint_note()
        try:
            self._update_witness(checkpoint)
        except WitnessError as exc:
            raise WitnessError(
                f"{event} was ledgered and signed (entry {entry.seq}), but {exc}; the next"
                " command finishes what this one started"
            ) from None
        return entry

    def recover_ledger(self) -> int:
        """Sign entries a killed command appended but could not checkpoint; ledger that we did.

        The agreement check comes after: a commit the killed command left half-done can only
        be finished on a signed ledger, and the ``audit.recover`` event concerns the ledger
        alone, so it is recorded whatever the disk holds.
        """
        self._require_lock()
        signing_key = self.signing_key()
        sealed = Ledger.open(self.ledger_dir, clock=self.clock).seal_unsigned_tail(signing_key)
        self._append_signed("audit.recover", {"entries_sealed_late": sealed}, signing_key)
        self._finish_commits()
        return sealed

    def upgrade_ledger(self) -> Entry:
        """Verify the whole ledger, then move it from format v1 to v2 (a ledgered event)."""
        self._require_lock()
        signing_key = self.signing_key()
        self.verify_ledger()
        ledger = Ledger.open(self.ledger_dir, clock=self.clock)
        entry = ledger.upgrade(signing_key, actor=self.actor)
        self._view = self._view_note = None
        self._update_witness(read_checkpoint(self.ledger_dir, self.public_key()))
        return entry

    def verify_ledger(
        self, *, public_key: Ed25519PublicKey | None = None, expected_note: bytes | None = None
    ) -> VerifyResult:
        """Verify the ledger against the witness (if any) and move the witness forward.

        ``expected_note`` is a signed checkpoint kept elsewhere (``audit publish``); the
        ledger must extend it too, whichever of it and the witness is larger. The content
        read by this pass is kept as :meth:`ledger_view`.
        """
        key = public_key or self.public_key()
        trusted = self._trusted_checkpoint(key)
        if expected_note is not None:  # both must hold; the witness's is checked below
            expected = open_signed_checkpoint(expected_note, key, self.config.ledger_key_name)
            verify_ledger(self.ledger_dir, key, trusted=expected)
        note = self._checkpoint_note()
        view = reconcile.LedgerView()
        result = verify_ledger(self.ledger_dir, key, trusted=trusted, on_entry=view.add_entry)
        checkpoint = open_signed_checkpoint(note, key, self.config.ledger_key_name)
        if checkpoint.size != result.checkpoint_size or checkpoint.root.hex() != result.root:
            raise LedgerError("the ledger checkpoint changed while it was being verified")
        self._view, self._view_note = view, note
        if public_key is None:
            with contextlib.suppress(OSError):  # a read-only check; a write reports it
                self._update_witness(checkpoint)
        return result

    def signed_checkpoint(self) -> bytes:
        """The ledger's current signed checkpoint note, as published for out-of-band checks."""
        return (self.ledger_dir / CHECKPOINT_FILE).read_bytes()

    # -- witness (securetune.audit.witness) ------------------------------------------------
    def _witness(self) -> Witness:
        return Witness(
            self.witness_dir,
            workspace_root=self.root,
            workspace_id=self.id,
            key_name=self.config.ledger_key_name,
            public_key_b64=self.config.ledger_public_key,
        )

    def _trusted_checkpoint(self, key: Ed25519PublicKey) -> Checkpoint | None:
        return self._witness().trusted(key)

    def _update_witness(self, checkpoint: Checkpoint) -> None:
        note = (self.ledger_dir / CHECKPOINT_FILE).read_bytes()
        self._witness().remember(note, checkpoint, self.public_key())


def _dump_config(config: WorkspaceConfig) -> bytes:
    header = "# securetune workspace config: no secrets here. Unknown keys are errors.\n"
    return (header + yaml.safe_dump(config.model_dump(), sort_keys=True)).encode()
