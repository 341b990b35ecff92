# Developer tasks. CI runs `make test` (through .ci/run) and nothing else.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config.example.toml

.PHONY: install run fmt lint typecheck pytest test test-fast bench clean

$(BIN)/kccsync: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/kccsync

run: install            ## set up and run the daemon on the demo config (simulator channel)
	$(BIN)/kccsync --config $(CONFIG) run

fmt: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest   ## the gate: lint, types, tests

test-fast: install
	$(BIN)/pytest -m "not e2e"

bench: install
	$(BIN)/kccsync bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
