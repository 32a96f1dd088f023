"""Canaries: the randomness space, inclusion bits, commitment, insertion and storage."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from securetune.crypto.envelope import new_data_key
from securetune.errors import TrainingError
from securetune.train.canaries import (
    CANARY_FILE,
    CanaryOptions,
    CanarySet,
    generate,
    insert,
    load_canaries,
    save_canaries,
)
from securetune.train.data import Corpus, Split


def _set(count: int = 40, repetitions: int = 1) -> CanarySet:
    return generate(CanaryOptions(count, repetitions), rng=random.Random(7))


def test_each_canary_is_a_distinct_prefix_and_a_nine_digit_secret() -> None:
    cs = _set()
    assert len({c.name for c in cs.canaries}) == 40
    for c in cs.canaries:
        assert re.fullmatch(r"\d{9}", c.secret)
        assert c.text() == f"{c.name}'s MRN is {c.secret} ."
        assert c.text().startswith(c.prefix) and c.prefix.endswith("MRN is ")
        assert c.text("000000001") == f"{c.prefix}000000001 ."
    assert sum(c.included for c in cs.canaries) == 20  # Bernoulli(1/2) bits, pinned by the seed


def test_the_commitment_binds_every_secret_bit_and_the_salt() -> None:
    cs = _set()
    first = cs.canaries[0]
    flipped = CanarySet(
        canaries=(
            first.__class__(0, first.name, first.secret, not first.included),
            *cs.canaries[1:],
        ),
        repetitions=1,
        salt=cs.salt,
    )
    other_secret = CanarySet(
        canaries=(first.__class__(0, first.name, "123456789", first.included), *cs.canaries[1:]),
        repetitions=1,
        salt=cs.salt,
    )
    other_salt = CanarySet(canaries=cs.canaries, repetitions=1, salt=bytes(32))
    commitments = {x.commitment for x in (cs, flipped, other_secret, other_salt)}
    assert len(commitments) == 4


def test_the_ledger_summary_carries_no_secret_name_or_bit() -> None:
    cs = _set()
    summary = repr(cs.ledger_summary())
    assert not any(c.secret in summary or c.name in summary for c in cs.canaries)
    assert cs.ledger_summary()["log2_space"] == pytest.approx(29.897353)
    assert cs.canaries[0].secret not in repr(cs.canaries[0]) and cs.canaries[0].secret not in repr(
        cs
    )


def test_options_are_validated() -> None:
    with pytest.raises(TrainingError, match="--canaries must be at least 2"):
        CanaryOptions(1)
    with pytest.raises(TrainingError, match="--canary-repetitions"):
        CanaryOptions(10, 0)


def _corpus(n: int, subjects: bool) -> Corpus:
    return Corpus(
        manifest=None,
        fields=None,
        texts=[f"t{i}" for i in range(n)],  # type: ignore[arg-type]
        subjects=[f"s{i}" for i in range(n)] if subjects else None,
    )


def test_included_canaries_are_appended_as_units_record_mode_copies_each_a_unit() -> None:
    cs = _set(6, repetitions=2)
    k = len(cs.included)
    split = Split(unit="record", train=[[0], [1]], validation=[[2]], seed=0)
    corpus, out = insert(_corpus(3, False), split, cs)
    assert corpus.texts[3:] == [c.text() for c in cs.included for _ in range(2)]
    assert out.train == [[0], [1], *([i] for i in range(3, 3 + 2 * k))]
    assert out.validation == [[2]]


def test_in_subject_mode_a_canary_is_one_subject_with_its_copies() -> None:
    cs = _set(6, repetitions=3)
    split = Split(unit="subject", train=[[0, 1]], validation=[[2]], seed=0)
    corpus, out = insert(_corpus(3, True), split, cs)
    assert out.train[1:] == [[3 + 3 * j, 4 + 3 * j, 5 + 3 * j] for j in range(len(cs.included))]
    assert corpus.subjects[3:6] == [f"canary:{cs.included[0].index}"] * 3  # type: ignore[index]


def test_canaries_are_an_audit_secret_encrypted_and_bound_to_their_run(tmp_path: Path) -> None:
    from securetune.train.secrets import AUDIT, SECRETS_DIR, RunSecrets

    cs = _set()
    key = new_data_key()
    secrets = RunSecrets("run-1", tmp_path, {AUDIT: key})
    assert load_canaries(secrets) is None
    save_canaries(secrets, cs)
    [stored] = list((tmp_path / SECRETS_DIR).iterdir())
    assert stored.name == f"{CANARY_FILE}.{AUDIT}.stc"  # never plaintext, whatever the policy
    raw = stored.read_bytes()
    assert not any(c.secret.encode() in raw for c in cs.canaries)
    back = load_canaries(secrets)
    assert back is not None and back.commitment == cs.commitment and back.canaries == cs.canaries
    with pytest.raises(
        TrainingError, match=r"failed authentication|cannot be opened|does not open"
    ):
        load_canaries(RunSecrets("run-2", tmp_path, {AUDIT: key}))  # bound to its run
