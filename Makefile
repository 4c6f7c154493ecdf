# The two commands that matter: `make demo` and `make test`. Both install what they need first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

PACKAGES := -e ./credentials -e ./tap-datev -e ./target-databricks -e ./emulators
# dbt (the Meltano utility plugin `dbt`) has its own virtualenv and pins: dbt-databricks needs
# another databricks-sdk than the connector, so PIP_CONSTRAINT must not reach that install.
DBT_VENV  := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): constraints.txt requirements-dev.txt credentials/pyproject.toml tap-datev/pyproject.toml \
          target-databricks/pyproject.toml emulators/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip hatchling editables
	# Build backends come from the same pins (no isolated, unpinned build environments).
	$(BIN)/python -m pip install -q --no-build-isolation $(PACKAGES) -r requirements-dev.txt
	touch $(STAMP)

# uv (pinned in the connector's venv) installs dbt's ~90 packages in a fraction of pip's time.
$(DBT_STAMP): transform/requirements.txt transform/constraints.txt | $(STAMP)
	test -x $(DBT_VENV)/bin/python || $(BIN)/uv venv -q --python $(PYTHON) $(DBT_VENV)
	env -u PIP_CONSTRAINT $(BIN)/uv pip install -q --python $(DBT_VENV)/bin/python \
		-r transform/requirements.txt -c transform/constraints.txt
	touch $(DBT_STAMP)

install: $(STAMP) $(DBT_STAMP)

demo: install
	$(BIN)/python scripts/demo.py

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run_all.py $(if $(BENCH_LARGE),--large)

clean:
	rm -rf $(VENV) $(DBT_VENV) .meltano .lake .demo .pytest_cache .mypy_cache .ruff_cache
