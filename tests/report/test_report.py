"""`securetune audit report`: built only from the verified ledger, in three formats that agree,
with failed controls shown as failed and never a byte of record text."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from securetune import report as reporting
from securetune.audit.ledger import Ledger
from securetune.workspace import Secrets, Workspace
from tests.conftest import MARKER

pytestmark = pytest.mark.filterwarnings("error:A test tried to use socket")


def _render(run, tmp_path: Path, run_id: str | None, fmt: str) -> tuple[Any, Path]:
    out = tmp_path / f"report.{fmt}"
    args = [
        "audit",
        "report",
        *([run_id] if run_id else []),
        "--format",
        fmt,
        "--out",
        str(out),
        "--force",
    ]
    return run(*args), out


def test_the_three_formats_state_the_same_signed_facts(run, trained, tmp_path: Path) -> None:
    result, out = _render(run, tmp_path, trained["run_id"], "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(out.read_text())
    ledger = {e.event: e.payload for e in Ledger.open(tmp_path / "ws" / "ledger").entries()}

    assert doc["ledger"]["verified"] is True
    g = doc["guarantee"]
    assert g["epsilon"] == ledger["train.finish"]["epsilon_spent"] == trained["epsilon_spent"]
    assert g["delta"] == ledger["train.start"]["delta"]
    assert (g["privacy_unit"], g["neighbouring_relation"]) == ("subject", "add-remove")
    assert g["one_over_n"] == pytest.approx(1 / ledger["train.start"]["train_units"])
    assert doc["identity"]["adapter_sha256"] == ledger["train.finish"]["adapter_sha256"]
    assert doc["dp_statement"]["tier_1"]["privacy_loss"] == {
        "epsilon": g["epsilon"],
        "delta": g["delta"],
    }
    statuses = {c["id"]: c["status"] for c in doc["controls"]}
    assert statuses == {
        "ledger-integrity": "passed",
        "data-scrubbed": "passed",
        "dp-required": "passed",
        "epsilon-per-run": "passed",
        "epsilon-lifetime": "passed",
        "delta": "passed",
        "adapter-encrypted": "passed",
        "privacy-unit": "passed",
        "delta-lifetime": "passed",
        "no-validation-stopping": "passed",
        "memorization-check": "not_run",
    }
    assert doc["verdict"]["controls"] == {"passed": 10, "failed": 0, "not_run": 1}
    scrub_seq = next(
        e.seq for e in Ledger.open(tmp_path / "ws" / "ledger").entries() if e.event == "scrub"
    )
    assert next(ev["seq"] for ev in doc["controls"][1]["evidence"]) == scrub_seq
    assert doc["deidentification"]["safe_harbor"][0]["found"] >= 24  # every note names a doctor

    result, html_out = _render(run, tmp_path, trained["run_id"], "html")
    assert result.exit_code == 0, result.stderr
    html = html_out.read_text()
    assert "Ledger verified" in html and "Some controls have no evidence yet" in html
    # the scrubber's measured recall, on notes and on general text, held-out figures named
    assert "Scrubber recall measured on annotated clinical notes" in html
    assert "Scrubber recall measured on general PII text" in html
    assert "Held out: " in html and "presidio-evaluator sentences" in html
    assert f"{g['epsilon']:.3g}" in html
    assert "<svg" in html and "<script" not in html
    assert not re.search(
        r"(src|href)=[\"']?(https?:|//)|url\((?!#)", html
    )  # self-contained: nothing to fetch

    result, pdf_out = _render(run, tmp_path, trained["run_id"], "pdf")
    assert result.exit_code == 0, result.stderr
    assert pdf_out.read_bytes().startswith(b"%PDF-")

    for path in (out, html_out, pdf_out):
        data = path.read_bytes()
        for planted in (MARKER, "Okafor", "617-555-01"):
            assert planted.encode() not in data, f"{planted!r} leaked into {path.name}"


def test_a_failed_control_is_shown_as_failed(run, trained, tmp_path: Path) -> None:
    # A second run over the dataset's lifetime cap cannot be trained (train refuses it), so
    # the evidence of an over-spent budget is written directly: the report must not trust
    # that train enforced the policy, it re-checks the ledger.
    ws = Workspace.open(
        tmp_path / "ws", secrets=Secrets(environ={}), witness_dir=tmp_path / "witness"
    )
    entries = list(Ledger.open(ws.ledger_dir).entries())
    start = next(e.payload for e in entries if e.event == "train.start")
    finish = next(e.payload for e in entries if e.event == "train.finish")
    with ws.locked():
        ws.record("train.start", {**start, "run_id": "forged-run", "epsilon_target": 30})
        ws.record(
            "train.finish",
            {**finish, "run_id": "forged-run", "epsilon_spent": 29.5, "adapter_encrypted": False},
        )
    result, out = _render(run, tmp_path, "forged-run", "json")
    assert result.exit_code == 0
    doc = json.loads(out.read_text())
    statuses = {c["id"]: c["status"] for c in doc["controls"]}
    assert statuses["epsilon-per-run"] == "failed"  # 29.5 > max_epsilon 10
    assert statuses["epsilon-lifetime"] == "failed"  # 8 + 29.5 > 20
    assert statuses["adapter-encrypted"] == "failed"
    assert doc["verdict"]["overall"] == "controls failed"
    assert {h["id"] for h in doc["hazards"]} >= {
        "large-epsilon",
        "plaintext-adapter",
        "tuning-runs",
    }
    result, html_out = _render(run, tmp_path, "forged-run", "html")
    assert 'class="st-failed"' in html_out.read_text()


def test_a_tampered_ledger_is_the_first_line_and_nothing_else_is_stated(
    run, trained, tmp_path: Path
) -> None:
    log = tmp_path / "ws" / "ledger" / "log.jsonl"
    log.write_bytes(log.read_bytes().replace(b'"records":40', b'"records":41', 1))
    assert b'"records":41' in log.read_bytes()
    result, out = _render(run, tmp_path, trained["run_id"], "html")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(
        "error: the ledger did not verify: ledger entry 1"
    )
    html = out.read_text()
    body = html[html.index("<body>") :]
    first = body.split("\n")[1]
    assert 'class="banner fail"' in first and "LEDGER VERIFICATION FAILED" in first
    assert trained["adapter_sha256"] not in html and "Safe Harbor categories" not in html


def test_the_workspace_report_lists_datasets_runs_and_budget(run, trained, tmp_path: Path) -> None:
    result = run("audit", "report", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["scope"] == "workspace"
    [ds] = doc["datasets"]
    assert (ds["name"], ds["scrubbed"], ds["runs"]) == ("notes", True, 1)
    assert ds["epsilon_spent"] == trained["epsilon_spent"]
    assert [r["run_id"] for r in doc["runs"]] == [trained["run_id"]]


def test_unknown_runs_and_unsafe_outputs_are_one_line_errors(run, trained, tmp_path: Path) -> None:
    result = run("audit", "report", "no-such-run", "--format", "json")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: no training run 'no-such-run' in the ledger; known runs:"
    )
    inside = tmp_path / "ws" / "report.html"
    result = run("audit", "report", trained["run_id"], "--out", str(inside))
    assert result.exit_code == 1 and "inside" in result.stderr and not inside.exists()
    existing = tmp_path / "exists.html"
    existing.write_text("keep me")
    result = run("audit", "report", trained["run_id"], "--out", str(existing))
    assert result.exit_code == 1 and "--force" in result.stderr
    assert existing.read_text() == "keep me"


def test_processing_record_fields_come_from_the_workspace_file(
    run, trained, tmp_path: Path
) -> None:
    (tmp_path / "ws" / "processing.yaml").write_text(
        "controller: St Example Hospital, dpo@example.org\npurposes: [discharge summaries]\n"
    )
    _result, out = _render(run, tmp_path, trained["run_id"], "json")
    fields = {
        f["key"]: f["value"] for f in json.loads(out.read_text())["processing_record"]["fields"]
    }
    assert fields["controller"] == "St Example Hospital, dpo@example.org"
    assert fields["purposes"] == "discharge summaries"
    assert fields["retention"] is None


def test_build_is_a_pure_read_of_the_ledger(trained, tmp_path: Path) -> None:
    ws = Workspace.open(
        tmp_path / "ws", secrets=Secrets(environ={}), witness_dir=tmp_path / "witness"
    )
    before = (ws.ledger_dir / "log.jsonl").read_bytes()
    doc = reporting.build(ws, trained["run_id"]).doc
    assert doc["identity"]["run_id"] == trained["run_id"]
    assert (ws.ledger_dir / "log.jsonl").read_bytes() == before


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OVERFLOW_PROBE = """
<script>
window.addEventListener('load', () => {
  const limit = document.documentElement.clientWidth;
  const over = [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > limit + 1)
    .map(el => el.tagName + '.' + el.className);
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({over: over.slice(0, 5), text: document.body.innerText});
  document.body.appendChild(out);
});
</script>
"""


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_a_browser_shows_page_one_and_nothing_overflows(run, trained, tmp_path: Path) -> None:
    _, out = _render(run, tmp_path, trained["run_id"], "html")
    probe = tmp_path / "probe.html"
    probe.write_text(out.read_text().replace("</body>", OVERFLOW_PROBE + "</body>"))
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chrome'}",
            "--window-size=794,1123",
            "--virtual-time-budget=3000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    import html as htmllib

    found = json.loads(htmllib.unescape(dom.split('<pre id="probe">')[1].split("</pre>")[0]))
    assert found["over"] == []
    visible = found["text"]
    for heading in (
        "Verdict",
        "The privacy guarantee",
        "Identity and integrity",
        "Privacy hazards",
        "Empirical memorization tests",
        "De-identification",
        "Controls",
        "Glossary",
    ):
        assert heading.lower() in visible.lower()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
def test_the_pdf_turns_into_non_empty_pages(run, trained, tmp_path: Path) -> None:
    _, pdf = _render(run, tmp_path, trained["run_id"], "pdf")
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2
    assert all(p.stat().st_size > 2000 for p in pages)


def test_the_guarantee_states_the_runs_own_unit_wording_and_largest_unit(
    trained, tmp_path: Path
) -> None:
    ws = Workspace.open(
        tmp_path / "ws", secrets=Secrets(environ={}), witness_dir=tmp_path / "witness"
    )
    start = next(
        e.payload for e in Ledger.open(ws.ledger_dir).entries() if e.event == "train.start"
    )
    built = reporting.build(ws, trained["run_id"])
    g = built.doc["guarantee"]
    # 40 notes of 20 patients, --dedup off: nothing merged, two notes per patient
    assert g["protects"] == start["protects"] == "each subject (patient_id), one added or removed"
    assert g["protects"] == trained["protects"]
    assert (g["max_records_per_unit"], start["largest_unit_records"]) == (2, 2)
    assert (g["dedup"], g["merged_groups"], g["merged_units"]) == ("off", None, None)
    assert built.doc["dp_statement"]["tier_1"]["unit_description"] == g["protects"]
    from securetune.report.output import to_html

    html = to_html(built.doc)
    assert "<th>Largest unit</th><td>2 records</td>" in html and "Merged units" not in html
