# The two set-up commands of the README: `make mini` (main job) and `make test` (whole test suite).
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# torch 2.13.0: the CPU wheel on this project's machines; on a GPU machine install your own torch first.
TORCH ?= torch==2.13.0

$(BIN)/coda_discover: settings.ini setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/coda_discover

mini: install
	$(BIN)/coda_reproduce mini
	@echo "results: $(CURDIR)/results/mini/ (summary.csv, main/: executed notebook, seeds.csv, tables, figures)"

test: install
	$(BIN)/python -m pytest -q -n 2 --durations=10 tests

readme:
	$(BIN)/python tools/readme.py

.PHONY: install mini test readme
