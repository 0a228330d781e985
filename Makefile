# Two commands set everything up on a fresh machine (see README):
#   make train   - create .venv if missing, install, run the embedded default job
#   make test    - create .venv if missing, install, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: install train test lint format clean-runs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/python -m sports_rec.train $(ARGS)

test: $(STAMP)
	HF_HUB_OFFLINE=1 WANDB_MODE=offline $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check sports_rec tests benchmarks
	$(BIN)/ruff format --check sports_rec tests benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix sports_rec tests benchmarks
	$(BIN)/ruff format sports_rec tests benchmarks

clean-runs:
	rm -rf logs multirun/*/
