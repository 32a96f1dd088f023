#!/usr/bin/env bash
# The end-to-end walk-through on built-in defaults: `make demo` runs this.
# Everything happens in ./demo-workspace (recreated each run) and nothing touches the network.
set -euo pipefail
cd "$(dirname "$0")/../.."
ST="${ST:-.venv/bin/securetune}"
WS="demo-workspace"
export SECURETUNE_WORKSPACE="$WS"
# Keep the demo's witness (the copy of the last signed checkpoint) beside the demo, not in ~.
export SECURETUNE_WITNESS_DIR="$WS.witness"
rm -rf "$WS" "$WS".*

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Create a workspace (keys 0600, datasets, runs, signed ledger)"
"$ST" init

step "2. Encrypt the synthetic clinical notes as they are (marked UNSCRUBBED)"
"$ST" data add examples/medical/notes.jsonl --name notes-raw
"$ST" data ls
"$ST" data show notes-raw

step "3. Verify the dataset: every chunk authenticated against the manifest"
"$ST" data verify notes-raw

step "4. No plaintext on disk: search the workspace for a name from the notes"
if grep -rq "Okafor" "$WS"; then echo "FAIL: plaintext found in the workspace"; exit 1; fi
echo "no plaintext marker found in $WS"

step "5. Scrub PHI under HIPAA Safe Harbor into a new encrypted dataset"
"$ST" scrub examples/medical/notes.jsonl --policy hipaa-safe-harbor --name notes \
  --id-field id --subject-field patient_id --findings "$WS.findings.jsonl"
echo "first findings (offsets and types only, never the text):"
head -n 3 "$WS.findings.jsonl"
echo "a scrubbed record (exported on purpose; the export is ledgered):"
"$ST" data export notes --out "$WS.export.jsonl" >/dev/null
head -n 1 "$WS.export.jsonl"
if grep -q "Okafor" "$WS.export.jsonl"; then echo "FAIL: a planted name survived scrubbing"; exit 1; fi

step "6. Plan, then fine-tune the built-in tiny model with DP-SGD LoRA at epsilon 8 (64 audit canaries)"
"$ST" plan --data notes --model tiny --epsilon 8
"$ST" train --data notes --model tiny --epsilon 8 --seed 7 --canaries 64
RUN="$(ls -t "$WS/runs" | head -n 1)"

step "6b. Measure memorisation: exposure, membership inference, one-run epsilon bound, extraction, PII"
"$ST" check "$RUN" || echo "(check exited non-zero: a gate failed, see above)"

step "7. Rotate the workspace key (re-wraps data keys; data is not re-encrypted)"
"$ST" keys rotate
"$ST" data verify notes-raw

step "8. Verify the signed audit ledger"
"$ST" audit verify
"$ST" audit verify --json

cat <<'TXT'

Done. Coming next in securetune (tracked as issues):
  securetune report  for compliance review
TXT
