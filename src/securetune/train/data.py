"""Training data: decrypt in memory, pick the privacy unit, split, tokenize, batch.

Records are decrypted by :func:`securetune.datastore.read_dataset` and never written out.
The train/validation split is made over *privacy units* (records, or subjects such as
patients), so every note of a held-out patient is held out: the memorization checks need a
held-out set that the model never saw any part of. The split is recorded by record position
in the dataset (an index into its authenticated record order), never by content.

Subject-level privacy: each Poisson-sampled subject contributes exactly one record per step,
drawn uniformly from that subject's records. A subject's whole contribution to a step is then
one clipped gradient, so the accountant's "one unit" is one subject, however many notes the
subject has. (Drawing one record per step trades some utility for the simplest correct bound;
it is the standard user-level DP-SGD construction with one example per user per step.)

Which record is drawn is HMAC-SHA256(secret run key, subject id, step) modulo the subject's
record count: a function of that subject and that step alone. One shared generator would let
one subject's presence (it consumes draws when sampled) change every later subject's picks,
at steps where it was not even sampled, which the accountant does not allow for; and a
generator seeded from the public ``--seed`` would make the picks public.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from securetune import datastore
from securetune.crypto.dataset import Manifest
from securetune.dedup import Clusters, UnionFind, find_clusters, record_text
from securetune.errors import TrainingError
from securetune.workspace import Workspace

IGNORE_INDEX = -100
"""Label value for padding: excluded from every loss (PyTorch's CrossEntropyLoss default)."""


@dataclass(frozen=True)
class Fields:
    text_fields: tuple[str, ...]
    subject_field: str | None


@dataclass(frozen=True)
class Split:
    """Which dataset positions train and validate; units are lists of record positions."""

    unit: str  # "record" or "subject"
    train: list[list[int]]
    validation: list[list[int]]
    seed: int
    #: Near-duplicate counts and parameters (``securetune.dedup``); None with ``--dedup off``.
    dedup: dict[str, Any] | None = None

    @property
    def train_records(self) -> list[int]:
        return sorted(i for unit in self.train for i in unit)

    @property
    def validation_records(self) -> list[int]:
        return sorted(i for unit in self.validation for i in unit)

    def to_json(self, dataset_content_sha256: str) -> bytes:
        doc = {
            "dataset_content_sha256": dataset_content_sha256,
            "unit": self.unit,
            "seed": self.seed,
            "train_units": len(self.train),
            "validation_units": len(self.validation),
            "train_records": self.train_records,
            "validation_records": self.validation_records,
        }
        if self.dedup is not None:
            doc["dedup"] = self.dedup
        return (json.dumps(doc, sort_keys=True) + "\n").encode()

    def commitment(self, salt: bytes | None) -> str:
        """What ``train.start`` records as ``split_sha256``: HMAC-SHA256 of the unit lists
        under the run's secret ``salt`` (``split_commitment: "hmac-sha256"``).

        ``salt=None`` gives the plain SHA-256 that runs recorded before the salt existed. That
        one is public knowledge in disguise: the seed, fraction and batch size are in the
        config and the near-duplicate counts in ``data.dedup``, so a reader can enumerate the
        partitions that fit and recover which records were merged and which record belongs
        to which subject. Only old runs are checked against it, never made with it.
        """
        doc = {"train": self.train, "validation": self.validation, "unit": self.unit}
        body = json.dumps(doc, sort_keys=True).encode()
        if salt is None:
            return hashlib.sha256(body).hexdigest()
        return hmac.new(salt, body, hashlib.sha256).hexdigest()


SPLIT_COMMITMENT = "hmac-sha256"
"""``train.start``'s ``split_commitment``: ``split_sha256`` is salted (absent: plain SHA-256)."""
SPLIT_SALT_SECRET = "split-salt"
SPLIT_SALT_BYTES = 32


def new_split_salt() -> bytes:
    """From the OS, never from ``--seed`` (public): a seeded salt would hide nothing."""
    return os.urandom(SPLIT_SALT_BYTES)


def save_split_salt(secrets: Any, salt: bytes) -> None:
    """Keep the salt as an *audit* run secret (``secrets`` is the run's ``RunSecrets``):
    encrypted under the run's audit key and kept after the run, so ``check``, ``eval`` and
    resume can re-derive the commitment."""
    from securetune.train.secrets import AUDIT

    secrets.put(SPLIT_SALT_SECRET, salt, kind=AUDIT)


def split_matches(start: dict[str, Any], split: Split, secrets: Any) -> bool:
    """Whether ``split`` is the one ``train.start`` committed to, salted or (older runs) not."""
    from securetune.train.secrets import AUDIT

    scheme = start.get("split_commitment")
    if scheme is None:  # a run from before the salt: its plain SHA-256
        salt = None
    elif scheme == SPLIT_COMMITMENT:
        salt = secrets.get(SPLIT_SALT_SECRET, kind=AUDIT)
        if len(salt) != SPLIT_SALT_BYTES:
            raise TrainingError(f"run {start.get('run_id')}: the split salt is malformed")
    else:
        raise TrainingError(
            f"run {start.get('run_id')}: unknown split commitment {scheme!r} in train.start"
        )
    return hmac.compare_digest(split.commitment(salt), str(start["split_sha256"]))


@dataclass(frozen=True)
class Corpus:
    """Decrypted texts (memory only) with their subjects and the dataset's identity.

    ``texts`` holds one string per record: the text fields joined (text format) or the
    record rendered with the default templates (prompt-completion, chat; see
    :mod:`.formats`), which is what the memorization checks compare outputs against.
    ``records`` keeps, for those two formats, the fields an example is built from; positions
    past its end (canaries) are text-format examples.
    """

    manifest: Manifest
    fields: Fields
    texts: list[str]
    subjects: list[str] | None
    format: str = "text"
    records: list[dict[str, Any]] | None = None

    def __repr__(self) -> str:  # never print record text, even in a traceback or debugger
        return f"Corpus({self.manifest.name}, {len(self.texts)} records)"


def resolve_format(manifest: Manifest, fmt: str | None, text_fields: Sequence[str] | None) -> str:
    """``--format`` wins; ``--text-field`` means text; else detected from the dataset's fields."""
    from securetune.train.formats import check_format, detect_format

    if fmt is not None:
        return check_format(fmt)
    if text_fields:
        return "text"
    try:
        return detect_format(manifest.schema)
    except TrainingError as exc:
        raise TrainingError(f"dataset {manifest.name}: {exc}") from None


def resolve_fields(
    manifest: Manifest,
    text_fields: Sequence[str] | None,
    subject_field: str | None,
    fmt: str = "text",
) -> Fields:
    """Options win; then what ``scrub`` recorded in the provenance; then ``text``.

    Prompt-completion and chat read their own fields (see :mod:`.formats`), so those must
    exist instead of the text fields.
    """
    from securetune.train.formats import FORMAT_FIELDS

    prov = manifest.provenance
    texts = tuple(text_fields) if text_fields else tuple(prov.get("text_fields") or ("text",))
    subject = subject_field if subject_field is not None else prov.get("subject_field")
    needed = FORMAT_FIELDS.get(fmt) or texts
    for name in (*needed, *([subject] if subject else [])):
        if manifest.schema and name not in manifest.schema:
            raise TrainingError(
                f"dataset {manifest.name} has no field {name!r} (fields: {', '.join(sorted(manifest.schema))})"
            )
    return Fields(text_fields=texts, subject_field=subject or None)


def load_corpus(
    ws: Workspace,
    name: str,
    *,
    text_fields: Sequence[str] | None = None,
    subject_field: str | None = None,
    fmt: str | None = "text",
) -> Corpus:
    """The dataset decrypted in memory, each record checked against the format.

    ``fmt=None`` detects the format from the dataset's fields (:func:`resolve_format`).
    """
    from securetune.train.formats import FORMAT_FIELDS, example_of

    _directory, manifest, _dek = datastore.open_dataset(ws, name)
    fmt = resolve_format(manifest, fmt, text_fields)
    fields = resolve_fields(manifest, text_fields, subject_field, fmt)
    texts: list[str] = []
    kept: list[dict[str, Any]] | None = None if fmt == "text" else []
    subjects: list[str] | None = [] if fields.subject_field else None
    for position, record in enumerate(datastore.read_dataset(ws, name)):
        try:
            example = example_of(record, fmt, text_fields=fields.text_fields, tokenizer=None)
        except TrainingError as exc:  # names the field, never its content
            raise TrainingError(f"dataset {name}: record {position}: {exc}") from None
        texts.append(example.text)
        if kept is not None:
            kept.append({f: record[f] for f in FORMAT_FIELDS[fmt]})
        if subjects is not None:
            subject = record.get(fields.subject_field)  # type: ignore[arg-type]
            if subject is None or subject == "":
                raise TrainingError(
                    f"dataset {name}: record {position} has no subject in field {fields.subject_field!r}"
                )
            subjects.append(str(subject))
    return Corpus(
        manifest=manifest, fields=fields, texts=texts, subjects=subjects, format=fmt, records=kept
    )


def resolve_unit(requested: str, fields: Fields) -> str:
    """Default: subject when the dataset names one, else record."""
    if requested == "auto":
        return "subject" if fields.subject_field else "record"
    if requested == "subject" and not fields.subject_field:
        raise TrainingError(
            "--privacy-unit subject needs a subject field: the dataset records none; pass --subject-field"
        )
    return requested


def near_duplicates(corpus: Corpus, mode: str) -> Clusters | None:
    """The corpus's groups of duplicate and near-duplicate texts (``securetune.dedup``), or
    None with ``--dedup off``. Computed on the texts the run trains on, with public
    parameters and seed, so ``plan``, ``train``, resume and ``check`` find the same groups."""
    if mode == "off":
        return None
    if corpus.format == "chat" and corpus.records is not None:
        # The conversations' contents, without role names or a shared system prompt.
        return find_clusters(record_text(r, ("messages",)) for r in corpus.records)
    return find_clusters(corpus.texts)


def units_of(corpus: Corpus, unit: str, *, clusters: Clusters | None = None) -> list[list[int]]:
    """Group record positions into privacy units, in first-appearance order.

    With ``clusters``, near-copies share a unit: at the record unit each group of
    near-duplicates becomes one unit; at the subject unit every subject a group touches is
    merged into one unit (union-find, so chains merge too). Merging only makes units
    coarser: the unit keeps one clipped gradient per step, so its guarantee covers all of
    it, and a split over units can never separate two near-copies (docs/DEDUP.md).
    """
    if unit == "record":
        keys = list(range(len(corpus.texts)))
    else:
        assert corpus.subjects is not None  # resolve_unit guarantees it
        index: dict[str, int] = {}
        keys = [index.setdefault(subject, len(index)) for subject in corpus.subjects]
    merged = UnionFind(max(keys, default=-1) + 1)
    for group in clusters.groups if clusters is not None else []:
        for position in group[1:]:
            merged.union(keys[group[0]], keys[position])
    units: dict[int, list[int]] = {}
    for position, key in enumerate(keys):
        units.setdefault(merged.find(key), []).append(position)
    return list(units.values())


def make_split(
    units: list[list[int]], *, unit: str, fraction: float, seed: int, batch_size: int
) -> Split:
    """A seeded IID split over units; refuses datasets too small to train and validate."""
    n = len(units)
    n_val = max(1, round(n * fraction))
    if n - n_val < 1:
        raise TrainingError(
            f"the dataset has {n} {unit}(s): too few to hold any out for validation"
        )
    if n - n_val < batch_size:
        raise TrainingError(
            f"the dataset has {n - n_val} training {unit}(s) after the validation split, fewer than "
            f"--batch-size {batch_size}; lower --batch-size or add data"
        )
    order = list(range(n))
    random.Random(seed).shuffle(order)
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return Split(
        unit=unit, train=[units[i] for i in train], validation=[units[i] for i in val], seed=seed
    )


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text with the tokenizer's special tokens, truncated to ``max_length``."""
    out = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    ids = [list(x) for x in out["input_ids"]]
    return [x if len(x) >= 2 else [*x, tokenizer.pad_token_id] for x in ids]


CHOICE_KEY_BYTES = 32


def new_choice_key() -> bytes:
    """The secret key of the record choice (a resume-only run secret)."""
    return os.urandom(CHOICE_KEY_BYTES)


def unit_names(corpus: Corpus, units: list[list[int]], unit: str) -> list[str]:
    """What identifies each unit across neighbouring datasets: its subject id, or its record."""
    if unit == "record" or corpus.subjects is None:
        return [f"record {u[0]}" for u in units]
    return [corpus.subjects[u[0]] for u in units]


class UnitDataset(Dataset):
    """One item per privacy unit, as ``(input_ids, labels)``. A multi-record unit yields one
    of its records, chosen by :meth:`pick` for the current step (see the module docstring).

    Labels travel with the ids (``IGNORE_INDEX`` where a token carries no loss: a prompt, a
    user turn), so the format's loss mask reaches the loss unchanged.

    ``step`` is read each time an item is fetched: the trainer passes a function returning
    its logical step, which stays fixed while one Poisson batch is fetched.
    """

    def __init__(
        self,
        units: list[list[int]],
        tokenized: Sequence[Any],
        *,
        names: list[str],
        key: bytes,
        step: Callable[[], int],
    ) -> None:
        self.units = units
        self.tokenized = tokenized  # formats.Tokenized per record position
        self.names = names
        self.key = key
        self.step = step
        if len(names) != len(units) or len(set(names)) != len(names):
            raise TrainingError("internal: every unit needs a distinct name")
        if len(key) < CHOICE_KEY_BYTES:
            raise TrainingError("internal: the record-choice key is too short")

    def __len__(self) -> int:
        return len(self.units)

    def __repr__(self) -> str:  # never show subject ids or the key
        return f"UnitDataset({len(self.units)} units)"

    def pick(self, index: int, step: int) -> int:
        members = self.units[index]
        if len(members) == 1:
            return members[0]
        mac = hmac.new(self.key, f"{self.names[index]}\0{step}".encode(), hashlib.sha256).digest()
        # A 256-bit value modulo a record count: the bias is below count / 2^256.
        return members[int.from_bytes(mac, "big") % len(members)]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.tokenized[self.pick(index, self.step())]
        return (
            torch.tensor(t.input_ids, dtype=torch.long),
            torch.tensor(t.labels, dtype=torch.long),
        )


class Collator:
    """Pads a batch of ``(input_ids, labels)`` on the right; padding gets IGNORE_INDEX labels."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(
        self, batch: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return pad_batch([ids for ids, _ in batch], self.pad_id, labels=[lab for _, lab in batch])


def pad_batch(
    seqs: Sequence[torch.Tensor | Sequence[int]],
    pad_id: int,
    length: int | None = None,
    *,
    labels: Sequence[torch.Tensor | Sequence[int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, attention mask, labels), padded to ``length`` or the longest sequence.

    Without ``labels`` every real token is a target (the text format); with them, the given
    labels are used as they are and only padding is added.
    """
    width = length or max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        t = torch.as_tensor(seq, dtype=torch.long)
        ids[row, : len(t)] = t
        mask[row, : len(t)] = 1
    if labels is None:
        return ids, mask, ids.masked_fill(mask == 0, IGNORE_INDEX)
    out = torch.full((len(seqs), width), IGNORE_INDEX, dtype=torch.long)
    for row, lab in enumerate(labels):
        t = torch.as_tensor(lab, dtype=torch.long)
        if len(t) != int(mask[row].sum()):
            raise TrainingError("internal: labels and input ids differ in length")
        out[row, : len(t)] = t
    return ids, mask, out
