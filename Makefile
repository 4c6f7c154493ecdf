# The two commands that matter: `make demo` and `make test`. Both install what they need first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

PACKAGES := -e ./credentials -e ./tap-datev -e ./target-databricks -e ./emulators

.PHONY: install demo test lint bench clean

$(STAMP): constraints.txt requirements-dev.txt credentials/pyproject.toml tap-datev/pyproject.toml \
          target-databricks/pyproject.toml emulators/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip hatchling editables
	# Build backends come from the same pins (no isolated, unpinned build environments).
	$(BIN)/python -m pip install -q --no-build-isolation $(PACKAGES) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python scripts/demo.py

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .meltano .lake .demo .pytest_cache .mypy_cache .ruff_cache
