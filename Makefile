# The two set-up commands of the README. Each installs everything from nothing, then runs its job.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	bash scripts/install_system_deps.sh
	$(BIN)/pip install -q --upgrade pip
	# torch first and exactly pinned: the CPU build; a looser pin pulls several GB of CUDA packages.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"

demo: install
	$(BIN)/beatforge analyze examples/synthetic-4k.osu
	$(BIN)/beatforge analyze examples/synthetic-4k.osu --json

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check beatforge tests benchmarks

bench: install
	$(BIN)/python benchmarks/osu_parse.py
	$(BIN)/python benchmarks/dataset_build.py
