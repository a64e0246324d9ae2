# tsunagi: `make run` serves, `make test` tests. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench fuzz soak pg clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/tsunagi serve $(ARGS)

# Starts the machine's PostgreSQL if it is installed and down (tests need it; CI makes them mandatory).
pg:
	@bash scripts/ensure-postgres.sh

test: install pg
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
