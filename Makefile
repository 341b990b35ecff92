# Developer shortcuts; the real work is in scripts/ (CI runs scripts/test via .ci/run).
.PHONY: install run test test-fast fmt bench clean
install: ; scripts/bootstrap
run: ; scripts/run
test: ; scripts/test
test-fast: ; scripts/bootstrap && .venv/bin/pytest -m "not e2e"
fmt: ; scripts/bootstrap && .venv/bin/ruff format src tests && .venv/bin/ruff check --fix src tests
clean: ; rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
