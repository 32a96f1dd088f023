"""Policies load strictly: every mistake is an error naming the field, never a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from securetune.errors import PolicyError
from securetune.policy import builtin_dirs, list_policies, load_policy, parse_policy

MINIMAL = {"version": 1, "name": "mini", "detection": {"entities": ["PERSON", "DATE_TIME"]}}


def test_builtin_policies_load_and_cover_all_18_safe_harbor_categories() -> None:
    assert {"hipaa-safe-harbor", "gdpr-pseudonymisation"} <= set(list_policies())
    hipaa = load_policy("hipaa-safe-harbor")
    assert hipaa.safe_harbor is not None and sorted(c.id for c in hipaa.safe_harbor) == list(
        range(1, 19)
    )
    assert hipaa.operator_for("DATE_TIME") == "keep_year"
    assert hipaa.operator_for("PERSON") == "placeholder"
    assert hipaa.training.allow_no_dp is False
    gdpr = load_policy("gdpr-pseudonymisation")
    assert gdpr.operator_for("PERSON") == "pseudonym" and gdpr.reidentification.keep_mapping


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    doc = {**MINIMAL, "detection": {"entities": ["PERSON"], "score_treshold": 0.9}}
    with pytest.raises(
        PolicyError, match=r"policy x: detection\.score_treshold: Extra inputs are not permitted"
    ):
        parse_policy(doc, source="x")


def test_unknown_operator_is_an_error() -> None:
    doc = {**MINIMAL, "transforms": {"entities": {"PERSON": "scramble"}}}
    with pytest.raises(PolicyError, match=r"transforms\.entities\.PERSON"):
        parse_policy(doc, source="x")


def test_transform_for_an_entity_not_detected_is_an_error() -> None:
    doc = {**MINIMAL, "transforms": {"entities": {"ZIP_CODE": "zip3"}}}
    with pytest.raises(PolicyError, match="names entities that are not detected: ZIP_CODE"):
        parse_policy(doc, source="x")


@pytest.mark.parametrize(
    ("entities", "operator"),
    [
        ("DATE_TIME", "age_90_plus"),  # would keep the date around the number it replaced
        ("US_SSN", "zip3"),  # would keep an SSN's first three digits
        ("PERSON", "keep_year"),
        ("AGE_OVER_89", "date_shift"),
        ("ZIP_CODE", "age_90_plus"),
    ],
)
def test_a_type_specific_operator_on_another_entity_is_an_error(
    entities: str, operator: str
) -> None:
    doc = {
        **MINIMAL,
        "detection": {"entities": [entities]},
        "transforms": {"entities": {entities: operator}},
    }
    with pytest.raises(
        PolicyError, match=rf"transforms\.entities\.{entities}: {operator} applies only to"
    ):
        parse_policy(doc, source="x")


@pytest.mark.parametrize("operator", ["zip3", "age_90_plus", "keep_year", "date_shift"])
def test_the_default_operator_must_suit_every_entity(operator: str) -> None:
    doc = {**MINIMAL, "transforms": {"default": operator}}
    with pytest.raises(
        PolicyError, match=rf"transforms\.default: {operator} applies to one entity type"
    ):
        parse_policy(doc, source="x")


@pytest.mark.parametrize("operator", ["placeholder", "redact", "pseudonym", "keep"])
def test_type_agnostic_operators_may_be_the_default(operator: str) -> None:
    doc = {**MINIMAL, "transforms": {"default": operator, "entities": {"DATE_TIME": "date_shift"}}}
    assert parse_policy(doc, source="x").operator_for("PERSON") == operator


def test_builtin_policies_cap_delta() -> None:
    for name in ("hipaa-safe-harbor", "gdpr-pseudonymisation"):
        assert load_policy(name).training.max_delta == 1.0e-5, name


def test_safe_harbor_category_without_recognizers_needs_a_reason() -> None:
    hipaa = yaml.safe_load((builtin_dirs()[0] / "hipaa-safe-harbor.yaml").read_text())
    hipaa["safe_harbor"][15].pop("note")
    with pytest.raises(PolicyError, match=r"category 16 .* needs entities or a note"):
        parse_policy(hipaa, source="x")
    hipaa["safe_harbor"].pop()
    with pytest.raises(PolicyError):
        parse_policy(hipaa, source="x")


def test_the_policy_hash_ignores_formatting_but_not_content(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text(yaml.safe_dump(MINIMAL))
    b = tmp_path / "b.yaml"
    b.write_text("# a comment\n" + yaml.safe_dump(MINIMAL, default_flow_style=True))
    assert load_policy(a).sha256 == load_policy(b).sha256
    changed = {
        **MINIMAL,
        "detection": {"entities": ["PERSON", "DATE_TIME"], "score_threshold": 0.6},
    }
    assert parse_policy(changed, source="c").sha256 != load_policy(a).sha256


def test_a_policy_survives_a_dump_and_reload(tmp_path: Path) -> None:
    for name in list_policies():
        policy = load_policy(name)
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(policy.model_dump(mode="json")))
        assert load_policy(path) == policy


def test_unknown_policy_name_lists_the_known_ones() -> None:
    with pytest.raises(
        PolicyError, match=r"unknown policy 'hipa'; known: gdpr-pseudonymisation, hipaa-safe-harbor"
    ):
        load_policy("hipa")


def test_workspace_policies_dir_is_searched_first(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text(yaml.safe_dump({**MINIMAL, "name": "local"}))
    assert load_policy("local", search=[tmp_path]).name == "local"
