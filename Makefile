# Rosetta NN: two commands do everything on a fresh machine with Python 3.11.
#   make compare   set up .venv and run compare.py on the default network
#   make test      set up .venv and run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: compare test bench atlas setup clean

compare: $(STAMP)
	$(PY) compare.py $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

bench: $(STAMP)
	$(PY) -m bench $(ARGS)

atlas: $(STAMP)
	$(PY) -m shared.atlas $(ARGS)

setup: $(STAMP)

# Re-installs only when requirements.txt changes, so both commands are idempotent.
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

clean:
	rm -rf $(VENV) reports .pytest_cache .hypothesis
