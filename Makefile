# The two commands of README: `make demo` runs the whole product locally, `make test` runs the tests
# (ruff, mypy --strict over src/ and cli/ as configured in pyproject.toml, then every test tier in one pytest run).
# The tiers also run on their own (README "Tests"): a test's tier follows from what it starts (tests/conftest.py).
.PHONY: setup demo test lint test-unit test-integration test-e2e bench

setup:
	@./scripts/bootstrap.sh

demo: setup
	.venv/bin/okx-shield demo

test: setup
	@./scripts/bootstrap.sh --clients
	.venv/bin/ruff check .
	.venv/bin/python -m mypy
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/python -m mypy

# In this process with nothing listening: logic, models, parsers, AWS adapters on in-memory moto.
test-unit: setup
	.venv/bin/python -m pytest -m unit

# Handlers and clients against the local stack: the simulator, the real proxy programs, moto.
test-integration: setup
	.venv/bin/python -m pytest -m integration

# The outer doors: the CLI as a program, the demo, sam build and the template's checkers, the benchmarks'
# smoke runs, real OKX client libraries (.venv-clients).
test-e2e: setup
	@./scripts/bootstrap.sh --clients
	.venv/bin/python -m pytest -m e2e

bench: setup
	.venv/bin/python bench/run.py
