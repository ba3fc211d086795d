# attr-utils: the two commands of the README, plus helpers.
#   make dashboard   serve the notebooks as a Voila dashboard (the main job)
#   make test        run the whole test suite (what CI runs)
# Both create .venv from pyproject.toml when it is missing or out of date.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: dashboard test bench clean-venv

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "attr-utils needs Python 3.10+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

dashboard: $(STAMP)
	$(BIN)/python -m attr_utils.dashboard $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_embed.py

clean-venv:
	rm -rf $(VENV)
