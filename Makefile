# Lectern's everyday commands. Each is safe to run twice.
#   make up      the whole dev stack, host in the foreground, demo data seeded (Ctrl-C stops it)
#   make test    every test, against the test profile's own services (started as needed)

SHELL := /bin/bash
PY := .venv/bin/python
PROFILE ?= dev
PYTEST_ARGS ?=

.PHONY: help bootstrap lock lint up start stop status tokens test test-unit test-integration test-e2e test-fault migrate bench openapi infra-check

help:
	@sed -n '2,3p' Makefile | sed 's/^# //'
	@echo "  make start / make stop / make status   the dev stack in the background"
	@echo "  make tokens                            the URLs and development tokens again (stack up)"
	@echo "  make test-unit / test-integration / test-e2e / test-fault   one ring of tests (by marker)"
	@echo "  make migrate                           create the database and apply migrations"
	@echo "  make openapi                           write docs/openapi.json, docs/asyncapi.json, docs/problems.md and the TypeScript client's types from the code"
	@echo "  make lock                              re-resolve requirements.lock after editing requirements*.txt"
	@echo "  make lint                              ruff over the code, mypy (strict) over shared_code and functions"
	@echo "  make infra-check                       parse the Bicep, lint its parameter files, run checkov and tests/infra (no Azure login)"
	@echo "  make bench [ONLY=api,stores]           run the benchmarks on their own profile, write bench/results.json and docs/BENCHMARKS.md"

bootstrap:
	@scripts/bootstrap.sh

# requirements.lock (every package pinned with hashes) from requirements.txt and
# requirements-dev.txt; the bootstrap installs only from it and refuses a stale one.
lock:
	@scripts/lock.sh

# Settings in pyproject.toml: ruff's rule sets and the modules mypy checks strictly. CI runs
# this before the tests and fails on any finding.
lint: bootstrap
	$(PY) -m ruff check .
	$(PY) -m mypy

up: bootstrap
	@$(PY) -m devstack up --profile $(PROFILE)

start: bootstrap
	@$(PY) -m devstack start --profile $(PROFILE)

stop:
	@if [ -x $(PY) ]; then $(PY) -m devstack stop --profile $(PROFILE); else echo "nothing to stop (no .venv yet)"; fi

status:
	@$(PY) -m devstack status --profile $(PROFILE)

# The URLs and fresh development tokens again, for a stack that is up (`make up` prints them once).
tokens:
	@$(PY) -m devstack tokens --profile $(PROFILE)

test: bootstrap
	@$(PY) -m devstack start --profile test --only postgres,redis
	$(PY) -m pytest $(PYTEST_ARGS)

# One ring, selected by the marker tests/conftest.py gives each folder. The unit ring
# needs no service; the others start what they need as `make test` does.
test-unit: bootstrap
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

test-integration test-e2e test-fault: test-%: bootstrap
	@$(PY) -m devstack start --profile test --only postgres,redis
	$(PY) -m pytest -m $* $(PYTEST_ARGS)

migrate: bootstrap
	@$(PY) -m devstack start --profile $(PROFILE) --only postgres

# Benchmark-only tools (the Socket.IO peer, plots, process figures, profiles) live in their own
# requirements file, installed when it changes. The benchmarks run on the bench profile (its
# own ports, database lectern_bench and Redis db 10), never on the dev stack; its services
# are stopped afterwards.
bench: bootstrap
	@stamp=.venv/.bench-requirements.sha256; wanted=$$(sha256sum bench/requirements.txt | cut -d' ' -f1); \
	if [ "$$(cat $$stamp 2>/dev/null)" != "$$wanted" ]; then \
	  echo "… pip install -r bench/requirements.txt"; \
	  $(PY) -m pip install --disable-pip-version-check --progress-bar off -r bench/requirements.txt && echo "$$wanted" > $$stamp; \
	fi
	@status=0; $(PY) bench/run_all.py $(if $(ONLY),--only $(ONLY)) || status=$$?; \
	$(PY) -m devstack stop --profile bench; exit $$status

# The contracts from the code alone (no service runs): the OpenAPI and AsyncAPI documents,
# the problem types page, then the TypeScript client's generated types. Tests fail when the
# committed files differ from what this writes.
openapi:
	@$(PY) scripts/contracts.py
	@npm run --silent generate -w @lectern/client

# What can be checked of infra/bicep without a subscription: every template parses and each
# main*.parameters.json fits main.bicep (infra/check.py), checkov's rules, then tests/infra,
# which tie the templates to the code. checkov lives in .venv-infra (scripts/ensure_checkov.sh).
# `azd provision --preview` or `az deployment group what-if` (docs/DEPLOY.md) go further.
infra-check: bootstrap
	@checkov=$$(scripts/ensure_checkov.sh); \
	.venv-infra/bin/python infra/check.py && \
	PYTHONHASHSEED=0 $$checkov --framework bicep -d infra/bicep --compact --quiet --skip-download && \
	$(PY) -m pytest -q -p no:cacheprovider tests/infra
