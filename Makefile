# The commands a newcomer types: `make test`, `make demo`, `make bench`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt token_exchange/requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: test lint typecheck unit venv clean

venv: $(STAMP)

$(STAMP): requirements.txt token_exchange/requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

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
