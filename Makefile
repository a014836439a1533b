# Two commands for a fresh machine: `make run` (the whole service) and `make test`.
# torch is installed first and on its own: a bare `torch` requirement would pull a multi-GB
# CUDA build on a CPU host. Override TORCH_SPEC / TORCH_PIP_ARGS for another build, e.g.
#   make run TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-all lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(VENV)/bin/ganserve up

test: setup
	$(PY) -m pytest

test-all: setup
	$(PY) -m pytest -m ''

# What CI and the pre-commit hooks check: layout, lint and strict types (config in pyproject.toml).
lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: setup
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
