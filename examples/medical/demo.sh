#!/usr/bin/env bash
# The end-to-end walk-through on built-in defaults: `make demo` runs this.
# Everything happens in ./demo-workspace (recreated each run) and nothing touches the network.
# DEMO_MODEL=tiny makes it faster (a random model: nothing is learned, the checks read chance).
set -euo pipefail
cd "$(dirname "$0")/../.."
ST="${ST:-.venv/bin/securetune}"
PY="${PY:-.venv/bin/python}"
MODEL="${DEMO_MODEL:-minilm}"
case "$MODEL" in minilm) TARGETS="query,value,dense" ;; *) TARGETS="q_proj,v_proj" ;; esac
WS="demo-workspace"
export SECURETUNE_WORKSPACE="$WS"
# Keep the demo's witness (the copy of the last signed checkpoint) beside the demo, not in ~.
export SECURETUNE_WITNESS_DIR="$WS.witness"
rm -rf "$WS" "$WS".*
started=$(date +%s)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Create a workspace (keys 0600, datasets, runs, signed ledger)"
"$ST" init

step "2. Encrypt the synthetic clinical notes as they are (marked UNSCRUBBED)"
"$ST" data add examples/medical/notes.jsonl --name notes-raw
"$ST" data ls
"$ST" data verify notes-raw

step "3. No plaintext on disk: search the workspace for a name from the notes"
if grep -rq "Okafor" "$WS"; then echo "FAIL: plaintext found in the workspace"; exit 1; fi
echo "no plaintext marker found in $WS"

step "4. Scrub PHI under HIPAA Safe Harbor into a new encrypted dataset"
"$ST" scrub examples/medical/notes.jsonl --policy hipaa-safe-harbor --name notes \
  --id-field id --subject-field patient_id --findings "$WS.findings.jsonl"
echo "first findings (offsets and types only, never the text):"
head -n 2 "$WS.findings.jsonl"
"$ST" data export notes --out "$WS.export.jsonl" >/dev/null
if grep -q "Okafor" "$WS.export.jsonl"; then echo "FAIL: a planted name survived scrubbing"; exit 1; fi
PYTHONPATH=examples/medical "$PY" examples/medical/score_demo.py "$WS.findings.jsonl" > "$WS.scrub-score.json"
echo "scrubber recall on the synthetic notes' ground truth: $("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['recall'])" "$WS.scrub-score.json")"

step "5. Plan, then fine-tune $MODEL with DP-SGD LoRA at epsilon 8, planting 64 audit canaries"
# The synthetic notes come from a handful of templates, so once scrubbed most of them are
# near-copies of each other (scrub printed the count). Training's default keeps near-copies
# in one privacy unit (docs/DEDUP.md), which here would merge most patients into a few units;
# real notes have few near-copies (3 groups in the 1,353 development notes). The demo trains
# with --dedup off, which plan and train list among their settings.
"$ST" plan --data notes --model "$MODEL" --lora-targets "$TARGETS" --epsilon 8 --epochs 2 --dedup off
"$ST" train --data notes --model "$MODEL" --lora-targets "$TARGETS" --epsilon 8 --epochs 2 \
  --dedup off --canaries 64 --json > "$WS.train.json"
RUN="$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['run_id'])" "$WS.train.json")"
echo "trained run $RUN"

step "6. Measure memorization: canary exposure, membership inference, one-run epsilon bound, extraction, PII"
"$ST" check "$RUN" || echo "(check exited non-zero: a gate failed; the report shows which)"

step "7. Utility: the DP adapter against the base model on the held-out patients, and what it forgot"
"$ST" eval "$RUN" --bootstrap 500

if [ -f examples/medical/summaries.jsonl ]; then
  step "8. A task: admission note -> one-sentence summary (prompt/completion), private and not"
  # A non-private baseline shows what privacy costs. The built-in policies forbid --no-dp, so
  # this dataset is scrubbed under a workspace copy of hipaa-safe-harbor that allows it and
  # drops the lifetime cap (a --no-dp run spends an unbounded epsilon, which any cap refuses).
  mkdir -p "$WS/policies"
  sed -e 's/^name: hipaa-safe-harbor$/name: hipaa-with-baseline/' \
      -e 's/^  allow_no_dp: false$/  allow_no_dp: true/' \
      -e 's/^  lifetime_epsilon: 20$/  lifetime_epsilon: null/' \
      policies/hipaa-safe-harbor.yaml > "$WS/policies/hipaa-with-baseline.yaml"
  "$ST" scrub examples/medical/summaries.jsonl --policy hipaa-with-baseline --name summaries \
    --id-field id --subject-field patient_id --text-field prompt --text-field completion
  # One epoch at 64 tokens keeps the demo short; a long note loses its start, never its
  # summary (prompt/completion records are truncated on the prompt side).
  TASK=(--data summaries --model "$MODEL" --lora-targets "$TARGETS" --epochs "${TASK_EPOCHS:-1}"
        --max-length 64 --seed 7 --dedup off --json)
  run_id() { "$PY" -c "import json,sys; print(json.load(sys.stdin)['run_id'])"; }
  DP_TASK="$("$ST" train "${TASK[@]}" --epsilon 8 | run_id)"
  NODP_TASK="$("$ST" train "${TASK[@]}" --no-dp | run_id)"
  echo "trained $DP_TASK (DP, epsilon 8) and $NODP_TASK (--no-dp) on the same patients"
  # The DP run's eval finds the --no-dp run in the ledger and scores it beside the base model
  # (generations included); the --no-dp run's own eval adds its losses alone, for its report.
  "$ST" eval "$DP_TASK" --samples 8 --bootstrap 500
  "$ST" eval "$NODP_TASK" --samples 0 --bootstrap 500
fi

step "9. Rotate the workspace key (re-wraps data keys; data is not re-encrypted)"
"$ST" keys rotate

step "10. Verify the signed audit ledger"
"$ST" audit verify

step "11. The compliance report: HTML and PDF from the same facts, JSON for machines"
"$ST" audit report "$RUN" --format html --out "$WS.report.html"
"$ST" audit report "$RUN" --format pdf --out "$WS.report.pdf"
"$ST" audit report "$RUN" --format json --out "$WS.report.json"

"$PY" - "$WS.report.json" "$WS.scrub-score.json" "$(( $(date +%s) - started ))" <<'PY'
import json, sys
report, score = (json.load(open(p)) for p in sys.argv[1:3])
g, v = report["guarantee"], report["verdict"]["controls"]
print(f"""
Done in {sys.argv[3]} s. The report is in demo-workspace.report.html (and .pdf, .json).
  privacy:  epsilon {g['epsilon']:.2f} spent (delta {g['delta']:.0e}, per patient); the data's lifetime budget: {g['lifetime_epsilon_spent']:.2f} of {g['lifetime_epsilon_cap']:g}
  controls: {v['passed']} passed, {v['failed']} failed, {v['not_run']} not run (policy {report['verdict']['policy']})
  scrubber: recall {score['recall']:.3f} on the {score['phrases']} PHI phrases the synthetic notes' generator planted""")
u = report.get("utility") or {}
if u.get("ran"):
    h, f = u["heldout"], u["forgetting"]
    print(f"  utility:  held-out perplexity {h['base']['perplexity']:.1f} (base) -> {h['adapter']['perplexity']:.1f} (DP adapter); "
          f"general-English probe x{f['perplexity_ratio']:.3f}")
PY
