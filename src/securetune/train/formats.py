"""Training formats: what a record looks like, which tokens are trained, which side is cut.

Three shapes of record, chosen with ``--format`` or detected from the dataset's fields:

``text``
    Free text in the dataset's text fields (joined with newlines). Every token is trained,
    and a long record keeps its start (the behaviour of securetune 0.1).
``prompt-completion``
    A ``prompt`` string and a ``completion`` string. The model reads
    the prompt, a newline (none when one side already has whitespace at the join) and the
    completion, and is trained on the completion only. A long record keeps its completion and
    loses the start of its prompt (a completion longer than the limit on its own keeps its end).
``chat``
    A ``messages`` list of ``{"role": ..., "content": ...}``. Rendered with the tokenizer's
    chat template when it has one, else with :data:`DEFAULT_CHAT_TEMPLATE`. Every assistant
    message is trained, nothing else. A long record keeps its last assistant turn and loses
    the start of the conversation.

An :class:`Example` is a sequence of text :class:`Segment` s, each trained or not; its
rendering is the segments joined with nothing between them. :func:`tokenize_examples` turns
examples into token ids and labels, labels being ``IGNORE_INDEX`` on every token that must
not carry loss, so the per-example mean of :mod:`.loss` runs over trained tokens only and
clipping still bounds one unit's whole contribution.

Segments are tokenized one by one (not the joined string), so the prompt's tokens are
exactly the tokenizer's tokens for the prompt alone; :func:`prompt_ids` gives them with the
special tokens training put in front: what a generation at evaluation starts from.

Tokens after the last trained segment are dropped: in a causal model they change no loss.
The end of a prompt-completion or default-chat example is the tokenizer's own closing
special token (BERT's ``[SEP]``) or, when it adds none, its EOS token; that end token is
trained, so the model learns where a completion stops. A tokenizer's chat template writes
its own special tokens (BOS, end-of-turn), so templated examples get none added.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from securetune.errors import TrainingError
from securetune.train.data import IGNORE_INDEX, tokenize

if TYPE_CHECKING:
    from securetune.train.data import Corpus

FORMATS = ("text", "prompt-completion", "chat")
PROMPT_FIELD, COMPLETION_FIELD, MESSAGES_FIELD = "prompt", "completion", "messages"
ASSISTANT = "assistant"
FORMAT_FIELDS: dict[str, tuple[str, ...]] = {
    "prompt-completion": (PROMPT_FIELD, COMPLETION_FIELD),
    "chat": (MESSAGES_FIELD,),
}
"""The fields each structured format reads (the text format reads the text fields)."""


def trained_fields(corpus: Any) -> tuple[str, ...]:
    """The record fields a run on ``corpus`` reads: its format's, or its text fields."""
    return FORMAT_FIELDS.get(corpus.format, corpus.fields.text_fields)


def unscanned_fields(corpus: Any) -> tuple[str, ...]:
    """Fields a run on a *scrubbed* corpus would read that ``scrub`` never scanned.

    ``scrub`` scans its ``--text-field`` fields and keeps the others (ids, subjects) as they
    are; a run that reads one of those (``--text-field``, or a format's fixed fields) would
    train on raw text under a dataset marked scrubbed. Empty for data added as-is, which
    is unscrubbed whatever it reads."""
    scanned = corpus.manifest.provenance.get("text_fields")
    if not corpus.manifest.scrubbed or scanned is None:
        return ()
    return tuple(f for f in trained_fields(corpus) if f not in scanned)


def scrubbed_for_training(corpus: Any) -> bool:
    """Scrubbed, and in every field the run reads."""
    return bool(corpus.manifest.scrubbed) and not unscanned_fields(corpus)


DEFAULT_CHAT_TEMPLATE = "{Role}: {content}\n"
"""How a chat is rendered when the tokenizer has no chat template of its own: one line per
message, the role capitalised (``User: ...``, ``Assistant: ...``). The trained segment of an
assistant message is its content only; ``Assistant: `` and the newline are untrained."""


@dataclass(frozen=True)
class Segment:
    text: str
    trained: bool

    def __repr__(self) -> str:  # never show record text
        return f"Segment({len(self.text)} chars, trained={self.trained})"


