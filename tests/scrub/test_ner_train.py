"""Training a token classifier for ``--ner hf:DIR`` from annotated JSONL (tiny model, CPU)."""

from __future__ import annotations

import json
import stat

import pytest

from securetune.errors import InputError
from securetune.scrub import Detector, DetectorConfig
from securetune.scrub.ner_train import (
    LabelledText,
    NerTrainConfig,
    bio_labels,
    encode_windows,
    read_labelled_jsonl,
    train_token_classifier,
)

from .conftest import tiny_tokenizer

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

# Invented surnames only; the last two are never in the training data.
SURNAMES = ["zorvath", "quillane", "brexton", "mardova", "telkin", "vossberg", "kelmora", "dravin"]
WORDS = ["we", "met", "called", "today", "about", "the", "plan", "and", "nurse", "labs", "ok"]
TINY_BERT = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
TINY_BERT |= {"intermediate_size": 32, "max_position_embeddings": 64}
FAST = NerTrainConfig(epochs=40, batch_size=4, learning_rate=0.003, max_length=32, stride=4)


def write(tmp_path, lines: list[str]):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_records_read_with_sorted_upper_case_labels(tmp_path) -> None:
    rec = {
        "text": "we met Zorvath on 3/4",
        "group": 17,
        "spans": [
            {"start": 18, "end": 21, "label": "date_time"},
            {"start": 7, "end": 14, "label": "PERSON"},
        ],
    }
    path = write(tmp_path, [json.dumps(rec), "", json.dumps({"text": "labs ok"})])
    assert read_labelled_jsonl(path) == [
        LabelledText("we met Zorvath on 3/4", ((7, 14, "PERSON"), (18, 21, "DATE_TIME")), "17"),
        LabelledText("labs ok", ()),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Zorvath", "train.jsonl:1: not a JSON object."),
        ('{"text": 5}', "train.jsonl:1: expected an object with a string 'text'."),
        (
            '{"text": "Zorvath", "spans": [{"start": 0, "end": 99, "label": "PERSON"}]}',
            "train.jsonl:1: spans[0] offsets are outside the text.",
        ),
        (
            '{"text": "Zorvath", "spans": [{"start": 0, "end": 3, "label": "P ER"}]}',
            "train.jsonl:1: spans[0].label must be a name such as PERSON.",
        ),
        (
            '{"text": "Zorvath Q", "spans": [{"start": 0, "end": 7, "label": "PERSON"}, '
            '{"start": 5, "end": 9, "label": "PERSON"}]}',
            "train.jsonl:1: spans overlap; give each character one label.",
        ),
    ],
)
def test_bad_lines_are_named_by_line_never_by_their_text(tmp_path, line, message) -> None:
    with pytest.raises(InputError) as err:
        read_labelled_jsonl(write(tmp_path, [line]))
    assert str(err.value).endswith(message)
    assert "Zorvath" not in str(err.value)


def test_every_piece_gets_a_bio_tag_and_windows_overlap() -> None:
    tok = tiny_tokenizer([*WORDS, *SURNAMES])
    text = "we met quillane brexton today about the plan and labs ok"
    rec = LabelledText(text, ((7, 23, "PERSON"),))
    labels = bio_labels([rec])
    assert labels == ("O", "B-PERSON", "I-PERSON")
    one = encode_windows(tok, [rec], labels, NerTrainConfig(max_length=32, stride=4))
    assert one == [
        (
            [2, 4, 5, 16, 17, 7, 8, 9, 10, 11, 13, 14, 3],
            [-100, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, -100],
            True,
        )
    ]
    # 16-token windows overlapping by 4: the second window starts inside the name, whose
    # pieces there are continued (I-), not restarted
    name = "zorvath quillane brexton mardova telkin"
    long = LabelledText(
        "ok " * 8 + name + " today about the plan", ((24, 24 + len(name), "PERSON"),)
    )
    windows = encode_windows(tok, [long], labels, NerTrainConfig(max_length=16, stride=4))
    assert [w[1] for w in windows] == [
        [-100, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 0, -100],
        [-100, 2, 2, 2, 0, 0, 0, 0, -100],
    ]
    assert windows[1][0][1:4] == [17, 18, 19]  # brexton mardova telkin


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    from transformers import BertConfig, BertModel

    root = tmp_path_factory.mktemp("tiny_base")
    tok = tiny_tokenizer([*WORDS, *SURNAMES])
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tok), **TINY_BERT)).save_pretrained(root)
    tok.save_pretrained(root)
    return root


def training_records() -> list[LabelledText]:
    out = []
    for verb in ("met", "called"):
        for name in SURNAMES[:6]:
            text = f"we {verb} {name} today about the plan"
            out.append(
                LabelledText(text, ((len(f"we {verb} "), len(f"we {verb} {name}"), "PERSON"),))
            )
    out.append(LabelledText("nurse labs ok and the plan", ()))
    return out


def test_the_trained_directory_is_a_private_ner_backend(tmp_path, tiny_base) -> None:
    out = tmp_path / "model"
    steps = []
    result = train_token_classifier(
        training_records(),
        out,
        base=tiny_base,
        config=FAST,
        progress=lambda step, total, loss: steps.append((step, total)),
    )
    assert (result.labels, result.records, result.spans, result.windows, result.steps) == (
        ("O", "B-PERSON", "I-PERSON"),
        13,
        12,
        13,
        160,
    )
    assert steps[-1] == (160, 160) and len(steps) == 160
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    meta = (out / "securetune-ner.json").read_text()
    assert json.loads(meta)["labels"] == ["O", "B-PERSON", "I-PERSON"]
    assert not any(name in meta for name in SURNAMES)
    det = Detector(DetectorConfig(entities=("PERSON",), ner_backend=f"hf:{out}"))
    found = det.detect("nurse met dravin today about labs")  # a surname it never saw
    assert [(f.start, f.end, f.entity_type) for f in found] == [(10, 16, "PERSON")]


def test_nothing_is_overwritten_and_unannotated_data_is_refused(tmp_path, tiny_base) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="exists and is not empty"):
        train_token_classifier(training_records(), tmp_path / "full", base=tiny_base, config=FAST)
    with pytest.raises(InputError, match="hold no spans"):
        train_token_classifier(
            [LabelledText("labs ok", ())], tmp_path / "new", base=tiny_base, config=FAST
        )
    assert (tmp_path / "full" / "keep.txt").read_text() == "x"
    assert not (tmp_path / "new").exists()


def test_config_rejects_settings_that_cannot_train() -> None:
    with pytest.raises(InputError, match="stride must be"):
        NerTrainConfig(max_length=32, stride=16)
    with pytest.raises(InputError, match="negative_fraction"):
        NerTrainConfig(negative_fraction=1.5)
