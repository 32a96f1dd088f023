# The README's commands. Each target creates .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# The exact torch the CPU tests and the demo were run with. It is installed first, on its
# own, so that `pip install -e .[dev]` (which only asks for torch>=2.2,<3) keeps it rather
# than resolving a (multi-GB, CUDA) build. Where the default index serves CUDA wheels, add
# TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu".
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: install demo test lint bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_INDEX) '$(TORCH_SPEC)'
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	bash examples/medical/demo.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/lint-imports  # the one-way dependencies of docs/ARCHITECTURE.md
	$(PY) -m securetune.cli.docs --check docs/cli.md

test: lint
	$(VENV)/bin/pytest -q

DEID_CORPUS ?= ../shared/data/physionet-deid-dev

bench: $(STAMP)
	$(PY) bench/crypto.py --json --size-mb 256 --out bench/results/crypto.json
	$(PY) bench/ledger.py --json --entries 100000 --out bench/results/ledger.json
	$(PY) bench/cli_startup.py --json --out bench/results/cli_startup.json
	$(PY) bench/scrub_workers.py --json --out bench/results/scrub_workers.json
	$(PY) bench/dp_overhead.py --json
	$(PY) bench/general_pii.py --texts 700 --json --out bench/results/general_pii.json
	@if [ -d "$(DEID_CORPUS)" ]; then \
	  $(PY) bench/deid.py --corpus "$(DEID_CORPUS)" --json --out bench/results/deid.json; \
	  $(PY) bench/deid_pipeline.py --corpus "$(DEID_CORPUS)" --json --out bench/results/deid_pipeline.json; \
	  $(PY) bench/anonymizer.py --corpus "$(DEID_CORPUS)" --json --out bench/results/anonymizer.json; \
	  $(PY) bench/dedup.py --corpus "$(DEID_CORPUS)" --json --out bench/results/dedup.json; \
	else echo "skipping bench/deid.py: no corpus at $(DEID_CORPUS) (set DEID_CORPUS=PATH)"; fi

docs: $(STAMP)
	$(PY) -m securetune.cli.docs > docs/cli.md

# demo-workspace.* holds the demo's plaintext export, its findings and its witness.
clean:
	rm -rf $(VENV) demo-workspace demo-workspace.* .pytest_cache .ruff_cache .import_linter_cache
