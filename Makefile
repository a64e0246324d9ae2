# tsunagi: `make run` serves, `make test` tests. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# What serving needs only: `make run` installs no test or lint tools.
RUNSTAMP := $(VENV)/.installed-run

.PHONY: install install-run run test lint bench fuzz soak pg clean

install: $(STAMP)

install-run: $(RUNSTAMP)

$(STAMP): pyproject.toml
	@echo "make: installing tsunagi with its test and lint tools into $(VENV) (once; again when pyproject.toml changes)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP) $(RUNSTAMP)

$(RUNSTAMP): pyproject.toml
	@echo "make: installing tsunagi and what serving needs into $(VENV) (once; again when pyproject.toml changes)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e .
	@touch $(RUNSTAMP)

# Serves on http://127.0.0.1:4566 with data in ./.tsunagi; flags after ARGS, e.g. make run ARGS="--port 4567".
run: install-run
	@echo "make: starting tsunagi serve $(ARGS) (Ctrl-C stops it)"
	@$(BIN)/tsunagi serve $(ARGS)

# Starts the machine's PostgreSQL if it is installed and down (tests need it; CI makes them mandatory).
pg:
	@bash scripts/ensure-postgres.sh

# The suite runs on TEST_JOBS processes (each its own servers and databases, whole files per process),
# then the few tests that must run alone; pytest's exit code 5 (none selected) is not a failure.
TEST_JOBS ?= 2
test: install pg
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile -m "not exclusive" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -p no:xdist -m exclusive $(PYTEST_ARGS) || test $$? -eq 5

# mypy over all of tsunagi, and --strict over the layers other code builds on: the gateway, the
# store, the ports, the policy evaluator and every service's port module.
STRICT := src/tsunagi/gateway src/tsunagi/store src/tsunagi/ports src/tsunagi/policy \
          $(wildcard src/tsunagi/services/*/port.py)
# S3 is typed strictly through and through (no type: ignore), and so is the streaming body it gets.
STRICT += $(filter-out %/port.py,$(wildcard src/tsunagi/services/s3/*.py)) src/tsunagi/streams.py

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/mypy --strict $(STRICT)

bench: install pg
	$(BIN)/python -m bench $(ARGS)

fuzz: install
	$(BIN)/python -m pytest tests/fuzz -p no:cacheprovider --hypothesis-profile=long $(PYTEST_ARGS)

soak: install
	$(BIN)/python -m bench.soak $(ARGS)

clean:
	rm -rf $(VENV) .tsunagi .pytest_cache build src/*.egg-info
