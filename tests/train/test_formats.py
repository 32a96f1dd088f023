"""Training formats: which format a dataset is, how a record renders, which tokens carry loss,
which side a long record loses, and that DP-SGD (hooks and ghost clipping) sees only the loss
on trained tokens."""

from __future__ import annotations

import copy

import pytest
import torch

from securetune.errors import TrainingError
from securetune.train.data import IGNORE_INDEX, pad_batch, tokenize
from securetune.train.formats import (
    DEFAULT_CHAT_TEMPLATE,
    Example,
    Segment,
    detect_format,
    example_of,
    prompt_ids,
    tokenize_examples,
    truncated_count,
)
from securetune.train.model import load_base_model, quiet

PC = {"prompt": "Summarize: fever and cough for two days.", "completion": "Fever, cough."}
CHAT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the plan?"},
        {"role": "assistant", "content": "Diuresis."},
        {"role": "user", "content": "And then?"},
        {"role": "assistant", "content": "Repeat labs."},
    ]
}
# A ChatML-style template; its markers are added to the tokenizer as special tokens.
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tok():
    with quiet():
        return load_base_model("tiny").tokenizer


@pytest.fixture(scope="module")
def chatml_tok(tok):
    t = copy.deepcopy(tok)
    t.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    t.chat_template = CHATML
    return t


def bare(tok, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


# -- which format --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "fmt"),
    [
        ({"id", "patient_id", "text"}, "text"),
        ({"id", "note"}, "text"),  # nothing structured: the text fields decide
        ({"id", "prompt", "completion"}, "prompt-completion"),
        ({"id", "prompt"}, "text"),  # a prompt alone is not a pair
        ({"id", "messages"}, "chat"),
    ],
)
def test_the_format_is_detected_from_the_field_names(fields: set[str], fmt: str) -> None:
    assert detect_format(fields) == fmt


def test_fields_that_fit_two_formats_are_refused_in_one_line() -> None:
    with pytest.raises(TrainingError) as err:
        detect_format({"text", "prompt", "completion", "messages"})
    assert str(err.value) == (
        "the dataset's fields fit more than one format (text, prompt-completion, chat); "
        "pass --format"
    )


# -- records to examples -------------------------------------------------------------------------


def test_prompt_completion_trains_the_completion_after_a_newline() -> None:
    e = example_of(PC, "prompt-completion")
    assert e.segments == (Segment(PC["prompt"] + "\n", False), Segment(PC["completion"], True))
    assert (e.prompt, e.completion) == (PC["prompt"] + "\n", PC["completion"])
    # whitespace already at the join: nothing is added
    spaced = example_of({"prompt": "Q: x?\n", "completion": "y"}, "prompt-completion")
    assert spaced.text == "Q: x?\ny"
    assert repr(e) == "Example(2 segments, 1 trained)" and "fever" not in repr(e.segments)


def test_text_format_is_one_trained_segment_of_the_joined_fields() -> None:
    e = example_of({"a": "one", "b": "two"}, "text", text_fields=("a", "b"))
    assert e.segments == (Segment("one\ntwo", True),) and e.prompt == ""


def test_a_chat_without_a_template_uses_the_default_one_line_per_message() -> None:
    assert DEFAULT_CHAT_TEMPLATE == "{Role}: {content}\n"
    e = example_of(CHAT, "chat", tokenizer=None)
    assert e.text == (
        "System: Be brief.\nUser: What is the plan?\nAssistant: Diuresis.\n"
        "User: And then?\nAssistant: Repeat labs.\n"
    )
    assert [s for s in e.segments if s.trained] == [
        Segment("Diuresis.", True),
        Segment("Repeat labs.", True),
    ]
    assert e.completion == "Repeat labs."
    assert e.prompt.endswith("User: And then?\nAssistant: ")
    assert not e.templated


def test_a_chat_with_the_tokenizers_template_trains_each_assistant_turn_and_its_end_marker(
    chatml_tok,
) -> None:
    e = example_of(CHAT, "chat", tokenizer=chatml_tok)
    assert e.templated
    assert e.segments == (
        Segment(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is the plan?<|im_end|>\n"
            "<|im_start|>assistant\n",
            False,
        ),
        Segment("Diuresis.<|im_end|>\n", True),
        Segment("<|im_start|>user\nAnd then?<|im_end|>\n<|im_start|>assistant\n", False),
        Segment("Repeat labs.<|im_end|>\n", True),
    )
    t = tokenize_examples(chatml_tok, [e], 128)[0]
    # the template writes its own markers: no [CLS]/[SEP] are added
    assert t.input_ids == bare(chatml_tok, e.text)
    trained = [i for i, lab in zip(t.input_ids, t.labels, strict=True) if lab != IGNORE_INDEX]
    assert trained == bare(chatml_tok, "Diuresis.<|im_end|>") + bare(
        chatml_tok, "Repeat labs.<|im_end|>"
    )


def test_a_template_that_does_not_render_prefix_by_prefix_is_refused(chatml_tok) -> None:
    t = copy.deepcopy(chatml_tok)
    # The message count up front: a longer conversation changes what came before.
    t.chat_template = "{{ messages | length }}" + CHATML
    with pytest.raises(TrainingError, match="does not render a conversation prefix-by-prefix"):
        example_of(CHAT, "chat", tokenizer=t)


@pytest.mark.parametrize(
    ("record", "fmt", "message"),
    [
        ({"prompt": "p"}, "prompt-completion", "field 'completion' is missing"),
        ({"prompt": "p", "completion": 3}, "prompt-completion", "field 'completion' is not text"),
        (
            {"prompt": "p", "completion": " \n"},
            "prompt-completion",
            "field 'completion' is empty: nothing to train on",
        ),
        ({"messages": "hello"}, "chat", "field 'messages' is not a non-empty list of messages"),
        (
            {"messages": [{"role": "user", "content": "secret words"}]},
            "chat",
            "'messages' has no assistant message to train on",
        ),
        (
            {"messages": [{"role": "assistant"}]},
            "chat",
            "message 0 in 'messages' needs a string 'role' and a string 'content'",
        ),
    ],
)
def test_malformed_records_name_the_field_never_the_content(record, fmt, message) -> None:
    with pytest.raises(TrainingError) as err:
        example_of(record, fmt)
    assert str(err.value) == message


# -- tokens and labels ---------------------------------------------------------------------------


def test_prompt_completion_labels_cover_the_completion_and_the_closing_sep_only(tok) -> None:
    e = example_of(PC, "prompt-completion")
    (t,) = tokenize_examples(tok, [e], 128)
    p, c = bare(tok, e.prompt), bare(tok, e.completion)
    cls, sep = tok.cls_token_id, tok.sep_token_id
    assert t.input_ids == [cls, *p, *c, sep]
    assert t.labels == [IGNORE_INDEX] * (1 + len(p)) + [*c, sep]
    assert not t.truncated


def test_text_examples_tokenize_exactly_as_before_with_every_token_a_target(tok) -> None:
    texts = ["Pt reports fever and cough.", "word " * 80]
    out = tokenize_examples(tok, [Example.plain(x) for x in texts], 32)
    assert [t.input_ids for t in out] == tokenize(tok, texts, 32)
    assert [t.labels for t in out] == [t.input_ids for t in out]
    assert [t.truncated for t in out] == [False, True]


def test_a_long_prompt_loses_its_start_and_the_completion_is_kept(tok) -> None:
    record = {"prompt": " ".join(f"w{i}" for i in range(60)), "completion": "the end"}
    e = example_of(record, "prompt-completion")
    (t,) = tokenize_examples(tok, [e], 16)
    p, c = bare(tok, e.prompt), bare(tok, e.completion)
    keep = 16 - 2 - len(c)  # [CLS] and [SEP] stay
    assert t.input_ids == [tok.cls_token_id, *p[-keep:], *c, tok.sep_token_id]
    assert t.truncated and len(t.input_ids) == 16


def test_a_long_chat_loses_its_first_turns_and_keeps_the_last_assistant_turn(tok) -> None:
    long_chat = {
        "messages": [
            {"role": "user", "content": "many words " * 40},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": "Summary?"},
            {"role": "assistant", "content": "All fine."},
        ]
    }
    (t,) = tokenize_examples(tok, [example_of(long_chat, "chat")], 20)
    assert t.truncated and len(t.input_ids) == 20
    assert t.input_ids[-4:] == [*bare(tok, "All fine."), tok.sep_token_id]
    assert t.labels[-4:] == t.input_ids[-4:]


