"""The batch pipeline: records in, scrubbed records and findings out, in bounded memory.

Records stream through in small batches. With ``workers > 1`` each worker process builds
its own :class:`Detector` once (the config is small and picklable) and at most
``2 * workers`` batches are in flight, so memory does not grow with the input.

Only the declared text fields are scanned. Everything else is handled fail-closed: the id
field is kept, the subject field is replaced by a keyed token (a patient id is itself an
identifier), and every other field is dropped and reported by name.

A text field holds a string, or a chat: a list of ``{"role", "content"}`` messages. Every
message's content is scanned and replaced; a role must be one of :data:`CHAT_ROLES` (a
free-form role could itself name someone, and it is not scanned), and any other key of a
message is dropped and reported as ``FIELD[].KEY``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import multiprocessing
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from securetune.errors import InputError
from securetune.policy import Policy
from securetune.records import OnError
from securetune.scrub.detect import Detector, DetectorConfig, Finding, merge
from securetune.scrub.operators import OperatorContext, apply

# spaCy refuses texts over 1,000,000 characters; long records are scanned in windows that
# overlap, so an identifier straddling a window edge is still seen whole by one window.
WINDOW_CHARS = 100_000
WINDOW_OVERLAP = 200
_SPACE = re.compile(r"\s")
CHAT_ROLES = ("system", "user", "assistant", "tool", "developer")


@dataclass(frozen=True)
class ScrubOptions:
    text_fields: tuple[str, ...] = ("text",)
    id_field: str | None = None
    subject_field: str | None = None
    workers: int = 1
    on_error: OnError = "fail"
    batch_size: int = 16

    def __post_init__(self) -> None:
        # Each field has one role. An id field that is also the subject would put the raw
        # patient id in the (plaintext) findings file; a text field that is also the subject
        # would overwrite the subject's token with the scanned text, and so on.
        roles: dict[str, str] = {}
        named = [("--text-field", name) for name in self.text_fields]
        named += [("--id-field", self.id_field), ("--subject-field", self.subject_field)]
        for role, name in named:
            if name is None:
                continue
            if name in roles:
                if roles[name] == role:
                    raise InputError(f"field {name!r} is given twice as {role}")
                raise InputError(
                    f"field {name!r} is given both as {roles[name]} and as {role}; "
                    "a field may have only one role"
                )
            roles[name] = role


@dataclass(frozen=True)
class SpanFinding:
    """One replaced span: offsets into the original text, never the text."""

    record: Any
    field: str
    start: int
    end: int
    entity_type: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "field": self.field,
            "start": self.start,
            "end": self.end,
            "entity_type": self.entity_type,
            "score": round(self.score, 4),
        }


@dataclass
class RecordResult:
    index: int
    record: dict[str, Any] | None  # None when the record was skipped
    findings: list[SpanFinding] = field(default_factory=list)
    changed: bool = False
    error: str | None = None
    dropped_fields: tuple[str, ...] = ()
    mapping: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # (entity, surrogate, original)


def subject_token(secret: bytes, value: Any) -> str:
    """A keyed, stable stand-in for a subject id: same patient → same token, not reversible."""
    digest = hmac.new(
        secret, b"subject\x1f" + str(value).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    return f"subj-{digest[:20]}"


def detect_long(detector: Detector, text: str) -> list[Finding]:
    """Detect in windows when the text is longer than spaCy accepts in one piece."""
    if len(text) <= WINDOW_CHARS:
        return detector.detect(text)
    spans: list[tuple[int, int, str, float, str]] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + WINDOW_CHARS)
        if end < len(text):
            # Cut at the last whitespace of any kind (newline, tab, NBSP too) in the window's
            # second half; with none, cut hard: the overlap below still covers the cut.
            cut = _last_space(text, start + WINDOW_CHARS // 2, end)
            end = cut if cut is not None else end
        for f in detector.detect(text[start:end]):
            spans.append((f.start + start, f.end + start, f.entity_type, f.score, f.recognizer))
        if end >= len(text):
            break
        # The next window starts WINDOW_OVERLAP back (at a word start in the first half of
        # the overlap when there is one), so an identifier straddling the cut is seen whole
        # by the next window. Never zero overlap, whatever the whitespace.
        back = max(end - WINDOW_OVERLAP, start + 1)
        found = _SPACE.search(text, back, max(back, end - WINDOW_OVERLAP // 2))
        start = found.end() if found is not None else back
    return merge(spans)


def _last_space(text: str, lo: int, hi: int) -> int | None:
    """The index of the last whitespace character in ``text[lo:hi]``, or None."""
    for i in range(hi - 1, lo - 1, -1):
        if text[i].isspace():
            return i
    return None


def join_adjacent(findings: list[Finding], text: str) -> list[Finding]:
    """Join same-type spans separated only by spaces ("Margaret" "Okafor" → one name)."""
    out: list[Finding] = []
    for f in findings:
        prev = out[-1] if out else None
        if prev and prev.entity_type == f.entity_type and text[prev.end : f.start].strip(" ") == "":
            out[-1] = Finding(
                prev.start, f.end, f.entity_type, max(prev.score, f.score), prev.recognizer
            )
        else:
            out.append(f)
    return out


@functools.lru_cache(maxsize=4)
def cached_detector(config: DetectorConfig) -> Detector:
    """Building the engine takes seconds; a process reuses it across runs with one config."""
    return Detector(config)


class RecordScrubber:
    """Scrubs one record at a time under a policy. Built once per process."""

    def __init__(
        self,
        policy: Policy,
        secret: bytes,
        options: ScrubOptions,
        reference_year: int | None = None,
        use_presidio_anonymizer: bool = True,
    ) -> None:
        # use_presidio_anonymizer=False replaces spans directly with the same operator
        # functions: the reference the engine path is tested and benchmarked against
        # (bench/anonymizer.py: identical text; the engine's cost is under 1% of detection)
        self.policy = policy
        self.secret = secret
        self.options = options
        self.detector = cached_detector(
            DetectorConfig(
                entities=tuple(policy.detection.entities),
                score_threshold=policy.detection.score_threshold,
                ner_backend=policy.detection.ner_backend,
                ner_labels=tuple(sorted(policy.detection.ner_entities.items())),
            )
        )
        self.keep_mapping = policy.reidentification.keep_mapping
        self.anonymizer = None
        if use_presidio_anonymizer:
            from securetune.scrub.anonymize import PolicyAnonymizer

            self.anonymizer = PolicyAnonymizer(policy)
        # Dates are judged against the year the scrub runs in (Safe Harbor: no year that
        # reveals an age over 89); the pipeline fixes it once for all its workers.
        self.reference_year = reference_year if reference_year is not None else date.today().year

    def prepare(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        """Batch a learned backend's inference over the texts of several records."""
        texts = [
            text
            for _, r in batch
            for name in self.options.text_fields
            for _, text in _strings(name, r.get(name))
            if len(text) <= WINDOW_CHARS
        ]
        self.detector.prepare(texts)

    def scrub(self, index: int, record: dict[str, Any]) -> RecordResult:
        opts = self.options
        try:
            self._check(index, record)
        except InputError as exc:
            if opts.on_error == "fail":
                raise
            return RecordResult(index=index, record=None, error=str(exc))
        record_id = record.get(opts.id_field) if opts.id_field else index + 1
        subject_raw = record.get(opts.subject_field) if opts.subject_field else None
        subject = str(subject_raw) if subject_raw is not None else f"record:{record_id}"
        ctx = OperatorContext(
            secret=self.secret,
            subject=subject,
            date_shift_max_days=self.policy.transforms.date_shift_max_days,
            reference_year=self.reference_year,
        )
        out: dict[str, Any] = {}
        if opts.id_field:
            out[opts.id_field] = record_id
        if opts.subject_field:
            out[opts.subject_field] = (
                None if subject_raw is None else subject_token(self.secret, subject_raw)
            )
        result = RecordResult(index=index, record=out)
        dropped: set[str] = set()
        for name in opts.text_fields:
            clean: list[str] = []
            for where, text in _strings(name, record[name]):
                findings = join_adjacent(detect_long(self.detector, text), text)
                clean.append(self._replace(text, findings, ctx, result))
                result.findings += [
                    SpanFinding(record_id, where, f.start, f.end, f.entity_type, f.score)
                    for f in findings
                ]
                result.changed = result.changed or clean[-1] != text
            if isinstance(record[name], str):
                out[name] = clean[0]
            else:  # a chat: the roles kept, the contents scrubbed, any other key dropped
                out[name] = [
                    {"role": m["role"], "content": c}
                    for m, c in zip(record[name], clean, strict=True)
                ]
                dropped |= {f"{name}[].{k}" for m in record[name] for k in m} - {
                    f"{name}[].role",
                    f"{name}[].content",
                }
        declared = {*opts.text_fields, opts.id_field, opts.subject_field}
        dropped |= {k for k in record if k not in declared}
        result.dropped_fields = tuple(sorted(dropped))
        return result

    def _check(self, index: int, record: dict[str, Any]) -> None:
        for name in self.options.text_fields:
            if name not in record:
                raise InputError(f"record {index + 1}: missing text field {name!r}")
            value = record[name]
            if isinstance(value, str):
                continue
            if not isinstance(value, list) or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) for m in value
            ):
                raise InputError(
                    f"record {index + 1}: text field {name!r} is neither a string nor a list of "
                    "messages with string 'content'"
                )
            for n, m in enumerate(value):
                if m.get("role") not in CHAT_ROLES:
                    raise InputError(
                        f"record {index + 1}: message {n} in {name!r} has a role other than "
                        f"{', '.join(CHAT_ROLES)}"
                    )
        if self.options.id_field and self.options.id_field not in record:
            raise InputError(f"record {index + 1}: missing id field {self.options.id_field!r}")

    def _replace(
        self, text: str, findings: list[Finding], ctx: OperatorContext, result: RecordResult
    ) -> str:
        if self.anonymizer is not None:
            mapping = result.mapping if self.keep_mapping else None
            return self.anonymizer.anonymize(text, findings, ctx, mapping)
        pieces: list[str] = []
        cursor = 0
        for f in findings:
            original = text[f.start : f.end]
            operator = self.policy.operator_for(f.entity_type)
            replacement = apply(operator, original, f.entity_type, ctx)
            if self.keep_mapping and operator in ("pseudonym", "date_shift"):
                result.mapping.append((f.entity_type, replacement, original))
            pieces += [text[cursor : f.start], replacement]
            cursor = f.end
        pieces.append(text[cursor:])
        return "".join(pieces)


