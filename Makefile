# Two set-up commands: `make review` and `make test`. Both create .venv with the
# machine's python3 when it is missing and install the project into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 4

.PHONY: review test update resources lint bench clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

review: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

update: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/livingreview search pubmed --since last
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete

resources: $(STAMP)
	$(BIN)/python tools/build_search_snapshot.py --evidence ../shared/evidence --out resources
	$(BIN)/python tools/build_screening_tables.py --evidence ../shared/evidence --out resources
	$(BIN)/python tools/build_extraction_tables.py --evidence ../shared/evidence --out resources

# Re-pin requirements.lock: the newest versions pyproject.toml allows, resolved in a fresh virtualenv.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet '.[test,cluster]'
	{ sed -n '/^#/p' requirements.lock; .lock-venv/bin/pip freeze --exclude-editable --exclude livingreview; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv build

lint: $(STAMP)
	$(BIN)/snakemake --lint

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b; done

# benchmarks/<stage>/ folders are written by the rules' benchmark: directives; the scripts benchmarks/*.py stay.
clean:
	rm -rf results logs .snakemake benchmarks/*/
