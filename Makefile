# Lexica — the README's two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp
SOURCES := server/lexica codegen bench server/tests contract-tests sdk-python/lexica_client sdk-python/tests examples

.PHONY: help install run worker test lint lint-asyncapi lint-openapi format generate check-generated contract-live bench test-tools bench-tools concurrency lock clean

help:
	@echo "make run       serve the API on http://127.0.0.1:8000 (imports GCIDE on first start)"
	@echo "make test      lint, then every test (unit, integration, contract, SDK end-to-end)"
	@echo "make worker    run jobs from the Redis queue (needs LEXICA_REDIS_URL)"
	@echo "make generate  regenerate models, interfaces, routes and the SDK from the specs"
	@echo "make lint      ruff (lint + format check), mypy --strict, lint-asyncapi and lint-openapi"
	@echo "make lint-asyncapi  validate asyncapi/lexica.yaml with the official AsyncAPI parser (Node)"
	@echo "make lint-openapi   Redocly's recommended rules and Spectral's spectral:oas on openapi/lexica.yaml (Node)"
	@echo "make contract-live  Schemathesis CLI against a live uvicorn server"
	@echo "make bench     throughput and latency (wrk) of Lexica and reference apps, as ratios against a bare ASGI app"
	@echo "make test-tools  install wrk, valgrind, promtool, haproxy and chromium (Debian packages) when missing; needs root"
	@echo "make concurrency  conflicting writers on one entry and one list over HTTP, on SQLite, PostgreSQL and MongoDB"
	@echo "make lock      re-pin constraints.txt from the current venv"

$(STAMP): pyproject.toml constraints.txt sdk-python/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]' -e ./sdk-python
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/lexica serve

worker: install
	$(BIN)/lexica worker

# CI (LEXICA_REQUIRE_SERVICES=1) installs wrk and valgrind first: there their tests fail instead of skipping.
test: install lint $(if $(filter 1,$(LEXICA_REQUIRE_SERVICES)),test-tools)
	$(BIN)/pytest

# The AsyncAPI parser from npm, pinned by package-lock.json; no install scripts (one is a telemetry ping).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	@touch $(NODE_STAMP)

lint-asyncapi: $(NODE_STAMP)
	node asyncapi/validate.mjs asyncapi/lexica.yaml

# Redocly's recommended rules (redocly.yaml) and Spectral's spectral:oas (.spectral.yaml): no error allowed. Telemetry
# off: no network call beyond the package registries.
lint-openapi: $(NODE_STAMP)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true node_modules/.bin/redocly lint openapi/lexica.yaml
	node_modules/.bin/spectral lint --fail-severity error openapi/lexica.yaml

lint: install lint-asyncapi lint-openapi
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy $(SOURCES)

format: install
	$(BIN)/ruff check --fix $(SOURCES)
	$(BIN)/ruff format $(SOURCES)

generate: install
	$(BIN)/python -m codegen

contract-live: install
	$(BIN)/pytest contract-tests/test_schemathesis_live.py -v

bench: install test-tools
	$(BIN)/python -m bench

# Debian programs, not Python packages: wrk (the load generator of `make bench`), valgrind (the instruction count
# gate, bench/instructions.py), promtool (package prometheus: the SLO rules' checks, deploy/prometheus/) and haproxy
# (the load balancer of contract-tests/test_load_balancer_live.py), chromium and chromedriver (the documentation pages
# in a headless browser, contract-tests/test_docs_browser.py). Each is command:package; installed when missing,
# and apt-get update runs only then. Packages must not start services (haproxy's would take port 80): without a
# policy-rc.d of the machine's own, one that forbids starting is in place during the install.
TEST_TOOLS := wrk:wrk valgrind:valgrind promtool:prometheus haproxy:haproxy chromium:chromium chromedriver:chromium-driver
test-tools:
	@missing=""; for pair in $(TEST_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null || [ -x /usr/sbin/$${pair%%:*} ] || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    policy=/usr/sbin/policy-rc.d; own=""; \
	    if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy && chmod +x $$policy && own=1; fi; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	    status=$$?; [ -z "$$own" ] || rm -f $$policy; [ $$status = 0 ] || exit $$status; \
	  else \
	    echo "missing:$$missing; run 'sudo apt-get install$$missing' (Debian/Ubuntu) or 'make test-tools' as root" >&2; \
	    exit 1; \
	  fi; \
	fi
	@wrk --version 2>&1 | head -n 1 || true

bench-tools: test-tools

concurrency: install
	$(BIN)/python -m bench.concurrency

lock: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