def _strings(name: str, value: Any) -> list[tuple[str, str]]:
    """(where, text) for each string a text field holds: itself, or each message's content."""
    if isinstance(value, str):
        return [(name, value)]
    if isinstance(value, list):
        return [
            (f"{name}[{i}].content", m["content"])
            for i, m in enumerate(value)
            if isinstance(m, dict) and isinstance(m.get("content"), str)
        ]
    return []


# -- worker processes -------------------------------------------------------------------------
_worker: RecordScrubber | None = None


def _init_worker(policy: Policy, secret: bytes, options: ScrubOptions, reference_year: int) -> None:
    global _worker
    _worker = RecordScrubber(policy, secret, options, reference_year)


def _scrub_batch(batch: list[tuple[int, dict[str, Any]]]) -> list[RecordResult]:
    assert _worker is not None
    _worker.prepare(batch)
    return [_worker.scrub(i, r) for i, r in batch]


def _versions(_: int) -> dict[str, str]:
    assert _worker is not None
    return _worker.detector.versions()


def _batches(
    records: Iterable[dict[str, Any]], size: int
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    batch: list[tuple[int, dict[str, Any]]] = []
    for index, record in enumerate(records):
        batch.append((index, record))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class ScrubStats:
    records: int = 0
    changed: int = 0
    skipped: int = 0
    spans: Counter[str] = field(default_factory=Counter)
    dropped_fields: set[str] = field(default_factory=set)

    def add(self, result: RecordResult) -> None:
        if result.record is None:
            self.skipped += 1
            return
        self.records += 1
        self.changed += result.changed
        self.spans.update(f.entity_type for f in result.findings)
        self.dropped_fields.update(result.dropped_fields)


class Pipeline:
    """Runs :class:`RecordScrubber` over a stream, in-process or across worker processes."""

    def __init__(
        self,
        policy: Policy,
        secret: bytes,
        options: ScrubOptions,
        reference_year: int | None = None,
    ) -> None:
        if options.workers < 1:
            raise InputError("--workers must be at least 1")
        self.policy, self.secret, self.options = policy, secret, options
        # One reference year for every worker, so a run over midnight on 31 December
        # still treats every record alike.
        self.reference_year = reference_year if reference_year is not None else date.today().year
        self._pool: Any = None
        self._local: RecordScrubber | None = None

    def __enter__(self) -> Pipeline:
        if self.options.workers == 1:
            self._local = RecordScrubber(
                self.policy, self.secret, self.options, self.reference_year
            )
        else:
            # spawn, not fork: the parent may run threads (progress bar) and fork would copy locks.
            ctx = multiprocessing.get_context("spawn")
            self._pool = ctx.Pool(
                self.options.workers,
                initializer=_init_worker,
                initargs=(self.policy, self.secret, self.options, self.reference_year),
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()

    def versions(self) -> dict[str, str]:
        if self._local is not None:
            return self._local.detector.versions()
        return self._pool.apply(_versions, (0,))

    def run(self, records: Iterable[dict[str, Any]]) -> Iterator[RecordResult]:
        batches = _batches(records, self.options.batch_size)
        if self._local is not None:
            for batch in batches:
                self._local.prepare(batch)
                for index, record in batch:
                    yield self._local.scrub(index, record)
            return
        in_flight: list[Any] = []
        limit = 2 * self.options.workers
        for batch in batches:
            in_flight.append(self._pool.apply_async(_scrub_batch, (batch,)))
            if len(in_flight) >= limit:
                yield from in_flight.pop(0).get()
        for pending in in_flight:
            yield from pending.get()
