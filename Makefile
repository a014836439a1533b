# Two commands for a fresh machine: `make run` (the whole service) and `make test`.
# `make run` installs the runtime dependencies only; `make test`, `make lint` and `make setup-dev`
# add the dev extras (pytest, ruff, mypy, playwright, ...). pip runs without --quiet, so a first
# install shows what it downloads and its progress.
# torch is installed first and on its own: a bare `torch` requirement would pull a multi-GB
# CUDA build on a CPU host. Override TORCH_SPEC / TORCH_PIP_ARGS for another build, e.g.
#   make run TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: setup setup-dev run test test-all lint bench clean

setup: $(STAMP)

setup-dev: $(DEV_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	$(PY) -m pip install -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install -e '.[dev]'
	touch $(DEV_STAMP)

run: setup
	$(VENV)/bin/ganserve up

test: setup-dev
	$(PY) -m pytest

test-all: setup-dev
	$(PY) -m pytest -m ''

# What CI and the pre-commit hooks check: layout, lint and strict types (config in pyproject.toml).
lint: setup-dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: setup
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
