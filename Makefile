# Rosetta NN: two commands do everything on a fresh machine with Python 3.11.
#   make compare   set up .venv and run compare.py on the default network
#   make test      set up .venv and run the whole test suite
# The interpreter .venv is made from: the system's CPython 3.11 where it can make a venv (Debian
# builds it with PGO and LTO, linked statically: pure Python runs ~1.4x faster than a default
# pyenv build, as measured in the README), else the first python3 on PATH.
PYTHON ?= $(shell for p in /usr/bin/python3.11 python3; do \
            "$$p" -c 'import ensurepip, sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
            && { echo "$$p"; break; }; done)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# FORCE the install step when .venv's interpreter does not run (missing, or its base removed).
BROKEN := $(shell $(PY) -c '' >/dev/null 2>&1 || echo FORCE)

# Debian packages some tests need: the full-size Fashion-MNIST (the IDX reader's real-data
# test) and PyPy (impl_pure must run on it unchanged). `make test` installs the missing ones
# where apt-get runs as root (as in CI); elsewhere their tests skip, and fail under CI=true.
# `make bench` installs them too: its MNIST rows train on Fashion-MNIST and its PyPy row runs
# impl_pure on PyPy (without them: random data, and the PyPy row skipped).
SYSTEM_PACKAGES := dataset-fashion-mnist pypy3

.PHONY: compare test bench atlas setup sysdeps clean FORCE

compare: $(STAMP)
	$(PY) compare.py $(ARGS)

test: $(STAMP) sysdeps
	$(PY) -m pytest $(ARGS)

bench: $(STAMP) sysdeps
	$(PY) -m bench $(ARGS)

atlas: $(STAMP)
	$(PY) -m shared.atlas $(ARGS)

setup: $(STAMP)

sysdeps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	    dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) \
	    || echo "WARNING: could not install$$missing; their tests will fail under CI=true" >&2; \
	else \
	    echo "note: not installing$$missing (that takes apt-get as root): their tests skip" \
	        "(and fail under CI=true)" >&2; \
	fi

# Re-installs only when requirements.txt or constraints.txt changes, so both commands are
# idempotent. A .venv whose interpreter no longer runs (its base Python removed) is made again.
$(STAMP): requirements.txt constraints.txt $(BROKEN)
	@test -n "$(PYTHON)" || { echo "make: found no Python >= 3.11 that can make a venv;" \
	    "pass one: make PYTHON=/path/to/python3.11 $(MAKECMDGOALS)" >&2; exit 1; }
	$(PY) -c '' 2>/dev/null || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip -c constraints.txt
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

clean:
	rm -rf $(VENV) reports .pytest_cache .hypothesis

FORCE:
