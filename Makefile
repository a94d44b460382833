# The two commands of README: `make demo` runs the whole product locally, `make test` runs the tests
# (ruff, mypy --strict over src/ and cli/ as configured in pyproject.toml, then pytest).
.PHONY: setup demo test lint bench

setup:
	@./scripts/bootstrap.sh

demo: setup
	.venv/bin/okx-shield demo

test: setup
	@./scripts/bootstrap.sh --clients
	.venv/bin/ruff check .
	.venv/bin/python -m mypy
	.venv/bin/python -m pytest

bench: setup
	.venv/bin/python bench/run.py
