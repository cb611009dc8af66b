# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/voxsift synth $(DEMO)/corpus --utterances 200 --seed 0
	$(BIN)/voxsift run examples/demo.yaml --out $(DEMO)/run
	$(BIN)/voxsift verify $(DEMO)/run/shards

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check voxsift tests bench

bench: $(STAMP)
	$(BIN)/python bench/curate_throughput.py

clean:
	rm -rf $(DEMO) .pytest_cache
