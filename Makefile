# One entry point for set-up, the demo, the tests and the benchmark.
# Everything installs into .venv from the committed lock file; only python3.11 and make are assumed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest bench local clean lock

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## The main job: local stack, queues, seeded identities, a mix of commands, the worker until idle, a summary.
run: $(STAMP)
	$(BIN)/python -m consumer.local.demo

## Lint, strict typing, then the test suite (what CI runs).
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check consumer tests bench
	$(BIN)/ruff format --check consumer tests bench

typecheck: $(STAMP)
	$(BIN)/mypy consumer tests bench

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

local: $(STAMP)
	$(BIN)/unlink-consumer local

## Re-resolve the lock file after changing pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
