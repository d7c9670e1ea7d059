# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint services browsers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Re-install when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed-run

## make run: install into .venv and start `shiplane serve` on ./shiplane.db (SQLite)
run: $(VENV)/.installed-run
	$(BIN)/shiplane serve

## make test: install the test extras, check the import contracts and lint, run every test on SQLite and PostgreSQL
test: $(VENV)/.installed-test services lint
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

## lint: import contracts (no cycles, layers; ARCHITECTURE.md), ruff, and vulture for dead code
lint: $(VENV)/.installed-test
	$(BIN)/lint-imports
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/vulture

## services: start PostgreSQL (and install test-only system packages) if needed
services:
	bash scripts/test-services.sh
	bash scripts/prometheus.sh
	bash scripts/haproxy.sh
	bash scripts/oidc-provider.sh
	bash scripts/container-tools.sh
	bash scripts/axe-core.sh

clean:
	rm -rf $(VENV) shiplane.db shiplane.db-wal shiplane.db-shm .pytest_cache