@dataclass(frozen=True)
class Example:
    """One training example: segments whose concatenation is the rendered text.

    ``templated`` is true when a tokenizer's chat template rendered it (the template then
    carries the special tokens, and tokenization adds none).
    """

    segments: tuple[Segment, ...]
    templated: bool = False

    def __post_init__(self) -> None:
        if not any(s.trained for s in self.segments):
            raise TrainingError("internal: an example needs at least one trained segment")

    def __repr__(self) -> str:  # never show record text, even in a traceback or debugger
        trained = sum(s.trained for s in self.segments)
        return f"Example({len(self.segments)} segments, {trained} trained)"

    @property
    def text(self) -> str:
        """The rendered example: every segment, in order."""
        return "".join(s.text for s in self.segments)

    @property
    def _last_trained(self) -> int:
        return max(i for i, s in enumerate(self.segments) if s.trained)

    @property
    def prompt(self) -> str:
        """Everything before the last trained segment: what a generation starts from."""
        return "".join(s.text for s in self.segments[: self._last_trained])

    @property
    def completion(self) -> str:
        """The last trained segment: what a generation should produce."""
        return self.segments[self._last_trained].text

    @classmethod
    def plain(cls, text: str) -> Example:
        """A text-format example: one trained segment (canaries are these)."""
        return cls((Segment(text, True),))


@dataclass(frozen=True)
class Tokenized:
    input_ids: list[int]
    labels: list[int]  # the id where trained, IGNORE_INDEX elsewhere
    truncated: bool

    def __repr__(self) -> str:
        return f"Tokenized({len(self.input_ids)} tokens, truncated={self.truncated})"


# -- detection -------------------------------------------------------------------------------


def detect_format(fields: Collection[str]) -> str:
    """The format a dataset's field names imply; refuses field sets that fit more than one.

    ``messages`` means chat, ``prompt`` with ``completion`` means prompt-completion, ``text``
    means text. None of them: text (the text fields then come from the dataset or option).
    """
    found = [
        fmt
        for fmt, needs in (
            ("text", {"text"}),
            ("prompt-completion", {PROMPT_FIELD, COMPLETION_FIELD}),
            ("chat", {MESSAGES_FIELD}),
        )
        if needs <= set(fields)
    ]
    if len(found) > 1:
        raise TrainingError(
            f"the dataset's fields fit more than one format ({', '.join(found)}); pass --format"
        )
    return found[0] if found else "text"


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise TrainingError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    return fmt


# -- records to examples ---------------------------------------------------------------------


def example_of(
    record: Mapping[str, Any],
    fmt: str,
    *,
    text_fields: Sequence[str] = ("text",),
    tokenizer: Any | None = None,
) -> Example:
    """The example a record makes in ``fmt``. Errors name the field, never its content.

    ``tokenizer`` matters for chat only: its chat template, when it has one, renders the
    messages; without one (or with ``None``) :data:`DEFAULT_CHAT_TEMPLATE` does.
    """
    if fmt == "text":
        return Example.plain(_joined_text(record, text_fields))
    if fmt == "prompt-completion":
        prompt, completion = (_string(record, f) for f in (PROMPT_FIELD, COMPLETION_FIELD))
        if not completion.strip():  # it would train only the end token, and score as a match
            raise TrainingError(f"field {COMPLETION_FIELD!r} is empty: nothing to train on")
        join = "" if prompt[-1:].isspace() or completion[:1].isspace() or not prompt else "\n"
        return Example((Segment(prompt + join, False), Segment(completion, True)))
    if fmt == "chat":
        messages = _messages(record)
        template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
        if template:
            return _templated_chat(tokenizer, messages)
        return _default_chat(messages)
    raise TrainingError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def _joined_text(record: Mapping[str, Any], text_fields: Sequence[str]) -> str:
    parts = []
    for f in text_fields:
        value = record.get(f)
        if value is None:
            continue
        if not isinstance(value, str):
            raise TrainingError(f"field {f!r} is not text")
        parts.append(value)
    if not parts:
        raise TrainingError(f"no text in {', '.join(text_fields)}")
    return "\n".join(parts)


