"""The checks can fail: a memorising non-private run fails them, a DP run at small epsilon
reads near chance, and neither result nor ledger carries text."""

from __future__ import annotations

import json

import pytest

from securetune.audit.ledger import Ledger
from securetune.checks.runner import CheckOptions, check_run
from tests.conftest import MARKER, tampered

pytestmark = pytest.mark.filterwarnings("error:A test tried to use socket")

SMALL = CheckOptions(
    references=200,
    exposure_canaries=4,
    bootstrap=200,
    generations=4,
    generation_tokens=16,
    extraction_prefix=8,
    extraction_suffix=6,
)


@pytest.fixture(scope="module")
def results(trained):  # type: ignore[no-untyped-def]
    return {
        "nodp": check_run(trained.ws, trained.nodp, SMALL),
        "dp": check_run(trained.ws, trained.dp, SMALL),
    }


def test_a_memorising_non_private_run_fails_the_checks(results) -> None:  # type: ignore[no-untyped-def]
    r = results["nodp"]
    assert r["dp"] is False
    assert r["exposure_median_included"] > 5 > r["exposure_median_excluded"]
    assert r["mia_auc"] > 0.75 and r["mia_auc_ci"][0] > 0.5
    assert r["epsilon_lower_bound"] > 0.5
    assert r["epsilon_lower_bound"] <= r["epsilon_certifiable_max"]
    assert r["passed"] is False
    assert {g["name"]: g["passed"] for g in r["gates"]}["mia_auc"] is False


def test_a_dp_run_at_small_epsilon_reads_near_chance(results, trained) -> None:  # type: ignore[no-untyped-def]
    r = results["dp"]
    assert r["dp"] is True and r["epsilon"] == pytest.approx(trained.dp_epsilon)
    lo, hi = r["mia_auc_ci"]
    assert lo < 0.5 < hi
    assert r["epsilon_lower_bound"] <= r["epsilon"]
    assert r["exposure_median_included"] < 5
    gates = {g["name"]: g for g in r["gates"]}
    assert gates["epsilon_lower_bound"]["passed"] is True
    # record mode, 3 copies of each canary: compared with the group epsilon 3 * epsilon
    assert gates["epsilon_lower_bound"]["limit"] == pytest.approx(3 * trained.dp_epsilon)


def test_results_and_ledger_hold_numbers_never_text(results, trained) -> None:  # type: ignore[no-untyped-def]
    events = [e for e in Ledger.open(trained.ws.ledger_dir).entries() if e.event == "check"]
    assert [e.payload["run_id"] for e in events][-2:] == [trained.nodp, trained.dp]
    for e in events:
        assert "details" not in e.payload and len(e.payload["result_sha256"]) == 64
    from securetune.train.canaries import load_canaries
    from securetune.train.secrets import RunSecrets

    run_secrets = RunSecrets.open(trained.ws, trained.nodp, trained.ws.runs_dir / trained.nodp)
    secrets = [c.secret for c in load_canaries(run_secrets).canaries]
    ledger_bytes = b"".join(p.read_bytes() for p in trained.ws.ledger_dir.rglob("*") if p.is_file())
    for r in results.values():
        blob = json.dumps(r).encode()
        assert MARKER.encode() not in blob
        assert not any(s.encode() in blob or s.encode() in ledger_bytes for s in secrets)
    start = next(
        e
        for e in Ledger.open(trained.ws.ledger_dir).entries()
        if e.event == "train.start" and e.payload["run_id"] == trained.nodp
    )
    assert set(start.payload["canaries"]) == {
        "count",
        "repetitions",
        "template",
        "secret_space",
        "log2_space",
        "inclusion_probability",
        "commitment_sha256",
        "commitment_scheme",
    }
    assert start.payload["canaries"]["count"] == 16


def _cli(trained, *args: str):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from securetune.cli.main import cli

    env = {
        "SECURETUNE_WORKSPACE": str(trained.root),
        "SECURETUNE_WITNESS_DIR": str(trained.witness),
    }
    return CliRunner().invoke(cli, ["check", *args], env=env, catch_exceptions=False)


def test_cli_json_prints_the_headline_numbers_and_exits_1_on_a_failed_gate(trained) -> None:  # type: ignore[no-untyped-def]
    result = _cli(trained, trained.nodp, "--only", "mia,epsilon", "--bootstrap", "100", "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    for key in (
        "mia_auc",
        "mia_auc_ci",
        "tpr_at_1pct_fpr",
        "epsilon_lower_bound",
        "epsilon_certifiable_max",
        "exposure_mean",
        "extraction_rate",
        "pii_regurgitated",
        "gates",
    ):
        assert key in out, key
    assert out["exposure_mean"] is None and set(out["details"]) == {"mia", "epsilon"}
    gates = {g["name"]: g["passed"] for g in out["gates"]}
    assert gates == {
        "mia_auc": False,
        "canaries_extracted": None,
        "pii_regurgitated": None,
        "epsilon_lower_bound": None,
    }
    assert result.stderr.startswith(
        f"error: check of run {trained.nodp} failed 1 gate(s): mia_auc "
    )


def test_a_run_without_canaries_runs_what_it_can_and_says_what_it_could_not(trained) -> None:  # type: ignore[no-untyped-def]
    result = _cli(trained, trained.plain, "--only", "exposure,epsilon,mia", "--bootstrap", "50")
    assert (
        "note: exposure not measured: the run has no canaries (train --canaries M)" in result.stderr
    )
    assert "note: epsilon not measured: the run has no canaries" in result.stderr
    assert (
        "membership:  AUC" in result.stdout and "gates (the default check gates):" in result.stdout
    )


def test_unknown_checks_and_runs_are_one_line_errors(trained) -> None:  # type: ignore[no-untyped-def]
    result = _cli(trained, trained.nodp, "--only", "mia,nope")
    assert result.exit_code == 1
    assert (
        result.stderr
        == "error: unknown check nope; known: exposure, mia, epsilon, extraction, pii\n"
    )
    result = _cli(trained, "20990101-000000-deadbeef")
    assert result.stderr == "error: no training run 20990101-000000-deadbeef in the ledger\n"


def test_a_modified_adapter_is_refused(trained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    weights = trained.ws.runs_dir / trained.plain / "adapter" / "adapter_model.safetensors"
    with tampered(weights):
        result = _cli(trained, trained.plain)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: run {trained.plain}: the adapter does not match the hash in the ledger "
        "(modified or replaced)\n"
    )


def test_a_check_limited_to_one_measure_ledgers_the_others_as_not_measured(trained) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    r = check_run(trained.ws, trained.dp, replace(SMALL, only=("epsilon",)))
    assert r["mia_auc"] is None and "mia_attack" not in r
    assert {g["name"]: g["passed"] for g in r["gates"]}["mia_auc"] is None
    (event,) = [
        e
        for e in Ledger.open(trained.ws.ledger_dir).entries()
        if e.event == "check" and e.payload["check_id"] == r["check_id"]
    ]
    assert event.payload["skipped"] == {} and event.payload["mia_auc"] is None
