# Two entry points, both self-installing on a fresh machine:
#   make run   -> set up .venv and train the default spiking network on the embedded digits
#   make test  -> set up .venv and run the whole test suite
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.test-extras

.PHONY: run test test-fast setup clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	# Local CPU wheel first: a bare `torch` requirement would otherwise pull a CUDA build.
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

# Optional test-only extras. --no-deps: their declared requirements would replace the CPU torch.
# Triton runs the GPU kernel's tests in interpreter mode; SpikingJelly/snnTorch test the monitor.
$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q --no-deps "triton==3.9.0" "spikingjelly==2.0.0" "snntorch==1.0.0" "loguru>=0.7" \
		|| echo "optional test extras not installed: their tests will be skipped"
	touch $(TEST_STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/sadp train

# The linter (ruff, configured in pyproject.toml) first: a lint failure fails the test command.
test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs
