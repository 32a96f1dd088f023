# The README's commands. Each target creates .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	bash examples/medical/demo.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(PY) -m securetune.cli.docs --check docs/cli.md

test: lint
	$(VENV)/bin/pytest -q

DEID_CORPUS ?= ../shared/data/physionet-deid-dev

bench: $(STAMP)
	$(PY) bench/crypto.py --json --size-mb 256 --out bench/results/crypto.json
	$(PY) bench/ledger.py --json --entries 100000 --out bench/results/ledger.json
	$(PY) bench/scrub_workers.py --json --out bench/results/scrub_workers.json
	$(PY) bench/dp_overhead.py --json
	$(PY) bench/general_pii.py --texts 700 --json --out bench/results/general_pii.json
	@if [ -d "$(DEID_CORPUS)" ]; then \
	  $(PY) bench/deid.py --corpus "$(DEID_CORPUS)" --json --out bench/results/deid.json; \
	  $(PY) bench/deid_pipeline.py --corpus "$(DEID_CORPUS)" --json --out bench/results/deid_pipeline.json; \
	  $(PY) bench/anonymizer.py --corpus "$(DEID_CORPUS)" --json --out bench/results/anonymizer.json; \
	else echo "skipping bench/deid.py: no corpus at $(DEID_CORPUS) (set DEID_CORPUS=PATH)"; fi

docs: $(STAMP)
	$(PY) -m securetune.cli.docs > docs/cli.md

clean:
	rm -rf $(VENV) demo-workspace .pytest_cache .ruff_cache