def _string(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise TrainingError(f"field {name!r} is {'missing' if value is None else 'not text'}")
    return value


def _messages(record: Mapping[str, Any]) -> list[dict[str, str]]:
    value = record.get(MESSAGES_FIELD)
    if not isinstance(value, list) or not value:
        raise TrainingError(f"field {MESSAGES_FIELD!r} is not a non-empty list of messages")
    out = []
    for n, m in enumerate(value):
        if not (
            isinstance(m, Mapping)
            and isinstance(m.get("role"), str)
            and m.get("role")
            and isinstance(m.get("content"), str)
        ):
            raise TrainingError(
                f"message {n} in {MESSAGES_FIELD!r} needs a string 'role' and a string 'content'"
            )
        out.append({"role": m["role"], "content": m["content"]})
    if not any(m["role"] == ASSISTANT for m in out):
        raise TrainingError(f"{MESSAGES_FIELD!r} has no assistant message to train on")
    return out


def _default_chat(messages: list[dict[str, str]]) -> Example:
    segments: list[Segment] = []
    for m in messages:
        head = m["role"][:1].upper() + m["role"][1:] + ": "
        if m["role"] == ASSISTANT:
            segments += [Segment(head, False), Segment(m["content"], True), Segment("\n", False)]
        else:
            segments.append(Segment(head + m["content"] + "\n", False))
    return Example(tuple(_merged(segments)))


def _templated_chat(tokenizer: Any, messages: list[dict[str, str]]) -> Example:
    """Segments from renderings of growing prefixes of the conversation.

    Each assistant turn's trained text is what rendering it adds after the generation prompt
    that precedes it, so the template's own end-of-turn marker is trained with it. A template
    whose rendering of a prefix is not a prefix of the whole cannot be split this way and is
    refused rather than guessed at.
    """
    from jinja2.exceptions import TemplateError

    def render(upto: int, generation_prompt: bool) -> str:
        try:
            out = tokenizer.apply_chat_template(
                messages[:upto], tokenize=False, add_generation_prompt=generation_prompt
            )
        except (TemplateError, ValueError, TypeError, IndexError, KeyError) as exc:
            raise TrainingError(
                f"the tokenizer's chat template cannot render these messages ({type(exc).__name__})"
            ) from None
        if not isinstance(out, str):
            raise TrainingError("the tokenizer's chat template did not render text")
        return out

    segments: list[Segment] = []
    done = ""
    for i, m in enumerate(messages):
        if m["role"] != ASSISTANT:
            continue
        before, through = render(i, True), render(i + 1, False)
        if not (before.startswith(done) and through.startswith(before)):
            raise TrainingError(
                "the tokenizer's chat template does not render a conversation prefix-by-prefix; "
                "it cannot be split into trained and untrained parts"
            )
        segments += [Segment(before[len(done) :], False), Segment(through[len(before) :], True)]
        done = through
    whole = render(len(messages), False)
    if not whole.startswith(done):
        raise TrainingError(
            "the tokenizer's chat template does not render a conversation prefix-by-prefix; "
            "it cannot be split into trained and untrained parts"
        )
    segments.append(Segment(whole[len(done) :], False))
    return Example(tuple(_merged(segments)), templated=True)


def _merged(segments: list[Segment]) -> list[Segment]:
    """Adjacent segments of one kind joined, empty untrained ones dropped."""
    out: list[Segment] = []
    for s in segments:
        if not s.text and not s.trained:
            continue
        if out and out[-1].trained == s.trained and not s.trained:
            out[-1] = Segment(out[-1].text + s.text, False)
        else:
            out.append(s)
    return out


def corpus_examples(corpus: Corpus, tokenizer: Any | None) -> list[Example]:
    """One example per corpus position: records in the corpus's format, canaries as text."""
    if corpus.records is None:
        return [Example.plain(t) for t in corpus.texts]
    fields = corpus.fields.text_fields
    made = [
        example_of(r, corpus.format, text_fields=fields, tokenizer=tokenizer)
        for r in corpus.records
    ]
    return made + [Example.plain(t) for t in corpus.texts[len(made) :]]


def corpus_tokens(corpus: Corpus, tokenizer: Any, max_length: int) -> list[Tokenized]:
    """What training, planning and the checks feed the model: one :class:`Tokenized` per position."""
    return tokenize_examples(tokenizer, corpus_examples(corpus, tokenizer), max_length)


# -- tokenization ----------------------------------------------------------------------------


def tokenize_examples(
    tokenizer: Any, examples: Sequence[Example], max_length: int
) -> list[Tokenized]:
    """Token ids and labels per example, at most ``max_length`` tokens each.

    A one-segment untemplated example (the text format, canaries) is tokenized exactly as
    securetune 0.1 did, truncated at its end. Anything else keeps its last trained segment:
    the tokens before it are cut from the left.
    """
    out: list[Tokenized | None] = [None] * len(examples)
    plain = [i for i, e in enumerate(examples) if len(e.segments) == 1 and not e.templated]
    if plain:
        texts = [examples[i].text for i in plain]
        ids = tokenize(tokenizer, texts, max_length)
        full = tokenizer(texts, padding=False, truncation=False, verbose=False)["input_ids"]
        for i, x, whole in zip(plain, ids, full, strict=True):
            out[i] = Tokenized(list(x), list(x), truncated=len(whole) > max_length)
    frame = _Frame.of(tokenizer)
    for i, e in enumerate(examples):
        if out[i] is None:
            out[i] = _tokenize_segments(tokenizer, e, max_length, frame)[0]
    return [t for t in out if t is not None]


def prompt_ids(tokenizer: Any, example: Example, max_length: int) -> list[int]:
    """The ids training put before ``example``'s completion: what generating it starts from.

    Special tokens are as in training (BERT's ``[CLS]`` in front and no ``[SEP]``, which
    would announce the end); an example longer than ``max_length`` is cut from the left as in
    training. A text-format example has an empty prompt: only the leading special tokens.
    """
    frame = _Frame.of(tokenizer)
    if len(example.segments) == 1 and not example.templated:
        return list(frame.prefix)
    tokenized, start = _tokenize_segments(tokenizer, example, max_length, frame)
    return tokenized.input_ids[:start]


@dataclass(frozen=True)
class _Frame:
    """The special tokens a tokenizer puts around a text, and the end token we train."""

    prefix: list[int]
    end: list[int]

    @classmethod
    def of(cls, tokenizer: Any) -> _Frame:
        probe = "a"
        framed = list(tokenizer(probe)["input_ids"])
        bare = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
        for start in range(len(framed) - len(bare) + 1):
            if framed[start : start + len(bare)] == bare:
                prefix, suffix = framed[:start], framed[start + len(bare) :]
                break
        else:  # pragma: no cover - every tokenizer we know frames a text by adding around it
            raise TrainingError("cannot tell which special tokens the tokenizer adds")
        eos = getattr(tokenizer, "eos_token_id", None)
        end = suffix if suffix else ([eos] if eos is not None else [])
        return cls(prefix=prefix, end=end)


def _tokenize_segments(
    tokenizer: Any, e: Example, max_length: int, frame: _Frame
) -> tuple[Tokenized, int]:
    """The example's tokens, and the position where its last trained segment starts."""
    last = e._last_trained
    kept = e.segments[: last + 1]  # later tokens change no loss in a causal model
    pieces = tokenizer([s.text for s in kept], add_special_tokens=False, verbose=False)["input_ids"]
    ids: list[int] = []
    labels: list[int] = []
    for s, piece in zip(kept, pieces, strict=True):
        ids += piece
        labels += piece if s.trained else [IGNORE_INDEX] * len(piece)
    start = len(ids) - len(pieces[-1])
    prefix, end = ([], []) if e.templated else (frame.prefix, frame.end)
    budget = max(0, max_length - len(prefix) - len(end))
    truncated = len(ids) > budget
    if truncated:
        cut = len(ids) - budget
        ids, labels, start = ids[cut:], labels[cut:], max(0, start - cut)
    ids = [*prefix, *ids, *end]
    labels = [IGNORE_INDEX] * len(prefix) + labels + list(end)
    if len(ids) < 2:  # a next-token loss needs two tokens (as data.tokenize pads)
        ids, labels = [*ids, tokenizer.pad_token_id], [*labels, IGNORE_INDEX]
    return Tokenized(ids, labels, truncated), len(prefix) + start


def truncated_count(tokenized: Sequence[Tokenized]) -> int:
    """How many examples lost tokens to ``max_length`` (a function of lengths only)."""
    return sum(t.truncated for t in tokenized)
