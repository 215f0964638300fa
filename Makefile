# payrecon: `make demo` runs the pipeline on sample data; `make test` runs lint and every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-deps lint audit unit integration faults format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Installs pinned by constraints.txt, so every machine (and CI) gets the same versions.
$(VENV)/.runtime: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/payrecon demo

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks scripts migrations
	$(BIN)/ruff format --check src tests benchmarks scripts migrations
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/audit_dependencies.py

# Known vulnerabilities in the pins of constraints.txt (pip-audit); part of lint.
audit: $(VENV)/.dev
	$(BIN)/python scripts/audit_dependencies.py

# The tests start what is not running (tests/services): PostgreSQL, Redis and RabbitMQ from the
# system's binaries, Chromium for browser tests.
test: lint
	$(BIN)/pytest

# The Debian packages those come from: as root, installs the missing ones with apt-get (CI runs
# this); otherwise lists them and the apt-get line, and fails if any is missing.
test-deps: $(VENV)/.dev
	$(BIN)/python -m tests.services install

unit: $(VENV)/.dev
	$(BIN)/pytest tests/unit

integration: $(VENV)/.dev
	$(BIN)/pytest tests/integration tests/e2e

# The fault suite at full size: every fault on both brokers, 20,000 lines; prints the table of
# docs/reliability.md (figures in var/faults/results.json).
faults: $(VENV)/.dev
	PAYRECON_FAULT_LINES=20000 PAYRECON_FAULT_FULL=1 $(BIN)/pytest tests/e2e/test_faults.py
	$(BIN)/python -m tests.faults.report

format: $(VENV)/.dev
	$(BIN)/ruff check --fix src tests benchmarks scripts migrations
	$(BIN)/ruff format src tests benchmarks scripts migrations

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache payrecon.db* var
