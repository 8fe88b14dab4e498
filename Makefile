# Two entry points, both self-installing on a fresh machine:
#   make run   -> set up .venv and train the default spiking network on the embedded digits
#   make test  -> set up .venv and run the whole test suite
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast setup clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	# Local CPU wheel first: a bare `torch` requirement would otherwise pull a CUDA build.
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/sadp train

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs
