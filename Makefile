# The commands of README: `make demo` runs the whole product locally, `make test` runs the tests (ruff, mypy --strict
# over src/ and cli/ as configured in pyproject.toml, then every test tier: docs/tests.md), `make deploy ENV=dev`
# deploys (docs/deploy.md). Each installs only what it needs first (scripts/bootstrap.sh): the demo gets no sam,
# no checkov, no ccxt, no Docker. The tiers also run on their own (docs/tests.md): a test's tier follows from what
# it starts (tests/conftest.py).
.PHONY: setup tools demo test lint test-unit test-integration test-e2e test-containers bench deploy

ENV ?= dev

setup:
	@./scripts/bootstrap.sh

tools:
	@./scripts/bootstrap.sh --tools

demo: setup
	.venv/bin/okx-shield demo

# Worker processes for the tiers that wait on the stack (pytest-xdist): the suite waits more than it computes, so
# 3 workers on 2 cores halve its wall time (docs/tests.md). TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 3
PARALLEL = -n $(TEST_WORKERS)

# Every tier but the containers' side by side, then the container tier (pytest -m containers) on its own: its
# tests share one dockerd, one `sam build` and one served stack. OKX_SHIELD_SKIP_CONTAINERS=1 skips it (no
# root/Docker).
test:
	@./scripts/bootstrap.sh --tools --clients --containers
	.venv/bin/ruff check .
	.venv/bin/python -m mypy
	.venv/bin/python -m pytest $(PARALLEL) -m "not containers"
	.venv/bin/python -m pytest -m containers

lint: setup
	.venv/bin/ruff check .
	.venv/bin/python -m mypy

# In this process with nothing listening: logic, models, parsers, AWS adapters on in-memory moto.
test-unit: setup
	.venv/bin/python -m pytest -m unit

# Handlers and clients against the local stack: the simulator, the real proxy programs, moto.
test-integration: setup
	.venv/bin/python -m pytest $(PARALLEL) -m integration

# The outer doors: the CLI as a program, the demo, sam build and the template's checkers (.venv-tools), the
# benchmarks' smoke runs, real OKX client libraries (.venv-clients).
test-e2e:
	@./scripts/bootstrap.sh --tools --clients
	.venv/bin/python -m pytest $(PARALLEL) -m e2e

# Every function in a Lambda container (sam local) against the served local stack: needs root and Docker
# (scripts/bootstrap.sh --containers installs it); OKX_SHIELD_SKIP_CONTAINERS=1 skips it in `make test`.
test-containers:
	@./scripts/bootstrap.sh --tools --containers
	.venv/bin/python -m pytest -m containers

bench: setup
	.venv/bin/python bench/run.py

# An update of a stack deployed once with `sam deploy --guided --config-env $(ENV)` (docs/deploy.md): the stack,
# then the plans' schedules (plans/*.json, checked first; nothing changes if one is invalid).
deploy: tools
	.venv/bin/okx-shield plans check
	.venv-tools/bin/sam build
	.venv-tools/bin/sam deploy --config-env $(ENV)
	.venv/bin/okx-shield plans deploy --real --config-env $(ENV)
