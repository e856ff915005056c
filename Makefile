# payops: the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast setup services lint typecheck pytest bench clean

## Set up everything and run the demo: sandbox → sync → webhook receiver → dashboard on SQLite.
demo: setup
	$(PY) scripts/demo.py

## Install everything and run the whole test suite (lint, types, SQLite + PostgreSQL, AppTest, browser).
test: setup services lint typecheck pytest

## The inner loop: SQLite only, no browser, no slow tests; needs no PostgreSQL and no Chromium.
test-fast: setup
	PAYOPS_TEST_BACKENDS=sqlite $(VENV)/bin/pytest $(PYTEST_PARALLEL) -m "not slow and not browser"

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## PostgreSQL on 127.0.0.1:5432 and Debian's Chromium for the browser tests.
services:
	bash scripts/ensure-services.sh

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy .

# Both cores; a module's tests stay on one worker, so its module-scoped sandbox or seed is built once.
PYTEST_PARALLEL ?= -n 2 --dist loadscope

pytest:
	$(VENV)/bin/pytest $(PYTEST_PARALLEL)

## Benchmarks (not part of the tests); figures go to docs/benchmarks.md.
bench: setup
	$(PY) -m bench.bench_sandbox_generate
	$(PY) -m bench.bench_sync
	$(PY) -m bench.bench_webhooks
	$(PY) -m bench.bench_analytics
	$(PY) -m bench.bench_pages

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis data/payops.db*
