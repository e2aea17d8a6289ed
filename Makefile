# The two set-up commands of the README: `make mini` (main job) and `make test` (whole test suite).
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# torch 2.13.0: the CPU wheel on this project's machines; on a GPU machine install your own torch first.
TORCH ?= torch==2.13.0
# The exact versions `make install` resolved on this project's machine kind (refresh with `make lock`).
LOCK ?= requirements.lock
FMNIST ?= /usr/share/datasets/fashion-mnist

$(BIN)/coda_discover: settings.ini setup.py $(LOCK)
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -c $(LOCK) -e ".[dev]"
	touch $@

install: $(BIN)/coda_discover

# Fashion-MNIST for the main job: Debian's package when run as root with apt-get; otherwise one line saying
# that the job runs on digits and how to get Fashion-MNIST.
fashion-mnist:
	@if [ -d "$(FMNIST)" ] || [ -n "$$CODA_FASHION_MNIST" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's dataset-fashion-mnist (the main job's dataset)"; \
	  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	  (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1) || \
	  echo "could not install dataset-fashion-mnist: the main job runs on scikit-learn's digits"; \
	else echo "Fashion-MNIST not found: the main job runs on scikit-learn's digits (as root: apt-get install dataset-fashion-mnist; or set CODA_FASHION_MNIST=<folder with the four IDX .gz files>)"; fi

mini: install fashion-mnist
	$(BIN)/coda_reproduce mini --force
	@cat results/mini/main/table.md
	@echo "results: $(CURDIR)/results/mini/main/ (executed notebook, seeds.csv, table.md, comparisons.csv, figures)"

test: install
	$(BIN)/python -m pytest -q -n 2 --durations=10 tests $(PYTEST_ARGS)

# Re-resolve the lock in a fresh virtualenv (what `make install` would take without it).
lock:
	rm -rf .lock-venv && $(PY) -m venv .lock-venv && .lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q "$(TORCH)" && .lock-venv/bin/python -m pip install -q -e ".[dev]"
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e ' > $(LOCK) && rm -rf .lock-venv
	@echo "wrote $(LOCK)"

readme:
	$(BIN)/python tools/readme.py

# The library notebooks re-executed in place with their outputs (nbs/paper/ stay templates; see tools/outputs.py):
# deterministic, small PNG figures, nbdev_clean'ed. Review the diff, then commit the notebooks.
outputs: install
	$(BIN)/python tools/outputs.py

# The documentation site, offline: Sphinx + myst-nb from the executed notebooks into docs/_build/html (notebooks
# without committed outputs are executed into docs/_build/executed first; any build warning fails it).
docs: install
	$(BIN)/python docs/stage.py
	$(BIN)/sphinx-build -q -b html -W --keep-going -w docs/_build/warnings.txt -c docs docs/_build/src docs/_build/html
	@echo "site: $(CURDIR)/docs/_build/html/index.html"

.PHONY: install fashion-mnist mini test lock readme outputs docs