def test_a_generation_starts_from_exactly_the_tokens_training_put_before_the_completion(
    tok, chatml_tok
) -> None:
    e = example_of(PC, "prompt-completion")
    assert prompt_ids(tok, e, 128) == [tok.cls_token_id, *bare(tok, e.prompt)]  # no [SEP]
    long = example_of({"prompt": "word " * 60, "completion": "the end"}, "prompt-completion")
    (t,) = tokenize_examples(tok, [long], 16)
    assert prompt_ids(tok, long, 16) == t.input_ids[: -len(bare(tok, "the end")) - 1]
    chat = example_of(CHAT, "chat", tokenizer=chatml_tok)
    assert prompt_ids(chatml_tok, chat, 128) == bare(chatml_tok, chat.prompt)
    assert prompt_ids(tok, Example.plain("all trained"), 128) == [tok.cls_token_id]


def test_the_truncated_count_is_the_number_of_examples_cut(tok) -> None:
    examples = [
        Example.plain("short"),
        Example.plain("long " * 50),
        example_of({"prompt": "long " * 50, "completion": "x"}, "prompt-completion"),
        example_of(PC, "prompt-completion"),
    ]
    assert truncated_count(tokenize_examples(tok, examples, 24)) == 2


# -- the loss mask reaches the gradient, in both clipping modes -----------------------------------


def _batch(tok):
    examples = [
        example_of(PC, "prompt-completion"),
        example_of(
            {"prompt": "Note: stable overnight, no events.", "completion": "Stable."},
            "prompt-completion",
        ),
    ]
    out = tokenize_examples(tok, examples, 64)
    return pad_batch([t.input_ids for t in out], tok.pad_token_id, labels=[t.labels for t in out])


def _model():
    from securetune.train.model import add_lora

    with quiet():
        loaded = load_base_model("tiny")
    return add_lora(loaded.model, r=4, alpha=8, targets=("q_proj", "v_proj"), seed=0)


def _reference_norms(ids, mask, labels) -> list[float]:
    """Each example's gradient norm of its loss over completion tokens, by plain autograd."""
    model = _model()
    params = [p for p in model.parameters() if p.requires_grad]
    norms = []
    for i in range(ids.shape[0]):
        logits = model(input_ids=ids[i : i + 1], attention_mask=mask[i : i + 1]).logits[0]
        trained = [t for t in range(1, ids.shape[1]) if labels[i, t] != IGNORE_INDEX]
        loss = torch.nn.functional.cross_entropy(
            logits[[t - 1 for t in trained]].float(), ids[i, trained]
        )
        grads = torch.autograd.grad(loss, params)
        norms.append(torch.cat([g.reshape(-1) for g in grads]).norm().item())
    return norms


@pytest.mark.parametrize("clipping", ["hooks", "ghost"])
def test_no_gradient_reaches_a_prediction_outside_the_completion(tok, clipping: str) -> None:
    from securetune.train import privacy
    from securetune.train.loss import batch_loss, ghost_criterion, ghost_loss

    ids, mask, labels = _batch(tok)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ids), batch_size=2)
    model = _model()
    private = privacy.make_private(
        model=model,
        optimizer=torch.optim.SGD(privacy.trainable(model), lr=0.1),
        loader=loader,
        epsilon=8.0,
        delta=1e-5,
        epochs=1,
        max_grad_norm=1e6,  # nothing clipped: the norms are the raw per-example gradients
        accountant="rdp",
        clipping=clipping,
        criterion=ghost_criterion(),
    )
    logits = private.module(input_ids=ids, attention_mask=mask).logits
    logits.retain_grad()
    if clipping == "ghost":
        ghost_loss(private.criterion, logits, labels).backward()
    else:
        batch_loss(logits, labels).backward()
    # Position t predicts token t+1: its logits get gradient only when token t+1 is trained.
    predicts_trained = labels[:, 1:] != IGNORE_INDEX
    per_position = logits.grad[:, :-1].abs().amax(dim=-1)
    assert torch.all(per_position[~predicts_trained] == 0)
    assert torch.all(per_position[predicts_trained] > 0)
    assert torch.all(logits.grad[:, -1] == 0)
    # What DP-SGD clips is each example's gradient of its completion loss, nothing more.
    norms = privacy.per_sample_norms(private.module, clipping)
    torch.testing.assert_close(
        norms, torch.tensor(_reference_norms(ids, mask, labels)), rtol=1e-4, atol=1e-6
    )
