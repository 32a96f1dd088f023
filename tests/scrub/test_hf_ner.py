"""The Hugging Face NER backend, with a tiny BERT token classifier the test trains itself."""

from __future__ import annotations

import json

import pytest

from securetune.scrub import Detector, DetectorConfig, DetectorError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# Invented surnames; the model learns that the word after "met" or "called" is a name.
SURNAMES = ["Zorvath", "Quillane", "Brexton", "Mardova", "Telkin", "Vossberg"]
TINY_BERT = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
TINY_BERT |= {"intermediate_size": 32, "max_position_embeddings": 64}
WORDS = ["we", "met", "called", "today", "about", "the", "plan", "and", "nurse", "labs", "ok"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transformers import BertConfig, BertForTokenClassification

    from .conftest import tiny_tokenizer

    root = tmp_path_factory.mktemp("tiny_ner")
    vocab = [*WORDS, *(s.lower() for s in SURNAMES)]
    fast = tiny_tokenizer(vocab)
    labels = ["O", "B-PER", "I-PER"]
    config = BertConfig(vocab_size=len(fast), **TINY_BERT)
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    sentences = [f"we {v} {s} today about the plan" for v in ("met", "called") for s in SURNAMES]
    enc = fast(sentences, return_tensors="pt", padding=True)
    gold = torch.zeros_like(enc["input_ids"])
    gold[:, 3] = 1  # [CLS] we met NAME ...
    gold[enc["attention_mask"] == 0] = -100
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(60):
        opt.zero_grad()
        model(**enc, labels=gold).loss.backward()
        opt.step()
    model.save_pretrained(root)
    fast.save_pretrained(root)
    return root


def test_hf_model_finds_names_the_rules_cannot(tiny_model) -> None:
    text = "we met Quillane today about the plan"
    rules = Detector(DetectorConfig(entities=("PERSON",)))
    assert rules.detect(text) == []  # an invented surname in lower-case context: no rule
    det = Detector(DetectorConfig(entities=("PERSON",), ner_backend=f"hf:{tiny_model}"))
    found = [(f.start, f.end, f.entity_type) for f in det.detect(text)]
    assert found == [(7, 15, "PERSON")]
    assert det.versions()["ner_backend"] == f"hf:{tiny_model}"
    assert det.versions()["ner_model"] == "bert:" + tiny_model.name


def test_batched_prepare_gives_what_one_by_one_gives(tiny_model) -> None:
    det = Detector(DetectorConfig(entities=("PERSON",), ner_backend=f"hf:{tiny_model}"))
    texts = ["we called Mardova today", "labs ok", "nurse met Telkin and the plan"]
    one_by_one = [det.detect(t) for t in texts]
    det.prepare(texts)
    assert [det.detect(t) for t in texts] == one_by_one
    assert [[(f.start, f.end) for f in fs] for fs in one_by_one] == [[(10, 17)], [], [(10, 16)]]


def test_labels_that_map_to_no_detected_entity_fail_closed(tiny_model) -> None:
    with pytest.raises(DetectorError, match="ner_entities"):
        Detector(
            DetectorConfig(
                entities=("PERSON",),
                ner_backend=f"hf:{tiny_model}",
                ner_labels=(("PER", "LOCATION"),),
            )
        )


def test_a_directory_without_a_model_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(DetectorError, match="could not be loaded"):
        Detector(DetectorConfig(entities=("PERSON",), ner_backend=f"hf:{tmp_path}"))


def test_scrub_ner_option_unions_the_model_with_the_rules(run, tmp_path, tiny_model) -> None:
    from ..conftest import write_jsonl

    run("init")
    path = write_jsonl(
        tmp_path / "n.jsonl", [{"id": 1, "text": "we met Quillane today, call 617-555-0142"}]
    )
    args = ["scrub", str(path), "--policy", "hipaa-safe-harbor", "--id-field", "id", "--json"]
    rules = json.loads(run(*args, "--name", "rules").stdout)
    assert rules["spans_per_type"] == {"PHONE_NUMBER": 1}
    both = run(*args, "--name", "both", "--ner", f"hf:{tiny_model}")
    assert both.exit_code == 0, both.stderr
    assert json.loads(both.stdout)["spans_per_type"] == {"PERSON": 1, "PHONE_NUMBER": 1}
    assert "Quillane" not in both.stdout + both.stderr
    bad = run(*args, "--name", "bad", "--ner", f"hf:{tmp_path}/absent")
    assert bad.exit_code == 1
    assert (
        bad.stderr.startswith("error: The Hugging Face NER model") and bad.stderr.count("\n") == 1
    )


def test_a_token_is_phi_when_its_entity_labels_together_outweigh_o() -> None:
    from securetune.scrub.hf_ner import HfNerRecognizer, _label

    rec = HfNerRecognizer.__new__(HfNerRecognizer)  # decoding only: no model needed
    names = ["O", "B-PERSON", "I-PERSON", "B-DATE", "I-DATE", "B-MISC", "I-MISC"]
    rec.id2label = {i: _label(n) for i, n in enumerate(names)}
    rec.mapping = {"PERSON": "PERSON", "DATE": "DATE_TIME"}  # MISC maps to nothing
    # "O" is the single most probable label, but PERSON + DATE hold 0.6 together
    score, label = rec._decide([0.4, 0.1, 0.25, 0.2, 0.05, 0.0, 0.0])
    assert (round(score, 6), names[label]) == (0.6, "I-PERSON")
    # an unmapped label does not count towards PHI
    score, label = rec._decide([0.3, 0.1, 0.1, 0.1, 0.1, 0.3, 0.1])
    assert (round(score, 6), names[label]) == (0.3, "O")
