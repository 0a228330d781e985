# Two commands set everything up on a fresh machine (see README):
#   make train   - create .venv if missing, install, run the embedded default job
#   make test    - create .venv if missing, install, run the test suite (what CI runs)
#   make test-fast - the same without the tests marked slow (pytest -m "not slow")
# Study tables (README "Reproducing the studies"):
#   make table-sports100|table-sports-balls|table-workout|table-infiniteform|table-video DATA_ROOT=DIR [ARGS="..."]
#   make tables SMOKE=1        - every table on synthetic data at tiny size
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=
PYTEST_ARGS ?=
DATA_ROOT ?=
SMOKE  ?=
TABLES_OUT ?= multirun/tables/$(shell date +%Y-%m-%d_%H-%M-%S)
TABLE  = $(BIN)/python -m sports_rec.tables $(if $(SMOKE),--smoke,--data-root "$(DATA_ROOT)")

.PHONY: install train test test-fast lint format clean-runs tables table-sports100 table-sports-balls table-workout table-infiniteform table-video

# The pose and app (gradio: python -m sports_rec.app) extras, then mediapipe itself without
# its declared numpy<2/protobuf<5 pins (see constraints/pose-no-deps.txt); both pose steps
# skip themselves where mediapipe 0.10.21 has no wheel.
$(STAMP): pyproject.toml constraints/pose-no-deps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,sweep,pose,app]"
	$(BIN)/python -m pip install --quiet --no-deps -r constraints/pose-no-deps.txt
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/python -m sports_rec.train $(ARGS)

test: $(STAMP)
	HF_HUB_OFFLINE=1 WANDB_MODE=offline $(BIN)/python -m pytest $(PYTEST_ARGS)

# the fast tier: no end-to-end CLI runs, multi-epoch training, sweeps, DDP or tables
test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 WANDB_MODE=offline $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

table-sports100: $(STAMP)
	$(TABLE) sports100 --out $(TABLES_OUT)/sports100 -- $(ARGS)

table-sports-balls: $(STAMP)
	$(TABLE) sports_balls --out $(TABLES_OUT)/sports_balls -- $(ARGS)

table-workout: $(STAMP)
	$(TABLE) workout --out $(TABLES_OUT)/workout -- $(ARGS)

table-infiniteform: $(STAMP)
	$(TABLE) infiniteform --out $(TABLES_OUT)/infiniteform -- $(ARGS)

table-video: $(STAMP)
	$(TABLE) exercise_video --out $(TABLES_OUT)/exercise_video -- $(ARGS)

# every table (one DATA_ROOT cannot serve several datasets: use SMOKE=1, or the targets above)
tables: $(STAMP)
	$(if $(SMOKE),,$(error make tables runs every study on synthetic data: add SMOKE=1, or run each table-* with its DATA_ROOT))
	$(TABLE) sports100 --out $(TABLES_OUT)/sports100 -- $(ARGS)
	$(TABLE) sports_balls --out $(TABLES_OUT)/sports_balls -- $(ARGS)
	$(TABLE) workout --out $(TABLES_OUT)/workout -- $(ARGS)
	$(TABLE) infiniteform --out $(TABLES_OUT)/infiniteform -- $(ARGS)
	$(TABLE) exercise_video --out $(TABLES_OUT)/exercise_video -- $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check sports_rec hydra_plugins tests benchmarks
	$(BIN)/ruff format --check sports_rec hydra_plugins tests benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix sports_rec hydra_plugins tests benchmarks
	$(BIN)/ruff format sports_rec hydra_plugins tests benchmarks

clean-runs:
	rm -rf logs multirun/*/
