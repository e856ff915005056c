# payops: the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BYTECODE := $(VENV)/.bytecode

.PHONY: demo test test-fast setup lock services lint typecheck pytest bench clean

## Set up everything and run the demo: sandbox → sync → webhook receiver → dashboard on SQLite.
demo: setup
	$(PY) scripts/demo.py

## Install everything and run the whole test suite (lint, types, SQLite + PostgreSQL, AppTest, browser).
test: setup services lint typecheck pytest

## The inner loop: SQLite only, no browser, no slow tests; needs no PostgreSQL, Chromium or nginx.
test-fast: setup
	PAYOPS_TEST_BACKENDS=sqlite $(VENV)/bin/pytest $(PYTEST_PARALLEL) -m "not slow and not browser and not services"

## Exactly the locked environment (requirements-dev.lock, hashes checked), then payops itself, editable,
## with the installed packages compiled to bytecode.
setup: $(STAMP) $(BYTECODE)

# uv comes from PyPI at the version the lock pins; `uv pip sync` then makes the venv match the lock
# (removing anything else), so the project is installed after it, without touching the pins.
$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet "$$(grep -m1 '^uv==' requirements-dev.lock | cut -d' ' -f1)"
	$(VENV)/bin/uv pip sync --quiet --python $(PY) requirements-dev.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

# uv installs no .pyc files, and where PYTHONDONTWRITEBYTECODE is set (CI images, containers) Python
# never writes them, so every process recompiled streamlit, pandas, plotly, sqlalchemy… from source
# on each import: ~10 s of CPU per pytest worker and ~1–2 s per CLI or sandbox subprocess a test
# starts (make test-fast: 320 s of CPU, 249 s once compiled). Compiled once here, after each install;
# compileall skips what is already up to date. A stamp of its own, so an existing venv gets it too.
$(BYTECODE): $(STAMP)
	$(PY) -m compileall -q -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
	touch $(BYTECODE)

## Re-pin after editing requirements*.txt (the ranges); pins still in range stay unless
## LOCK_ARGS=--upgrade. Hashes come from PyPI.
lock: setup
	$(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 $(LOCK_ARGS) \
		requirements.txt -o requirements.lock
	$(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 $(LOCK_ARGS) \
		requirements-dev.txt -c requirements.lock -o requirements-dev.lock

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
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis payops.egg-info data/payops.db*
