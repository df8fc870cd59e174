# One entry point for set-up, the demo, the tests and the benchmark.
# Everything installs into .venv from the committed uv.lock; only python3.11 and make are assumed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
# `uv sync` into this virtualenv, whatever UV_PROJECT_ENVIRONMENT a shell may have set.
UV := UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv

# checkov (the IaC scanner) pins boto3, hence botocore, to a release aiobotocore cannot use, so
# it cannot share uv.lock: it gets a virtualenv of its own under .venv, at this version.
CHECKOV_VERSION := 3.3.30
TOOLS := $(VENV)/tools
CHECKOV_STAMP := $(TOOLS)/.checkov-$(CHECKOV_VERSION)

.PHONY: install promtool run test lint typecheck checkov pytest docs docs-config bench local \
	clean lock

# Exactly the lock (--frozen: never re-resolved here): the project, every extra, the dev group.
$(STAMP): uv.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) sync -q --frozen --all-extras
	touch $(STAMP)

install: $(STAMP)

## promtool (Debian's `prometheus` package) for the alert rules' tests: installed with apt-get when
## absent and running as root (CI, containers); elsewhere the step stops and says how.
promtool:
	@command -v promtool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus; \
	  else \
	    echo "promtool is needed by tests/infra/test_prometheus.py: apt-get install prometheus" \
	      "(Debian/Ubuntu), brew install prometheus (macOS), or a release from prometheus.io" >&2; \
	    exit 1; \
	  fi; }

## The main job: local stack, queues, seeded identities, a mix of commands, the worker until idle, a summary.
run: $(STAMP)
	$(BIN)/python -m consumer.local.demo

## Lint, strict typing, the IaC scan, the test suite, then the docs site (what CI runs).
test: lint typecheck checkov pytest docs

lint: $(STAMP)
	$(BIN)/ruff check consumer tests bench scripts
	$(BIN)/ruff format --check consumer tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy consumer tests bench scripts

$(CHECKOV_STAMP): $(STAMP)
	UV_TOOL_DIR=$(TOOLS) UV_TOOL_BIN_DIR=$(TOOLS)/bin $(BIN)/uv tool install -q --force \
		--python $(PYTHON) checkov==$(CHECKOV_VERSION)
	touch $@

## infra/ with no failed check; a check the design rejects is skipped inline, with the reason.
# --skip-download: no call to Prisma Cloud (a token's custom policies; offline otherwise fails).
checkov: $(CHECKOV_STAMP)
	$(TOOLS)/bin/checkov --directory infra --compact --quiet --skip-download

## The suite on PYTEST_WORKERS processes, each with its own local stack; a test file stays on one
## worker, so its module fixtures (cfn-lint, the wheel build) run once and its tests in order.
# --no-loadscope-reorder: files go out in collection order, which starts the slow ones first
# (tests/conftest.py), instead of by their number of tests.
PYTEST_WORKERS ?= 2
pytest: $(STAMP) promtool
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

## The docs site into site/; --strict: a broken link, a missing page or a warning fails the build.
# (NO_MKDOCS_2_WARNING: Material's banner about its successor, printed on every build.)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

## Regenerate docs/configuration.md from the settings model (then commit it).
docs-config: $(STAMP)
	$(BIN)/python -m scripts.config_reference

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

local: $(STAMP)
	$(BIN)/unlink-consumer local

## Re-resolve uv.lock after changing pyproject.toml (then commit it).
lock: $(STAMP)
	$(UV) lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache site
