# The commands a newcomer types: `make` (this list), `make test`, `make demo`, `make up`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help venv test lint typecheck unit clean lock bench demo up invoke mint soak doctor fleet mutate routes check-deployment archive

help: ## this list
	@echo "usage: make <target>"
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  %-17s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

venv: $(STAMP) ## create .venv with the pinned tools (about 2 minutes the first time)

# requirements-dev.txt is a complete, hashed lock (the functions' pins
# included, at the same versions): one install in pip's hash-checking mode.
$(STAMP): requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

# Pin every function's whole dependency closure, with hashes, from its short
# requirements.in (and the dev tools from requirements-dev.in, constrained to
# the functions' pins). Universal: the locks hold for Python 3.11 and 3.12.
# Existing pins are kept; to move one, edit its .in file (or delete the lock).
# The OCI CLI has a lock of its own (requirements-oci-cli.in says why), installed by its test into
# .venv/oci-cli.
UV_LOCK := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
           --custom-compile-command "make lock"
lock: $(STAMP) ## re-pin both functions' dependency closures (and the dev tools), with hashes
	$(UV_LOCK) token_exchange/requirements.in -o token_exchange/requirements.txt
	$(UV_LOCK) requirements.in -o requirements.txt
	$(UV_LOCK) requirements-dev.in -c requirements.txt -o requirements-dev.txt
	$(UV_LOCK) requirements-oci-cli.in -o requirements-oci-cli.txt

NPM_STAMP := tests/npm/node_modules/.installed

# The independent issuer (oauth2-mock-server) for one integration test.
$(NPM_STAMP): tests/npm/package.json tests/npm/package-lock.json
	npm ci --prefix tests/npm --no-audit --no-fund --loglevel=error
	touch $@

# The fleet cache's tests run a real redis-server (TLS). Installed from the system
# packages when missing and we are root; otherwise stop with the one command to run.
.PHONY: redis-server
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "make test needs redis-server: run  sudo apt-get install -y redis-server  and retry" >&2; exit 1; \
	  fi; }

# docs/setup-oci.md's code-only commands write the functions' settings with jq, and
# tests/function/test_codeonly_cli.py runs them: installed the same way.
.PHONY: jq
jq:
	@command -v jq >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing jq (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null; \
	  else \
	    echo "make test needs jq: run  sudo apt-get install -y jq  and retry" >&2; exit 1; \
	  fi; }

test: $(STAMP) $(NPM_STAMP) redis-server jq ## ruff, mypy (strict), the import rules and every test (about 5 minutes on two idle cores)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pytest -q

archive: $(STAMP) ## code-only archives of both functions, reproducibly: dist/oic-authorizer.zip, dist/oic-token-exchange.zip (docs/setup-oci.md)
	$(PY) -m ops.archive

lint: $(STAMP) ## ruff and the import rules (docs/architecture.md)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(STAMP) ## mypy (strict) only
	$(VENV)/bin/mypy

unit: $(STAMP) ## the pure core's tests only (under a minute)
	$(VENV)/bin/pytest -q tests/unit

# deploy/integrations.json is the one list; make test fails while these are stale (tests/unit/test_routes.py).
routes: $(STAMP) ## write the authorizer-context and access-policy specifications from deploy/integrations.json
	$(PY) -m ops.routes

clean: ## remove .venv and the tools' caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

bench: $(STAMP) ## what the authorizer costs, beside its baselines (docs/benchmarks.md): ARGS="--quick" or steps, e.g. ARGS="cold archive"
	$(PY) -m bench $(ARGS)

demo: $(STAMP) ## the whole chain on 127.0.0.1, played once, then stopped
	$(PY) -m local.demo

up: $(STAMP) ## the same chain left running, with curl commands and the functions' logs
	$(PY) -m local.demo --up

# `make invoke FN=authorizer < deploy/sample-authorizer-input.json` (settings: ENV=<file>;
# by default the ones `make up` wrote in .run/, when it runs). Only ENV= on the
# command line counts: a shell's own ENV variable (sh's startup file) is not a
# settings file, and a file named with ENV= that is missing is an error, not
# a silent run without settings.
FN  ?= authorizer
ifneq ($(origin ENV),command line)
ENV := .run/$(FN).env
endif
invoke: $(STAMP) ## one function, as the Fn agent calls it: FN=authorizer|token-exchange [ENV=file] < input
	@$(PY) -m local.invoke $(FN) $(if $(or $(wildcard $(ENV)),$(filter command line,$(origin ENV))),--env-file $(ENV))

KIND ?= valid
mint: $(STAMP) ## a test token from `make up`'s identity provider: KIND=valid|expired|wrong-audience|no-scope
	@$(PY) -m local.mint $(KIND)

soak: $(STAMP) ## 100,000 calls through the fdk runtime: errors, memory, identity-provider requests
	$(PY) -m bench.soak

# K containers per function behind the local gateway, N users, with and without the
# fleet cache (a real redis-server over TLS): token requests, 429s, latency (docs/scale.md).
fleet: $(STAMP) redis-server ## 8 containers per function, 300 users, with and without the fleet cache: FLEET_ARGS="--help"
	$(PY) -m local.fleet $(FLEET_ARGS)

# Exits 1 when it printed a FAIL line; make then adds its own "Error 1" line
# (and exits 2): `.venv/bin/python -m ops doctor` gives the bare status.
doctor: $(STAMP) ## explain a configuration (the environment, or ENV=file): ARGS="--path /X/1.0/y" [< token]
	@$(PY) -m ops doctor $(if $(or $(wildcard $(ENV)),$(filter command line,$(origin ENV))),--env-file $(ENV)) $(ARGS)

# Calls a deployed gateway as a vendor would (docs/operations.md). TOKEN, CLIENT_ID, CLIENT_SECRET, TOKEN_URL and
# SCOPE reach the tool through the environment only (make exports command-line variables), never its argv.
check-deployment: $(STAMP) ## call a deployed gateway as a vendor, say which hop answered: URL=... [TOKEN=... | CLIENT_ID= CLIENT_SECRET= TOKEN_URL= SCOPE=]
	@test -n "$(URL)" || { echo "usage: make check-deployment URL=https://<gateway-host>/<prefix>/<INTEGRATION>/<VERSION>/<path>" >&2; exit 2; }
	@$(PY) -m ops check_deployment "$$URL" $(ARGS)

# Not part of `make test` (docs/testing.md). MODULES="jws claims" for some modules; ARGS="--sample 55" to
# sample; niced, so it yields to other work on the machine.
mutate: $(STAMP) ## mutation testing of the security core against its fast tests (docs/testing.md)
	nice -n 10 $(PY) -m mutation $(ARGS) $(MODULES)
