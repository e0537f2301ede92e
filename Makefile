# The commands a newcomer types: `make test`, `make demo`, `make bench`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: test lint typecheck unit venv clean lock

venv: $(STAMP)

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
UV_LOCK := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
           --custom-compile-command "make lock"
lock: $(STAMP)
	$(UV_LOCK) token_exchange/requirements.in -o token_exchange/requirements.txt
	$(UV_LOCK) requirements.in -o requirements.txt
	$(UV_LOCK) requirements-dev.in -c requirements.txt -o requirements-dev.txt

NPM_STAMP := tests/npm/node_modules/.installed

# The independent issuer (oauth2-mock-server) for one integration test.
$(NPM_STAMP): tests/npm/package.json tests/npm/package-lock.json
	npm ci --prefix tests/npm --no-audit --no-fund --loglevel=error
	touch $@

test: $(STAMP) $(NPM_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

.PHONY: bench
bench: $(STAMP)
	$(PY) -m bench

.PHONY: demo up
demo: $(STAMP)
	$(PY) -m local.demo

up: $(STAMP)
	$(PY) -m local.demo --up

.PHONY: soak
soak: $(STAMP)
	$(PY) -m bench.soak

# Explain the configuration in the environment (and a token given on stdin).
.PHONY: doctor
doctor: $(STAMP)
	$(PY) -m authorizer doctor
